"""The evaluation report: per-setting means, and a self-contained `report.html` whose inline SVG
plots structure F1 against style similarity per setting (the trade-off). No JavaScript, no
network resource."""

from __future__ import annotations

import html
import itertools
import time
from collections.abc import Sequence
from typing import Any

PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f")


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(sum(present) / len(present), 4) if present else None


def setting(row: dict[str, Any]) -> tuple[str, float, float, str]:
    """The grid point a row belongs to: (control type, control strength, style strength, family)."""
    return (row.get("control_type") or "canny", row["control_strength"], row["style_strength"], row.get("family") or "")


def setting_label(key: tuple[str, float, float, str]) -> str:
    family = f"{key[3]} " if key[3] else ""
    return f"{family}{key[0]}, control {key[1]:g}, style {key[2]:g}"


def summarise(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (family, control type, control, style) setting: counts and mean scores over its successful renders."""
    summary = []
    for (kind, control, style, family), group in itertools.groupby(sorted(rows, key=setting), key=setting):
        group = list(group)
        ok = [r for r in group if not r["error"]]
        summary.append(
            {
                "family": family,
                "control_type": kind,
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
    per-setting means joined by a line (the trade-off curve), the warning threshold dashed.
    It draws top to bottom: frame, axes, threshold, points, means, legend."""
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

    settings = sorted({setting(r) for r in rows})
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
            f"{r['sketch']} | {r['prompt']} | {setting_label(setting(r))} | "
            f"F1 {r['structure_f1']:.3f}, style {r['style_similarity']:.3f}"
        )
        c = colour[setting(r)]
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
        c = colour[setting(s)]
        parts.append(
            f'<circle cx="{px(s["style_similarity"]):.1f}" cy="{py(s["structure_f1"]):.1f}" r="7" fill="{c}" '
            f'stroke="#000" stroke-width="1.5"><title>mean of {setting_label(setting(s))}</title></circle>'
        )
    for i, s in enumerate(settings):
        y = top + 10 + i * 18
        parts.append(f'<circle cx="{width - right + 20}" cy="{y}" r="5" fill="{colour[s]}"/>')
        parts.append(f'<text x="{width - right + 30}" y="{y + 4}">{setting_label(s)}</text>')
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
        "family",
        "control type",
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
            s["family"], s["control_type"], s["control_strength"], s["style_strength"], s["renders"], s["errors"],
            s["structure_f1"],
            s["style_similarity"], s["prompt_alignment"], s["warnings"], s["seconds_per_render"],
        )  # fmt: skip
        out.append("<tr>" + "".join(f"<td class='num'>{_fmt(c)}</td>" for c in cells) + "</tr>")
    out.append("</table>")
    out.append("<h2>Structure fidelity against style similarity</h2>")
    out.append(scatter_svg(rows, float(meta.get("structure_threshold", 0.3))))
    out.append("<h2>Renders</h2><table><tr>")
    heads = ("sketch", "prompt", "control type", "control", "style", "render", "F1", "precision", "recall",
             "chamfer (norm.)",
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
            f"<td>{esc(setting(r)[0])}</td>"
            f"<td class='num'>{r['control_strength']:g}</td><td class='num'>{r['style_strength']:g}</td>"
            f"<td>{render}</td>"
            + "".join(f"<td class='num'>{_fmt(n)}</td>" for n in numbers)
            + f"<td>{esc(r['style_titles'] or '')}</td><td class='warn'>{esc(note)}</td></tr>"
        )
    out.append("</table><p>Scores: see the README section “Quality scores”. Columns in results.csv.</p>")
    out.append(f"<p><small>written {esc(time.strftime('%Y-%m-%d %H:%M:%S'))}</small></p></body></html>")
    return "\n".join(out)
