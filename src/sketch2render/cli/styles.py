"""`sketch2render styles …`: the style library from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..schemas import StyleMeta, StyleRecord
from ..sketch import imaging
from .common import JsonOpt, edge, fail, open_library, open_search, print_json, progress_bar, settings
from .feedback import LOCAL_PRINCIPAL, styles_feedback

app = typer.Typer(no_args_is_help=True, help="The style library.")
app.command("feedback")(styles_feedback)


@app.command("import-defaults")
@edge
def styles_import_defaults(
    if_empty: Annotated[bool, typer.Option("--if-empty", help="Only when the library is empty.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Add the bundled public-domain styles (idempotent)."""
    from ..styles import default_styles_dir, import_defaults, load_manifest

    library = open_library(settings(), bundled=False)
    if if_empty and len(library):
        if as_json:
            print_json({"added": 0, "already_present": 0, "total": len(library)})
        return
    total = len(load_manifest(default_styles_dir()))
    with progress_bar("embedding styles") as bar:
        task = bar.add_task("", total=total)
        added, present = import_defaults(library, lambda done, _t, _p: bar.update(task, completed=done))
    if as_json:
        print_json({"added": added, "already_present": present, "total": len(library)})
    else:
        typer.echo(f"added {added} styles, {present} already present; library has {len(library)}")


