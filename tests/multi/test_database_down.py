"""PostgreSQL going away under a running API (its own throw-away server, stopped and started
again): requests that need the database answer 503 `database_unavailable` with Retry-After and
`/readyz` is 503, so a load balancer stops sending work; once the server is back the same app
serves the old job, renders a new one and hears job events again, without a restart."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api.conftest import TERMINAL, assert_error, submit, wait_for
from api.fakes import FakeRenderService
from builders import make_settings
from fastapi.testclient import TestClient
from postgres import PostgresServer, find_binaries
from waiting import eventually

from sketch2render.api import create_app

pytestmark = pytest.mark.slow


@pytest.fixture
def own_server() -> Iterator[PostgresServer]:
    bindir = find_binaries()
    assert bindir is not None, "PostgreSQL's server binaries are missing: `make setup` installs Debian's postgresql"
    server = PostgresServer(bindir).start()
    yield server
    server.stop()


def test_a_database_outage_is_a_503_and_the_app_comes_back_by_itself(own_server, tmp_path):
    settings = make_settings(tmp_path / "home", database_url=own_server.new_database())
    with TestClient(create_app(settings, FakeRenderService(settings), shutdown_grace=1.0)) as client:
        runtime = client.app.state.runtime
        # its quality scores come after it succeeded (deferred): wait for them, so the job is final
        done = wait_for(
            client, submit(client).json()["id"], lambda job: job["status"] in TERMINAL and not job["scores_pending"]
        )
        assert done["status"] == "succeeded" and client.get("/readyz").status_code == 200
        assert runtime.bridge is not None and runtime.bridge.listening.is_set()

        own_server.pause()
        for response in (client.get(f"/v1/renders/{done['id']}"), submit(client), client.get("/v1/styles")):
            error = assert_error(response, 503, "database_unavailable")  # from the key check or the route alike
            assert "database" in error["message"] and response.headers["retry-after"] == "5"
        assert client.get("/readyz").status_code == 503

        own_server.resume()
        eventually(lambda: client.get("/readyz").status_code == 200, 30, 0.2, what="/readyz 200 again")
        assert client.get(f"/v1/renders/{done['id']}").json() == done
        assert wait_for(client, submit(client, seed="8").json()["id"])["status"] == "succeeded"
        eventually(runtime.bridge.listening.is_set, 30, 0.2, what="the event listener to listen again")
