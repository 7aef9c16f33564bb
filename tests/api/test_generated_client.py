"""A client generated from the live /openapi.json by `openapi-python-client`, used as an outside
developer would, against a real uvicorn server (the fake service): add a style, submit a render
with it, poll it, download its image and control image, list, cancel. The uploads must come out as file
parameters, the PNGs as byte downloads and the functions under clean names (`renders_submit`)."""

from __future__ import annotations

import importlib
import shutil
import socket
import subprocess
import sys
import threading
from io import BytesIO
from pathlib import Path

import httpx
import pytest
from waiting import eventually

from api.conftest import colour_png, sketch_png
from api.fakes import FakeRenderService
from sketch2render.api import create_app
from sketch2render.api.server import make_server

pytestmark = pytest.mark.slow
KEY = "generated-client-key"
GENERATOR = shutil.which("openapi-python-client") or str(Path(sys.executable).with_name("openapi-python-client"))


@pytest.fixture
def server(harness):
    settings = harness.settings(api_keys=[KEY])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    uvicorn = make_server(create_app(settings, FakeRenderService(settings), shutdown_grace=0.3), "127.0.0.1", port)
    uvicorn.config.log_level = "warning"
    thread = threading.Thread(target=uvicorn.run, daemon=True)
    thread.start()

    def started() -> bool:
        assert thread.is_alive(), "uvicorn did not start"
        return uvicorn.started

    eventually(started, what="uvicorn to start")
    yield f"http://127.0.0.1:{port}"
    uvicorn.should_exit = True
    thread.join(10)


def test_a_generated_client_adds_a_style_renders_and_downloads(server, tmp_path, monkeypatch):
    if not Path(GENERATOR).is_file():
        pytest.skip("openapi-python-client is not installed (requirements-tools.txt)")
    # 1. Generate from the live document (public: no key needed to read it).
    (tmp_path / "openapi.json").write_text(httpx.get(f"{server}/openapi.json").text)
    generated = subprocess.run(
        [GENERATOR, "generate", "--path", "openapi.json", "--output-path", "s2r_client", "--meta", "none"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert (tmp_path / "s2r_client" / "client.py").is_file(), generated.stdout + generated.stderr
    assert "Cannot parse" not in generated.stdout + generated.stderr  # every operation came out whole
    monkeypatch.syspath_prepend(str(tmp_path))
    client_module = importlib.import_module("s2r_client")
    api = {name: importlib.import_module(f"s2r_client.api.{group}.{name}") for group, name in [
        ("styles", "styles_add"), ("renders", "renders_submit"), ("renders", "renders_get"),
        ("renders", "renders_image"), ("renders", "renders_list"), ("renders", "renders_cancel"),
        ("renders", "renders_control"),
    ]}  # fmt: skip
    models = importlib.import_module("s2r_client.models")
    types = importlib.import_module("s2r_client.types")
    client = client_module.AuthenticatedClient(base_url=server, token=KEY)
    # 2. Add a style: the image is a file parameter.
    style = api["styles_add"].sync(
        client=client,
        body=models.StyleForm(image=types.File(payload=BytesIO(colour_png("red")), file_name="red.png"), title="red"),
    )
    assert isinstance(style, models.StyleRecord) and style.title == "red"
    # 3. Submit a render with that style: the sketch is a file parameter, the fields are typed.
    form = models.RenderForm(
        sketch=types.File(payload=BytesIO(sketch_png()), file_name="sketch.png", mime_type="image/png"),
        prompt="a red house",
        steps=2,
        size=64,
        seed=3,
        style_ids=[style.id],
        style_mode=models.RenderFormStyleMode.FULL,
    )
    accepted = api["renders_submit"].sync(client=client, body=form)
    assert isinstance(accepted, models.JobAccepted), accepted
    # 4. Poll it.

    def ended() -> object:
        job = api["renders_get"].sync(client=client, job_id=accepted.id)
        return job if job.status in {models.JobStatus.SUCCEEDED, models.JobStatus.FAILED} else None

    job = eventually(ended, 20, 0.1, what=f"render {accepted.id} to end")
    assert job.status == models.JobStatus.SUCCEEDED and job.result.styles[0].style.id == style.id
    # 5. Download the image: bytes, a PNG.
    image = api["renders_image"].sync(client=client, job_id=accepted.id)
    assert isinstance(image, types.File) and image.payload.read().startswith(b"\x89PNG")
    control = api["renders_control"].sync(client=client, job_id=accepted.id)
    assert isinstance(control, types.File) and control.payload.read().startswith(b"\x89PNG")
    assert job.urls.control == f"/v1/renders/{accepted.id}/control"
    # 6. The list, and a refusal that comes back typed.
    listed = api["renders_list"].sync(client=client)
    assert [item.id for item in listed.items] == [accepted.id]
    refused = api["renders_cancel"].sync_detailed(client=client, job_id=accepted.id)
    assert refused.status_code == 409 and refused.parsed.error.code == "conflict"
    unauthorized = api["renders_list"].sync_detailed(client=client_module.Client(base_url=server))
    assert unauthorized.status_code == 401
