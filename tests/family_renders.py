"""What the family tests (test_sdxl_family.py, test_klein_family.py) share: a render service on
several profiles with a small style library, the render parameters they vary, and how they read
a result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from builders import make_settings
from PIL import Image

from sketch2render.render import RenderService, build_service
from sketch2render.schemas import RenderParams, StyleMeta

SKETCH = (Path(__file__).parents[1] / "src/sketch2render/data/sketches/chiriqui_fig76_vase.png").read_bytes()


def service_with_styles(home: Path, models: str, styles: list[tuple[str, list[str]]]) -> RenderService:
    """A service on `models` (comma-separated profiles or folders) whose library holds `styles`
    (title, tags), each a random picture from one seeded generator."""
    service = build_service(make_settings(home, models))
    rng = np.random.default_rng(0)
    for title, tags in styles:
        pixels = rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)
        service.library.add_image(Image.fromarray(pixels), StyleMeta(title=title, tags=tags))
    return service


def params(**overrides) -> RenderParams:
    """A small, seeded render of the night-sky prompt; an override of None leaves that field out."""
    values = {"prompt": "swirling night sky", "steps": 2, "size": 64, "seed": 7, **overrides}
    return RenderParams(**{k: v for k, v in values.items() if v is not None})


def pixels(result) -> np.ndarray:
    return np.asarray(result.images[0], dtype=np.int16)


def ids(service: RenderService) -> dict[str, str]:
    return {r.title: r.id for r in service.library.list()}
