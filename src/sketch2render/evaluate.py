"""Batch evaluation: render every sketch × prompt × (control, style) setting, score each render,
and write `results.csv`, thumbnails, the renders (with their recipes) and a self-contained
`report.html` whose SVG plots structure F1 against style similarity per setting (the trade-off).

The renders go through the same service and chain as `sketch2render render`. One seed for all
renders, so settings differ only by their strengths. Not here: the command line (cli_eval.py),
statistics beyond means, and any JavaScript or network resource in the report.
"""

from __future__ import annotations

import csv
import html
import itertools
import math
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import imaging
from .errors import Cancelled, InvalidParameter, S2RError, TooLarge
from .schemas import RenderParams

SKETCH_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif"}
STRUCTURE_KEYS = ("precision", "recall", "f1", "chamfer_px", "chamfer_norm", "tolerance_px")
TIMING_KEYS = ("decode", "edges", "retrieval", "embeds", "denoise", "vae_decode", "metrics", "total")
COLUMNS = (
    "sketch", "prompt", "control_strength", "style_strength", "seed", "style_ids", "style_titles",
    *(f"structure_{k}" for k in STRUCTURE_KEYS), "style_similarity", "prompt_alignment", "structure_warning",
    *(f"time_{k}" for k in TIMING_KEYS), "render", "thumbnail", "error",
)  # fmt: skip
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f")
GRID_KEYS = {"control": "control", "control_strength": "control", "style": "style", "style_strength": "style"}


# ------------------------------------------------------------------------------------- inputs
def parse_grid(text: str | None, control: float = 1.0, style: float = 0.7) -> list[tuple[float, float]]:
    """ "control=0.5,1.0;style=0.3,0.8" -> every (control, style) pair; a missing axis keeps its default."""
    axes: dict[str, list[float]] = {"control": [control], "style": [style]}
    for part in (text or "").split(";"):
        if not part.strip():
            continue
        key, sep, values = part.partition("=")
        axis = GRID_KEYS.get(key.strip().lower())
        if not sep or axis is None:
            raise InvalidParameter(f"grid part {part.strip()!r} is not control=A,B or style=A,B", field="grid")
        try:
            numbers = [float(v) for v in values.split(",") if v.strip()]
        except ValueError:
            raise InvalidParameter(f"grid values {values.strip()!r} are not numbers", field="grid") from None
        if not numbers or any(not (math.isfinite(n) and 0.0 <= n <= 2.0) for n in numbers):
            raise InvalidParameter(f"grid {axis} strengths must be numbers from 0 to 2, got {values!r}", field="grid")
        axes[axis] = list(dict.fromkeys(numbers))
    return list(itertools.product(axes["control"], axes["style"]))


def read_prompts(path: Path) -> list[str]:
    """One prompt per line; blank lines and lines starting with '#' are skipped."""
    lines = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines()]
    prompts = [line for line in lines if line and not line.startswith("#")]
    if not prompts:
        raise InvalidParameter(f"no prompts in {path} (one per line, '#' starts a comment)", field="prompts")
    return prompts


