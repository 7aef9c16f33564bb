"""Pieces the pages share: error messages, the page guard, style cards and the render view.

Every API problem reaches the user as one readable message (`show_error`); `guarded` makes sure a
page never shows a traceback, whatever goes wrong. The render view is the same on the Render and
History pages: sketch, edge map, style(s) used, the render(s) with seed, quality scores, Download,
render again; so is following a job (progress bar, Cancel) until it ends.
"""

from __future__ import annotations

import functools
import io
import logging
import time
from collections.abc import Callable
from typing import Any

import streamlit as st
from PIL import Image, ImageOps

from ..schemas import ImageScores, credit_text
from ..sketch import imaging
from . import session
from .client import ApiClient, ApiError, ApiUnreachable, RenderJob
from .feedback import rating_buttons

log = logging.getLogger("sketch2render.ui")

SMOKE_BANNER = "These images come from tiny smoke-test models with random weights — they are noise, not renders."
TINY_SENTENCE = "Using the TINY smoke-test models (random weights): images will be noise, not renders."


def smoke_banner(ready: dict) -> str:
    """The smoke-test banner, with the server's account of what is missing and the command that fetches it."""
    detail = (ready.get("warning") or "").replace(TINY_SENTENCE, "").strip()  # the banner says that already
    return f"{SMOKE_BANNER}\n\n{detail}" if detail else SMOKE_BANNER


_HINTS = {
    "unauthorized": "The API no longer accepts this key (revoked?): reload the page to sign in again.",
    "forbidden": "Ask an admin of this server.",
    "queue_full": "The render queue is full; try again in a moment.",
    "too_large": "Use a smaller image.",
    "models_unavailable": "The server is still loading its models (or failed to); see the sidebar.",
    "timeout": "The server may be busy; try again.",
}


# --- errors ---------------------------------------------------------------------------------
def forbidden_message(exc: ApiError, doing: str = "") -> str:
    """A 403 in the caller's terms: their role (from `/v1/me`) may not do what they asked."""
    me = session.me()
    role = f"Your role ({me.role})" if me is not None else "Your role"
    what = f"{doing} ({exc.message})" if doing else exc.message
    return f"{role} may not do this: {what}"


def show_error(exc: ApiError, doing: str = "") -> None:
    """An API error as one readable message, with a hint when we know what helps."""
    hint = _HINTS.get(exc.code, "")
    if exc.status == 403 or exc.code == "forbidden":
        text = forbidden_message(exc, doing)
        st.error(f"{text}  \n{_HINTS['forbidden']}", icon=":material/lock:")
        return
    prefix = f"Could not {doing}: " if doing else ""
    message = exc.message[:1].upper() + exc.message[1:] if not prefix else exc.message
    st.error(f"{prefix}{message}" + (f"  \n{hint}" if hint else ""), icon=":material/error:")


def show_unreachable(base_url: str) -> None:
    st.error(f"**The sketch2render API is not reachable** at `{base_url}`.", icon=":material/cloud_off:")
    st.markdown(
        "Start it in a terminal, then retry:\n\n"
        "```bash\nsketch2render serve      # the API only (this UI keeps running)\n```\n"
        "or start the API and this web UI together with `make run` (or `sketch2render up`).  \n"
        "A remote server? Start the UI with `--api-url URL` or set `S2R_API_URL`."
    )
    st.button("Retry", icon=":material/refresh:", key="retry_api")


def guarded(page: Callable[[], None]) -> Callable[[], None]:
    """Run a page so that no exception reaches the browser as a traceback."""

    @functools.wraps(page)
    def run() -> None:
        try:
            page()
        except ApiUnreachable as exc:
            show_unreachable(exc.base_url)
        except ApiError as exc:
            show_error(exc)
        except Exception as exc:  # a bug in the UI: say so in a sentence, log the details
            log.exception("web UI page failed")
            st.error(
                f"Something went wrong in the web UI ({type(exc).__name__}). "
                "The details are in the log of the terminal running it; reloading the page usually helps.",
                icon=":material/bug_report:",
            )

    return run


# --- small formatting helpers ---------------------------------------------------------------
def fmt_score(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def fmt_time(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp)) if timestamp else ""


def image_bytes(fetch: Callable[[], bytes]) -> bytes | None:
    """An image from the API, or None (a missing thumbnail never breaks a page)."""
    try:
        return fetch()
    except ApiError:
        return None


