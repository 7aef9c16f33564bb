"""Which weights a render uses (profiles), where they lie (layout), the local stand-ins (built
here, for tests and benchmarks), and the device they run on."""

from .device import resolve_device
from .info import model_info
from .model_set import SMOKE_TEST_PROFILES, ModelSet
from .profiles import PROFILES, family_of_profile, requested_profiles, resolve_models
from .served import ServedFamilies, ServedFamily, resolve_served
from .stand_ins import (
    build_klein_random,
    build_sd15_random,
    build_sdxl_random,
    build_tiny,
    build_tiny_klein,
    build_tiny_sdxl,
)

__all__ = [
    "PROFILES",
    "SMOKE_TEST_PROFILES",
    "ModelSet",
    "ServedFamilies",
    "ServedFamily",
    "build_klein_random",
    "build_sd15_random",
    "build_sdxl_random",
    "build_tiny",
    "build_tiny_klein",
    "build_tiny_sdxl",
    "family_of_profile",
    "requested_profiles",
    "resolve_served",
    "model_info",
    "resolve_device",
    "resolve_models",
]
