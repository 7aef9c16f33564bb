"""CLI commands for scaling out: `chroma-server`, the shared style library for several machines."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import edge, settings


@edge
def chroma_server(
    path: Annotated[
        Path | None, typer.Option(help="Where the server keeps its data. Default: $S2R_HOME/chroma-server")
    ] = None,
    host: Annotated[
        str, typer.Option(help="Interface to listen on (0.0.0.0: every machine that can reach this one).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8001,
) -> None:
    """Run a Chroma server for the style library, shared by API processes and render workers
    (point them at it with S2R_CHROMA_URL=http://HOST:PORT). It has no authentication of its
    own: listen on loopback or a private network only."""
    from ..scale.chroma_server import run_foreground

    store = (path or settings().home / "chroma-server").expanduser()
    typer.echo(f"Chroma server for sketch2render: data in {store}; S2R_CHROMA_URL=http://{host}:{port}", err=True)
    run_foreground(store, host, port)