# --- styles ---------------------------------------------------------------------------------
def short(text: str, limit: int = 42) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def square(data: bytes, side: int = 256) -> bytes:
    """A centred square crop, so a grid of differently shaped images lines up."""
    with Image.open(io.BytesIO(data)) as image:
        return imaging.encode_png(ImageOps.fit(image.convert("RGB"), (side, side), Image.Resampling.LANCZOS))


def style_thumbnail(client: ApiClient, style_id: str, caption: str | None = None) -> None:
    data = image_bytes(lambda: client.style_image(style_id, 256))
    if data is None:
        st.caption("(image unavailable)")
    else:
        st.image(square(data), width="stretch", caption=caption)


def tag_badges(tags: list[str]) -> str:
    return " ".join(f":gray-badge[{t.replace(']', '')}]" for t in tags[:6])


# --- the render view ------------------------------------------------------------------------
def _structure_f1(scores: ImageScores) -> float | None:
    """The structure F1 (older recipes kept it flat, as `structure.f1` or `structure_f1`)."""
    if scores.structure is not None:
        return scores.structure.f1
    extra = scores.model_extra or {}
    value = extra.get("structure.f1", extra.get("structure_f1"))
    return float(value) if isinstance(value, int | float) else None


def show_quality(scores: ImageScores) -> None:
    """Structure F1, style similarity and prompt alignment of one image, and any warning."""
    cols = st.columns(3)
    for col, (label, value, help_text) in zip(
        cols,
        [
            ("Structure F1", _structure_f1(scores), "How well the render's edges follow the sketch's (0–1)."),
            ("Style similarity", scores.style_similarity, "CLIP similarity of the render to the style used."),
            ("Prompt alignment", scores.prompt_alignment, "CLIP similarity of the render to the prompt."),
        ],
        strict=True,
    ):
        if value is not None:
            col.metric(label, fmt_score(value), help=help_text)
    warning = scores.structure_warning
    if warning:
        st.warning(warning if isinstance(warning, str) else "The render drifted from the sketch's structure.")


def show_styles_used(client: ApiClient, job: RenderJob) -> None:
    recipe = job.result
    used = [h for h in recipe.styles if h.weight] if recipe else []
    if not used:
        reason = recipe.fallback_reason if recipe else None
        st.info(f"No style used{': ' + reason if reason else ' (text prompt only)'}.", icon=":material/palette:")
        return
    for hit in used:
        share = f" · {hit.weight:.0%} of the blend" if len(used) > 1 else ""
        style_thumbnail(client, hit.id)
        st.markdown(f"**{short(hit.style.title or hit.id)}**")
        st.caption(f"match {fmt_score(hit.score)}{share}")


def show_attribution(job: RenderJob) -> None:
    """The credit line of every style the render used, in a code box (its copy button copies them)."""
    recipe = job.result
    if recipe is None or not recipe.attribution:
        return
    st.markdown("**Credits**", help="What the styles' licences ask for: print it beside the image.")
    st.code(credit_text(recipe.attribution), language=None, wrap_lines=True)


def render_view(client: ApiClient, job: RenderJob, *, sketch: bytes | None = None, key: str = "view") -> str | None:
    """A finished render beside its inputs. Returns "again" or "new_seed" when the user asks for it."""
    recipe = job.result
    if recipe is None:
        st.warning("This render has no result.")
        return None
    if recipe.smoke_test:
        st.caption(f":orange[{SMOKE_BANNER}]")
    n = max(1, job.image_count)
    facts = [
        f"**Seed** `{recipe.seed}`",
        f"family **{recipe.family}**",
        f"{recipe.width}×{recipe.height}",
        f"{recipe.params.steps} steps",
        f"ControlNet {recipe.control.get('type', recipe.params.control)} {recipe.params.control_strength:g}",
        f"style {recipe.params.style_strength:g} ({recipe.params.style_mode})",
    ]
    if recipe.timings.total:
        facts.append(f"{recipe.timings.total:.1f} s")
    if recipe.models.get("profile"):
        facts.append(f"models: {recipe.models['profile']}")
    st.markdown(" · ".join(facts))
    if sketch is not None:
        c_sketch, c_control, c_style, c_render = st.columns([1, 1, 1, 2.4], gap="medium")
        with c_sketch:
            st.markdown("**Sketch**")
            st.image(sketch, width="stretch")
    else:  # the sketch could not be fetched (its input is gone): the control image stands for it
        c_control, c_style, c_render = st.columns([1, 1, 2.4], gap="medium")
    with c_control:
        st.markdown("**Control image**")
        control = image_bytes(lambda: client.render_control(job.id))
        if control:
            st.image(control, width="stretch")
    with c_style:
        st.markdown("**Style used**")
        show_styles_used(client, job)
    action = None
    with c_render:
        st.markdown("**Render**" if n == 1 else f"**{n} renders**")
        grid = st.columns(min(n, 2))
        for index in range(n):
            with grid[index % len(grid)]:
                show_image(client, job, index, n, key)
        if sketch is not None:
            with st.container(horizontal=True):
                if st.button("Render again (same seed)", key=f"{key}_again", icon=":material/replay:"):
                    action = "again"
                if st.button("New seed", key=f"{key}_new_seed", icon=":material/casino:"):
                    action = "new_seed"
        show_attribution(job)
        rating_buttons(client, job, key)
    return action