def list_sketches(directory: Path) -> list[Path]:
    """Image files directly in `directory`, by name (edge maps written by us are skipped)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InvalidParameter(f"{directory} is not a folder", field="sketches")
    found = sorted(
        p
        for p in directory.iterdir()
        if p.is_file()
        and p.suffix.lower() in SKETCH_SUFFIXES
        and not p.name.startswith(".")
        and not p.name.endswith(".edges.png")
    )
    if not found:
        raise InvalidParameter(f"no sketches (PNG, JPEG, WEBP, BMP, GIF) in {directory}", field="sketches")
    return found


# ---------------------------------------------------------------------------------- rendering
def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text)[:40] or "sketch"


def _row(sketch: Path, prompt: str, control: float, style: float, seed: int) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(sketch=sketch.name, prompt=prompt, control_strength=control, style_strength=style, seed=seed)
    return row


def _fill(row: dict[str, Any], result: Any) -> None:
    recipe = result.recipe
    used = [h for h in recipe.styles if h.weight]
    row["style_ids"] = " ".join(h.id for h in used)
    row["style_titles"] = " | ".join(h.style.title for h in used)
    scores = recipe.metrics[0]
    for key in STRUCTURE_KEYS:
        row[f"structure_{key}"] = scores["structure"][key]
    row["style_similarity"] = scores["style_similarity"]
    row["prompt_alignment"] = scores["prompt_alignment"]
    row["structure_warning"] = scores["structure_warning"] or ""
    for key in TIMING_KEYS:
        row[f"time_{key}"] = round(getattr(recipe.timings, key), 4)


def run_eval(
    service: Any,
    scorer: Any,
    sketches: Sequence[Path],
    prompts: Sequence[str],
    grid: Sequence[tuple[float, float]],
    out_dir: Path,
    *,
    steps: int = 20,
    size: int = 512,
    seed: int = 0,
    style_ids: Sequence[str] = (),
    on_done: Callable[[], None] | None = None,
) -> list[dict[str, Any]]:
    """Render and score every sketch × prompt × setting; save renders and thumbnails under `out_dir`.
    A render that fails with a domain error (e.g. a blank sketch) becomes a row with `error` set."""
    from .service import save_render

    thumbs, renders = Path(out_dir) / "thumbs", Path(out_dir) / "renders"
    thumbs.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    for s_index, sketch in enumerate(sketches):
        limit = service.settings.max_upload_bytes
        too_big = sketch.stat().st_size > limit  # never read a huge file whole
        data = b"" if too_big else sketch.read_bytes()
        sketch_thumb = None
        for prompt, (control, style) in itertools.product(prompts, grid):
            row = _row(sketch, prompt, control, style, seed)
            stem = f"{len(rows):04d}-{_slug(sketch.stem)}"
            try:
                if too_big:
                    raise TooLarge(f"{sketch.name} is over the {limit / 1e6:.1f} MB upload limit")
                params = RenderParams(
                    prompt=prompt, steps=steps, size=size, seed=seed, control_strength=control,
                    style_strength=style, style_ids=list(style_ids),
                )  # fmt: skip
                result = service.render(data, params)
                if not result.recipe.metrics:  # the service was built without a scorer
                    scorer.score(result, service.library)
                    result.recipe.timings.total += result.recipe.timings.metrics
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


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(sum(present) / len(present), 4) if present else None


def summarise(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (control, style) setting: counts and mean scores over its successful renders."""
    summary = []
    for (control, style), group in itertools.groupby(
        sorted(rows, key=lambda r: (r["control_strength"], r["style_strength"])),
        key=lambda r: (r["control_strength"], r["style_strength"]),
    ):
        group = list(group)
        ok = [r for r in group if not r["error"]]
        summary.append(
            {
                "control_strength": control,
                "style_strength": style,
                "renders": len(ok),
                "errors": len(group) - len(ok),
                "structure_f1": _mean([r["structure_f1"] for r in ok]),
                "style_similarity": _mean([r["style_similarity"] for r in ok]),
                "prompt_alignment": _mean([r["prompt_alignment"] for r in ok]),
                "warnings": sum(bool(r["structure_warning"]) for r in ok),
                "seconds_per_render": _mean([r["time_total"] for r in ok]),
            }
        )
    return summary


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or value == "":
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else html.escape(str(value))


def _ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    return [lo + (hi - lo) * i / (count - 1) for i in range(count)]


