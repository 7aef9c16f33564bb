"""Model profiles: which weights a render uses and where they come from.

`resolve_models(settings)` turns the first profile of `S2R_MODELS` (auto | sd15 | tiny | sd15-random | sdxl |
tiny-sdxl | sdxl-random | a folder; several comma-separated, one per family: served.py) into a
`ModelSet`: the folder paths or hub ids that the renderer passes to `from_pretrained` /
`load_ip_adapter`; `profile=` names another. It never touches the network: hub ids count only when every needed file is
already in the local Hugging Face cache. `tiny` and `sd15-random` are random-weight stand-ins
that `stand_ins` builds locally, in the model-folder layout of `layout`.
Heavy imports (torch, diffusers, transformers, huggingface_hub) stay inside functions.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

from ..config import Settings
from ..errors import InvalidParameter, ModelsUnavailable
from .assets import hub_ids, optional_assets
from .cache import cache_state
from .layout import (
    BUILT_IP_ADAPTER,
    EXTRAS,
    folder_paths,
    hf_cache_dir,
    missing_in_folder,
    read_marker,
)
from .model_set import SMOKE_TEST_PROFILES, ModelSet
from .profiles_klein import klein_from_folder, klein_set, resolve_klein
from .profiles_sdxl import resolve_sdxl, sdxl_from_folder, sdxl_set
from .stand_ins import (
    build_klein_random,
    build_sd15_random,
    build_sdxl_random,
    build_tiny,
    build_tiny_klein,
    build_tiny_sdxl,
)

PROFILES = (
    "auto",
    "sd15",
    "tiny",
    "sd15-random",
    "sdxl",
    "tiny-sdxl",
    "sdxl-random",
    "klein",
    "tiny-klein",
    "klein-random",
)
# The family of each named profile (a folder's family is in its marker, or read from its base pipeline).
PROFILE_FAMILIES = {
    "auto": "sd15",
    "sd15": "sd15",
    "tiny": "sd15",
    "sd15-random": "sd15",
    "sdxl": "sdxl",
    "tiny-sdxl": "sdxl",
    "sdxl-random": "sdxl",
    "klein": "klein",
    "tiny-klein": "klein",
    "klein-random": "klein",
}
BUILDERS = {
    "tiny": build_tiny,
    "sd15-random": build_sd15_random,
    "tiny-sdxl": build_tiny_sdxl,
    "sdxl-random": build_sdxl_random,
    "tiny-klein": build_tiny_klein,
    "klein-random": build_klein_random,
}

TINY_WARNING = (
    "Using the TINY smoke-test models (random weights): images will be noise, not renders. "
    "For real renders run `sketch2render models download` once (several GB; needs network), then restart; "
    "or set S2R_MODEL_DIR=/path/to/models."
)
SD15_RANDOM_WARNING = (
    "Using the SD15-RANDOM benchmark models (full-size SD 1.5 architecture, random weights): "
    "images will be noise; use this profile for speed and memory measurements only."
)
TINY_SDXL_WARNING = (
    "Using the TINY-SDXL smoke-test models (random weights, SDXL's layout): images will be noise, not renders. "
    "For real SDXL renders run `sketch2render models download --profile sdxl` once (needs network)."
)
SDXL_RANDOM_WARNING = (
    "Using the SDXL-RANDOM benchmark models (full-size SDXL + union ControlNet + IP-Adapter Plus, random "
    "weights): images will be noise; use this profile for speed and memory measurements only."
)
TINY_KLEIN_WARNING = (
    "Using the TINY-KLEIN smoke-test models (random weights, FLUX.2 [klein]'s layout): images will be noise, "
    "not renders. For real klein renders run `sketch2render models download --profile klein` once (needs network)."
)
KLEIN_RANDOM_WARNING = (
    "Using the KLEIN-RANDOM benchmark models (full-size FLUX.2 [klein] 4B architecture, random weights): "
    "images will be noise; use this profile for speed and memory measurements only."
)
WARNINGS = {
    "tiny": TINY_WARNING,
    "sd15-random": SD15_RANDOM_WARNING,
    "tiny-sdxl": TINY_SDXL_WARNING,
    "sdxl-random": SDXL_RANDOM_WARNING,
    "tiny-klein": TINY_KLEIN_WARNING,
    "klein-random": KLEIN_RANDOM_WARNING,
}


def requested_profiles(settings: Settings) -> list[str]:
    """The profiles `S2R_MODELS` names, in order (comma-separated; blanks and repeats dropped)."""
    names = list(dict.fromkeys(part.strip() for part in settings.models.split(",") if part.strip()))
    if not names:
        raise InvalidParameter("S2R_MODELS is empty: name a profile (e.g. auto, sd15, sdxl)", field="models")
    return names


def family_of_profile(requested: str) -> str:
    """The family a profile or model folder belongs to (its marker says, else its base pipeline's class)."""
    if requested in PROFILE_FAMILIES:
        return PROFILE_FAMILIES[requested]
    folder = Path(requested).expanduser()
    marker = read_marker(folder) or {}
    if marker.get("family"):
        return str(marker["family"])
    if '"Flux2Klein' in _read(folder / "model_index.json"):
        return "klein"
    try:
        index = json.loads((folder / "base" / "model_index.json").read_text())
    except (OSError, ValueError):
        return "sd15"
    return "sdxl" if "XL" in str(index.get("_class_name", "")) else "sd15"


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def resolve_models(settings: Settings, *, build: bool = True, profile: str | None = None) -> ModelSet:
    """The models a render will use: `profile`, or the first of `S2R_MODELS`. `build=False` never
    builds a missing stand-in folder (for `info`)."""
    requested = (profile or requested_profiles(settings)[0]).strip()
    if requested in BUILDERS:
        return _built(settings, requested, requested, build)
    if requested == "sd15":
        return _resolve_sd15(settings, requested)
    if requested == "sdxl":
        return resolve_sdxl(settings, requested)
    if requested == "klein":
        return resolve_klein(settings, requested)
    if requested == "auto":
        reason = None if settings.model_dir is not None else _sd15_missing_reason(settings)
        if reason is None:
            return _resolve_sd15(settings, requested)
        tiny = _built(settings, "tiny", requested, build)
        return replace(tiny, warning=f"No real weights found ({reason}). {TINY_WARNING}")
    folder = Path(requested).expanduser()
    if folder.is_dir():
        return _from_folder(folder, settings, requested)
    if os.sep in requested or requested.startswith((".", "~")):
        raise ModelsUnavailable(f"S2R_MODELS={requested!r}: no such model folder", field="models")
    raise InvalidParameter(
        f"S2R_MODELS={requested!r} is not one of {', '.join(PROFILES)} or an existing model folder",
        field="models",
    )


DOWNLOAD_HINT = "Run `sketch2render models download` once (needs network) to fetch them into the cache."


def _sd15_missing_reason(settings: Settings) -> str | None:
    """Why the sd15 weights cannot be used offline, or None when every file is in the cache."""
    state = cache_state(settings)
    if state.complete:
        return None
    count = sum(len(files) for files in state.missing.values())
    total = state.total_files
    what = "none of the sd15 weights are" if count == total else f"{count} of {total} sd15 files are not"
    return f"{what} in the Hugging Face cache {hf_cache_dir()}"


def _resolve_sd15(settings: Settings, requested: str) -> ModelSet:
    if settings.model_dir is not None:
        # An explicit S2R_MODEL_DIR is never silently replaced by the tiny models.
        return _from_folder(settings.model_dir, settings, requested)
    reason = _sd15_missing_reason(settings)
    if reason is not None:
        repos = ", ".join(cache_state(settings).missing)
        raise ModelsUnavailable(
            f"The sd15 weights are not available offline: {reason} (missing from {repos}). {DOWNLOAD_HINT} "
            "Or set S2R_MODEL_DIR to a folder with base/ controlnet/ ip-adapter/ clip/.",
            field="models",
        )
    ids = hub_ids(settings)
    variants = cache_state(settings).variants
    extra = optional_assets(settings)
    extra_state = cache_state(settings, extra)
    variants.update(extra_state.variants)
    available = [a for a in extra if a.repo not in extra_state.missing]
    missing = [
        (a.name, f"{a.repo} is not in the Hugging Face cache; run `sketch2render models download --with {a.name}`")
        for a in extra
        if a.repo in extra_state.missing
    ]
    return ModelSet(
        profile="sd15",
        requested=requested,
        base=ids["base"],
        controlnet=ids["controlnet"],
        ip_adapter=ids["ip_adapter"],
        ip_adapter_subfolder=settings.ip_adapter_subfolder,
        ip_adapter_weight=settings.ip_adapter_weight,
        clip=ids["clip"],
        local_files_only=True,
        warning=None,
        variants=tuple((name, v) for name, v in variants.items() if v),
        extras=tuple((a.name, a.repo) for a in available),
        missing_extras=tuple(missing),
    )


def _from_folder(root: Path, settings: Settings, requested: str) -> ModelSet:
    """A model folder (ours or a user's). A folder we built keeps its profile and its warning."""
    root = root.expanduser().resolve()
    if not root.is_dir():
        raise ModelsUnavailable(f"Model folder {root} does not exist", field="models")
    marker = read_marker(root) or {}
    profile = marker.get("profile") if marker.get("profile") in SMOKE_TEST_PROFILES else "local"
    family = family_of_profile(str(root))
    if family == "sdxl":
        return sdxl_from_folder(root, requested, profile, marker, WARNINGS.get(profile))
    if family == "klein":
        return klein_from_folder(root, requested, profile, marker, WARNINGS.get(profile))
    if profile != "local":  # our builds always use the h94 layout, whatever the overrides say
        settings = settings.model_copy(update=BUILT_IP_ADAPTER)
    missing = missing_in_folder(root, settings)
    if missing:
        raise ModelsUnavailable(f"Model folder {root} is incomplete; missing: {', '.join(missing)}", field="models")
    warning = WARNINGS.get(profile)
    fingerprints = tuple(sorted(marker.get("fingerprints", {}).items())) if profile != "local" else ()
    extras, missing_extras = _folder_extras(root)
    return ModelSet(
        profile=profile,
        requested=requested,
        **folder_paths(root),
        ip_adapter_subfolder=settings.ip_adapter_subfolder,
        ip_adapter_weight=settings.ip_adapter_weight,
        local_files_only=True,
        warning=warning,
        fingerprints=fingerprints,
        extras=extras,
        missing_extras=missing_extras,
    )


def _folder_extras(root: Path) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    """The optional parts a model folder has (controlnet-<type>/, lcm-lora/, taesd/), and why the
    others are missing."""
    found, missing = [], []
    for name, (folder_name, files) in EXTRAS.items():
        folder = root / folder_name
        if all((folder / f).is_file() for f in files):
            found.append((name, str(folder)))
        else:
            missing.append((name, f"{root} has no {folder_name}/ ({', '.join(files)})"))
    return tuple(found), tuple(missing)


def _built(settings: Settings, profile: str, requested: str, build: bool) -> ModelSet:
    directory = settings.models_dir / profile
    if build:
        BUILDERS[profile](directory)
    elif read_marker(directory) is None:
        return _unbuilt(settings, profile, requested, directory)
    return _from_folder(directory, settings, requested)


def _unbuilt(settings: Settings, profile: str, requested: str, directory: Path) -> ModelSet:
    warning = f"{WARNINGS[profile]} (not built yet: {directory})"
    if PROFILE_FAMILIES[profile] == "sdxl":
        return sdxl_set(directory, requested, profile, warning=warning)
    if PROFILE_FAMILIES[profile] == "klein":
        return klein_set(directory, requested, profile, warning=warning)
    return ModelSet(
        profile=profile,
        requested=requested,
        **folder_paths(directory),
        **BUILT_IP_ADAPTER,
        local_files_only=True,
        warning=warning,
        extras=tuple((name, str(directory / folder)) for name, (folder, _) in EXTRAS.items()),
    )
