"""What every command of the `sketch2render` CLI shares: settings, the error edge (domain errors
become one line on stderr and a non-zero exit, never a traceback; a full disk or a read-only data
folder says so in the same words as the API), JSON output, progress bars."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from ..config import Settings, unknown_settings
from ..errors import InvalidParameter, S2RError
from ..schemas import RenderParams
from ..storage import translate

if TYPE_CHECKING:
    from ..config import Settings
    from ..models import ModelSet
    from ..retrieval import HybridSearch
    from ..styles import StyleLibrary

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
            raise fail(_storage_line(exc) or _first_line(exc)) from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except Exception as exc:  # a bug or a library failure: one line, never a traceback
            if line := _storage_line(exc):  # SQLite on a full disk or a read-only folder
                raise fail(line) from None
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise fail(f"unexpected {type(exc).__name__}: {first}"[:300]) from None

    return wrapper


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _storage_line(exc: Exception) -> str | None:
    """The API's words for a full disk (507) or a read-only data folder (503), else None."""
    translated = translate(exc)
    return translated.message if translated is not None else None


def settings() -> Settings:
    try:
        cfg = Settings()
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise fail(f"bad S2R_* setting: {str(exc).splitlines()[1:3]}") from None
    for name in unknown_settings():
        typer.secho(f"WARNING: {name} is not a sketch2render setting; it is ignored", fg="yellow", err=True)
    return cfg


def warn_if_smoke(models: ModelSet) -> None:
    if models.warning:
        typer.secho(f"WARNING: {models.warning}", err=True, fg="yellow", bold=True)


def open_library(cfg: Settings, *, bundled: bool = True) -> StyleLibrary:
    """Resolve models and open the style library (no diffusion pipeline); a new one gets the
    bundled styles unless `bundled` is False (`styles import-defaults` does it itself)."""
    return _open(cfg, bundled)[0]


def open_search(cfg: Settings, *, bundled: bool = True) -> HybridSearch:
    """The style library (as `open_library`) and its search, with the learned side."""
    from ..retrieval import build_search

    library, models = _open(cfg, bundled)
    return build_search(cfg, library, models)


def _open(cfg: Settings, bundled: bool) -> tuple[StyleLibrary, ModelSet]:
    from ..models import resolve_models  # the model stack only when a command needs it
    from ..styles import build_embeddings, build_library

    models = resolve_models(cfg)
    warn_if_smoke(models)
    library = build_library(cfg, build_embeddings(cfg, models))
    if bundled:
        bundled_styles_once(cfg, library)
    return library, models


def bundled_styles_once(cfg: Settings, library: StyleLibrary) -> None:
    """A new data folder starts with the bundled styles, whichever command uses it first (the API
    does the same at start); once, so a library its owner emptied stays empty."""
    if cfg.bundled_styles:
        from ..styles.defaults import import_bundled_once

        added = import_bundled_once(library, cfg.styles_dir)
        if added:
            typer.secho(f"new style library: imported {added} bundled public-domain styles", err=True)


def print_json(data) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def progress_bar(description: str, *counter, transient: bool = True) -> Progress:
    """A rich progress bar on stderr, shown only when stderr is a terminal (N of M by default)."""
    return Progress(
        TextColumn(description),
        BarColumn(),
        *(counter or (MofNCompleteColumn(),)),
        TimeElapsedColumn(),
        transient=transient,
        disable=not sys.stderr.isatty(),
        console=Console(stderr=True),
    )


def params_from(fields: dict) -> RenderParams:
    """RenderParams from command-line values; a bad one is an InvalidParameter naming the option."""
    try:
        return RenderParams(**fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InvalidParameter(f"{'.'.join(map(str, err['loc']))}: {err['msg']}") from None


@contextmanager
def console_progress(description: str, total: int, *, as_bytes: bool = False) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr (when it is a terminal); yields `advance(amount)`."""
    counter = (DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn()) if as_bytes else ()
    progress = progress_bar(description, *counter, transient=False)
    with progress:
        task = progress.add_task("", total=total)
        yield lambda amount: progress.advance(task, amount)


def serving(cfg: Settings, family: str | None) -> Settings:
    """Settings whose S2R_MODELS serves `family` too: a family the profiles do not name is served by its
    real-weights profile for this command (missing weights: a one-line error saying how to get them)."""
    from ..models import family_of_profile, requested_profiles

    if family is None or family in {family_of_profile(p) for p in requested_profiles(cfg)}:
        return cfg
    return cfg.model_copy(update={"models": f"{cfg.models},{family}"})
