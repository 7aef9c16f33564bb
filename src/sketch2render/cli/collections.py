"""`sketch2render collections …`: collections (moodboards) of styles from the command line.

The command line is the library's own machine: it acts as the local principal (`anonymous`) with
an admin's rights, so it sees and changes every collection. `render`, `eval` and `styles search`
take `--collection NAME` to retrieve only from one.
"""

from __future__ import annotations

from typing import Annotated

import typer

from ..principals import ANONYMOUS
from .common import JsonOpt, edge, open_library, print_json, settings

app = typer.Typer(no_args_is_help=True, help="Collections (moodboards) of styles.")
LOCAL = ANONYMOUS.name
Ids = Annotated[list[str] | None, typer.Argument(help="Style ids.")]


def _show(library, name: str, as_json: bool, verb: str = "") -> None:
    found, records = library.collection_styles(name, LOCAL, admin=True)
    if as_json:
        body = {k: getattr(found, k) for k in ("name", "owner", "visibility", "description", "created_at")}
        print_json({**body, "count": len(records), "styles": [r.model_dump() for r in records]})
        return
    head = f"{verb} " if verb else ""
    typer.echo(f"{head}{found.name} ({found.visibility}, {found.owner or '-'}): {len(records)} styles")
    for r in records:
        typer.echo(f"  {r.id}  {r.title[:50]:50}  {r.license_id}: {r.license_class}")


@app.command("create")
@edge
def collections_create(
    name: str,
    style_ids: Ids = None,
    visibility: Annotated[str, typer.Option(help="team (everyone) | private (only its owner).")] = "team",
    description: Annotated[str, typer.Option()] = "",
    as_json: JsonOpt = False,
) -> None:
    """Create a collection, with these styles in it."""
    library = open_library(settings())
    for style_id in style_ids or []:
        library.get(style_id)  # unknown id: one line, nothing created
    library.collections.create(name, LOCAL, visibility=visibility, description=description, style_ids=style_ids or [])
    _show(library, name, as_json, "created")


@app.command("list")
@edge
def collections_list(as_json: JsonOpt = False) -> None:
    """Every collection, with how many styles it holds."""
    library = open_library(settings())
    found = [(c, library.collection_styles(c.name, LOCAL, admin=True)[1]) for c in library.collections.list()]
    if as_json:
        print_json([{"name": c.name, "owner": c.owner, "visibility": c.visibility, "count": len(r)} for c, r in found])
        return
    for c, records in found:
        typer.echo(f"{c.name:30}  {c.visibility:8}  {c.owner or '-':16}  {len(records)} styles")


@app.command("show")
@edge
def collections_show(name: str, as_json: JsonOpt = False) -> None:
    """One collection and its styles."""
    _show(open_library(settings()), name, as_json)


@app.command("add")
@edge
def collections_add(name: str, style_ids: Ids = None, as_json: JsonOpt = False) -> None:
    """Add styles to a collection."""
    library = open_library(settings())
    library.add_to_collection(name, style_ids or [], LOCAL, admin=True)
    _show(library, name, as_json, "added to")


@app.command("remove")
@edge
def collections_remove(name: str, style_ids: Ids = None, as_json: JsonOpt = False) -> None:
    """Take styles out of a collection (they stay in the library)."""
    library = open_library(settings())
    library.collections.remove(name, style_ids or [], LOCAL, admin=True)
    _show(library, name, as_json, "removed from")


@app.command("delete")
@edge
def collections_delete(name: str, as_json: JsonOpt = False) -> None:
    """Delete a collection (its styles stay in the library)."""
    found = open_library(settings()).collections.delete(name, LOCAL, admin=True)
    if as_json:
        print_json({"deleted": found.name})
    else:
        typer.echo(f"deleted {found.name}")
