"""In a real browser: `sketch2render up` serving two families (tiny-sdxl, the default, and tiny);
the Render page offers both, picking SDXL shows its defaults, and its render comes back as an SDXL
render (the family and its native size on the result). Debian's headless Chromium via Playwright."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from ui.test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, SKETCH, START_TIMEOUT_S, expect, free_port, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def ui_url(tmp_path_factory: pytest.TempPathFactory, tiny_sdxl_dir: Path, tiny_models_dir: Path) -> Iterator[str]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (`make browser` installs it)")
    pytest.importorskip("playwright.sync_api")
    home = tmp_path_factory.mktemp("s2r-families-home")
    log = home / "up.log"
    api_port, ui_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("S2R_")}
    env.update(
        S2R_MODELS=f"{tiny_sdxl_dir},{tiny_models_dir}",
        S2R_HOME=str(home),
        STREAMLIT_SERVER_FILE_WATCHER_TYPE="none",
    )
    script = Path(sys.executable).with_name("sketch2render")
    command = [str(script)] if script.exists() else [sys.executable, "-c", "from sketch2render.cli import app; app()"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*command, "up", "--api-port", str(api_port), "--ui-port", str(ui_port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        api, ui = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{ui_port}"
        wait_until(
            lambda: httpx.get(api + "/readyz", timeout=2).json().get("ready"), START_TIMEOUT_S, proc, "the API", log
        )
        wait_until(lambda: httpx.get(ui + "/_stcore/health", timeout=2).status_code == 200, 60, proc, "the UI", log)
        yield ui
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def test_pick_sdxl_render_and_see_an_sdxl_result(ui_url: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1440, "height": 2200}).new_page()
            page.set_default_timeout(60_000)
            page.goto(ui_url)
            page.get_by_label("Prompt", exact=True).wait_for()
            page.locator("input[type=file]").first.set_input_files(str(SKETCH))
            page.get_by_text("Control image (what ControlNet follows)").wait_for()
            box = page.get_by_label("Prompt", exact=True)
            box.fill("swirling night sky")
            box.press("Enter")
            page.get_by_text("Stable Diffusion XL (sdxl)").click()  # the family picker (SDXL is the default)
            page.get_by_text("Stable Diffusion 1.5 (sd15)").click()
            page.get_by_text("Stable Diffusion XL (sdxl)").click()
            page.get_by_text("Advanced settings").click()
            steps = page.get_by_label("Steps", exact=True).last  # (the page keys it by family)
            expect(steps).to_have_value("30")  # SDXL's own default
            steps.fill("1")
            steps.press("Enter")
            expect(steps).to_have_value("1")
            page.get_by_text("Advanced settings").click()
            button = page.get_by_role("button", name="Render", exact=True)
            expect(button).to_be_enabled()
            button.click()
            page.get_by_role("button", name="Download").wait_for(timeout=300_000)
            page.get_by_text("Done: step 1 / 1").wait_for()
            facts = page.get_by_text("family sdxl")
            facts.first.wait_for()
            assert "1024" in facts.first.inner_text()  # SDXL's native size: its default, recorded
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "family-sdxl.png"), full_page=True)
        finally:
            browser.close()