def show_image(client: ApiClient, job: RenderJob, index: int, count: int, key: str) -> None:
    """One rendered image with its Download button and quality scores."""
    recipe = job.result
    assert recipe is not None
    png = image_bytes(lambda: client.render_image(job.id, index))
    if png is None:
        st.caption("(image unavailable)")
        return
    st.image(png, width="stretch")
    st.download_button(
        "Download",
        data=png,
        file_name=f"sketch2render-{recipe.seed}{f'-{index + 1}' if count > 1 else ''}.png",
        mime="image/png",
        key=f"{key}_download_{job.id}_{index}",
        icon=":material/download:",
        type="primary",
        on_click="ignore",
        help="The PNG, with its full recipe (prompt, seed, styles, models) embedded.",
    )
    if index < len(recipe.scores):
        show_quality(recipe.scores[index])


def show_outcome(client: ApiClient, job: RenderJob, *, sketch: bytes | None = None, key: str = "view") -> str | None:
    """The end of a job: its render view, or why it failed or stopped."""
    if job.status == "succeeded":
        return render_view(client, job, sketch=sketch, key=key)
    if job.status == "failed":
        st.error(f"The render failed: {job.error_message or 'no reason given'}", icon=":material/error:")
        if job.error_code:
            st.caption(f"error code: `{job.error_code}`")
    elif job.status == "cancelled":
        st.info("The render was cancelled.", icon=":material/cancel:")
    else:
        st.info(f"The render is {job.status}.")
    return None


# --- following a job ------------------------------------------------------------------------
def progress_of(job: RenderJob) -> tuple[float, str]:
    fraction = min(1.0, job.step / job.total) if job.total else 0.0
    steps = f"step {job.step} / {job.total}" if job.total else ""
    if job.status == "queued":
        return 0.0, "Queued: waiting for the renderer…"
    if job.status == "running":
        return fraction, f"Rendering: {steps}" if steps else "Starting…"
    if job.status == "succeeded":
        return 1.0, f"Done: step {job.total} / {job.total}" if job.total else "Done"
    return fraction, f"{job.status.capitalize()}" + (f" at {steps}" if steps else "")


def follow_progress(client: ApiClient, job: RenderJob, *, cancel_slot: Any, key: str) -> RenderJob:
    """A progress bar with the step count (and a Cancel button in `cancel_slot` while the job is not
    finished), polled until the job ends; returns the job as it ended."""
    bar = st.progress(*progress_of(job))
    if not job.terminal:
        cancel = cancel_slot.empty()
        if cancel.button("Cancel", icon=":material/stop_circle:", key=key, width="stretch"):
            client.cancel_render(job.id)
        while not job.terminal:
            time.sleep(client.poll_interval)
            job = client.get_render(job.id)
            bar.progress(*progress_of(job))
        cancel.empty()
    return job


def again_params(job: RenderJob, action: str) -> dict[str, Any]:
    """The parameters to render a finished job again: its recipe's, with its seed ("again") or a
    new random one ("new_seed")."""
    assert job.result is not None
    params = job.result.params.model_dump(mode="json")
    params["seed"] = job.result.seed if action == "again" else None
    return params


WHOLE_LIBRARY = "Whole library"


def collection_choice(client: ApiClient) -> str | None:
    """The collection a render is bound to (None: the whole library)."""
    try:
        names = [c.name for c in client.list_collections()]
    except ApiError:
        names = []
    if not names:
        return None
    name = st.selectbox(
        "Collection", [WHOLE_LIBRARY, *names], key="render_collection",
        help="Retrieve (and blend) only from this collection's styles.",
    )  # fmt: skip
    return None if name == WHOLE_LIBRARY else name
