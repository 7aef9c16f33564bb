"""`sketch2render render`: one render from the command line, written next to the sketch (or --out).
Its defaults are those of `RenderParams`, so the CLI, the API and the UI agree."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..principals import ANONYMOUS
from ..schemas import RenderParams
from .common import (
    JsonOpt,
    bundled_styles_once,
    edge,
    fail,
    params_from,
    print_json,
    progress_bar,
    serving,
    settings,
    warn_if_smoke,
)

LOCAL_PRINCIPAL = ANONYMOUS.name  # whose private styles and corrections a command-line render uses


def default(name: str):
    """The default of a RenderParams field."""
    return RenderParams.model_fields[name].get_default(call_default_factory=True)


@edge
def render(
    sketch: Annotated[Path, typer.Argument(help="The sketch: PNG, JPEG or WEBP line drawing.")],
    prompt: Annotated[str, typer.Option("--prompt", "-p", help="What it should look like.")],
    style: Annotated[list[str] | None, typer.Option("--style", help="Use this style id (repeatable).")] = None,
    top_k: Annotated[int, typer.Option(min=1, max=10)] = default("top_k"),
    blend: Annotated[bool, typer.Option(help="Blend the top-k styles by score.")] = default("blend"),
    style_mode: Annotated[str, typer.Option(help="full | style-only | none")] = default("style_mode"),
    style_strength: Annotated[float, typer.Option(help="IP-Adapter scale.")] = default("style_strength"),
    control_strength: Annotated[float, typer.Option(help="ControlNet scale.")] = default("control_strength"),
    control: Annotated[
        str, typer.Option(help="What ControlNet follows: canny | lineart | scribble | softedge | auto.")
    ] = default("control"),
    simplify: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Remove hatching and shading, keep outlines (0-1).")
    ] = default("simplify"),
    speed: Annotated[
        str, typer.Option(help="quality (20 steps) | fast (LCM-LoRA, ~6 steps) | live (~3 steps, tiny decoder).")
    ] = default("speed"),
    family: Annotated[
        str | None,
        typer.Option(help="Model family: sd15 | sdxl | klein (default: the first profile of S2R_MODELS)."),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random when absent; always recorded.")] = None,
    steps: Annotated[
        int | None,
        typer.Option(
            min=1, max=150, help="Default: the family's (sd15: 20, fast 6, live 3; sdxl: 30, 4, 4; klein: 4, 3, 2)."
        ),
    ] = None,
    guidance: Annotated[
        float | None,
        typer.Option(help="Classifier-free guidance scale. Default: the family's (sd15 7.5, sdxl 5; fast and live 1)."),
    ] = None,
    num_images: Annotated[int, typer.Option(min=1, max=4)] = default("num_images"),
    size: Annotated[
        int | None,
        typer.Option(help="Longest side (multiple of 8; klein: 16). Default: the family's (512, 1024, 1024)."),
    ] = None,
    negative: Annotated[str | None, typer.Option(help="Negative prompt.")] = None,
    auto_balance: Annotated[bool, typer.Option(help="Search strengths for the best trade-off.")] = default(
        "auto_balance"
    ),
    commercial_only: Annotated[
        bool, typer.Option("--commercial-only", help="Only styles whose licence allows commercial use.")
    ] = default("commercial_only"),
    collection: Annotated[str | None, typer.Option(help="Retrieve (and blend) only from this collection.")] = None,
    region: Annotated[
        list[str] | None,
        typer.Option(help='A region with its own style: MASK.png="prompt" (the sketch\'s size; repeatable).'),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output PNG path.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Render a sketch with a retrieved (or named) style."""
    # (Long because typer declares each of the ~18 options in the signature; the body is short.)
    from ..render import build_service, save_render  # the model stack only when a command needs it
    from ..render.ports import RenderControls
    from ..render.selection import named_styles, render_scope
    from ..render.stages import RenderRequest

    fields = dict(
        prompt=prompt,
        style_ids=style or [],
        top_k=top_k,
        blend=blend,
        style_mode=style_mode,
        style_strength=style_strength,
        control_strength=control_strength,
        control=control,
        simplify=simplify,
        speed=speed,
        seed=seed,
        num_images=num_images,
        auto_balance=auto_balance,
        commercial_only=commercial_only,
        collection=collection,
    )
    given = {"negative_prompt": negative, "steps": steps, "guidance_scale": guidance, "size": size, "family": family}
    # left out: the family's and the preset's
    fields.update({name: value for name, value in given.items() if value is not None})
    masks, fields["regions"] = read_regions(region or [])
    params = params_from(fields)
    if not sketch.is_file():
        raise fail(f"no such file: {sketch}")
    cfg = settings()
    if sketch.stat().st_size > cfg.max_upload_bytes:
        size_mb, limit_mb = sketch.stat().st_size / 1e6, cfg.max_upload_bytes / 1e6
        raise fail(f"{sketch.name} is {size_mb:.1f} MB, over the {limit_mb:.1f} MB limit")
    data = sketch.read_bytes()
    service = build_service(serving(cfg, params.family))
    bundled_styles_once(cfg, service.library)
    warn_if_smoke(service.models)
    _, params = service.prepare_params(params)  # the family's defaults; an unserved family: one line
    # an unknown id, or one out of scope (commercial_only): a one-line error before any work
    named_styles(
        params.style_ids,
        service.library,
        render_scope(
            RenderRequest(b"", params, principal=LOCAL_PRINCIPAL), service.library, commercial_only=cfg.commercial_only
        ),
    )
    with progress_bar("denoising") as bar:
        task = bar.add_task("", total=params.steps)
        controls = RenderControls(progress=lambda step, _: bar.update(task, completed=step))
        result = service.render(data, params, controls=controls, masks=masks, principal=LOCAL_PRINCIPAL)
    out = out or Path(f"{sketch.stem}-{result.recipe.seed}.png")
    saved = save_render(result, out.parent if str(out.parent) else Path("."), out.stem)
    if as_json:
        print_json(
            {
                "images": [str(p) for p in saved.images],
                "control": str(saved.control),
                "recipe_path": str(saved.recipe),
                "recipe": result.recipe.model_dump(mode="json"),
            }
        )
        return
    used = [h for h in result.recipe.styles if h.weight]
    typer.echo(f"wrote {', '.join(map(str, saved.images))} (seed {result.recipe.seed})")
    if used:
        typer.echo("style: " + ", ".join(f"{h.style.title} ({h.weight:.2f})" for h in used))
    if result.recipe.fallback_reason:
        typer.echo(f"no style used: {result.recipe.fallback_reason}")
    for credit in result.recipe.attribution:
        typer.echo(f"credit: {credit.credit}")
    for r in result.recipe.regions:
        found = ", ".join(f"{h.style.title} ({h.weight:.2f})" for h in r.styles if h.weight)
        typer.echo(f"region {r.prompt!r}: {found or 'no style: ' + (r.fallback_reason or '')}")


