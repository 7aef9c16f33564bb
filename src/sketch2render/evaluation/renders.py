"""Batch evaluation: render every sketch × prompt × (control, style) setting, score each render,
and write `results.csv`, thumbnails, the renders (with their recipes) and a self-contained
`report.html` (report.py).

The renders go through the same service and chain as `sketch2render render`. One seed for all
renders, so settings differ only by their strengths. Not here: the command line (cli/evaluate.py),
statistics beyond means, and any JavaScript or network resource in the report.
"""

from __future__ import annotations

import csv
import itertools
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, get_args

from ..errors import Cancelled, InvalidParameter, S2RError, TooLarge
from ..families import FAMILY_NAMES
from ..render.outputs import is_control_image, save_render
from ..render.result import RenderResult
from ..render.service import RenderService
from ..schemas import ControlChoice, RenderParams
from ..sketch import imaging
from .report import report_html

SKETCH_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif"}
STRUCTURE_KEYS = ("precision", "recall", "f1", "chamfer_px", "chamfer_norm", "tolerance_px")
TIMING_KEYS = ("decode", "edges", "retrieval", "embeds", "denoise", "vae_decode", "scores", "total")
COLUMNS = (
    "sketch", "prompt", "family", "control_type", "control_strength", "style_strength", "seed", "style_ids",
    "style_titles",
    *(f"structure_{k}" for k in STRUCTURE_KEYS), "style_similarity", "prompt_alignment", "structure_warning",
    *(f"time_{k}" for k in TIMING_KEYS), "render", "thumbnail", "error",
)  # fmt: skip
GRID_KEYS = {"control": "control", "control_strength": "control", "style": "style", "style_strength": "style"}
TYPE_KEYS = ("type", "control_type")  # the grid's third axis: control types
FAMILY_KEYS = ("family",)  # the fourth: model families


# ------------------------------------------------------------------------------------- inputs
def parse_grid(text: str | None, control: float = 1.0, style: float = 0.7) -> list[tuple[float, float]]:
    """ "control=0.5,1.0;style=0.3,0.8" -> every (control, style) pair; a missing axis keeps its default."""
    axes: dict[str, list[float]] = {"control": [control], "style": [style]}
    for part in (text or "").split(";"):
        if not part.strip():
            continue
        key, sep, values = part.partition("=")
        if key.strip().lower() in TYPE_KEYS + FAMILY_KEYS:  # read by grid_control_types, grid_families
            continue
        axis = GRID_KEYS.get(key.strip().lower())
        if not sep or axis is None:
            raise InvalidParameter(
                f"grid part {part.strip()!r} is not control=A,B, style=A,B, type=canny,lineart or family=sd15,sdxl",
                field="grid",
            )
        try:
            numbers = [float(v) for v in values.split(",") if v.strip()]
        except ValueError:
            raise InvalidParameter(f"grid values {values.strip()!r} are not numbers", field="grid") from None
        if not numbers or any(not (math.isfinite(n) and 0.0 <= n <= 2.0) for n in numbers):
            raise InvalidParameter(f"grid {axis} strengths must be numbers from 0 to 2, got {values!r}", field="grid")
        axes[axis] = list(dict.fromkeys(numbers))
    return list(itertools.product(axes["control"], axes["style"]))


def grid_control_types(text: str | None) -> list[str]:
    """ "type=canny,lineart;control=1.0" -> ["canny", "lineart"]; no type axis: ["canny"]."""
    choices = get_args(ControlChoice)
    for part in (text or "").split(";"):
        key, _, values = part.partition("=")
        if key.strip().lower() in TYPE_KEYS:
            kinds = [v.strip().lower() for v in values.split(",") if v.strip()]
            bad = [k for k in kinds if k not in choices]
            if not kinds or bad:
                raise InvalidParameter(
                    f"grid control types must be among {', '.join(choices)}, got {values!r}", field="grid"
                )
            return list(dict.fromkeys(kinds))
    return ["canny"]


def grid_families(text: str | None) -> list[str | None]:
    """ "family=sd15,sdxl;control=1.0" -> ["sd15", "sdxl"]; no family axis: [None] (the default family)."""
    for part in (text or "").split(";"):
        key, _, values = part.partition("=")
        if key.strip().lower() in FAMILY_KEYS:
            names = [v.strip().lower() for v in values.split(",") if v.strip()]
            bad = [n for n in names if n not in FAMILY_NAMES]
            if not names or bad:
                raise InvalidParameter(
                    f"grid families must be among {', '.join(FAMILY_NAMES)}, got {values!r}", field="grid"
                )
            return list(dict.fromkeys(names))
    return [None]


def read_prompts(path: Path) -> list[str]:
    """One prompt per line; blank lines and lines starting with '#' are skipped."""
    lines = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines()]
    prompts = [line for line in lines if line and not line.startswith("#")]
    if not prompts:
        raise InvalidParameter(f"no prompts in {path} (one per line, '#' starts a comment)", field="prompts")
    return prompts


