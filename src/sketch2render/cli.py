"""The `sketch2render` command line: render, styles, models, serve, ui, up (and eval, bench).

A thin edge: it parses arguments, calls the core, prints results (tables or --json) and turns
domain errors into one line on stderr with a non-zero exit — never a traceback.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from .config import Settings
from .errors import S2RError

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Sketch + words -> render.")
styles_app = typer.Typer(no_args_is_help=True, help="The style library.")
models_app = typer.Typer(no_args_is_help=True, help="Model profiles.")
app.add_typer(styles_app, name="styles")
app.add_typer(models_app, name="models")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg="red")
    return typer.Exit(code)


def edge(func):
    """Turn domain errors (and a few expected ones) into one line on stderr and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except S2RError as exc:
            raise fail(exc.message) from None
        except (OSError, ValueError) as exc:
            raise fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except Exception as exc:  # a bug or a library failure: one line, never a traceback
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise fail(f"unexpected {type(exc).__name__}: {first}"[:300]) from None

    return wrapper


def settings() -> Settings:
    try:
        return Settings()
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise fail(f"bad S2R_* setting: {str(exc).splitlines()[1:3]}") from None


def warn_if_smoke(models) -> None:
    if models.warning:
        typer.secho(f"WARNING: {models.warning}", err=True, fg="yellow", bold=True)


def open_library(cfg: Settings):
    """Resolve models and open the style library (no diffusion pipeline)."""
    from .builders import build_embeddings, build_library
    from .models import resolve_models

    models = resolve_models(cfg)
    warn_if_smoke(models)
    return build_library(cfg, build_embeddings(cfg, models), models)


def print_json(data) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def progress_bar(description: str):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn(description),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
        disable=not sys.stderr.isatty(),
        console=__import__("rich.console").console.Console(stderr=True),
    )


# --------------------------------------------------------------------------------- styles
@styles_app.command("import-defaults")
@edge
def styles_import_defaults(
    if_empty: Annotated[bool, typer.Option("--if-empty", help="Only when the library is empty.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Add the bundled public-domain styles (idempotent)."""
    from .styles import default_styles_dir, import_defaults, load_manifest

    library = open_library(settings())
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


@styles_app.command("add")
@edge
def styles_add(
    images: Annotated[list[Path], typer.Argument(help="Image files (PNG, JPEG, WEBP, GIF, BMP).")],
    title: Annotated[str | None, typer.Option(help="Title (default: the file name).")] = None,
    tags: Annotated[str, typer.Option(help="Comma-separated tags.")] = "",
    description: Annotated[str, typer.Option()] = "",
    license: Annotated[str, typer.Option(help="License of the image.")] = "",
    source: Annotated[str, typer.Option()] = "",
    as_json: JsonOpt = False,
) -> None:
    """Add image(s) to the style library."""
    from .imaging import load_image_file
    from .schemas import StyleMeta

    cfg = settings()
    meta = StyleMeta(
        title=title or "",
        tags=[t for t in tags.split(",") if t.strip()],
        description=description,
        license=license,
        source=source,
    )
    for path in images:  # check every file first: a bad one changes nothing
        load_image_file(path, max_bytes=cfg.max_upload_bytes, max_pixels=cfg.max_image_pixels)
    library = open_library(cfg)
    with progress_bar("adding styles") as bar:
        task = bar.add_task("", total=len(images))
        results = library.add_files([(p, meta) for p in images], lambda done, _t, _p: bar.update(task, completed=done))
    if as_json:
        print_json([{**r.model_dump(), "created": created} for r, created in results])
        return
    for record, created in results:
        typer.echo(f"{record.id}  {'added' if created else 'already present'}  {record.title}")


@styles_app.command("list")
@edge
def styles_list(
    offset: int = 0, limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100, as_json: JsonOpt = False
) -> None:
    """List the styles in the library."""
    records = open_library(settings()).list(offset, limit)
    if as_json:
        print_json([r.model_dump() for r in records])
        return
    for r in records:
        typer.echo(f"{r.id}  {r.title[:50]:50}  {', '.join(r.tags[:4])}")


@styles_app.command("search")
@edge
def styles_search(
    query: str,
    k: Annotated[int, typer.Option("--k", min=1, max=100)] = 5,
    min_score: Annotated[float | None, typer.Option(help="Minimum CLIP cosine.")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="Only styles with this tag.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Search styles by meaning and words (hybrid CLIP + BM25)."""
    hits = open_library(settings()).search(query, k, min_score=min_score, tags=tag or ())
    if as_json:
        print_json(
            [
                {
                    "id": h.id,
                    "title": h.style.title,
                    "license": h.style.license,
                    "score": h.score,
                    "cosine": h.cosine,
                    "lexical": h.lexical,
                    "tags": h.style.tags,
                }
                for h in hits
            ]
        )
        return
    for h in hits:
        cosine = f"{h.cosine:.3f}" if h.cosine is not None else "  -  "
        typer.echo(f"{h.score:.3f}  clip {cosine}  bm25 {h.lexical:5.2f}  {h.id}  {h.style.title}")


@styles_app.command("remove")
@edge
def styles_remove(style_id: str, as_json: JsonOpt = False) -> None:
    """Remove a style (its vector, image and cached embeddings)."""
    record = open_library(settings()).remove(style_id)
    if as_json:
        print_json({"removed": record.id, "title": record.title})
    else:
        typer.echo(f"removed {record.id}  {record.title}")


# --------------------------------------------------------------------------------- models
@models_app.command("build-tiny")
@edge
def models_build_tiny(
    directory: Annotated[Path | None, typer.Argument(help="Default: $S2R_HOME/models/tiny")] = None,
    force: bool = False,
) -> None:
    """Build the tiny random smoke-test models (seconds, ~20 MB)."""
    from .models import build_tiny

    path = build_tiny(directory or settings().models_dir / "tiny", force=force)
    typer.echo(str(path))


@models_app.command("info")
@edge
def models_info(as_json: JsonOpt = False) -> None:
    """Which models a render would use, and where they come from."""
    from .models import model_info

    info = model_info(settings())
    if as_json:
        print_json(info)
        return
    for key, value in info.items():
        typer.echo(f"{key:>18}: {value}")


from . import cli_eval, cli_render, cli_scale  # noqa: E402,F401  (registers render / serve / ui / up / eval / chroma-server)
