"""The live canvas on a team server, in a real browser: the API (`sketch2render serve`, keys on)
and the web UI (`sketch2render ui`, no key of its own) on different ports, tiny models. Alice signs
in to the UI with her key, opens the live canvas and draws: the render is hers, and neither the
API's own key nor hers reaches anything the browser is served (pages, API answers, the UI's
websocket messages, the live page's address and storage).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    RENDER_TIMEOUT_MS,
    START_TIMEOUT_S,
    draw,
    expect,
    free_port,
    wait_until,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SERVER_KEY = "s2r_the-servers-own-admin-key-never-for-browsers"


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    script = Path(sys.executable).with_name("sketch2render")
    command = [str(script)] if script.exists() else [sys.executable, "-c", "from sketch2render.cli import app; app()"]
    with log.open("wb") as out:
        return subprocess.Popen(
            [*command, *args], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (`make browser` installs it)")
    pytest.importorskip("playwright.sync_api")
    from sketch2render.config import Settings
    from sketch2render.principals import KeyStore

    home = tmp_path_factory.mktemp("s2r-team")
    alice = KeyStore(Settings(home=home).keys_file).add("alice", "user")[1]
    api_port, ui_port = free_port(), free_port()
    api, ui = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{ui_port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("S2R_")}
    env.update(S2R_MODELS="tiny", S2R_HOME=str(home), STREAMLIT_SERVER_FILE_WATCHER_TYPE="none")
    api_env = {**env, "S2R_API_KEYS": SERVER_KEY, "S2R_CORS_ORIGINS": ui}
    procs = [start(["serve", "--port", str(api_port)], api_env, home / "api.log")]
    try:
        procs.append(start(["ui", "--port", str(ui_port)], {**env, "S2R_API_URL": api}, home / "ui.log"))
        ready = lambda: httpx.get(api + "/readyz", headers={"Authorization": f"Bearer {SERVER_KEY}"}).json()["ready"]  # noqa: E731
        wait_until(ready, START_TIMEOUT_S, procs[0], "the API", home / "api.log")
        wait_until(
            lambda: httpx.get(ui + "/_stcore/health").status_code == 200, 60, procs[1], "the UI", home / "ui.log"
        )
        yield {"api": api, "ui": ui, "alice": alice}
    finally:
        for proc in procs:
            stop(proc)


def test_a_signed_in_user_draws_live_and_no_key_reaches_the_browser(team) -> None:
    from playwright.sync_api import sync_playwright

    served: list[str] = []  # everything the browser was sent
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1440, "height": 1600})
            page = context.new_page()
            page.set_default_timeout(60_000)

            def keep(response) -> None:
                served.append(response.url)
                try:
                    served.append(response.body().decode("latin-1"))
                except Exception:  # a redirect or a stream without a body
                    pass

            page.on("response", keep)
            page.on("websocket", lambda ws: ws.on("framereceived", lambda frame: served.append(str(frame))))
            page.goto(team["ui"])
            page.get_by_label("API key").fill(team["alice"])
            page.get_by_role("button", name="Sign in").click()
            page.get_by_text("alice", exact=False).first.wait_for()
            prompt = page.get_by_label("Prompt", exact=True)
            prompt.fill("a vase, ink")
            prompt.press("Enter")
            link = page.get_by_role("link", name="Open the live canvas").and_(page.locator("a[href*='prompt=a+vase']"))
            href = link.get_attribute("href")
            assert href.startswith(team["api"] + "/live#token=s2rlive.")
            page.goto(href)
            page.locator("body[data-ready]").wait_for()
            expect(page.locator("#who")).to_have_text("signed in as alice")
            page.locator("#size").select_option("64")
            draw(page, 200)
            image = page.locator("#live-image")
            expect(image).to_have_attribute("src", re.compile(r"^blob:"), timeout=RENDER_TIMEOUT_MS)
            stored = page.evaluate("JSON.stringify(Object.entries(sessionStorage))")
            assert team["alice"] not in stored + page.url and SERVER_KEY not in stored + page.url
        finally:
            browser.close()
    mine = httpx.get(team["api"] + "/v1/renders", headers={"Authorization": f"Bearer {team['alice']}"}).json()
    assert [j["owner"] for j in mine["items"]] == ["alice"]  # the live render is alice's
    assert served and not [text[:200] for text in served if SERVER_KEY in text]
    assert not [text[:200] for text in served if team["alice"] in text]  # her key never came back either
