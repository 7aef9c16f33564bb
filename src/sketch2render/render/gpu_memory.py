"""A CUDA out-of-memory during a render, an edit or an upscale's tile, as the user's error: the
allocator's cache is emptied (the next, smaller request may fit) and `OutOfMemory` (503) says what
ran out and what to try. Any other error passes unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import OutOfMemory


def is_oom(exc: BaseException) -> bool:
    """A CUDA out-of-memory (some kernels raise it as a plain RuntimeError saying so)."""
    import torch

    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


@contextmanager
def out_of_memory_as_error(what: str, hint: str) -> Iterator[None]:
    """Run GPU work; an out-of-memory leaves as `OutOfMemory("the GPU ran out of memory {what}; {hint}")`."""
    import torch

    try:
        yield
    except (RuntimeError, torch.cuda.OutOfMemoryError) as exc:
        if not is_oom(exc):
            raise
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        raise OutOfMemory(f"the GPU ran out of memory {what}; {hint}") from exc
