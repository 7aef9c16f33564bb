"""The web UI's entry point: `streamlit run ui/app.py -- --api-url URL`.

It sets up the page, asks the API whether it is ready (sidebar status, the smoke-test banner, or
how to start the API when nothing answers) and hands over to one of three pages in `views/`:
Render, Style library and History. The UI is a client of the HTTP API only; it loads no model.
"""

from __future__ import annotations

import argparse
import sys

import streamlit as st

from sketch2render.ui import session
from sketch2render.ui.client import ApiError, ApiUnreachable
from sketch2render.ui.widgets import show_unreachable, smoke_banner


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sketch2render-ui", add_help=False)
    parser.add_argument("--api-url", default=None, help="Base URL of the sketch2render API.")
    return parser.parse_known_args(argv)[0]


def sidebar_status(ready: dict | None, error: str | None) -> None:
    with st.sidebar:
        st.markdown("### :material/draw: sketch2render")
        st.caption("Sketch + a few words → a render that keeps your lines.")
        with st.container(border=True):
            if ready is None:
                st.markdown(":red[**● API unreachable**]" if error is None else ":red[**● API error**]")
                if error:
                    st.caption(error)
            elif ready.get("ready"):
                st.markdown(":green[**● API ready**]")
            else:
                st.markdown(":orange[**● API not ready**]")
                st.caption("; ".join(ready.get("reasons") or []) or "starting")
            if ready:
                queue = ready.get("queue") or {}
                st.caption(
                    f"models: **{ready.get('profile') or '…'}** on {ready.get('device') or '…'}  \n"
                    f"queue: {queue.get('depth', 0)} / {queue.get('max', '?')}"
                )
            st.caption(f"`{session.api_url()}`")


def main() -> None:
    st.set_page_config(page_title="sketch2render", page_icon=":material/draw:", layout="wide")
    st.set_option("client.toolbarMode", "minimal")  # no "Deploy" button in a product UI
    session.configure(parse_args(sys.argv[1:]).api_url)
    pages = [
        st.Page("views/render.py", title="Render", icon=":material/brush:", url_path="render", default=True),
        st.Page("views/library.py", title="Style library", icon=":material/palette:", url_path="styles"),
        st.Page("views/history.py", title="History", icon=":material/history:", url_path="history"),
    ]
    page = st.navigation(pages)
    client = session.get_client()
    ready, error = None, None
    try:
        ready = client.readiness()
    except ApiUnreachable:
        sidebar_status(None, None)
        show_unreachable(client.base_url)
        st.stop()
    except ApiError as exc:  # e.g. 401: the pages will say the same about their own calls
        error = exc.message
    sidebar_status(ready, error)
    if ready and ready.get("smoke_test"):
        st.warning(smoke_banner(ready), icon=":material/science:")
    elif ready and not ready.get("models_loaded", True):
        st.info("The API is still loading its models; renders wait in the queue until it is ready.", icon="⏳")
    page.run()


main()
