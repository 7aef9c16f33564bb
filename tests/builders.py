"""Settings for tests, built one way: `make_settings(home, models, **overrides)`."""

from __future__ import annotations

from pathlib import Path

from sketch2render.config import Settings


def make_settings(home: Path | None = None, models: Path | str | None = None, **overrides: object) -> Settings:
    """Settings with `home` (else the default home) and, given `models` (a model folder such as the
    session's tiny models, `tiny_models_dir`, or a profile name), those models on the CPU;
    `overrides` win over both."""
    values: dict[str, object] = {} if home is None else {"home": home}
    if models is not None:
        values.update(models=str(models), device="cpu")
    return Settings(**{**values, **overrides})
