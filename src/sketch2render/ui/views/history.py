"""History page: past renders (`GET /v1/renders`, newest first) as cards with a thumbnail and the
main parameters, searched by words of their prompts (`?q=`); opening one shows it as the Render page
does, beside its original sketch (which the API keeps: `GET /v1/renders/{id}/sketch`). "Render again"
re-submits that sketch with the render's parameters and opens the new job, followed live. The API
lists only the caller's own renders; an admin may switch to everyone's (`?all=true`), each card then
naming whose it is."""

from __future__ import annotations

import streamlit as st

from sketch2render.ui import session
from sketch2render.ui.client import ApiClient, ApiError, RenderJob
from sketch2render.ui.regions import region_summary, result_actions
from sketch2render.ui.widgets import (
    again_params,
    fmt_time,
    follow_progress,
    guarded,
    image_bytes,
    show_error,
    show_outcome,
)

PAGE_SIZE = 12
COLUMNS = 4
OPEN_KEY = "history_open"  # id of the render being looked at
OFFSET_KEY = "history_offset"
EVERYONE_KEY = "history_everyone"  # an admin's "Everyone's renders" toggle
QUERY_KEY = "history_query"  # the search box: words of the prompts
STATUS_BADGE = {
    "succeeded": ":green-badge[succeeded]",
    "failed": ":red-badge[failed]",
    "cancelled": ":gray-badge[cancelled]",
    "running": ":blue-badge[running]",
    "queued": ":orange-badge[queued]",
}


def parameters_line(job: RenderJob) -> str:
    """Seed, steps, size and styles of a render, from its recipe (or its request while unfinished)."""
    recipe = job.result
    params = recipe.params.model_dump() if recipe else job.params
    parts = []
    if recipe:
        parts.append(f"seed {recipe.seed}")
        used = [h.style.title or h.id for h in recipe.styles if h.weight]
        parts.append("style: " + (", ".join(used) if used else "none"))
    if params:
        parts.append(
            f"{params.get('steps')} steps · {params.get('size')} px · ControlNet {params.get('control_strength')}"
        )
    return "  \n".join(parts)


def render_card(client: ApiClient, summary: RenderJob, *, show_owner: bool = False) -> None:
    with st.container(border=True):
        if summary.status == "succeeded":
            thumb = image_bytes(lambda: client.render_image(summary.id))
            if thumb:
                st.image(thumb, width="stretch")
        prompt = summary.prompt if len(summary.prompt) <= 80 else summary.prompt[:79] + "…"
        st.markdown(f"**{prompt}**")
        owner = f" · by **{summary.owner or 'unknown'}**" if show_owner else ""
        st.markdown(f"{STATUS_BADGE.get(summary.status, summary.status)} {fmt_time(summary.created_at)}{owner}")
        try:
            job = client.get_render(summary.id) if summary.terminal else summary
        except ApiError:
            job = summary
        if line := parameters_line(job):
            st.caption(line)
        if summary.parent:
            st.caption(f":material/subdirectory_arrow_right: {summary.kind} of `{summary.parent[:8]}`")
        if st.button("Open", key=f"open_{summary.id}", icon=":material/open_in_full:", width="stretch"):
            st.session_state[OPEN_KEY] = summary.id
            st.rerun()


def show_one(client: ApiClient, job_id: str) -> None:
    if st.button("All renders", icon=":material/arrow_back:", key="history_back"):
        st.session_state.pop(OPEN_KEY, None)
        st.rerun()
    try:
        job = client.get_render(job_id)
    except ApiError as exc:
        show_error(exc, "open this render")
        st.session_state.pop(OPEN_KEY, None)
        return
    st.title(job.prompt or "Render")
    st.caption(f"{fmt_time(job.created_at)} · {job.kind} `{job.id}`")
    show_chain(client, job)
    if not job.terminal:
        _, cancel_slot = st.columns([5, 1])
        job = follow_progress(client, job, cancel_slot=cancel_slot, key="history_cancel")
    sketch = image_bytes(lambda: client.render_sketch(job.id)) if job.status == "succeeded" else None
    action = show_outcome(client, job, sketch=sketch, key="history")
    if action and sketch is not None and job.result is not None:
        render_again(client, job, sketch, action)
    region_summary(job)
    if job.status == "succeeded":
        result_actions(client, job, open_job)
    with st.expander("Parameters and recipe", icon=":material/data_object:"):
        st.json(job.result.model_dump(mode="json") if job.result else job.params, expanded=1)


