"""Regions and edits in a real browser (`sketch2render up` with tiny models, headless Chromium):
paint a region over the sketch with its own prompt (its retrieved style shows), render, then paint
over the result and re-render that area; the edit is linked to its parent in the page and History."""

from __future__ import annotations

import re

import pytest
from test_browser import ARTIFACTS, RENDER_TIMEOUT_MS, SKETCH, browser, page, set_steps, ui_url  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def paint(tab, points: list[tuple[int, int]]) -> None:
    """One stroke on the last canvas of the page."""
    canvas = tab.locator("canvas").last
    canvas.wait_for()
    canvas.scroll_into_view_if_needed()  # mouse events land only inside the viewport
    box = canvas.bounding_box()
    assert box is not None
    tab.mouse.move(box["x"] + points[0][0], box["y"] + points[0][1])
    tab.mouse.down()
    for x, y in points[1:]:
        tab.mouse.move(box["x"] + x, box["y"] + y, steps=5)
    tab.mouse.up()


def test_paint_a_region_render_then_edit_an_area_of_the_result(page) -> None:  # noqa: F811
    page.locator("input[type=file]").first.set_input_files(str(SKETCH))
    page.get_by_text("Control image (what ControlNet follows)").wait_for()
    prompt = page.get_by_label("Prompt", exact=True)
    prompt.fill("a vase")
    prompt.press("Enter")
    set_steps(page, 2)
    page.get_by_text("Regions: a style per area").click()
    paint(page, [(40, 40), (200, 60), (200, 160), (40, 160), (40, 60)])  # red, the default colour
    region = page.get_by_label("Red region prompt", exact=True)
    region.fill("swirling night sky")
    region.press("Enter")
    page.get_by_text(re.compile(r"^style: ")).wait_for()  # the style retrieved for the region's prompt
    page.get_by_role("button", name="Render", exact=True).click()
    page.get_by_role("button", name="Download").wait_for(timeout=RENDER_TIMEOUT_MS)
    page.get_by_text("Done: step 2 / 2").wait_for()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui-regions.png"), full_page=True)

    page.get_by_text("Edit an area or upscale").click()
    page.get_by_text("Paint over the area to repaint.").wait_for()
    paint(page, [(120, 120), (220, 140), (220, 220), (120, 220)])
    page.screenshot(path=str(ARTIFACTS / "ui-edit-painted.png"), full_page=True)
    page.get_by_text(re.compile(r"^Painted area: \d+% of the image")).wait_for()
    area = page.get_by_label("Prompt for the painted area", exact=True)
    area.fill("gold leaf")
    area.press("Enter")
    page.get_by_role("button", name="Re-render the painted area").click()
    page.get_by_text(re.compile(r"^edit of render [0-9a-f]{8}$")).wait_for(timeout=RENDER_TIMEOUT_MS)
    page.get_by_role("button", name="Download").wait_for(timeout=RENDER_TIMEOUT_MS)
    page.screenshot(path=str(ARTIFACTS / "ui-edit.png"), full_page=True)

    page.get_by_role("link", name="History").click()
    page.get_by_text(re.compile(r"edit of [0-9a-f]{8}")).first.wait_for()
