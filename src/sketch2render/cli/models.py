"""`sketch2render models …`: the model profiles."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import JsonOpt, edge, print_json, settings

app = typer.Typer(no_args_is_help=True, help="Model profiles.")


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


@app.command("info")
@edge
def models_info(as_json: JsonOpt = False) -> None:
    """Which models a render would use, and where they come from."""
    from ..models import model_info

    info = model_info(settings())
    if as_json:
        print_json(info)
        return
    for key, value in info.items():
        typer.echo(f"{key:>18}: {value}")