def scatter_svg(rows: Sequence[dict[str, Any]], threshold: float, width: int = 640, height: int = 420) -> str:
    """Inline SVG: structure F1 (y) against style similarity (x), one colour per setting, the
    per-setting means joined by a line (the trade-off curve), the warning threshold dashed."""
    points = [r for r in rows if not r["error"] and r["style_similarity"] is not None]
    left, right, top, bottom = 60, 190, 20, 50
    if not points:
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="80" role="img">'
            '<text x="10" y="40">No render used a style, so there is no style similarity to plot.</text></svg>'
        )
    xs = [r["style_similarity"] for r in points]
    x_lo, x_hi = min(xs), max(xs)
    pad = max(0.02, (x_hi - x_lo) * 0.1)
    x_lo, x_hi = x_lo - pad, x_hi + pad
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(x: float) -> float:
        return left + (x - x_lo) / (x_hi - x_lo) * plot_w

    def py(y: float) -> float:
        return top + (1.0 - y) * plot_h

    settings = sorted({(r["control_strength"], r["style_strength"]) for r in rows})
    colour = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(settings)}
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        'aria-label="structure F1 against style similarity" font-family="sans-serif" font-size="11">',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fafafa" stroke="#999"/>',
    ]
    for y in _ticks(0.0, 1.0):
        parts.append(f'<line x1="{left - 4}" y1="{py(y):.1f}" x2="{left}" y2="{py(y):.1f}" stroke="#999"/>')
        parts.append(f'<text x="{left - 6}" y="{py(y) + 4:.1f}" text-anchor="end">{y:.2f}</text>')
    for x in _ticks(x_lo, x_hi):
        parts.append(
            f'<line x1="{px(x):.1f}" y1="{top + plot_h}" x2="{px(x):.1f}" y2="{top + plot_h + 4}" stroke="#999"/>'
        )
        parts.append(f'<text x="{px(x):.1f}" y="{top + plot_h + 16}" text-anchor="middle">{x:.3f}</text>')
    parts += [
        f'<text x="{left + plot_w / 2}" y="{height - 10}" text-anchor="middle">style similarity (CLIP cosine)</text>',
        f'<text transform="translate(14 {top + plot_h / 2}) rotate(-90)" text-anchor="middle">structure F1</text>',
        f'<line x1="{left}" y1="{py(threshold):.1f}" x2="{left + plot_w}" y2="{py(threshold):.1f}" '
        'stroke="#c00" stroke-dasharray="5 4"/>',
        f'<text x="{left + plot_w - 4}" y="{py(threshold) - 4:.1f}" text-anchor="end" fill="#c00">'
        f"warning threshold {threshold:.2f}</text>",
    ]
    for r in points:
        tip = html.escape(
            f"{r['sketch']} | {r['prompt']} | control {r['control_strength']}, style {r['style_strength']} | "
            f"F1 {r['structure_f1']:.3f}, style {r['style_similarity']:.3f}"
        )
        c = colour[(r["control_strength"], r["style_strength"])]
        parts.append(
            f'<circle cx="{px(r["style_similarity"]):.1f}" cy="{py(r["structure_f1"]):.1f}" r="4" fill="{c}" '
            f'fill-opacity="0.75"><title>{tip}</title></circle>'
        )
    means = [s for s in summarise(points) if s["style_similarity"] is not None]
    means.sort(key=lambda s: s["style_similarity"])
    if len(means) > 1:
        path = " ".join(f"{px(s['style_similarity']):.1f},{py(s['structure_f1']):.1f}" for s in means)
        parts.append(f'<polyline points="{path}" fill="none" stroke="#333" stroke-width="1.5"/>')
    for s in means:
        c = colour[(s["control_strength"], s["style_strength"])]
        parts.append(
            f'<circle cx="{px(s["style_similarity"]):.1f}" cy="{py(s["structure_f1"]):.1f}" r="7" fill="{c}" '
            f'stroke="#000" stroke-width="1.5"><title>mean of control {s["control_strength"]}, '
            f"style {s['style_strength']}</title></circle>"
        )
    for i, s in enumerate(settings):
        y = top + 10 + i * 18
        parts.append(f'<circle cx="{width - right + 20}" cy="{y}" r="5" fill="{colour[s]}"/>')
        parts.append(f'<text x="{width - right + 30}" y="{y + 4}">control {s[0]:g}, style {s[1]:g}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:4px 8px;font-size:13px}
th{background:#f0f0f0}td.num{text-align:right;font-variant-numeric:tabular-nums}
.warn{color:#b00}.banner{background:#fff3cd;border:1px solid #e0c060;padding:8px 12px}
img{max-width:160px;max-height:160px}
"""


def report_html(rows: Sequence[dict[str, Any]], meta: dict[str, Any]) -> str:
    """The self-contained report: run facts, per-setting summary, the trade-off plot, every render."""
    esc = html.escape
    out = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>sketch2render eval</title><style>{_CSS}</style></head><body>",
        "<h1>sketch2render eval</h1>",
    ]
    if meta.get("smoke_test"):
        out.append(
            f"<p class='banner'><b>Smoke test:</b> {esc(str(meta.get('warning') or 'random weights'))} "
            "The images are noise and the scores carry no meaning about quality.</p>"
        )
    facts = ", ".join(f"{esc(str(k))}: {esc(str(v))}" for k, v in meta.items() if k not in ("warning",))
    out.append(f"<p>{facts}</p>")
    out.append("<h2>Per setting (means)</h2><table><tr>")
    heads = (
        "control",
        "style",
        "renders",
        "errors",
        "structure F1",
        "style sim.",
        "prompt align.",
        "warnings",
        "s/render",
    )
    out.append("".join(f"<th>{h}</th>" for h in heads) + "</tr>")
    for s in summarise(rows):
        cells = (
            s["control_strength"], s["style_strength"], s["renders"], s["errors"], s["structure_f1"],
            s["style_similarity"], s["prompt_alignment"], s["warnings"], s["seconds_per_render"],
        )  # fmt: skip
        out.append("<tr>" + "".join(f"<td class='num'>{_fmt(c)}</td>" for c in cells) + "</tr>")
    out.append("</table>")
    out.append("<h2>Structure fidelity against style similarity</h2>")
    out.append(scatter_svg(rows, float(meta.get("structure_threshold", 0.3))))
    out.append("<h2>Renders</h2><table><tr>")
    heads = ("sketch", "prompt", "control", "style", "render", "F1", "precision", "recall", "chamfer (norm.)",
             "style sim.", "prompt align.", "styles", "note")  # fmt: skip
    out.append("".join(f"<th>{h}</th>" for h in heads) + "</tr>")
    for r in rows:
        sketch = f"<img src='{esc(r['_sketch_thumb'])}' alt=''><br>" if r.get("_sketch_thumb") else ""
        render = f"<a href='{esc(r['render'])}'><img src='{esc(r['thumbnail'])}' alt=''></a>" if r["thumbnail"] else ""
        note = r["error"] or r["structure_warning"] or ""
        numbers = (r["structure_f1"], r["structure_precision"], r["structure_recall"], r["structure_chamfer_norm"],
                   r["style_similarity"], r["prompt_alignment"])  # fmt: skip
        out.append(
            f"<tr><td>{sketch}{esc(r['sketch'])}</td><td>{esc(r['prompt'])}</td>"
            f"<td class='num'>{r['control_strength']:g}</td><td class='num'>{r['style_strength']:g}</td>"
            f"<td>{render}</td>"
            + "".join(f"<td class='num'>{_fmt(n)}</td>" for n in numbers)
            + f"<td>{esc(r['style_titles'] or '')}</td><td class='warn'>{esc(note)}</td></tr>"
        )
    out.append("</table><p>Scores: see the README section “Quality scores”. Columns in results.csv.</p>")
    out.append(f"<p><small>written {esc(time.strftime('%Y-%m-%d %H:%M:%S'))}</small></p></body></html>")
    return "\n".join(out)


def write_outputs(rows: Sequence[dict[str, Any]], out_dir: Path, meta: dict[str, Any]) -> dict[str, Path]:
    """results.csv and report.html in `out_dir` (renders and thumbnails are already there)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out_dir / "results.csv", "html": out_dir / "report.html"}
    write_csv(rows, paths["csv"])
    paths["html"].write_text(report_html(rows, meta), encoding="utf-8")
    return paths
