"""Which API client a browser session uses, and the few settings the UI reads.

The client comes from `st.session_state[CLIENT_KEY]` when something put one there (tests put a
fake client there before the first run), else one shared `ApiClient` per (base URL, key) built
from `--api-url` or `S2R_API_URL` and `S2R_API_KEY`. Nothing here loads a model.
"""

from __future__ import annotations

import streamlit as st

from ..config import MB, Settings, get_settings
from .client import ApiClient

CLIENT_KEY = "s2r_client"
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


@st.cache_resource(show_spinner=False)
def _shared_client(base_url: str, api_key: str | None) -> ApiClient:
    return ApiClient(base_url, api_key)


def get_client() -> ApiClient:
    client = st.session_state.get(CLIENT_KEY)
    if client is None:
        client = _shared_client(api_url(), settings().api_key)
    return client


def max_upload_mb() -> int:
    """The API's upload limit in Streamlit's unit (MB), so the uploader refuses what the API would."""
    return max(1, settings().max_upload_bytes // MB)
