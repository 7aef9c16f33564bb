"""Rendering: the diffusers pipeline (`renderer`), the LCEL chain of typed steps (`pipeline`),
quality scores and auto-balance, the one owner of output files (`outputs`), the service the CLI,
the API and the Ray replicas call (`service`), and batch evaluation (`evaluate`, `report`)."""

from .outputs import SavedRender, png_with_recipe, read_recipe, save_render
from .pipeline import build_chain
from .result import RenderResult
from .service import RenderService, build_service
from .stages import RenderRequest

__all__ = [
    "RenderRequest",
    "RenderResult",
    "RenderService",
    "SavedRender",
    "build_chain",
    "build_service",
    "png_with_recipe",
    "read_recipe",
    "save_render",
]
