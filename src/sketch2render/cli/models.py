"""`sketch2render models …`: the model profiles — what a render would use (`info`), fetching the real
weights (`download`), and building the tiny stand-ins (`build-tiny`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ..errors import InvalidParameter
from .common import JsonOpt, console_progress, edge, fail, print_json, settings

app = typer.Typer(no_args_is_help=True, help="Model profiles: info, download, build-tiny.")
YES, NO = "✓", "✗"


def gigabytes(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


@app.command("build-tiny")
@edge
def models_build_tiny(
    directory: Annotated[Path | None, typer.Argument(help="Default: $S2R_HOME/models/tiny")] = None,
    force: bool = False,
) -> None:
    """Build the tiny random smoke-test models (seconds, ~20 MB)."""
    from ..models import build_tiny

    path = build_tiny(directory or settings().models_dir / "tiny", force=force)
    typer.echo(str(path))


def _assets_table(rows: list[dict]) -> Table:
    table = Table(title="Real-weights assets (sd15) in the Hugging Face cache", title_justify="left")
    for column in ("asset", "repo", "needed by", "present", "size on disk"):
        table.add_column(column, justify="right" if column == "size on disk" else "left", overflow="fold")
    for row in rows:
        present = f"[green]{YES}[/]" if row["present"] else f"[red]{NO}[/] ({len(row['missing'])} missing)"
        size = gigabytes(row["bytes"]) if row["bytes"] else "-"
        table.add_row(row["asset"], row["repo"], row["needed_by"], present, size)
    return table


@app.command("info")
@edge
def models_info(as_json: JsonOpt = False) -> None:
    """Which models a render would use, where they come from, and which real weights are cached.
    Exits 1 when the requested profile cannot be used."""
    from ..models import model_info

    info = model_info(settings())
    if as_json:
        print_json(info)
    else:
        console = Console()
        console.print(f"requested [bold]{info['requested']}[/] → profile [bold]{info.get('profile') or '-'}[/] "
                      f"on {info['device']}")  # fmt: skip
        if info.get("warning"):
            console.print(f"[yellow]{info['warning']}[/]")
        console.print(_assets_table(info.get("assets", [])))
        console.print(f"Hugging Face cache: {info['hf_cache']}")
        sentence = info["sentence_model"]
        where = sentence["path"] or f"[red]{sentence.get('error')}[/]"
        console.print(f"sentence model ({sentence['id']}, {sentence['license']}, S2R_SENTENCE_MODEL): {where}")
        missing = [row for row in info.get("assets", []) if not row["present"] and not row["optional"]]
        if missing:
            console.print("Fetch what is missing with: [bold]sketch2render models download[/]")
    if info.get("error"):
        raise fail(info["error"]["message"].splitlines()[0])


@app.command("download")
@edge
def models_download(
    profile: Annotated[str, typer.Option(help="The profile to fetch (only sd15 has weights to download).")] = "sd15",
    with_: Annotated[
        str, typer.Option("--with", help="Optional assets too, comma-separated (see `models info`).")
    ] = "",
    everything: Annotated[bool, typer.Option("--all", help="Every optional asset too.")] = False,
    variant: Annotated[
        str, typer.Option(help="auto (fp16 on a CUDA GPU, else full) | fp16 | full: which weight files to fetch.")
    ] = "auto",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be fetched, fetch nothing.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Fetch exactly the files the real models need (safetensors only) into the Hugging Face cache,
    with the total size first, a progress bar, and resume after an interruption."""
    from ..models import resolve_device
    from ..models.download import fetch, plan_download, select_assets

    if profile in ("tiny", "sd15-random"):
        raise fail(f"{profile} has no weights to download: it is built locally (sketch2render models build-tiny)")
    if profile != "sd15":
        raise InvalidParameter(f"--profile must be sd15, got {profile!r}", field="profile")
    if variant not in ("auto", "fp16", "full"):
        raise InvalidParameter(f"--variant must be auto, fp16 or full, got {variant!r}", field="variant")
    cfg = settings()
    chosen = ("fp16" if resolve_device(cfg) == "cuda" else None) if variant == "auto" else variant
    chosen = None if chosen == "full" else chosen
    # 1. Plan (sizes from the hub), 2. say what it costs, 3. fetch with progress.
    plan = plan_download(select_assets(cfg, [w.strip() for w in with_.split(",") if w.strip()], everything), chosen)
    summary = {
        "profile": profile,
        "variant": chosen or "full",
        "cache": str(plan.cache_dir),
        "files": len(plan.files),
        "to_fetch": len(plan.to_fetch),
        "bytes_to_fetch": plan.bytes_to_fetch,
        "bytes_cached": plan.bytes_cached,
        "local_assets": plan.local,
        "items": [
            {"asset": f.asset, "repo": f.repo, "file": f.filename, "bytes": f.size, "cached": f.cached}
            for f in plan.files
        ],
    }
    if not as_json:
        typer.echo(
            f"{profile} ({chosen or 'full'} weights): {len(plan.to_fetch)} of {len(plan.files)} files to fetch, "
            f"{gigabytes(plan.bytes_to_fetch)} ({gigabytes(plan.bytes_cached)} already in {plan.cache_dir})"
        )
    if not dry_run and plan.to_fetch:
        with console_progress("downloading", plan.bytes_to_fetch, as_bytes=True) as advance:
            fetch(plan, lambda _file, n: advance(n))
    summary["fetched"] = not dry_run
    if as_json:
        print_json(summary)
    elif not dry_run:
        typer.echo("done: `sketch2render doctor` checks the setup; `auto` now uses these weights")
