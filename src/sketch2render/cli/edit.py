"""`sketch2render edit` and `sketch2render upscale`: a finished render (a PNG this tool wrote, with
its recipe inside) repainted in a masked area, or enlarged by 2 or 4 with tiled detail. The output
PNG carries the recipe chain: its parent's recipe inside its own."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Annotated

import typer

from .common import JsonOpt, bundled_styles_once, edge, fail, print_json, progress_bar, settings, warn_if_smoke


def _read(path: Path, what: str) -> bytes:
    if not path.is_file():
        raise fail(f"no such {what}: {path}")
    return path.read_bytes()


def _control_beside(render: Path) -> Path:
    """The control image the render command wrote beside a render: S.control.png for S.png and S-1.png
    (or S.edges.png, written before the rename)."""
    from ..render.outputs import control_path, existing_control_path

    stems = [render.stem]
    base, _, index = render.stem.rpartition("-")
    if base and index.isdigit():
        stems.append(base)
    candidates = [existing_control_path(render.parent, stem) for stem in stems]
    return next((c for c in candidates if c.is_file()), control_path(render.parent, render.stem))


def _write(result, out: Path, as_json: bool) -> None:
    from ..render import save_render

    saved = save_render(result, out.parent if str(out.parent) else Path("."), out.stem)
    if as_json:
        print_json({"images": [str(p) for p in saved.images], "recipe": result.recipe.model_dump(mode="json")})
    else:
        typer.echo(f"wrote {saved.images[0]} ({result.images[0].width}x{result.images[0].height})")


@edge
def edit(
    render: Annotated[Path, typer.Argument(help="A render PNG written by sketch2render (its recipe is inside).")],
    mask: Annotated[Path, typer.Option("--mask", help="The area to repaint: the render's size, white on black.")],
    prompt: Annotated[str, typer.Option("--prompt", "-p", help="What the masked area becomes.")],
    style: Annotated[list[str] | None, typer.Option("--style", help="Use this style id (repeatable).")] = None,
    seed: Annotated[int | None, typer.Option(help="Default: the render's seed.")] = None,
    steps: Annotated[int | None, typer.Option(min=1, max=150, help="Default: the render's steps.")] = None,
    feather: Annotated[int, typer.Option(min=0, max=64, help="Blend band past the mask, px.")] = 8,
    control: Annotated[
        Path | None, typer.Option(help="The render's control image (default: S.control.png beside it).")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output PNG path.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Repaint the masked area of a render with a new prompt; the rest stays the render's, pixel for pixel."""
    from PIL import Image

    from ..render import build_service, read_recipe
    from ..render.inpaint import EditInputs, edit_params
    from ..render.ports import RenderControls

    parent = _read(render, "render")
    recipe = read_recipe(parent)
    control_data = _read(
        control or _control_beside(render), "control image (S.control.png beside the render, or --control)"
    )
    control_image = Image.open(io.BytesIO(control_data)).convert("RGB")
    changes = {"prompt": prompt, "style_ids": style or None, "seed": seed, "steps": steps}
    inputs = EditInputs(
        parent, control_image.convert("RGB"), _read(mask, "mask"), edit_params(recipe.params, changes), feather
    )
    cfg = settings()
    service = build_service(cfg)
    bundled_styles_once(cfg, service.library)
    warn_if_smoke(service.models)
    with progress_bar("repainting") as bar:
        task = bar.add_task("", total=inputs.params.steps)
        result = service.edit(
            inputs, controls=RenderControls(progress=lambda step, _: bar.update(task, completed=step))
        )
    _write(result, out or render.with_name(f"{render.stem}-edit.png"), as_json)


@edge
def upscale(
    render: Annotated[Path, typer.Argument(help="A render PNG written by sketch2render (its recipe is inside).")],
    factor: Annotated[int, typer.Option(help="2 or 4.")] = 2,
    detail_strength: Annotated[float, typer.Option(help="0-1: how much each tile is repainted.")] = 0.35,
    tile: Annotated[
        int | None,
        typer.Option(help="Tile side in px (default S2R_UPSCALE_TILE, else the family's native size: 512, 1024)."),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output PNG path.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Enlarge a render by 2 or 4, adding detail tile by tile (tile ControlNet, the render's own style)."""
    from ..render import build_service
    from ..render.ports import RenderControls
    from ..render.upscale import UpscaleInputs

    cfg = settings()
    side = tile or cfg.upscale_tile
    inputs = UpscaleInputs(_read(render, "render"), factor, detail_strength, side, side // 8 if side else None)
    inputs.check()
    service = build_service(cfg)
    warn_if_smoke(service.models)
    with progress_bar("upscaling") as bar:
        task = bar.add_task("", total=None)
        controls = RenderControls(progress=lambda step, total: bar.update(task, completed=step, total=total))
        result = service.upscale(inputs, controls=controls)
    _write(result, out or render.with_name(f"{render.stem}-x{factor}.png"), as_json)
