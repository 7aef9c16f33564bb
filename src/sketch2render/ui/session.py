"""Which API client a browser session uses, who signed in, and the few settings the UI reads.

The client comes from `st.session_state[CLIENT_KEY]` when something put one there, else from
`st.session_state[FACTORY_KEY]` (tests put a fake there before the first run), else one shared
`ApiClient` per (base URL, key) built from `--api-url` or `S2R_API_URL`. The key is the one this
browser session signed in with (`API_KEY_STATE`, kept in the session only: never written anywhere,
never shared with other visitors), else `S2R_API_KEY` (the UI's own, as `sketch2render up` sets
it), else none (a keyless loopback server). `ME_STATE` holds this run's `/v1/me` answer, so pages
adapt to what the caller may do. Nothing here loads a model.
"""

from __future__ import annotations

import streamlit as st

from ..config import MB, Settings, get_settings
from .client import ApiClient, Me

CLIENT_KEY = "s2r_client"
FACTORY_KEY = "s2r_client_factory"  # (base_url, api_key) -> client; tests put a fake factory here
API_KEY_STATE = "s2r_api_key"  # the key this browser session signed in with
ME_STATE = "s2r_me"  # this run's `/v1/me` answer (None: unknown, e.g. an older API)
_api_url: str | None = None  # from the script's `--api-url`, set by app.py


def configure(api_url: str | None) -> None:
    global _api_url
    _api_url = api_url.rstrip("/") if api_url else None


def settings() -> Settings:
    """The S2R_* settings, or the defaults when the environment holds an invalid value."""
    try:
        return get_settings()
    except ValueError:
        return Settings.model_construct()


def api_url() -> str:
    return _api_url or settings().api_url


@st.cache_resource(show_spinner=False, max_entries=64)
def _shared_client(base_url: str, api_key: str | None) -> ApiClient:
    return ApiClient(base_url, api_key)


def signed_in_key() -> str | None:
    """The key this browser session signed in with, if it did."""
    return st.session_state.get(API_KEY_STATE) or None


def sign_in(api_key: str) -> None:
    st.session_state[API_KEY_STATE] = api_key.strip()
    st.session_state.pop(ME_STATE, None)


def sign_out() -> None:
    """Forget this session's key and whatever the pages remembered for it."""
    for name in list(st.session_state):
        if name not in (CLIENT_KEY, FACTORY_KEY):
            del st.session_state[name]


def get_client() -> ApiClient:
    client = st.session_state.get(CLIENT_KEY)
    if client is None:
        factory = st.session_state.get(FACTORY_KEY, _shared_client)
        client = factory(api_url(), signed_in_key() or settings().api_key)
    return client


def me() -> Me | None:
    """Who the caller is (from this run's `/v1/me`), or None when the API did not say."""
    return st.session_state.get(ME_STATE)


def max_upload_mb() -> int:
    """The API's upload limit in Streamlit's unit (MB), so the uploader refuses what the API would."""
    return max(1, settings().max_upload_bytes // MB)
