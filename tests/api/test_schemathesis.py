"""Property-based run of every operation in /openapi.json on the fake service, with an API key
set: no 5xx, responses conform to the documented status codes, schemas, content types and
headers, and every operation refuses a request without the key. 20 examples per operation.

Schemathesis binds operations to the app when the test is collected, so the app object exists at
import; nothing starts until the first request (its lifespan), and the fake service is handed
to it by the module fixture. Not checked: "schema-valid request rejected" (a schema cannot say which
bytes decode as a sketch, or that control_start must be below control_end) and "schema-violating
request accepted" (unknown query parameters are ignored, as most HTTP APIs do; and the negative
cases that drop the Authorization header get it back from the headers given here)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from api.fakes import FakeRenderService
from sketch2render.api import create_app
from sketch2render.config import Settings

KEY = "schemathesis-key"
HOME = Path(tempfile.mkdtemp(prefix="s2r-schemathesis-"))
SETTINGS = Settings(home=HOME, api_keys=[KEY], queue_max=10_000)  # a full queue (503 readyz) is tested elsewhere
APP = create_app(SETTINGS, shutdown_grace=0.5)
schema = schemathesis.openapi.from_dict(APP.openapi())
schema.app = APP


@pytest.fixture(scope="module", autouse=True)
def _fake_service():
    APP.state.runtime.service = FakeRenderService(SETTINGS)  # instead of loading models
    yield
    shutdown_lifespans()
    shutil.rmtree(HOME, ignore_errors=True)


@schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms(case):
    case.call_and_validate(
        headers={"Authorization": f"Bearer {KEY}"},
        excluded_checks=[positive_data_acceptance, negative_data_rejection],
    )
