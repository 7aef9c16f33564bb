"""Render page: sketch (upload or draw) + prompt -> retrieved styles -> a render job, followed live.

The edge preview is computed locally (`sketching`: numpy/OpenCV/PIL only) so the user sees what
ControlNet will follow before anything is sent. Retrieval and rendering happen on the API: the page
searches `/v1/styles/search` as the prompt changes, submits `POST /v1/renders` and polls the job.
Live drawing (a render after every stroke) happens on the live canvas, a page the API serves; the
page links to it with its prompt and settings (`ui/live.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st
from pydantic import ValidationError

from sketch2render.errors import S2RError
from sketch2render.schemas import RenderParams, StyleHit
from sketch2render.ui import session
from sketch2render.ui.client import ApiClient, ApiError
from sketch2render.ui.families import FamilyChoice, family_picker
from sketch2render.ui.feedback import learned_lines, not_this_style
from sketch2render.ui.live import live_link
from sketch2render.ui.regions import region_painter, region_summary, result_actions
from sketch2render.ui.sketching import EdgePreview, canvas_png, edge_preview
from sketch2render.ui.widgets import (
    again_params,
    collection_choice,
    fmt_score,
    follow_progress,
    guarded,
    short,
    show_error,
    show_outcome,
    style_thumbnail,
)

DEFAULTS: dict[str, Any] = {name: info.default for name, info in RenderParams.model_fields.items()}
AUTO, PICK, BLEND = "Let the system choose", "Pick one", "Blend several"
STYLE_MODES = {
    "full": "Full (look and content)",
    "style-only": "Style only (InstantStyle)",
    "none": "None (prompt only)",
}
SIZES = (256, 384, 512, 640, 768, 1024)
SPEEDS = {"quality": "Quality (20 steps)", "fast": "Fast (LCM, ~6 steps)", "live": "Live (~3 steps, tiny decoder)"}
CONTROLS = {  # what ControlNet follows (sketch2render.sketch.control)
    "canny": "Canny edges",
    "lineart": "Line art",
    "scribble": "Scribble",
    "softedge": "Soft edge",
    "auto": "Auto",
}
CONTROL_HELP = (
    "Canny: the borders of every stroke (a pen line becomes two edges). Line art: the strokes themselves. "
    "Scribble: thick, forgiving strokes for rough sketches. Soft edge: soft shapes for loose drawings. "
    "Auto: measures the sketch and picks one."
)
JOB_KEY = "render_job"  # {"id", "sketch", "name"} of the job this session follows


@dataclass(frozen=True)
class Sketch:
    data: bytes  # what is sent to the API: the uploaded file as is, or the drawing as PNG
    name: str


# --- the sketch -----------------------------------------------------------------------------
def draw_sketch() -> Sketch | None:
    from streamlit_drawable_canvas import st_canvas  # a browser component: only when drawing

    pen = st.slider("Pen width", 1, 12, 3, key="pen_width")
    result = st_canvas(
        stroke_width=pen,
        stroke_color="#111111",
        background_color="#FFFFFF",
        height=400,
        width=440,
        drawing_mode="freedraw",
        return_image_data=True,
        key="sketch_canvas",
    )
    if not (result.json_data or {}).get("objects") or result.image_data is None:
        st.caption("Draw with the mouse; the canvas toolbar undoes or clears.")
        return None
    return Sketch(canvas_png(result.image_data), "drawing.png")


def sketch_input() -> Sketch | None:
    source = st.radio("Sketch source", ["Upload", "Draw"], horizontal=True, key="sketch_source")
    if source == "Draw":
        return draw_sketch()
    uploaded = st.file_uploader(
        "Upload a sketch (PNG, JPEG or WEBP)",
        type=["png", "jpg", "jpeg", "webp"],
        key="sketch_upload",
        max_upload_size=session.max_upload_mb(),
    )
    if uploaded is None:
        st.caption("A clean line drawing works best. Or choose **Draw** to sketch in the page.")
        return None
    data = uploaded.getvalue()
    limit = session.settings().max_upload_bytes
    if len(data) > limit:
        st.error(f"The file is {len(data) / 1e6:.1f} MB, over the {limit / 1e6:.0f} MB upload limit.")
        return None
    return Sketch(data, uploaded.name)


@st.cache_data(max_entries=32, show_spinner=False)
def cached_edge_preview(data: bytes, size: int, control: str = "canny", simplify: float = 0.0) -> EdgePreview:
    return edge_preview(data, size, session.settings(), control, simplify)


def control_settings(supported: tuple[str, ...] = tuple(CONTROLS)) -> dict[str, Any]:
    """The control type (previewed below; only the ones the family supports, and auto) and the hatching
    suppression."""
    options = [kind for kind in CONTROLS if kind in supported or kind == "auto"]
    control = st.segmented_control(
        "Control", options, default=DEFAULTS["control"], format_func=CONTROLS.get, key="control",
        help=CONTROL_HELP,
    ) or DEFAULTS["control"]  # fmt: skip
    simplify = st.slider(
        "Simplify hatching", 0.0, 1.0, DEFAULTS["simplify"], 0.1, key="simplify",
        help="Removes fine hatching and shading and keeps outlines (for engraving-like sketches).",
    )  # fmt: skip
    return {"control": control, "simplify": simplify}


def show_edge_preview(sketch: Sketch, size: int, control: str = "canny", simplify: float = 0.0) -> bool:
    try:
        preview = cached_edge_preview(sketch.data, size, control, simplify)
    except S2RError as exc:
        st.error(f"This sketch cannot be used: {exc.message}", icon=":material/image_not_supported:")
        return False
    left, right = st.columns(2)
    left.image(preview.sketch_png, caption="Sketch", width="stretch")
    right.image(preview.control_png, caption="Control image (what ControlNet follows)", width="stretch")
    st.caption(preview.caption)
    return True


# --- prompt and styles ----------------------------------------------------------------------
def style_card(client: ApiClient, hit: StyleHit, chosen: bool, prompt: str = "") -> None:
    with st.container(border=True):
        style_thumbnail(client, hit.id)
        badge = " :green-badge[:material/check: chosen]" if chosen else ""
        title = hit.style.title or hit.id
        st.markdown(f"**{short(title, 40)}**{badge}")
        st.markdown(
            f"match **{fmt_score(hit.score)}**",
            help="Fused score: CLIP meaning + BM25 words + caption meaning + your feedback.",
        )
        st.caption(f"CLIP cosine {fmt_score(hit.cosine)} · BM25 {hit.lexical:.2f}")
        learned_lines(hit)
        if prompt:
            not_this_style(client, prompt, hit)


def style_picker(
    client: ApiClient, prompt: str, top_k: int, *, commercial_only: bool = False, collection: str | None = None
) -> dict[str, Any]:
    """Top-k styles for the prompt as cards, and the user's choice -> {style_ids, blend}."""
    auto = {"style_ids": [], "blend": False}
    if not prompt:
        st.caption("Type a prompt: the library's best-matching styles appear here, with their scores.")
        return auto
    try:
        hits = client.search_styles(prompt, top_k, commercial_only=commercial_only, collection=collection)
    except ApiError as exc:
        show_error(exc, "search the style library")
        return auto
    if not hits:
        st.info(
            "The style library is empty: the render will follow the prompt alone. Add styles on the Style library page."
        )
        return auto
    cards = st.container()
    ids = [h.id for h in hits]
    titles = {h.id: h.style.title or h.id for h in hits}
    mode = st.radio("Style", [AUTO, PICK, BLEND], horizontal=True, key="style_choice")
    signature = "_".join(ids)  # new hits -> fresh pick widgets (their options changed)
    if mode == PICK:
        chosen = [st.radio("Use this style", ids, format_func=titles.get, horizontal=True, key=f"pick_{signature}")]
    elif mode == BLEND:
        chosen = st.multiselect(
            "Pin the styles to blend", ids, default=ids[:2], format_func=titles.get, key=f"blend_{signature}"
        )
    else:
        chosen = []
        st.caption("The system uses the best match, or no style when none fits the prompt.")
    with cards:
        per_row = min(len(hits), 5)
        for start in range(0, len(hits), per_row):
            for col, hit in zip(st.columns(per_row), hits[start : start + per_row], strict=False):
                with col:
                    style_card(client, hit, hit.id in chosen, prompt)
    if mode == AUTO:
        return auto
    if not chosen:
        st.warning("Pin at least one style to blend (or let the system choose).")
        return auto
    return {"style_ids": chosen, "blend": mode == BLEND and len(chosen) > 1}


