"""`sketch2render eval`: render sketches × prompts × a (control, style) grid and report the scores;
`sketch2render bench`: the benchmarks of a source checkout."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import InvalidParameter
from .common import JsonOpt, edge, fail, params_from, print_json, progress_bar, serving, settings, warn_if_smoke


@edge
def eval_command(
    ctx: typer.Context,
    sketches: Annotated[Path | None, typer.Option("--sketches", help="Folder of sketch images.")] = None,
    prompts: Annotated[
        Path | None, typer.Option("--prompts", help="Text file: one prompt per line, '#' comments.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Folder for results.csv, report.html, images.")
    ] = None,
    grid: Annotated[
        str | None,
        typer.Option(help='Settings to try, e.g. "control=0.5,1.0;style=0.3,0.8;type=canny,lineart;family=sd15,sdxl".'),
    ] = None,
    style: Annotated[
        list[str] | None, typer.Option("--style", help="Use this style id for every render (repeatable).")
    ] = None,
    steps: Annotated[
        int | None, typer.Option(min=1, max=150, help="Default: each family's (sd15 20, sdxl 30).")
    ] = None,
    size: Annotated[
        int | None,
        typer.Option(help="Longest side of the renders (multiple of 8). Default: each family's (512, 1024)."),
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="One seed for every render.")] = 0,
    commercial_only: Annotated[
        bool, typer.Option("--commercial-only", help="Only styles whose licence allows commercial use.")
    ] = False,
    collection: Annotated[str | None, typer.Option(help="Retrieve only from this collection.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Render every sketch × prompt × grid setting; write results.csv and report.html."""
    from ..evaluation.renders import (
        grid_control_types,
        grid_families,
        list_sketches,
        parse_grid,
        read_prompts,
        run_eval,
        write_outputs,
    )
    from ..evaluation.report import summarise
    from ..render.selection import named_styles, render_scope
    from ..render.service import build_service
    from ..render.stages import RenderRequest
    from ..styles import import_defaults

    if ctx.invoked_subcommand:  # `eval retrieval ...`
        return
    if sketches is None or prompts is None or out is None:
        raise fail("eval needs --sketches DIR --prompts FILE --out DIR (or: eval retrieval --queries Q.tsv)")
    # 1. Check every input before loading a model.
    sketch_files = list_sketches(sketches)
    prompt_list = read_prompts(prompts)
    pairs = parse_grid(grid)
    control_types = grid_control_types(grid)
    families = grid_families(grid)
    if size is not None and (size < 64 or size > 1024 or size % 8):
        raise InvalidParameter(f"--size must be a multiple of 8 from 64 to 1024, got {size}")
    given = {"steps": steps, "size": size}
    first = {"prompt": prompt_list[0], "seed": seed, "style_ids": style or [], **{k: v for k, v in given.items() if v}}
    params = params_from({**first, "commercial_only": commercial_only, "collection": collection})
    cfg = settings()
    for family in families:
        cfg = serving(cfg, family)

    # 2. Load once (each family on its first render).
    service = build_service(cfg)
    for family in families:
        service.families.choose(family)  # not served, or its weights missing: one line now, not per row
    warn_if_smoke(service.models)
    named_styles(
        params.style_ids,
        service.library,
        render_scope(RenderRequest(b"", params), service.library, commercial_only=cfg.commercial_only),
    )
    if not style and len(service.library) == 0:
        added, _ = import_defaults(service.library)
        typer.echo(f"style library was empty: imported {added} bundled public-domain styles", err=True)

    # 3. Render and score everything.
    total = len(families) * len(sketch_files) * len(prompt_list) * len(control_types) * len(pairs)
    with progress_bar("evaluating") as bar:
        task = bar.add_task("", total=total)
        rows = run_eval(
            service, sketch_files, prompt_list, pairs, out,
            steps=steps, size=size, seed=seed, style_ids=style or [], control_types=control_types,
            families=families,
            commercial_only=commercial_only,
            on_done=lambda: bar.advance(task),
        )  # fmt: skip

    # 4. Write the CSV and the report.
    meta = {
        "profile": service.models.profile,
        "smoke_test": service.models.smoke_test,
        "warning": service.models.warning,
        "families": ", ".join(f or service.families.default for f in families),
        "sketches": len(sketch_files),
        "prompts": len(prompt_list),
        "settings": len(pairs),
        "steps": steps,
        "size": size,
        "seed": seed,
        "structure_threshold": cfg.structure_threshold,
        "edge_tolerance_px": cfg.edge_tolerance_px,
    }
    paths = write_outputs(rows, out, meta)
    summary = summarise(rows)
    errors = sum(bool(r["error"]) for r in rows)
    if as_json:
        print_json({"csv": str(paths["csv"]), "html": str(paths["html"]), "renders": len(rows),
                    "errors": errors, "summary": summary})  # fmt: skip
        return
    typer.echo(f"{len(rows)} renders ({errors} failed) -> {paths['csv']}, {paths['html']}")
    typer.echo(
        f"{'family':>6} {'type':>9} {'control':>8} {'style':>6} {'F1':>6} {'style sim':>9} {'prompt':>7} {'warn':>5}"
    )
    for s in summary:
        cells = [s["structure_f1"], s["style_similarity"], s["prompt_alignment"]]
        f1, sim, align = ("-" if v is None else f"{v:.3f}" for v in cells)
        typer.echo(
            f"{s['family']:>6} {s['control_type']:>9} {s['control_strength']:>8g} {s['style_strength']:>6g} "
            f"{f1:>6} {sim:>9} {align:>7} {s['warnings']:>5}"
        )


def bench(ctx: typer.Context) -> None:
    """Run a benchmark (retrieval, overhead, startup, gpu) from the source checkout.

    The same as `python -m benchmarks NAME [--json] [--size tiny|full]`; results are recorded in
    benchmarks/results.md."""
    import os
    import subprocess
    import sys

    checkout = Path(__file__).resolve().parents[3]
    if not (checkout / "benchmarks" / "__main__.py").exists():
        raise fail("the benchmarks live in the source checkout (benchmarks/); run this from a clone")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(checkout), os.environ.get("PYTHONPATH")]))}
    raise typer.Exit(subprocess.call([sys.executable, "-m", "benchmarks", *ctx.args], cwd=checkout, env=env))
