"""`python tests/api/fake_server.py PORT`: the real app under uvicorn (`api.server.make_server`, as
`sketch2render serve` runs it) on the fake render service, settings from `S2R_*`. For tests that
need a real server process (kill -9) without loading models. `FAKE_STEP_DELAY` slows each step.

With `S2R_CHROMA_URL` the style library lives on that Chroma server (as the real build puts it),
so several such processes on one data folder share it; `FAKE_LEARNING=1` gives the search the
learned lists (corrections, from the feedback store `S2R_DATABASE_URL` or the data folder names)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1])]  # `api.fakes`, `fakes`

from fakes import FakeEmbeddings  # noqa: E402

from api.fakes import FakeRenderService  # noqa: E402
from sketch2render.api import create_app  # noqa: E402
from sketch2render.api.server import check_bind, make_server  # noqa: E402
from sketch2render.config import Settings  # noqa: E402
from sketch2render.retrieval.learning import build_learning  # noqa: E402
from sketch2render.styles import StyleLibrary, build_chroma_client  # noqa: E402
from sketch2render.styles.blobs import ChromaBlobs  # noqa: E402
from sketch2render.styles.collections import COLLECTIONS_FILE  # noqa: E402


def fake_service(settings: Settings) -> FakeRenderService:
    library = None
    if settings.chroma_url:
        client = build_chroma_client(settings.chroma_url)
        collections = settings.store_url(settings.styles_dir / COLLECTIONS_FILE)
        library = StyleLibrary(
            settings.styles_dir, FakeEmbeddings(), client=client, blobs=ChromaBlobs(client), collections_url=collections
        )
    service = FakeRenderService(settings, library=library, step_delay=float(os.environ.get("FAKE_STEP_DELAY", "0")))
    if os.environ.get("FAKE_LEARNING"):
        service.search.learning = build_learning(settings)
    return service


def main(port: int) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = Settings()
    check_bind(settings, "127.0.0.1")
    service = fake_service(settings)
    make_server(create_app(settings, service, shutdown_grace=1.0), "127.0.0.1", port, log_level="info").run()


if __name__ == "__main__":
    main(int(sys.argv[1]))