@app.command("add")
@edge
def styles_add(
    images: Annotated[list[Path], typer.Argument(help="Image files (PNG, JPEG, WEBP, GIF, BMP).")],
    title: Annotated[str | None, typer.Option(help="Title (default: the file name).")] = None,
    tags: Annotated[str, typer.Option(help="Comma-separated tags.")] = "",
    description: Annotated[str, typer.Option()] = "",
    license: Annotated[str, typer.Option(help="License of the image (e.g. CC0, CC BY 4.0, public domain).")] = "",
    source: Annotated[str, typer.Option()] = "",
    creator: Annotated[str, typer.Option(help="Who made it (the credit line names them).")] = "",
    visibility: Annotated[str, typer.Option(help="team (everyone) | private (only this key's owner).")] = "team",
    near_ok: Annotated[
        bool, typer.Option("--allow-near-duplicate", help="Add it even when it nearly duplicates a style.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Add image(s) to the style library."""
    cfg = settings()
    meta = params_from_meta(
        title=title or "",
        tags=[t for t in tags.split(",") if t.strip()],
        description=description,
        license=license,
        source=source,
        creator=creator,
        visibility=visibility,
    )
    for path in images:  # check every file first: a bad one changes nothing
        imaging.load_upload_file(path, cfg.limits)
    library = open_library(cfg)
    results = []
    with progress_bar("adding styles") as bar:
        task = bar.add_task("", total=len(images))
        for done, path in enumerate(images, start=1):
            named = meta if meta.title else meta.model_copy(update={"title": path.stem.replace("_", " ")})
            image = imaging.load_upload_file(path, cfg.limits)
            results.append(library.add_checked(image, named, owner=LOCAL_PRINCIPAL, allow_near_duplicate=near_ok))
            bar.update(task, completed=done)
    if as_json:
        near = [{"near_duplicate_of": a.near_duplicate_of} if a.near_duplicate_of else {} for a in results]
        print_json([{**a.record.model_dump(), "created": a.created, **n} for a, n in zip(results, near, strict=True)])
        return
    for a in results:
        what = "added" if a.created else "near duplicate of" if a.near_duplicate_of else "already present"
        typer.echo(f"{a.record.id}  {what}  {a.record.title}  [{licence(a.record)}]")


def params_from_meta(**fields: object) -> StyleMeta:
    """A style's metadata from options: a bad value is a one-line error naming the option."""
    from pydantic import ValidationError

    try:
        return StyleMeta.model_validate(fields)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise fail(f"--{error['loc'][0]}: {error['msg']}") from None


def licence(record: StyleRecord) -> str:
    """A style's licence id and class, and `private` when it is (what list and search show)."""
    private = ", private" if record.visibility == "private" else ""
    return f"{record.license_id}: {record.license_class}{private}"


@app.command("import")
@edge
def styles_import(
    source: Annotated[Path, typer.Argument(help="A folder of images, or a zip of them.")],
    metadata: Annotated[
        Path | None, typer.Option(help="CSV or JSONL: file,title,tags,description,license,source,creator,year.")
    ] = None,
    license: Annotated[str, typer.Option(help="Licence of the files whose metadata gives none.")] = "",
    collection: Annotated[str | None, typer.Option(help="Put every imported style in this collection.")] = None,
    visibility: Annotated[str, typer.Option(help="team | private.")] = "team",
    near_ok: Annotated[bool, typer.Option("--allow-near-duplicate", help="Add near duplicates too.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Import a folder or a zip of style images (safe to interrupt and to run again)."""
    from ..styles.bulk import ImportOptions, import_styles, open_sources, read_metadata, summary

    if not source.exists():
        raise fail(f"no such folder or file: {source}")
    if metadata is not None and not metadata.is_file():
        raise fail(f"--metadata: no such file: {metadata}")
    rows = read_metadata(metadata.read_bytes(), metadata.name) if metadata else {}
    check = params_from_meta(license=license, visibility=visibility)
    options = ImportOptions(LOCAL_PRINCIPAL, check.license, check.visibility, collection, near_ok, admin=True)
    cfg = settings()
    library = open_library(cfg)
    with open_sources(source) as sources, progress_bar("importing styles") as bar:
        task = bar.add_task("", total=len(sources))
        reports = import_styles(
            library, sources, rows, options, cfg.limits, lambda done, _t, _r: bar.update(task, completed=done)
        )
    counts = summary(reports)
    if as_json:
        print_json({**counts, "files": [r.as_dict() for r in reports]})
        return
    for r in reports:
        detail = r.near_duplicate_of or r.reason or ""
        typer.echo(f"{r.status:15} {r.file}  {r.id or ''}  {detail}".rstrip())
    typer.echo(", ".join(f"{n} {status.replace('_', ' ')}" for status, n in counts.items()))


@app.command("list")
@edge
def styles_list(
    offset: int = 0, limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100, as_json: JsonOpt = False
) -> None:
    """List the styles in the library (every one: this is the library's own machine), with their licence class."""
    records = open_library(settings()).list(offset, limit)
    if as_json:
        print_json([r.model_dump() for r in records])
        return
    for r in records:
        typer.echo(f"{r.id}  {r.title[:50]:50}  {licence(r):32}  {', '.join(r.tags[:4])}")


@app.command("search")
@edge
def styles_search(
    query: str,
    k: Annotated[int, typer.Option("--k", min=1, max=100)] = 5,
    min_score: Annotated[float | None, typer.Option(help="Minimum CLIP cosine.")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="Only styles with this tag.")] = None,
    commercial_only: Annotated[
        bool, typer.Option("--commercial-only", help="Only styles whose licence allows commercial use.")
    ] = False,
    collection: Annotated[str | None, typer.Option(help="Only this collection's styles.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Search styles by meaning and words (hybrid CLIP + BM25)."""
    from ..styles.scope import StyleScope

    cfg = settings()
    search = open_search(cfg)
    ids = search.library.collection_ids(collection, LOCAL_PRINCIPAL) if collection else None
    scope = StyleScope(LOCAL_PRINCIPAL, commercial_only or cfg.commercial_only, ids, collection or "")
    hits = search.search(query, k, min_score=min_score, tags=tag or (), principal=LOCAL_PRINCIPAL, scope=scope)
    if as_json:
        print_json(
            [
                {
                    "id": h.id,
                    "title": h.style.title,
                    "license": h.style.license,
                    "license_id": h.style.license_id,
                    "license_class": h.style.license_class,
                    "score": h.score,
                    "cosine": h.cosine,
                    "lexical": h.lexical,
                    "tags": h.style.tags,
                    "caption": h.caption,
                    "feedback": h.feedback,
                    "explain": h.explain,
                }
                for h in hits
            ]
        )
        return
    for h in hits:
        cosine = f"{h.cosine:.3f}" if h.cosine is not None else "  -  "
        typer.echo(
            f"{h.score:.3f}  clip {cosine}  bm25 {h.lexical:5.2f}  {h.id}  {h.style.title}  [{licence(h.style)}]"
        )
        for why in h.explain:  # what the learned lists said
            typer.echo(f"       {why}")


@app.command("remove")
@edge
def styles_remove(style_id: str, as_json: JsonOpt = False) -> None:
    """Remove a style (its vector, image and cached embeddings)."""
    record = open_library(settings()).remove(style_id)
    if as_json:
        print_json({"removed": record.id, "title": record.title})
    else:
        typer.echo(f"removed {record.id}  {record.title}")
