"""API keys, CORS, the body limit (413) and backpressure (429)."""

from __future__ import annotations

import threading

import pytest

from api.conftest import assert_error, sketch_png, submit
from api.fakes import FakeRenderService

PROTECTED = [
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/v1/me"),
    ("GET", "/v1/styles"),
    ("POST", "/v1/styles"),
    ("GET", "/v1/styles/search?q=x"),
    ("GET", "/v1/styles/abc"),
    ("GET", "/v1/styles/abc/image"),
    ("DELETE", "/v1/styles/abc"),
    ("GET", "/v1/renders"),
    ("POST", "/v1/renders"),
    ("GET", "/v1/renders/" + "0" * 32),
    ("GET", "/v1/renders/" + "0" * 32 + "/image"),
    ("GET", "/v1/renders/" + "0" * 32 + "/control"),
    ("GET", "/v1/renders/" + "0" * 32 + "/edges"),
    ("GET", "/v1/renders/" + "0" * 32 + "/sketch"),
    ("GET", "/v1/renders/" + "0" * 32 + "/events"),
    ("DELETE", "/v1/renders/" + "0" * 32),
    ("POST", "/v1/live/renders"),
    ("GET", "/v1/live/renders/" + "0" * 32 + "/events"),
    ("GET", "/v1/live/renders/" + "0" * 32 + "/image"),
]


# What each protected route answers an admin with the key (ids that do not exist: 404; a POST
# without its form: 422).
ALLOWED_WITH_KEY = {
    route: ({200} if route[0] == "GET" and "0" * 32 not in route[1] and "abc" not in route[1] else {404, 422})
    for route in PROTECTED
}


@pytest.fixture
def keyed(harness):
    return harness.client(api_keys=["key-one", "key-two"])[0]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_every_route_but_livez_needs_a_key(keyed, method, path):
    for headers in [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic key-one"},
        {"Authorization": "Bearer"},
    ]:
        response = keyed.request(method, path, headers=headers)
        assert_error(response, 401, "unauthorized")
        assert response.headers["www-authenticate"].startswith("Bearer")
    ok = keyed.request(method, path, headers={"Authorization": "Bearer key-two"})
    # With the key, each route answers what it answers any admin: a 2xx, or the domain's own 4xx
    # (no such render or style, a form without a sketch) — never 401, and never a 5xx.
    assert ok.status_code in ALLOWED_WITH_KEY[(method, path)], (method, path, ok.status_code, ok.text[:200])


def test_livez_and_the_docs_are_open_and_both_keys_work(keyed):
    assert keyed.get("/livez").status_code == 200
    assert "swagger" in keyed.get("/docs").text.lower()
    spec = keyed.get("/openapi.json").json()  # public, and it says every operation needs the key
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    operations = [(path, op) for path, ops in spec["paths"].items() for op in ops.values()]
    assert all(op.get("security") == [{"HTTPBearer": []}] for path, op in operations if path != "/livez")
    assert keyed.get("/v1/styles", headers={"Authorization": "Bearer key-one"}).status_code == 200
    assert keyed.get("/v1/styles", headers={"Authorization": "bearer key-two"}).status_code == 200


def test_unauthenticated_upload_is_refused_before_the_body_is_read(keyed):
    response = submit(keyed)
    assert_error(response, 401, "unauthorized")
    assert keyed.get("/v1/renders", headers={"Authorization": "Bearer key-one"}).json()["total"] == 0


def test_no_cors_headers_without_origins(client):
    response = client.get("/livez", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers
    preflight = client.options(
        "/v1/renders", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_only_for_configured_origins(harness):
    client, _ = harness.client(cors_origins=["http://localhost:8501"], api_keys=["k"])
    preflight = client.options(
        "/v1/renders",
        headers={
            "Origin": "http://localhost:8501",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,idempotency-key",
        },
    )
    assert preflight.status_code == 200  # preflights carry no key
    assert preflight.headers["access-control-allow-origin"] == "http://localhost:8501"
    ok = client.get("/v1/styles", headers={"Origin": "http://localhost:8501", "Authorization": "Bearer k"})
    assert ok.headers["access-control-allow-origin"] == "http://localhost:8501"
    other = client.get("/v1/styles", headers={"Origin": "https://evil.example", "Authorization": "Bearer k"})
    assert "access-control-allow-origin" not in other.headers


# --- 413 ----------------------------------------------------------------------------------------
def test_413_from_content_length_before_reading(harness):
    client, _ = harness.client(max_upload_bytes=100_000)
    big = b"\x89PNG" + b"\0" * 300_000
    response = client.post("/v1/renders", data={"prompt": "x"}, files={"sketch": ("big.png", big, "image/png")})
    assert_error(response, 413, "too_large")
    response = client.post("/v1/styles", files={"image": ("big.png", big, "image/png")})
    assert_error(response, 413, "too_large")


def test_413_for_a_chunked_body(harness):
    client, _ = harness.client(max_upload_bytes=100_000)
    sent = []

    def body():
        for _ in range(40):
            sent.append(1)
            yield b"x" * 16_384

    response = client.post("/v1/renders", content=body(), headers={"Content-Type": "multipart/form-data; boundary=zzz"})
    assert_error(response, 413, "too_large")
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert client.get("/v1/renders").json()["total"] == 0


def test_upload_just_under_the_limit_is_judged_on_content(harness):
    client, _ = harness.client(max_upload_bytes=100_000)
    data = b"\x89PNG\r\n\x1a\n" + b"\0" * 90_000  # under the limit: reaches the decoder
    response = client.post("/v1/renders", data={"prompt": "x"}, files={"sketch": ("s.png", data, "image/png")})
    assert_error(response, 422, "invalid_image")


def test_bad_content_length_is_400(client):
    response = client.post("/v1/renders", content=b"abc", headers={"Content-Length": "abc"})
    assert_error(response, 400, "bad_request")


# --- 429 ----------------------------------------------------------------------------------------
def test_429_with_retry_after_when_the_queue_is_full(harness):
    fake = FakeRenderService(harness.settings(), gate=threading.Event())
    client, _ = harness.client(service=fake, queue_max=2)
    first = submit(client, headers={"Idempotency-Key": "one"}).json()["id"]
    assert fake.started.wait(5)  # running; two more fill the queue
    submit(client, headers={"Idempotency-Key": "two"})
    submit(client)
    full = submit(client, prompt="one too many")
    assert_error(full, 429, "queue_full")
    assert 1 <= int(full.headers["retry-after"]) <= 600
    replay = submit(client, headers={"Idempotency-Key": "two"})  # a replay is not a new job
    assert replay.status_code == 200
    assert client.get("/v1/renders").json()["total"] == 3
    assert not any(
        p.name
        for p in (harness.home / "renders").iterdir()
        if p.name not in {j["id"] for j in client.get("/v1/renders").json()["items"]}
    )  # the refused upload left no files
    fake.gate.set()
    assert client.get(f"/v1/renders/{first}").status_code == 200


def test_submissions_during_shutdown_are_503(client):
    client.app.state.runtime.begin_shutdown()
    response = submit(client, sketch=sketch_png())
    assert_error(response, 503, "shutting_down")
    assert response.headers["retry-after"]
