"""Live drawing in a real browser (Playwright + Debian's chromium, tiny models, CPU): per stroke,
stroke end -> the new live image displayed, the job's own created -> finished time, and their
difference ("our overhead": what the browser, the UI and the API add around the render).

It starts its own API (`python -m sketch2render.api`, keyless loopback) and web UI (`streamlit run
ui/app.py`), then measures, in the same run:

- `before`: the Render page's Live toggle as it was at `BEFORE_COMMIT` (the Streamlit canvas; each
  stroke reruns the page, which submits to the live lane and polls the job inside the script run),
  run from a copy of the UI with that page, whose only output size is the one measured.
- `after`: the live canvas page the API serves (`/live`, opened from the UI's link): the stroke
  goes to the live lane from the browser and the image comes back over the job's event stream.

Timestamps are taken in the page (`performance.now()`): the pointer-up of the stroke, and the
`load` of the live image element with a new picture. Each stroke waits for its image before the
next one, so the newest succeeded live job is the stroke's (read from `GET /v1/renders`).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import REPO_ROOT, child_env, free_port, log, stats_ms
from .server import ApiServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
BEFORE_COMMIT = "b8e3f6c"  # the last commit whose Render page ran the live loop in Streamlit
UI_DIR = REPO_ROOT / "src" / "sketch2render" / "ui"
PROMPT = "a tent under a swirling night sky"
STROKES = {"tiny": {64: 4, 512: 2}, "full": {64: 12, 512: 4}}
IMAGE_TIMEOUT_MS = 120_000
PEN_WIDTH = 12  # both designs draw with their widest pen (the Streamlit canvas's)

# Records pointer-ups and loads of the live image (capture phase: `load` does not bubble).
INSTRUMENT = """(matcher) => {
  const match = new Function('img', matcher);
  window.__s2r = {ups: [], shown: []};
  document.addEventListener('pointerup', () => window.__s2r.ups.push(performance.now()), true);
  document.addEventListener('load', (e) => {
    const img = e.target;
    if (img.tagName !== 'IMG' || !match(img)) return;
    const last = window.__s2r.shown[window.__s2r.shown.length - 1];
    if (!last || last.src !== img.currentSrc) window.__s2r.shown.push({src: img.currentSrc, t: performance.now()});
  }, true);
}"""
BEFORE_MATCH = "const box = img.closest('[data-testid=stImage]'); return !!box && /^Live/.test(box.innerText)"
AFTER_MATCH = "return img.id === 'live-image'"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--design", choices=("before", "after", "both"), default="both")
    parser.add_argument("--sizes", default="64,512", help="output sizes, comma-separated (64 and/or 512)")
    parser.add_argument("--strokes", type=int, default=None, help="strokes at 64 px")
    parser.add_argument("--strokes-512", type=int, default=None, help="strokes at 512 px (each render takes seconds)")


class UiServer:
    """`streamlit run` of the web UI (a given copy of ui/) on a free port, pointed at the API."""

    def __init__(self, app: Path, api_url: str, home: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = home / "ui.log"
        cmd = [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(self.port)]
        cmd += ["--server.headless", "true", "--browser.gatherUsageStats", "false", "--server.fileWatcherType"]
        cmd += ["none", "--", "--api-url", api_url]
        self.cmd, self.env = cmd, child_env(S2R_HOME=str(home), S2R_API_URL=api_url)
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> UiServer:
        import httpx

        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(self.cmd, cwd=REPO_ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the UI exited:\n{self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/_stcore/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise TimeoutError("the UI did not start")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


def ui_before(where: Path, size: int) -> Path:
    """The UI with the Render page of `BEFORE_COMMIT` (its Live toggle), whose only output size is
    `size` (its size list has no 64, and headless Chromium does not open its drop-down)."""
    target = where / f"ui-{size}"
    shutil.copytree(UI_DIR, target, ignore=shutil.ignore_patterns("__pycache__"))
    render = target / "views" / "render.py"
    old = subprocess.run(
        ["git", "show", f"{BEFORE_COMMIT}:src/sketch2render/ui/views/render.py"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    text = old.replace("SIZES = (256, 384, 512, 640, 768, 1024)", f"SIZES = ({size},)", 1)
    render.write_text(text.replace('index=SIZES.index(DEFAULTS["size"])', "index=0", 1))
    return target / "app.py"


def stroke(page, box: dict[str, float], i: int) -> None:
    """A stroke across the canvas, at a height that differs per stroke (every image is new)."""
    w, h = box["width"], box["height"]
    y = h * (0.15 + 0.7 * ((i * 0.37) % 1.0))
    page.mouse.move(box["x"] + w * 0.1, box["y"] + y)
    page.mouse.down()
    for k in range(1, 9):
        page.mouse.move(box["x"] + w * (0.1 + 0.1 * k), box["y"] + y + (h * 0.08 if k % 2 else -h * 0.08), steps=3)
    page.mouse.up()


def newest_live_job(api: str) -> dict[str, Any]:
    import httpx

    items = httpx.get(api + "/v1/renders", params={"limit": 5, "status": "succeeded"}, timeout=10).json()["items"]
    return max(items, key=lambda j: j["finished_at"] or 0)


def measure_strokes(page, canvas, api: str, strokes: int, matcher: str) -> list[dict[str, float]]:
    page.evaluate(INSTRUMENT, matcher)
    rows = []
    for i in range(strokes):
        canvas.scroll_into_view_if_needed()
        box = canvas.bounding_box()
        shown_before = page.evaluate("window.__s2r.shown.length")
        stroke(page, box, i)
        page.wait_for_function(f"window.__s2r.shown.length > {shown_before}", timeout=IMAGE_TIMEOUT_MS, polling=50)
        up, shown = page.evaluate("[window.__s2r.ups[window.__s2r.ups.length - 1], window.__s2r.shown.at(-1).t]")
        job = newest_live_job(api)
        displayed = (shown - up) / 1000.0
        render = job["finished_at"] - job["created_at"]
        rows.append({"displayed_s": displayed, "render_s": render, "overhead_s": displayed - render})
        log(f"  stroke {i + 1}: displayed {displayed * 1000:.0f} ms, render {render * 1000:.0f} ms")
        page.wait_for_timeout(300)  # a person's pause between strokes; lets the page settle
    return rows


def open_before(page, ui: str, size: int):
    page.goto(ui)
    page.get_by_label("Prompt", exact=True).wait_for()
    page.get_by_test_id("stRadio").filter(has_text="Sketch source").get_by_text("Draw", exact=True).click()
    page.get_by_text("Live", exact=True).click()
    prompt = page.get_by_label("Prompt", exact=True)
    prompt.fill(PROMPT)
    prompt.press("Enter")
    pen = page.get_by_test_id("stSlider").filter(has_text="Pen width").get_by_role("slider")
    pen.focus()
    pen.press("End")  # the widest pen: a thinner line has no edges left at 64 px
    canvas = page.locator("canvas").first  # the sketch's (the region painter's comes after it)
    canvas.wait_for()
    page.wait_for_timeout(1000)
    return canvas


def open_after(page, ui: str, size: int):
    page.goto(ui)
    page.get_by_label("Prompt", exact=True).wait_for()
    prompt = page.get_by_label("Prompt", exact=True)
    prompt.fill(PROMPT)
    prompt.press("Enter")
    link = page.get_by_role("link", name="Open the live canvas").and_(page.locator("a[href*='prompt=a+tent']"))
    link.wait_for()
    page.goto(link.get_attribute("href"))
    page.locator("body[data-ready]").wait_for()
    page.locator("#size").select_option(str(size))
    page.locator("#width").fill(str(PEN_WIDTH))
    canvas = page.locator("#live-canvas")
    return canvas


def measure(browser, design: str, ui: str, api: str, size: int, strokes: int) -> list[dict[str, float]]:
    context = browser.new_context(viewport={"width": 1440, "height": 1800}, bypass_csp=True)  # instruments eval
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        opened = open_before if design == "before" else open_after
        canvas = opened(page, ui, size)
        log(f"{design} at {size} px: {strokes} strokes")
        return measure_strokes(page, canvas, api, strokes, BEFORE_MATCH if design == "before" else AFTER_MATCH)
    except Exception:
        shot = Path(tempfile.gettempdir()) / f"live_ui-{design}-{size}.png"
        page.screenshot(path=str(shot), full_page=True)
        log(f"failed: the page is in {shot}")
        raise
    finally:
        context.close()


def summarise(rows: list[dict[str, float]]) -> dict[str, Any]:
    return {
        "strokes": len(rows),
        "displayed": stats_ms([r["displayed_s"] for r in rows]),
        "render": stats_ms([r["render_s"] for r in rows]),
        "overhead": stats_ms([r["overhead_s"] for r in rows]),
        "per_stroke_ms": [{k: round(v * 1000, 1) for k, v in r.items()} for r in rows],
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        return {"skipped": "Debian's chromium is not installed (`make browser`)"}
    designs = ("before", "after") if args.design == "both" else (args.design,)
    sizes = [int(s) for s in args.sizes.split(",")]
    counts = {64: args.strokes or STROKES[args.size][64], 512: args.strokes_512 or STROKES[args.size][512]}
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="s2r-bench-live-ui-") as tmp, ApiServer(Path(tmp) / "api") as api:
        api.wait_ready()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                for size in sizes:
                    for design in designs:
                        app = ui_before(Path(tmp), size) if design == "before" else UI_DIR / "app.py"
                        with UiServer(app, api.url, Path(tmp) / "api") as ui:
                            measure(browser, design, ui.url, api.url, size, 1)  # warm: models, the page
                            rows = measure(browser, design, ui.url, api.url, size, counts.get(size, 2))
                            results[f"{design}_{size}px"] = summarise(rows)
            finally:
                browser.close()
    return results


def summary(result: dict) -> str:
    lines = [f"live_ui ({result['size']}): stroke end -> new live image displayed, minus the job's render time"]
    for name, r in result["results"].items():
        o, d, g = r["overhead"], r["displayed"], r["render"]
        lines.append(
            f"  {name:<12} overhead p50 {o['p50_ms']:.0f} ms, p95 {o['p95_ms']:.0f} ms · displayed p50 "
            f"{d['p50_ms']:.0f} ms · render p50 {g['p50_ms']:.0f} ms (n={r['strokes']})"
        )
    return "\n".join(lines)