def read_regions(values: list[str]) -> tuple[list[bytes], list[dict]]:
    """`--region MASK.png="prompt"` values: the mask files' bytes and the regions of RenderParams."""
    from ..sketch.masks import mask_sha256

    masks, regions = [], []
    for value in values:
        path, sep, prompt = value.partition("=")
        if not sep or not path or not prompt.strip():
            raise fail(f'--region takes MASK.png="prompt", got {value!r}')
        if not Path(path).is_file():
            raise fail(f"--region: no such mask file: {path}")
        masks.append(Path(path).read_bytes())
        regions.append({"prompt": prompt, "mask_sha256": mask_sha256(masks[-1])})
    return masks, regions


@edge
def controls(
    sketch: Annotated[Path, typer.Argument(help="The sketch: PNG, JPEG, WEBP, GIF or BMP.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the side-by-side PNG.")],
    size: Annotated[int, typer.Option(help="Longest side of each control image.")] = 384,
    simplify: Annotated[float, typer.Option(min=0.0, max=1.0, help="Hatching suppression for every map.")] = 0.0,
    as_json: JsonOpt = False,
) -> None:
    """The sketch and its control image of every type side by side, labelled (no model is loaded):
    to see which control suits a drawing before rendering."""
    from ..sketch import imaging
    from ..sketch.control import CONTROL_TYPES, control_map, measure

    cfg = settings()
    image = imaging.resize_for_generation(imaging.load_upload_file(sketch, cfg.limits), size)
    maps = {kind: control_map(image, kind, simplify_strength=simplify) for kind in CONTROL_TYPES}
    chosen = control_map(image, "auto").kind
    labels = ["sketch", *(f"{kind} (auto's pick)" if kind == chosen else kind for kind in maps)]
    tiles = [image, *(m.control_image() for m in maps.values())]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(imaging.encode_png(contact_sheet(tiles, labels)))
    if as_json:
        print_json({"out": str(out), "auto": chosen, "measures": measure(image), "types": list(maps)})
    else:
        typer.echo(f"wrote {out} ({', '.join(labels)})")


def contact_sheet(tiles: list, labels: list[str], gap: int = 8, caption: int = 22):
    """Images in a row on white, each with its label underneath."""
    from PIL import Image, ImageDraw

    width = sum(t.width for t in tiles) + gap * (len(tiles) + 1)
    height = max(t.height for t in tiles) + caption + 2 * gap
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    x = gap
    for tile, label in zip(tiles, labels, strict=True):
        sheet.paste(tile.convert("RGB"), (x, gap))
        draw.text((x + 4, gap + tile.height + 4), label, fill="black")
        x += tile.width + gap
    return sheet
