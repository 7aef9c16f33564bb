"""diffusers pipelines that know where they run.

Every pipeline call asks `_execution_device`, which walks every submodule of every component looking
for offloading hooks: once per call, and again from `encode_prompt`. Without offloading the answer
never changes, so `pinned(cls)` is `cls` with that answer fixed by `pin(pipe, device)`; with
offloading, or with `S2R_CACHES=off` (caches.py), there is no pin and it asks diffusers as before.
The class keeps its name, its loading code and everything else.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import torch
    from diffusers import DiffusionPipeline

P = TypeVar("P", bound="type[DiffusionPipeline]")


class _Pinned:
    _pinned_device: torch.device | None = None

    @property
    def _execution_device(self) -> torch.device:
        if self._pinned_device is not None:
            return self._pinned_device
        return super()._execution_device  # type: ignore[misc]  # offloading: the hooks know


@cache
def pinned(cls: P) -> P:
    """`cls` (a diffusers pipeline class) whose execution device `pin` can fix."""
    return type(cls.__name__, (_Pinned, cls), {"__module__": cls.__module__, "__doc__": cls.__doc__})


def pin(pipe: DiffusionPipeline, device: str | None) -> None:
    """Fix the execution device of a `pinned` pipeline (None: ask diffusers, as with offloading)."""
    import torch

    pipe._pinned_device = torch.device(device) if device is not None else None
