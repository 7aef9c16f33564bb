"""`sketch2render styles feedback`: corrections that retrieval learns from, on this data folder.

    styles feedback --prompt P --chosen ID      this style is right for prompts like P
    styles feedback --prompt P --rejected ID    not this style for prompts like P
    styles feedback --export F | --import F     the signals as JSON Lines
    styles feedback --reset                     remove them all

Signals belong to a principal (`--as NAME`; default `anonymous`, who a server without keys
serves, so the CLI and a local `sketch2render up` share what they learned). Works beside a running
server: the signal store is SQLite (retrieval/signals.py).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ..errors import InvalidParameter
from ..principals import ANONYMOUS
from ..retrieval.signals import SignalStore
from ..schemas import is_style_id
from .common import JsonOpt, edge, fail, print_json, settings

LOCAL_PRINCIPAL = ANONYMOUS.name


def _one_action(prompt: str | None, chosen: str | None, rejected: str | None, others: list[object]) -> None:
    """Exactly one of: a signal (--prompt with --chosen or --rejected), --reset, --export, --import."""
    signal = chosen is not None or rejected is not None
    actions = int(signal) + sum(1 for o in others if o)
    if prompt and not signal and actions == 0:
        raise fail("--prompt needs --chosen ID or --rejected ID")
    if actions != 1 or (chosen is not None and rejected is not None) or (prompt and not signal):
        raise fail("give one of: --prompt P --chosen ID, --prompt P --rejected ID, --reset, --export F, --import F")
    if signal and not (prompt or "").strip():
        raise fail("--prompt: the prompt the style is (not) right for is missing")


@edge
def styles_feedback(
    prompt: Annotated[str | None, typer.Option("--prompt", help="The prompt the style is (not) right for.")] = None,
    chosen: Annotated[str | None, typer.Option("--chosen", help="A style id right for the prompt.")] = None,
    rejected: Annotated[str | None, typer.Option("--rejected", help="A style id wrong for the prompt.")] = None,
    reset: Annotated[bool, typer.Option("--reset", help="Remove every signal of this principal.")] = False,
    export: Annotated[
        Path | None, typer.Option("--export", help="Write the signals as JSON Lines ('-': stdout).")
    ] = None,
    import_: Annotated[Path | None, typer.Option("--import", help="Add the signals of a JSON Lines file.")] = None,
    principal: Annotated[str, typer.Option("--as", help="Whose signals (a key's name).")] = LOCAL_PRINCIPAL,
    as_json: JsonOpt = False,
) -> None:
    """Teach retrieval: this style is (not) right for prompts like this one; export, import, reset."""
    _one_action(prompt, chosen, rejected, [reset, export, import_])
    store = SignalStore(settings().store_url(settings().feedback_db))
    try:
        if chosen is not None or rejected is not None:
            style_id = chosen if chosen is not None else rejected
            if not is_style_id(style_id or ""):
                raise InvalidParameter(f"--{'chosen' if chosen else 'rejected'}: {style_id!r} is not a style id")
            item = store.add(principal, prompt or "", style_id or "", "chosen" if chosen else "rejected", source="cli")
            result: dict = {"recorded": item.signal, "style_id": item.style_id, "prompt": item.prompt}
        elif reset:
            result = {"removed": store.reset(principal)}
        elif export is not None:
            lines = [line + "\n" for line in store.export_lines(principal)]
            if str(export) == "-":
                sys.stdout.write("".join(lines))
                return
            export.write_text("".join(lines))
            result = {"exported": len(lines), "file": str(export)}
        else:
            assert import_ is not None
            if not import_.is_file():
                raise fail(f"--import: no such file {import_}")
            with import_.open() as handle:
                result = {"imported": store.import_lines(principal, handle)}
    finally:
        store.close()
    if as_json:
        print_json({"principal": principal, **result})
    else:
        typer.echo(", ".join(f"{k} {v}" for k, v in result.items()) + f" (principal {principal})")