def advanced_settings(family: FamilyChoice) -> dict[str, Any]:
    """The settings; the ones whose default depends on the family are keyed by it, so picking another
    family shows its defaults (native size, steps, guidance)."""
    tag = family.name or "default"
    sizes = tuple(sorted({*SIZES, family.native_size}))
    # style-only is what a family refusing style_mode cannot do (full and none work on every family)
    modes = [m for m in STYLE_MODES if not (m == "style-only" and family.off("style_mode"))]
    with st.expander("Advanced settings", icon=":material/tune:"):
        a, b = st.columns(2)
        values = {
            "steps": a.number_input("Steps", 1, 150, family.steps, key=f"adv_steps_{tag}", help="Denoising steps."),
            "seed": b.number_input(
                "Seed", 0, 2**32 - 1, value=None, step=1, placeholder="random", key="adv_seed",
                help="Empty: a random seed (always recorded with the render).",
            ),
            "control_strength": a.slider(
                "ControlNet strength", 0.0, 2.0, DEFAULTS["control_strength"], 0.05, key="adv_control",
                help=family.help("control_strength", "How strictly the render follows the sketch's lines."),
                disabled=family.off("control_strength"),
            ),
            "style_strength": b.slider(
                "Style strength", 0.0, 2.0, DEFAULTS["style_strength"], 0.05, key="adv_style",
                help=family.help("style_strength", "How strongly the style image shapes the look (IP-Adapter scale)."),
                disabled=family.off("style_strength"),
            ),
            "style_mode": a.selectbox(
                "Style mode", modes, format_func=STYLE_MODES.get, key=f"adv_style_mode_{tag}",
                help=family.help("style_mode", "How the style image is applied."),
            ),
            "num_images": b.number_input("Number of images", 1, 4, DEFAULTS["num_images"], key="adv_num_images"),
            "size": a.selectbox(
                "Output size (longest side)", sizes, index=sizes.index(family.native_size), key=f"adv_size_{tag}"
            ),
            "guidance_scale": b.slider(
                "Prompt guidance", 0.0, 30.0, family.guidance_scale, 0.5, key=f"adv_guidance_{tag}",
                help=family.help("guidance_scale", "Classifier-free guidance scale."),
                disabled=family.off("guidance_scale"),
            ),
            "top_k": a.slider("Styles to retrieve (top-k)", 1, 10, DEFAULTS["top_k"], key="adv_top_k"),
            "speed": b.selectbox(
                "Speed", list(SPEEDS), format_func=SPEEDS.get, key="adv_speed",
                help="Fast and live use the LCM-LoRA: a few steps, no prompt guidance (their own step count).",
            ),
            "commercial_only": a.toggle(
                "Commercial use only", key="adv_commercial_only",
                help="Only styles whose licence allows commercial use (CC0, CC BY, public domain, …).",
            ),
            "negative_prompt": st.text_area(
                "Negative prompt", DEFAULTS["negative_prompt"], height=80, key="adv_negative",
                help=family.help("negative_prompt", "What the render should avoid."),
                disabled=family.off("negative_prompt"),
            ),
        }  # fmt: skip
    if values["speed"] != "quality":  # the preset picks steps and guidance
        values.pop("steps")
        values.pop("guidance_scale")
    for name in family.unsupported:  # disabled: not sent (the family would refuse a changed value)
        if name != "style_mode":
            values.pop(name, None)
    if family.name is not None:
        values["family"] = family.name
    return values


