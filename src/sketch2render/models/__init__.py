"""Which weights a render uses (profiles), where they lie (layout), the local stand-ins (built
here, for tests and benchmarks), and the device they run on."""

from .device import resolve_device
from .info import model_info
from .profiles import PROFILES, SMOKE_TEST_PROFILES, ModelSet, resolve_models
from .stand_ins import build_klein_random, build_sd15_random, build_tiny, build_tiny_klein

__all__ = [
    "PROFILES",
    "SMOKE_TEST_PROFILES",
    "ModelSet",
    "build_klein_random",
    "build_sd15_random",
    "build_tiny",
    "build_tiny_klein",
    "model_info",
    "resolve_device",
    "resolve_models",
]
