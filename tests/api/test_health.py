"""Health, readiness, metrics, docs, and the error shape of everything that is not a route."""

from __future__ import annotations

import threading

from fastapi.testclient import TestClient
from waiting import eventually

from api.conftest import assert_error, submit, wait_for
from api.fakes import FAKE_WARNING, FakeRenderService
from sketch2render.api import create_app
from sketch2render.errors import ModelsUnavailable


def test_livez(client):
    response = client.get("/livez")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_reports_profile_warning_queue_and_worker(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["ready"] is True and body["reasons"] == []
    assert body["profile"] == "fake" and body["smoke_test"] is True and body["warning"] == FAKE_WARNING
    assert body["worker_alive"] is True and body["models_loaded"] is True
    assert body["queue"] == {"depth": 0, "max": 32, "full": False}


def test_readyz_is_503_while_the_queue_is_full(harness):
    fake = FakeRenderService(harness.settings(), gate=threading.Event())
    client, _ = harness.client(service=fake, queue_max=1)
    submit(client)
    assert fake.started.wait(5)
    submit(client)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["queue"] == {"depth": 1, "max": 1, "full": True}
    assert response.json()["reasons"] == ["queue full"]
    fake.gate.set()


def test_models_load_in_the_background_and_readyz_waits_for_them(harness, monkeypatch):
    release = threading.Event()
    settings = harness.settings()
    fake = FakeRenderService(settings)

    def slow_build(s):
        release.wait(10)
        return fake

    monkeypatch.setattr("sketch2render.api.runtime.build_service", slow_build)
    with TestClient(create_app(settings)) as client:
        assert client.get("/livez").status_code == 200
        loading = client.get("/readyz")
        assert loading.status_code == 503 and loading.json()["reasons"] == ["models loading"]
        assert_error(client.get("/v1/styles"), 503, ModelsUnavailable.code)
        job_id = submit(client).json()["id"]  # accepted while loading; runs once loaded
        assert client.get(f"/v1/renders/{job_id}").json()["status"] == "queued"
        release.set()
        assert wait_for(client, job_id)["status"] == "succeeded"
        assert client.get("/readyz").status_code == 200


def test_model_load_failure_is_reported_not_fatal(harness, monkeypatch):
    def broken(s):
        raise ModelsUnavailable("no weights here")

    monkeypatch.setattr("sketch2render.api.runtime.build_service", broken)
    with TestClient(create_app(harness.settings())) as client:
        eventually(lambda: client.app.state.runtime.load_error, 5, 0.01, what="the model load to fail")
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "no weights here" in ready.json()["reasons"][0]
        assert "no weights here" in assert_error(client.get("/v1/styles"), 503)["message"]


def test_metrics(client):
    job = wait_for(client, submit(client).json()["id"])
    client.get(f"/v1/renders/{job['id']}")
    client.get("/v1/renders/" + "0" * 32)
    client.get("/nowhere")
    text = client.get("/metrics").text
    assert client.get("/metrics").headers["content-type"].startswith("text/plain")
    assert 's2r_jobs{status="succeeded"} 1.0' in text and 's2r_jobs{status="queued"} 0.0' in text
    assert "s2r_queue_depth 0.0" in text and "s2r_worker_alive 1.0" in text and "s2r_models_loaded 1.0" in text
    assert 's2r_jobs_finished_total{status="succeeded"} 1.0' in text
    assert 's2r_render_stage_seconds_count{stage="denoise"} 1.0' in text
    assert 's2r_render_stage_seconds_count{stage="vae_decode"} 0.0' in text  # zero timings are not observed
    assert 's2r_http_requests_total{method="POST",route="/v1/renders",status="202"} 1.0' in text
    assert 's2r_http_requests_total{method="GET",route="/v1/renders/{job_id}",status="200"}' in text
    assert 's2r_http_requests_total{method="GET",route="/v1/renders/{job_id}",status="404"} 1.0' in text
    assert 's2r_http_requests_total{method="GET",route="unmatched",status="404"} 1.0' in text
    assert "0" * 32 not in text  # raw paths never become labels


def test_metrics_label_refusals_by_route(harness):
    client, _ = harness.client(api_keys=["k"], max_upload_bytes=2048)
    client.get("/v1/renders/" + "0" * 32)
    client.post("/v1/styles", content=b"x" * 100_000, headers={"Authorization": "Bearer k"})
    text = client.get("/metrics", headers={"Authorization": "Bearer k"}).text
    assert 's2r_http_requests_total{method="GET",route="/v1/renders/{job_id}",status="401"} 1.0' in text
    assert 's2r_http_requests_total{method="POST",route="/v1/styles",status="413"} 1.0' in text


def test_each_app_has_its_own_metrics_registry(harness):
    a, _ = harness.client()
    a.get("/livez")
    b_app, _ = harness.app()
    assert b_app.state.runtime.metrics.registry is not a.app.state.runtime.metrics.registry


def test_docs_and_openapi_are_served(client):
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    for path in ["/v1/renders", "/v1/renders/{job_id}", "/v1/styles/search", "/v1/styles/{style_id}/image"]:
        assert path in spec["paths"]
    assert list(spec["paths"]).index("/v1/styles/search") < list(spec["paths"]).index("/v1/styles/{style_id}")
    steps = spec["components"]["schemas"]["RenderForm"]["properties"]["steps"]
    assert {"type": "integer", "minimum": 1, "maximum": 150}.items() <= steps.items()


def test_unknown_route_and_method_use_the_error_shape(client):
    assert_error(client.get("/v2/nothing"), 404, "not_found")
    error = client.put("/v1/styles")
    assert_error(error, 405, "method_not_allowed")
    assert error.headers["allow"] == "GET, POST"
    assert client.put("/v1/renders/" + "0" * 32).headers["allow"] == "DELETE, GET"


def test_unexpected_exception_is_a_500_without_traceback(harness, caplog):
    app, _ = harness.app()

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals /etc/passwd")

    with TestClient(app) as client:
        response = client.get("/boom")
    error = assert_error(response, 500, "internal_error")
    assert "secret" not in response.text and "passwd" not in error["message"]
    assert "secret internals" in caplog.text  # but it is logged


def test_every_response_is_nosniff(client):
    for response in [client.get("/livez"), client.get("/openapi.json"), client.get("/nope"), client.delete("/livez")]:
        assert response.headers["x-content-type-options"] == "nosniff"
