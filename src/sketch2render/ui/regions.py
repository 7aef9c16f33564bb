"""Regions and edits in the web UI (an API client only).

- `region_painter`: paint regions over the sketch, one colour per region, and type a prompt per
  colour; each prompt shows the style the library retrieves for it. The painted colours become
  one mask per region, the size of the uploaded sketch, sent as `region_mask` + `region_prompt`.
- `result_actions`: under a finished render, paint a mask over it and re-render that area with a
  new prompt (`POST /v1/renders/{id}/edit`), or upscale it x2 / x4 (`/upscale`). Either starts a new
  job linked to this one, which the page then follows.
Pixels to masks (`masks_from_paint`) is plain numpy, tested without a browser.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import streamlit as st
from PIL import Image, ImageOps

from ..sketch import imaging
from .client import ApiClient, ApiError, RenderJob
from .widgets import fmt_score, show_error, style_thumbnail

# One colour per region (at most four, as the API allows).
PALETTE = {"Red": (230, 57, 70), "Blue": (29, 110, 230), "Green": (46, 170, 80), "Orange": (245, 150, 30)}
CANVAS_WIDTH = 440
EDIT_COLOUR = (255, 0, 200)


def masks_from_paint(rgba: np.ndarray, size: tuple[int, int]) -> dict[str, bytes]:
    """Painted canvas pixels -> {colour name: mask PNG of `size`} for each palette colour used.
    Each painted pixel belongs to the nearest palette colour (strokes are anti-aliased)."""
    pixels = np.asarray(rgba, dtype=np.float32)
    painted = pixels[..., 3] > 127
    names = list(PALETTE)
    colours = np.asarray([PALETTE[n] for n in names], dtype=np.float32)
    distance = ((pixels[..., None, :3] - colours[None, None]) ** 2).sum(axis=-1)
    nearest = distance.argmin(axis=-1)
    masks = {}
    for index, name in enumerate(names):
        mask = painted & (nearest == index)
        if mask.sum() >= 4:  # a stray anti-aliased pixel is not a region
            image = Image.fromarray((mask * 255).astype(np.uint8), mode="L").resize(size, Image.Resampling.NEAREST)
            masks[name] = imaging.encode_png(image)
    return masks


def image_size(data: bytes) -> tuple[int, int]:
    """The size the API decodes an upload at (EXIF orientation applied)."""
    return ImageOps.exif_transpose(Image.open(io.BytesIO(data))).size


def _canvas(background: Image.Image, colour: tuple[int, int, int], key: str, width: int) -> np.ndarray | None:
    from streamlit_drawable_canvas import st_canvas  # a browser component: only when painting

    height = round(background.height * CANVAS_WIDTH / background.width)
    result = st_canvas(
        fill_color="rgba(0, 0, 0, 0)",
        stroke_width=width,
        stroke_color="#{:02x}{:02x}{:02x}".format(*colour),
        background_image=background.convert("RGB").resize((CANVAS_WIDTH, height)),
        height=height,
        width=CANVAS_WIDTH,
        drawing_mode="freedraw",
        return_image_data=True,
        key=key,
    )
    return result.image_data if (result.json_data or {}).get("objects") else None


def region_painter(client: ApiClient, sketch: bytes, top_k: int) -> list[tuple[bytes, str]]:
    """Paint regions over the sketch, a prompt per colour: [(mask PNG, prompt)] for the render."""
    with st.expander("Regions: a style per area", icon=":material/format_paint:"):
        st.caption("Paint areas in colours; each colour gets its own prompt, which finds its own style.")
        a, b = st.columns(2)
        colour = a.selectbox("Paint colour", list(PALETTE), key="region_colour")
        width = b.slider("Brush", 5, 60, 25, key="region_brush")
        background = Image.open(io.BytesIO(sketch))
        painted = _canvas(background, PALETTE[colour], "region_canvas", width)
        if painted is None:
            return []
        regions = []
        for name, mask in masks_from_paint(painted, image_size(sketch)).items():
            prompt = st.text_input(f"{name} region prompt", key=f"region_prompt_{name}", max_chars=1000).strip()
            if prompt:
                _retrieved_style(client, prompt, top_k)
                regions.append((mask, prompt))
        return regions


def _retrieved_style(client: ApiClient, prompt: str, top_k: int) -> None:
    try:
        hits = client.search_styles(prompt, top_k)
    except ApiError as exc:
        show_error(exc, "search the style library")
        return
    if not hits:
        st.caption("No style in the library: this region follows the prompt alone.")
        return
    best = hits[0]
    left, right = st.columns([1, 3])
    with left:
        style_thumbnail(client, best.id)
    right.markdown(f"style: **{best.style.title or best.id}** · match {fmt_score(best.score)}")


def region_summary(job: RenderJob) -> None:
    """Under a result: the style each region got (or why none), and what it was made from."""
    if job.parent:
        st.caption(f"{job.kind} of render `{job.parent[:8]}`")
    for region in job.result.regions if job.result else []:
        used = [h.style.title or h.id for h in region.styles if h.weight]
        got = ", ".join(used) if used else f"no style ({region.fallback_reason})"
        st.caption(f"Region “{region.prompt}” ({region.area:.0%} of the image): {got}")


def result_actions(client: ApiClient, job: RenderJob, follow: Callable[[str], None]) -> None:
    """Edit a painted area of a finished render, or upscale it: each a new job, then followed."""
    with st.expander("Edit an area or upscale", icon=":material/ink_eraser:"):
        image = Image.open(io.BytesIO(client.render_image(job.id)))
        width = st.slider("Brush", 5, 60, 20, key=f"edit_brush_{job.id}")
        painted = _canvas(image, EDIT_COLOUR, f"edit_canvas_{job.id}", width)
        prompt = st.text_input("Prompt for the painted area", key=f"edit_prompt_{job.id}", max_chars=1000).strip()
        mask = _any_paint_mask(painted, image.size) if painted is not None else None
        if mask is not None:
            share = float((np.asarray(painted)[..., 3] > 127).mean())
            st.caption(f"Painted area: {share:.0%} of the image (repainted, with an 8 px blend band around it)")
        else:
            st.caption("Paint over the area to repaint.")
        clicked = st.button("Re-render the painted area", key=f"edit_go_{job.id}", disabled=not (mask and prompt))
        if clicked and mask and prompt:
            _start(lambda: client.edit_render(job.id, mask, {"prompt": prompt}), follow, "edit the render")
        a, b = st.columns(2)
        if a.button("Upscale ×2", icon=":material/zoom_in:", key=f"up2_{job.id}"):
            _start(lambda: client.upscale_render(job.id, 2), follow, "upscale the render")
        if b.button("Upscale ×4", icon=":material/zoom_in:", key=f"up4_{job.id}"):
            _start(lambda: client.upscale_render(job.id, 4), follow, "upscale the render")


def _any_paint_mask(rgba: np.ndarray, size: tuple[int, int]) -> bytes | None:
    painted = np.asarray(rgba)[..., 3] > 127
    if not painted.any():
        return None
    image = Image.fromarray((painted * 255).astype(np.uint8), mode="L").resize(size, Image.Resampling.NEAREST)
    return imaging.encode_png(image)


def _start(call: Callable[[], str], follow: Callable[[str], None], what: str) -> None:
    try:
        job_id = call()
    except ApiError as exc:
        show_error(exc, what)
        return
    follow(job_id)
