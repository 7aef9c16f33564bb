"""What the API needs of a render backend, as a Protocol: the loaded `RenderService`, the
styles-only service of `S2R_BACKEND=ray` (scale/ray_backend.py) and the test stand-ins all are one.

The routes use only this: the style library (styles, style ids), the search over it (search,
feedback), the model set (which
ControlNets exist; None for a stand-in without one, which then takes every control type) and the
model info (`/readyz`, the startup log). Rendering itself is the job worker's (jobs/executor.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ..models import ModelSet
    from ..retrieval import HybridSearch
    from ..styles import StyleLibrary


@runtime_checkable
class RenderBackend(Protocol):
    """A loaded backend: its style library and the search over it, its model set and its model info."""

    @property
    def library(self) -> StyleLibrary: ...

    @property
    def search(self) -> HybridSearch: ...

    @property
    def models(self) -> ModelSet | None: ...

    def info(self) -> dict[str, Any]:
        """`profile`, `smoke_test`, `warning`, `device` and `models` (the ids)."""
        ...
