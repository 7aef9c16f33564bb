"""The Render page's link to the live canvas (AppTest, fake API): it carries a live token of the
person signed in (never a key) and the page's prompt, at the API's public address."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import FakeApi, principal

from sketch2render.config import get_settings
from sketch2render.ui.live import live_canvas_url


@pytest.fixture(autouse=True)
def _fresh_settings():
    """These tests set S2R_* variables: the settings an earlier test of this process read are not theirs."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def live_link(at) -> str:
    buttons = [e for e in at.main.get("link_button") if e.proto.label == "Open the live canvas"]
    assert len(buttons) == 1, "no link to the live canvas"
    return buttons[0].proto.url


def test_the_link_carries_the_signed_in_persons_token_and_the_prompt(app, fake_api: FakeApi, monkeypatch) -> None:
    monkeypatch.setenv("S2R_PUBLIC_API_URL", "https://draw.example/api")
    monkeypatch.setenv("S2R_API_KEY", "the-servers-own-key")
    fake_api.keys = {"alice-key": principal("alice", "user"), "the-servers-own-key": principal("ui", "admin")}
    at = app()
    at.session_state["s2r_api_key"] = "alice-key"  # alice signed in in this browser session
    at.run()
    at.text_input(key="prompt").input("a vase, ink").run()
    url = urlsplit(live_link(at))
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://draw.example/api/live"
    assert not url.query  # everything is in the fragment, which browsers never send
    fragment = parse_qs(url.fragment)
    assert fragment["token"][0].startswith("s2rlive.") and fragment["prompt"] == ["a vase, ink"]
    assert fake_api.key == "alice-key"  # the token was minted with alice's key, not the server's
    assert "alice-key" not in live_link(at) and "the-servers-own-key" not in live_link(at)
    minted = fake_api.live_tokens
    at.text_input(key="prompt").input("a bowl").run()
    assert fake_api.live_tokens == minted  # the token is reused until it nears its end


def test_the_canvas_url_keeps_the_live_size_and_the_chosen_styles() -> None:
    url = live_canvas_url("http://127.0.0.1:8000/", "s2rlive.t", {"prompt": "p", "size": 1024, "style_ids": ["a", "b"],
                          "seed": None, "control": "lineart"}, "http://127.0.0.1:8501/")  # fmt: skip
    fragment = parse_qs(urlsplit(url).fragment)
    assert url.startswith("http://127.0.0.1:8000/live#")
    assert fragment["size"] == ["512"] and fragment["style_ids"] == ["a,b"] and fragment["control"] == ["lineart"]
    assert "seed" not in fragment and fragment["ui"] == ["http://127.0.0.1:8501/"]