def list_sketches(directory: Path) -> list[Path]:
    """Image files directly in `directory`, by name (control images written by us are skipped)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InvalidParameter(f"{directory} is not a folder", field="sketches")
    found = sorted(
        p
        for p in directory.iterdir()
        if p.is_file()
        and p.suffix.lower() in SKETCH_SUFFIXES
        and not p.name.startswith(".")
        and not is_control_image(p)
    )
    if not found:
        raise InvalidParameter(f"no sketches (PNG, JPEG, WEBP, BMP, GIF) in {directory}", field="sketches")
    return found


# ---------------------------------------------------------------------------------- rendering
def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text)[:40] or "sketch"


def _row(sketch: Path, prompt: str, kind: str, control: float, style: float, seed: int, family: str | None):
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(sketch=sketch.name, prompt=prompt, control_type=kind, control_strength=control, style_strength=style)
    row["family"] = family
    row["seed"] = seed
    return row


def _fill(row: dict[str, Any], result: RenderResult) -> None:
    recipe = result.recipe
    row["family"] = recipe.family
    used = [h for h in recipe.styles if h.weight]
    row["style_ids"] = " ".join(h.id for h in used)
    row["style_titles"] = " | ".join(h.style.title for h in used)
    scores = recipe.scores[0]
    for key in STRUCTURE_KEYS:
        row[f"structure_{key}"] = getattr(scores.structure, key)
    row["style_similarity"] = scores.style_similarity
    row["prompt_alignment"] = scores.prompt_alignment
    row["structure_warning"] = scores.structure_warning or ""
    for key in TIMING_KEYS:
        row[f"time_{key}"] = round(getattr(recipe.timings, key), 4)


def run_eval(
    service: RenderService,
    sketches: Sequence[Path],
    prompts: Sequence[str],
    grid: Sequence[tuple[float, float]],
    out_dir: Path,
    *,
    steps: int | None = None,
    size: int | None = None,
    seed: int = 0,
    style_ids: Sequence[str] = (),
    control_types: Sequence[str] = ("canny",),
    families: Sequence[str | None] = (None,),
    on_done: Callable[[], None] | None = None,
    commercial_only: bool = False,
    collection: str | None = None,
) -> list[dict[str, Any]]:
    """Render and score every sketch × prompt × setting (× family); save renders and thumbnails under
    `out_dir`. `steps` and `size` left out: each family's own. A render that fails with a domain error
    (e.g. a blank sketch) becomes a row with `error` set."""
    thumbs, renders = Path(out_dir) / "thumbs", Path(out_dir) / "renders"
    thumbs.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    for s_index, sketch in enumerate(sketches):
        limit = service.settings.max_upload_bytes
        too_big = sketch.stat().st_size > limit  # never read a huge file whole
        data = b"" if too_big else sketch.read_bytes()
        sketch_thumb = None
        for family, prompt, kind, (control, style) in itertools.product(families, prompts, control_types, grid):
            row = _row(sketch, prompt, kind, control, style, seed, family)
            stem = f"{len(rows):04d}-{_slug(sketch.stem)}"
            try:
                if too_big:
                    raise TooLarge(f"{sketch.name} is over the {limit / 1e6:.1f} MB upload limit")
                given = {"steps": steps, "size": size, "family": family}  # left out: the family's
                params = RenderParams(
                    prompt=prompt, seed=seed, control=kind, control_strength=control, style_strength=style,
                    style_ids=list(style_ids), commercial_only=commercial_only, collection=collection,
                    **{k: v for k, v in given.items() if v is not None},
                )  # fmt: skip
                result = service.render(data, params)
                save_render(result, renders, stem)
                (thumbs / f"{stem}.png").write_bytes(imaging.thumbnail_png(result.images[0], 256))
                if sketch_thumb is None:
                    sketch_thumb = f"thumbs/sketch-{s_index:03d}.png"
                    (Path(out_dir) / sketch_thumb).write_bytes(imaging.thumbnail_png(result.sketch, 256))
                _fill(row, result)
                row.update(render=f"renders/{stem}.png", thumbnail=f"thumbs/{stem}.png")
            except Cancelled:
                raise
            except S2RError as exc:
                row["error"] = exc.message
            row["_sketch_thumb"] = sketch_thumb
            rows.append(row)
            if on_done is not None:
                on_done()
    return rows


# ------------------------------------------------------------------------------------ outputs
def write_csv(rows: Sequence[dict[str, Any]], path: Path) -> None:
    with Path(path).open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if row.get(k) is None else row[k] for k in COLUMNS})


def write_outputs(rows: Sequence[dict[str, Any]], out_dir: Path, meta: dict[str, Any]) -> dict[str, Path]:
    """results.csv and report.html in `out_dir` (renders and thumbnails are already there)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out_dir / "results.csv", "html": out_dir / "report.html"}
    write_csv(rows, paths["csv"])
    paths["html"].write_text(report_html(rows, meta), encoding="utf-8")
    return paths
