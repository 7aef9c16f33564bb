"""Fixtures for the scale-out tests: a Chroma server child process and a small local Ray
instance, each torn down by a finalizer even when a test fails. Every test in this folder is
marked `ray` (deselect them with `-m "not ray"`)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sketch2render.scale.chroma_server import ChromaServer

# Before anything imports ray: Serve's handle threads in this process still tick after
# ray.shutdown() and must not start a fresh Ray instance that nobody shuts down.
os.environ.setdefault("RAY_ENABLE_AUTO_CONNECT", "0")


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.ray)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    """Settings come from the test, never from the developer's S2R_* environment."""
    for name in list(os.environ):
        if name.startswith("S2R_"):
            monkeypatch.delenv(name)


@pytest.fixture
def chroma_url(tmp_path: Path) -> Iterator[str]:
    """A fresh Chroma server for one test (about a second to start)."""
    server = ChromaServer(tmp_path / "chroma-server")
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def module_chroma(tmp_path_factory) -> Iterator[str]:
    server = ChromaServer(tmp_path_factory.mktemp("chroma") / "server")
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """A new local Ray instance sized for a 2-core machine; Serve and Ray shut down at the end."""
    import ray
    from ray import serve

    with pytest.MonkeyPatch.context() as env:
        for name in list(os.environ):  # replicas inherit this process's environment
            if name.startswith("S2R_"):
                env.delenv(name)
        ray.init(
            address="local",
            num_cpus=2,
            include_dashboard=False,
            object_store_memory=150 * 1024 * 1024,
            log_to_driver=False,
        )
        try:
            serve.start(proxy_location="Disabled")
            yield
        finally:
            try:
                serve.shutdown()
            finally:
                ray.shutdown()
