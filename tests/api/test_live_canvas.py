"""The live canvas on the real app (fake service): its page needs no key and holds no secret, a
live token stands for its principal on the `/v1/live/` routes only, expires, dies with its key,
and keeps the caller's limits; CORS answers only the UI's origin."""

from __future__ import annotations

import pytest

from api.conftest import assert_error, sketch_png, wait_for
from sketch2render.api.live_tokens import LiveTokens
from sketch2render.principals import KeyStore, Principal, Role

UI_ORIGIN = "http://ui.example:8501"


@pytest.fixture
def team(harness):
    store = KeyStore(harness.settings().keys_file)
    keys = {name: store.add(name, role)[1] for name, role in {"alice": "user", "bob": "user", "root": "admin"}.items()}
    client, _ = harness.client(cors_origins=[UI_ORIGIN], rate_limit=1.0, rate_burst=40)
    return client, store, keys


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def token_of(client, key: str) -> dict:
    response = client.post("/v1/live/tokens", headers=bearer(key))
    assert response.status_code == 200, response.text
    return response.json()


def submit_live(client, token: str, **fields):
    data = {"prompt": "a red house", "size": "64", "seed": "7", "live_session": "canvas", **fields}
    return client.post("/v1/live/renders", data=data, files={"sketch": ("s.png", sketch_png(), "image/png")},
                       headers=bearer(token))  # fmt: skip


def test_the_page_needs_no_key_and_holds_no_secret(team):
    client, _, keys = team
    page = client.get("/live")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "connect-src 'self'" in csp and f"frame-ancestors 'self' {UI_ORIGIN}" in csp
    served = page.text + client.get("/live/canvas.js").text + client.get("/live/canvas.css").text
    assert "canvas.js" in page.text and "v1/live/renders" in served
    assert not any(key in served for key in keys.values())
    assert_error(client.post("/v1/live/tokens"), 401)  # the page alone gets nothing: a key or a token


def test_a_token_draws_as_its_person_on_the_live_routes_only(team):
    client, _, keys = team
    minted = token_of(client, keys["alice"])
    token = minted["token"]
    assert minted["principal"] == "alice" and token.startswith("s2rlive.") and keys["alice"] not in token
    job_id = submit_live(client, token).json()["id"]
    job = wait_for(client, job_id, headers=bearer(keys["alice"]))
    assert job["owner"] == "alice" and job["params"]["speed"] == "live"
    image = client.get(f"/v1/live/renders/{job_id}/image", headers=bearer(token))
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    events = client.get(f"/v1/live/renders/{job_id}/events", headers=bearer(token))
    assert "event: status" in events.text and '"succeeded"' in events.text
    # Outside /v1/live/ the token is no key; bob's token does not open alice's render.
    assert_error(client.get(f"/v1/renders/{job_id}", headers=bearer(token)), 401)
    assert_error(client.get("/v1/me", headers=bearer(token)), 401)
    assert_error(client.get(f"/v1/live/renders/{job_id}/image", headers={"Authorization": f"Basic {token}"}), 401)
    bobs = token_of(client, keys["bob"])["token"]
    assert_error(client.get(f"/v1/live/renders/{job_id}/image", headers=bearer(bobs)), 404)
    # A token renews itself (the page does, before it expires), still as alice.
    assert token_of(client, token)["principal"] == "alice"


def test_the_live_routes_take_live_renders_only(team):
    client, _, keys = team
    token = token_of(client, keys["alice"])["token"]
    assert_error(submit_live(client, token, speed="quality"), 422, field="speed")
    data = {"prompt": "a red house", "size": "64"}
    no_session = client.post("/v1/live/renders", data=data, files={"sketch": ("s.png", sketch_png(), "image/png")},
                             headers=bearer(token))  # fmt: skip
    assert_error(no_session, 422, field="live_session")


def test_a_revoked_key_ends_its_tokens_and_a_forged_or_expired_token_is_refused(team):
    client, store, keys = team
    token = token_of(client, keys["bob"])["token"]
    assert submit_live(client, token).status_code == 202
    store.revoke("bob")
    assert_error(submit_live(client, token), 401)
    alice = token_of(client, keys["alice"])["token"]
    payload, signature = alice.removeprefix("s2rlive.").split(".")
    forged = "s2rlive." + payload.replace(payload[5], "A" if payload[5] != "A" else "B") + "." + signature
    assert_error(submit_live(client, forged), 401)
    now = [1000.0]
    tokens = LiveTokens(lambda name: True, ttl_s=60, clock=lambda: now[0])
    minted = tokens.mint(Principal("alice", Role.USER))
    assert tokens.verify(minted.token) == Principal("alice", Role.USER)
    now[0] += 61
    assert tokens.verify(minted.token) is None
    assert LiveTokens(lambda name: True).verify(minted.token) is None  # another process: another secret


def test_a_token_keeps_its_persons_rate_limit(harness):
    KeyStore(harness.settings().keys_file).add("alice", "user")
    key = KeyStore(harness.settings().keys_file).add("carol", "user")[1]
    client, _ = harness.client(rate_limit=0.5, rate_burst=2)
    token = token_of(client, key)["token"]  # the first of carol's two
    assert client.get("/v1/live/renders/" + "0" * 32 + "/image", headers=bearer(token)).status_code == 404
    assert_error(client.get("/v1/live/renders/" + "0" * 32 + "/image", headers=bearer(token)), 429, "rate_limited")


def test_cors_answers_the_uis_origin_and_refuses_another(team):
    client, _, _ = team
    ask = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    allowed = client.options("/v1/live/renders", headers={"Origin": UI_ORIGIN, **ask})
    assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == UI_ORIGIN
    refused = client.options("/v1/live/renders", headers={"Origin": "http://evil.example", **ask})
    assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers
    plain = client.get("/live", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in plain.headers


def test_a_keyless_loopback_server_gives_the_page_a_token_without_a_key(client):
    minted = client.post("/v1/live/tokens").json()
    assert minted["principal"] == "anonymous"
    assert submit_live(client, minted["token"]).status_code == 202
