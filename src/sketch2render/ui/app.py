"""The web UI's entry point: `streamlit run ui/app.py -- --api-url URL`.

It sets up the page, asks the API whether it is ready (sidebar status, the smoke-test banner, or
how to start the API when nothing answers), and, when the API wants a key this browser session has
not given (a 401), shows a sign-in box instead of the page. Signed in, it asks `/v1/me` who the
caller is (shown in the sidebar, and read by the pages to hide what the role may not do) and hands
over to one of three pages in `views/`: Render, Style library and History. The UI is a client of
the HTTP API only; it loads no model.
"""

from __future__ import annotations

import argparse
import sys

import streamlit as st

from sketch2render.ui import session
from sketch2render.ui.client import ApiClient, ApiError, ApiUnreachable, Me
from sketch2render.ui.widgets import show_unreachable, smoke_banner

REFUSED_STATE = "s2r_key_refused"  # the key this session signed in with was just refused


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sketch2render-ui", add_help=False)
    parser.add_argument("--api-url", default=None, help="Base URL of the sketch2render API.")
    return parser.parse_known_args(argv)[0]


def sign_in_box() -> None:
    """The API wants a key: ask for this person's own, kept in this browser session only."""
    st.title("Sign in")
    if st.session_state.pop(REFUSED_STATE, False):
        st.error("That key was not accepted (mistyped, or revoked): check it and try again.", icon=":material/key_off:")
    else:
        st.info("This sketch2render server needs an API key: sign in with yours.", icon=":material/key:")
    with st.form("sign_in", border=True, clear_on_submit=True):
        key = st.text_input("API key", type="password", key="sign_in_key", placeholder="the key you were given")
        submitted = st.form_submit_button("Sign in", type="primary", icon=":material/login:")
    st.caption(
        "Ask the server's admin for a key (`sketch2render keys add NAME --role user`). It stays in this "
        "browser tab's session and is sent only to the API; signing out, reloading or closing the tab forgets it."
    )
    if submitted:
        if key.strip():
            session.sign_in(key)
            st.rerun()
        st.error("Enter your API key first.")


def sidebar_status(ready: dict | None, error: str | None, me: Me | None = None, *, signed_out: bool = False) -> None:
    with st.sidebar:
        st.markdown("### :material/draw: sketch2render")
        st.caption("Sketch + a few words → a render that keeps your lines.")
        with st.container(border=True):
            if signed_out:
                st.markdown(":orange[**● Sign in needed**]")
                st.caption("The API answers only with a key.")
            elif ready is None:
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
            if me is not None and me.name != "anonymous":  # a keyless loopback server: nobody to name
                st.markdown(f":material/person: **{me.name}** · {me.role}")
            if session.signed_in_key():
                if st.button("Sign out", icon=":material/logout:", key="sign_out", type="tertiary"):
                    session.sign_out()
                    st.rerun()


def who_am_i(client: ApiClient) -> Me | None:
    """`/v1/me`, remembered for the pages of this run; None when the API cannot say (an older API)."""
    try:
        me = client.me()
    except ApiError:
        me = None
    st.session_state[session.ME_STATE] = me
    return me


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
    except ApiError as exc:
        if exc.status == 401:  # no key, or one the API does not know (any more)
            if session.signed_in_key():
                session.sign_out()
                st.session_state[REFUSED_STATE] = True
                st.rerun()
            sidebar_status(None, None, signed_out=True)
            sign_in_box()
            st.stop()
        error = exc.message  # the pages will say the same about their own calls
    me = who_am_i(client) if ready is not None else None
    sidebar_status(ready, error, me)
    if ready and ready.get("smoke_test"):
        st.warning(smoke_banner(ready), icon=":material/science:")
    elif ready and not ready.get("models_loaded", True):
        st.info("The API is still loading its models; renders wait in the queue until it is ready.", icon="⏳")
    page.run()


main()
