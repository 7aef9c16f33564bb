"""sketch2render: sketch + a few words -> a render that keeps your geometry and takes a retrieved
style's look. Library first; the CLI (`sketch2render.cli`) and the HTTP API (`sketch2render.api`)
are wrappers over this:

    from sketch2render import RenderParams, Settings, build_service, save_render

    service = build_service(Settings())              # resolves and loads the models
    result = service.render(open("chair.png", "rb").read(), RenderParams(prompt="gold ornamental"))
    save_render(result, Path("out"))                 # out/render.png carries its recipe

The names below load on first use, so `import sketch2render` stays light (the web UI imports
this package and must not pull in torch). The data flow: docs/architecture.md.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from .version import __version__

_EXPORTS = {
    "Settings": "config",
    "S2RError": "errors",
    "RenderParams": "schemas",
    "RenderRecipe": "schemas",
    "StyleHit": "schemas",
    "StyleMeta": "schemas",
    "StyleRecord": "schemas",
    "ModelSet": "models",
    "resolve_models": "models",
    "build_tiny": "models",
    "StyleLibrary": "styles",
    "CLIPEmbeddings": "styles",
    "build_library": "styles",
    "HybridSearch": "retrieval",
    "build_search": "retrieval",
    "import_defaults": "styles",
    "RenderService": "render",
    "RenderResult": "render",
    "build_service": "render",
    "save_render": "render",
    "read_recipe": "render",
}

__all__ = [
    "__version__",
    "Settings",
    "S2RError",
    "RenderParams",
    "RenderRecipe",
    "StyleHit",
    "StyleMeta",
    "StyleRecord",
    "ModelSet",
    "resolve_models",
    "build_tiny",
    "StyleLibrary",
    "CLIPEmbeddings",
    "build_library",
    "HybridSearch",
    "build_search",
    "import_defaults",
    "RenderService",
    "RenderResult",
    "build_service",
    "save_render",
    "read_recipe",
]

if TYPE_CHECKING:
    from .config import Settings
    from .errors import S2RError
    from .models import ModelSet, build_tiny, resolve_models
    from .render import RenderResult, RenderService, build_service, read_recipe, save_render
    from .retrieval import HybridSearch, build_search
    from .schemas import RenderParams, RenderRecipe, StyleHit, StyleMeta, StyleRecord
    from .styles import CLIPEmbeddings, StyleLibrary, build_library, import_defaults


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sketch2render' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