# --- the job --------------------------------------------------------------------------------
def submit(
    client: ApiClient, sketch: Sketch, params: dict[str, Any], regions: list[tuple[bytes, str]] | None = None
) -> bool:
    try:
        RenderParams(**params)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(map(str, err["loc"])) or "parameters"
        st.error(f"Check **{field}**: {err['msg']}")
        return False
    try:
        job_id = client.submit_render(sketch.data, params, filename=sketch.name, regions=regions or ())
    except ApiError as exc:
        show_error(exc, "start the render")
        return False
    st.session_state[JOB_KEY] = {"id": job_id, "sketch": sketch.data, "name": sketch.name}
    return True


def follow_job(client: ApiClient) -> None:
    """Poll the session's job until it ends (progress bar with the step count), then show it."""
    state = st.session_state.get(JOB_KEY)
    if not state:
        return
    st.divider()
    title, cancel_slot = st.columns([5, 1], vertical_alignment="bottom")
    title.subheader("Result")
    try:
        job = client.get_render(state["id"])
    except ApiError as exc:
        show_error(exc, "load the render")
        del st.session_state[JOB_KEY]
        return
    job = follow_progress(client, job, cancel_slot=cancel_slot, key="cancel_render")
    action = show_outcome(client, job, sketch=state["sketch"], key="current")
    region_summary(job)
    if job.status == "succeeded":

        def follow(job_id: str) -> None:  # an edit or upscale of this render: the page follows it
            st.session_state[JOB_KEY] = {**state, "id": job_id}
            st.rerun()

        result_actions(client, job, follow)
    if action and job.result is not None:
        if submit(client, Sketch(state["sketch"], state["name"]), again_params(job, action)):
            st.rerun()