def open_job(job_id: str) -> None:
    st.session_state[OPEN_KEY] = job_id
    st.rerun()


def show_chain(client: ApiClient, job: RenderJob, longest: int = 8) -> None:
    """The render this one was made from, and its own parent, …: each a button that opens it."""
    chain, parent = [], job.parent
    while parent and len(chain) < longest:
        try:
            ancestor = client.get_render(parent)
        except ApiError:  # pruned, or not the caller's
            break
        chain.append(ancestor)
        parent = ancestor.parent
    if not chain:
        return
    columns = st.columns(len(chain) + 1)
    for column, ancestor in zip(columns, reversed(chain), strict=False):
        if column.button(f"{ancestor.kind} `{ancestor.id[:8]}` →", key=f"chain_{ancestor.id}"):
            open_job(ancestor.id)
    columns[-1].markdown(f"**{job.kind}** `{job.id[:8]}`")


def render_again(client: ApiClient, job: RenderJob, sketch: bytes, action: str) -> None:
    """Submit the render's sketch with its parameters (same seed or a new one), then open the new job."""
    try:
        new_id = client.submit_render(sketch, again_params(job, action), filename=f"sketch-{job.id}.png")
    except ApiError as exc:
        show_error(exc, "start the render")
        return
    st.session_state[OPEN_KEY] = new_id
    st.rerun()


@guarded
def page() -> None:
    client = session.get_client()
    if job_id := st.session_state.get(OPEN_KEY):
        show_one(client, job_id)
        return
    st.title("History")
    me = session.me()
    named = me is not None and me.name != "anonymous"  # keyless loopback: every render is the one person's
    title_col, toggle_col = st.columns([4, 1], vertical_alignment="bottom")
    everyone = False
    if me is not None and named and me.can_see_all_jobs:
        everyone = toggle_col.toggle(
            "Everyone's renders",
            key=EVERYONE_KEY,
            on_change=lambda: st.session_state.pop(OFFSET_KEY, None),
            help="As an admin you may see every principal's renders, not only your own.",
        )
    whose = "Every principal's renders" if everyone else "Your renders" if named else "Every render this server made"
    title_col.caption(f"{whose}, newest first. Open one to see it in full and download it.")
    query = st.text_input(
        "Search renders", key=QUERY_KEY, icon=":material/search:", placeholder="words of a prompt, e.g. red house",
        on_change=lambda: st.session_state.pop(OFFSET_KEY, None),
    ) or ""  # fmt: skip
    offset = st.session_state.get(OFFSET_KEY, 0)
    jobs, total = client.list_renders(offset, PAGE_SIZE, everyone=everyone, q=query)
    if not jobs:
        if query.strip():
            st.info(f"No render's prompt has “{query.strip()}”.", icon=":material/search_off:")
        else:
            st.info("No renders yet: make one on the Render page.", icon=":material/history:")
        return
    for start in range(0, len(jobs), COLUMNS):
        for col, summary in zip(st.columns(COLUMNS), jobs[start : start + COLUMNS], strict=False):
            with col:
                render_card(client, summary, show_owner=everyone)
    newer, where, older = st.columns([1, 3, 1], vertical_alignment="center")
    if newer.button("Newer", icon=":material/chevron_left:", disabled=offset == 0, width="stretch"):
        st.session_state[OFFSET_KEY] = max(0, offset - PAGE_SIZE)
        st.rerun()
    where.caption(f"{offset + 1}–{offset + len(jobs)} of {total}")
    if older.button("Older", icon=":material/chevron_right:", disabled=offset + len(jobs) >= total, width="stretch"):
        st.session_state[OFFSET_KEY] = offset + PAGE_SIZE
        st.rerun()


page()
