"""The way from the Render page to the live canvas, the page the API serves at `/live` (plain HTML
and JS: a stroke goes from the browser to the API's live lane and the image comes back over the
job's event stream, with no Streamlit rerun in between).

The browser must act as the person using the UI and never hold a key: this asks the API for a
short-lived live token of this browser session's principal (`POST /v1/live/tokens`, with the key
the person signed in with, or the UI's own on a one-person server) and puts it in the link's
fragment, which browsers never send to a server. The link points at the API's public address
(`S2R_PUBLIC_API_URL`, else the address the UI itself uses) and carries the page's settings.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import streamlit as st

from . import session
from .client import ApiClient, ApiError, LiveToken

TOKEN_STATE = "s2r_live_token"  # this browser session's live token, reused until it nears its end
RENEW_BEFORE_S = 300.0
PASSED = (
    "seed",
    "control",
    "simplify",
    "style_mode",
    "style_strength",
    "control_strength",
    "negative_prompt",
    "family",
)
LIVE_MAX_SIZE = 512


def public_api_url() -> str:
    """Where a browser reaches the API (a proxy's address, another host), else the UI's own."""
    return (session.settings().public_api_url or session.api_url()).rstrip("/")


def live_token(client: ApiClient) -> LiveToken:
    """This session's token, minted again when it nears its end (an `ApiError` when the API cannot)."""
    cached = st.session_state.get(TOKEN_STATE)
    if isinstance(cached, LiveToken) and cached.expires_at - time.time() > RENEW_BEFORE_S:
        return cached
    token = client.live_token()
    st.session_state[TOKEN_STATE] = token
    return token


def live_canvas_url(api_url: str, token: str, params: Mapping[str, Any], ui_url: str | None = None) -> str:
    """The live canvas's address, its token and settings in the fragment (never sent to a server)."""
    fields: dict[str, str] = {"token": token, "prompt": str(params.get("prompt") or "")}
    fields["size"] = str(min(int(params.get("size") or LIVE_MAX_SIZE), LIVE_MAX_SIZE))
    for name in PASSED:
        if params.get(name) is not None:
            fields[name] = str(params[name])
    if params.get("style_ids"):
        fields["style_ids"] = ",".join(params["style_ids"])
    if ui_url:
        fields["ui"] = ui_url
    return f"{api_url.rstrip('/')}/live#{urlencode(fields)}"


def live_link(client: ApiClient, params: Mapping[str, Any]) -> None:
    """The button to the live canvas, with this page's prompt and settings."""
    try:
        token = live_token(client)
    except ApiError as exc:
        older = exc.status == 404
        st.caption("This API has no live canvas (an older version)." if older else f"No live canvas now: {exc.message}")
        return
    try:
        ui_url = st.context.url
    except AttributeError:
        ui_url = None
    url = live_canvas_url(public_api_url(), token.token, params, ui_url)
    st.link_button("Open the live canvas", url, help="Draw with a render after every stroke (fast, rough).")
    st.caption("Live: draw and see a render after every stroke, in a page of its own.")