@guarded
def page() -> None:
    client = session.get_client()
    st.title("Render")
    st.caption("Your sketch gives the geometry, the prompt and a retrieved style give the look.")
    left, right = st.columns([1, 1], gap="large")
    with right:
        st.subheader("2 · Prompt and style")
        prompt = (st.text_input(
            "Prompt", key="prompt", max_chars=1000, live="400ms",
            placeholder="e.g. swirling night sky, oil paint", help="What the render should look like.",
        ) or "").strip()  # fmt: skip
        collection = collection_choice(client)
        styles_box = st.container()
        family = family_picker(client)
        advanced = {**advanced_settings(family), **({"collection": collection} if collection else {})}
    with left:
        st.subheader("1 · Sketch")
        sketch = sketch_input()
        live_slot = st.container()
        controls = control_settings(family.control_types)
        usable = sketch is not None and show_edge_preview(sketch, advanced["size"], **controls)
        regions = region_painter(client, sketch.data, advanced["top_k"]) if usable and sketch is not None else []
    with styles_box:
        only = advanced["commercial_only"]
        choice = style_picker(client, prompt, advanced["top_k"], commercial_only=only, collection=collection)
    with right:
        can_render = usable and bool(prompt)
        clicked = st.button(
            "Render", type="primary", icon=":material/auto_awesome:", disabled=not can_render, width="stretch"
        )
        if not can_render:
            st.caption("Add a sketch and a prompt to render.")
    with live_slot:
        live_link(client, {"prompt": prompt, **advanced, **controls, **choice})
    if clicked and sketch is not None:
        submit(client, sketch, {"prompt": prompt, **advanced, **controls, **choice}, regions)
    follow_job(client)


page()
