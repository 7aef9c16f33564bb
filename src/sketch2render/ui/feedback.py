"""Feedback controls of the web UI, each one call to the API (`/v1/feedback`,
`/v1/renders/{id}/feedback`): "Not this style" on a suggested style, 👍/👎 on a finished render,
and the lines in which a suggestion says what the learned lists (caption meaning, feedback) said.
The API keeps the signals for this UI's principal; the next search already reflects them.
"""

from __future__ import annotations

import hashlib

import streamlit as st

from sketch2render.schemas import StyleHit

from .client import ApiClient, ApiError, RenderJob

THANKS_KEY = "feedback_sent"  # {widget key: message} of the signals this session sent


def _said(key: str, message: str) -> None:
    st.session_state.setdefault(THANKS_KEY, {})[key] = message


def learned_lines(hit: StyleHit) -> None:
    """Why the learned lists moved this suggestion, e.g. "feedback: +2.3 (chosen 3× for similar prompts)"."""
    for line in hit.explain:
        st.caption(line)


def not_this_style(client: ApiClient, prompt: str, hit: StyleHit) -> None:
    """A button that tells retrieval this style is wrong for prompts like this one."""
    key = f"reject_{hit.id}_{hashlib.sha1(prompt.encode()).hexdigest()[:10]}"
    sent = st.session_state.get(THANKS_KEY, {}).get(key)
    if sent:
        st.caption(sent)
        return
    if st.button("Not this style", key=key, icon=":material/thumb_down:", help="Rank it lower for prompts like this"):
        try:
            client.send_feedback(prompt, hit.id, "rejected")
        except ApiError as exc:
            st.error(f"Could not send the feedback: {exc.message}")
            return
        _said(key, "Noted: ranked lower for prompts like this.")
        st.rerun()


def rating_buttons(client: ApiClient, job: RenderJob, key: str) -> None:
    """👍 / 👎 for a finished render: the API applies it to each style the render used."""
    recipe = job.result
    if recipe is None or not any(hit.weight for hit in recipe.styles):
        return  # no style was used: nothing to learn
    widget = f"{key}_rate_{job.id}"
    sent = st.session_state.get(THANKS_KEY, {}).get(widget)
    if sent:
        st.caption(sent)
        return
    with st.container(horizontal=True):
        for rating, label, icon in (("up", "Good style match", "👍"), ("down", "Wrong style", "👎")):
            if st.button(f"{icon} {label}", key=f"{widget}_{rating}", help="Teaches retrieval for similar prompts"):
                try:
                    client.rate_render(job.id, rating)
                except ApiError as exc:
                    st.error(f"Could not send the rating: {exc.message}")
                    return
                _said(widget, f"Thanks: {icon} recorded for the style{'s' if len(recipe.styles) > 1 else ''} used.")
                st.rerun()
