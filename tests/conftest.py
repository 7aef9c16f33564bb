"""Shared fixtures. The tiny models are built once per test session and reused by every test."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sketch2render.config import Settings


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model folder (SD 1.5 layout, random weights), built once per session (~5 s)."""
    from sketch2render.models import build_tiny

    return build_tiny(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture
def make_settings(tmp_path: Path, tiny_models_dir: Path) -> Callable[..., Settings]:
    """`make_settings(**overrides)`: Settings with home=tmp_path and the session's tiny models."""

    def make(**overrides) -> Settings:
        values = {"home": tmp_path, "models": str(tiny_models_dir), "device": "cpu", **overrides}
        return Settings(**values)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()
