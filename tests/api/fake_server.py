"""`python tests/api/fake_server.py PORT`: the real app under uvicorn (`api.server.make_server`, as
`sketch2render serve` runs it) on the fake render service, settings from `S2R_*`. For tests that
need a real server process (kill -9) without loading models. `FAKE_STEP_DELAY` slows each step."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1])]  # `api.fakes`, `fakes`

from api.fakes import FakeRenderService  # noqa: E402
from sketch2render.api import create_app  # noqa: E402
from sketch2render.api.server import check_bind, make_server  # noqa: E402
from sketch2render.config import Settings  # noqa: E402


def main(port: int) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = Settings()
    check_bind(settings, "127.0.0.1")
    service = FakeRenderService(settings, step_delay=float(os.environ.get("FAKE_STEP_DELAY", "0")))
    make_server(create_app(settings, service, shutdown_grace=1.0), "127.0.0.1", port, log_level="info").run()


if __name__ == "__main__":
    main(int(sys.argv[1]))
