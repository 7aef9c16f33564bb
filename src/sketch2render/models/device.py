"""Which torch device renders and embeddings run on (`S2R_DEVICE`: auto | cpu | cuda)."""

from __future__ import annotations

from ..config import Settings
from ..errors import ModelsUnavailable


def resolve_device(settings: Settings) -> str:
    """`cuda` when asked for (an error if this torch build sees no GPU) or, with `auto`, when present."""
    import torch  # only when someone asks which device to use

    if settings.device == "cuda" and not torch.cuda.is_available():
        raise ModelsUnavailable("S2R_DEVICE=cuda but this torch build sees no CUDA GPU; use auto or cpu")
    if settings.device != "auto":
        return settings.device
    return "cuda" if torch.cuda.is_available() else "cpu"
