"""`sketch2render history`: the render history of this data folder's API server (its jobs database:
the SQLite file in the data folder, or `S2R_DATABASE_URL`), newest first, searched by words of the
prompts (`--q`), a style used or a collection.

The command line is the server's own machine: it shows every principal's renders."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from .common import JsonOpt, edge, print_json, settings


@edge
def history(
    q: Annotated[str, typer.Option("--q", help="Words of the prompt or a region prompt (prefixes, all of them).")] = "",
    style: Annotated[str | None, typer.Option(help="Only renders that used this style id.")] = None,
    collection: Annotated[str | None, typer.Option(help="Only renders bound to this collection.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Your server's past renders, newest first; search them with --q, --style, --collection."""
    from ..jobs.history import HistoryIndex, HistoryQuery

    config = settings()
    if config.database_url is None and not config.jobs_db.is_file():
        jobs, total = [], 0
    else:
        index = HistoryIndex(config.store_url(config.jobs_db))
        try:
            jobs, total = index.search(HistoryQuery(q, style, collection), 0, limit)
        finally:
            index.close()
    if as_json:
        items = [
            {"id": j.id, "status": str(j.status), "owner": j.owner, "created_at": j.created_at, "params": j.params}
            for j in jobs
        ]
        print_json({"total": total, "items": items})
        return
    for j in jobs:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(j.created_at))
        typer.echo(f"{j.id}  {when}  {str(j.status):9}  {j.owner or '-':12}  {str(j.params.get('prompt', ''))[:60]}")
    typer.echo(f"{len(jobs)} of {total} render(s)")
