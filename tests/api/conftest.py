"""Fixtures for the API tests: an app on the fake service in a temporary home, a TestClient that
runs its lifespan (worker thread included), and small helpers."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from builders import make_settings
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw
from waiting import eventually

from api.fakes import FakeRenderService
from sketch2render.api import create_app
from sketch2render.config import Settings

TERMINAL = {"succeeded", "failed", "cancelled"}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    """Settings come from the test, never from the developer's S2R_* environment."""
    for name in list(os.environ):
        if name.startswith("S2R_"):
            monkeypatch.delenv(name)


def sketch_png(size: tuple[int, int] = (96, 64), shift: int = 0) -> bytes:
    """A small line drawing: a box and a diagonal, dark on white."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((10 + shift, 10, size[0] - 12, size[1] - 12), outline="black", width=2)
    draw.line((10 + shift, 10, size[0] - 12, size[1] - 12), fill="black", width=2)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def colour_png(colour, size=(48, 32)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


class Harness:
    """Builds apps on a home; every client it opens is closed at teardown."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self._stack: list[TestClient] = []

    def settings(self, **overrides) -> Settings:
        return make_settings(self.home, **overrides)

    def app(self, *, service: FakeRenderService | None = None, shutdown_grace: float = 2.0, **overrides):
        settings = self.settings(**overrides)
        service = service or FakeRenderService(settings)
        return create_app(settings, service, shutdown_grace=shutdown_grace), service

    def client(self, **kwargs) -> tuple[TestClient, FakeRenderService]:
        app, service = self.app(**kwargs)
        client = TestClient(app)
        client.__enter__()
        self._stack.append(client)
        return client, service

    def close(self, client: TestClient) -> None:
        if client in self._stack:
            self._stack.remove(client)
            client.__exit__(None, None, None)

    def close_all(self) -> None:
        while self._stack:
            self._stack.pop().__exit__(None, None, None)


@pytest.fixture
def harness(tmp_path) -> Iterator[Harness]:
    h = Harness(tmp_path / "home")
    yield h
    h.close_all()


@pytest.fixture
def api(harness) -> tuple[TestClient, FakeRenderService]:
    return harness.client()


@pytest.fixture
def client(api) -> TestClient:
    return api[0]


@pytest.fixture
def fake(api) -> FakeRenderService:
    return api[1]


def submit(client: TestClient, sketch: bytes | None = None, headers=None, **fields) -> object:
    data = {"prompt": "a red house", "steps": "3", "size": "64", "seed": "7", **fields}
    files = {"sketch": ("sketch.png", sketch if sketch is not None else sketch_png(), "image/png")}
    return client.post("/v1/renders", data=data, files=files, headers=headers or {})


def wait_for(
    client: httpx.Client,
    job_id: str,
    until: Callable[[dict], bool] | set[str] = TERMINAL,
    timeout: float = 10.0,
    *,
    headers: dict[str, str] | None = None,
    interval: float = 0.02,
) -> dict:
    """Poll GET /v1/renders/{id} (a TestClient, or an httpx client of a real server) until
    `until(job)` holds (or its status is in the set); returns the job."""
    check = until if callable(until) else (lambda job: job["status"] in until)
    last: dict = {}

    def reached() -> dict | None:
        last.update(job=client.get(f"/v1/renders/{job_id}", headers=headers).json())
        return last["job"] if check(last["job"]) else None

    return eventually(reached, timeout, interval, what=lambda: f"job {job_id} to get there: {last.get('job')}")


def assert_error(response, status: int, code: str | None = None, field: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["x-content-type-options"] == "nosniff"
    error = response.json()["error"]
    assert set(error) <= {"code", "message", "field"} and error["message"]
    assert "Traceback" not in response.text
    if code:
        assert error["code"] == code, error
    if field:
        assert error.get("field") == field, error
    return error
