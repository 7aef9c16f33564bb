"""The SDXL profiles' model sets: a model folder in SDXL's layout (layout_sdxl.py: ours, built by the
stand-ins, or a local copy of the real weights), and the real weights from the Hugging Face cache
(`sdxl`, with `S2R_SDXL_BASE` replacing the base checkpoint). Never touches the network."""

from __future__ import annotations

from pathlib import Path

from ..config import Settings
from ..errors import ModelsUnavailable
from .cache import cache_state, profile_assets
from .layout import hf_cache_dir
from .layout_sdxl import SDXL_EXTRAS, SDXL_FOLDERS, SDXL_IP_ADAPTER, sdxl_missing_in_folder
from .model_set import ModelSet

# The ModelSet component (and extra) each sdxl hub asset becomes.
_COMPONENTS = {
    "sdxl_base": "base",
    "sdxl_vae": "vae",
    "sdxl_controlnet": "controlnet",
    "sdxl_ip_adapter": "ip_adapter",
    "clip": "clip",
    "lightning_lora": "lightning_lora",
    "taesdxl": "taesd",
}


def sdxl_set(root: Path, requested: str, profile: str, **fields) -> ModelSet:
    """An SDXL model folder's ModelSet (every optional part assumed there unless `fields` say otherwise)."""
    paths = {name: str(root / folder) for name, folder in SDXL_FOLDERS.items()}
    values = {
        "profile": profile,
        "requested": requested,
        "base": paths["base"],
        "controlnet": paths["controlnet"],
        "ip_adapter": paths["ip_adapter"],
        "ip_adapter_subfolder": SDXL_IP_ADAPTER["subfolder"],
        "ip_adapter_weight": SDXL_IP_ADAPTER["weight_name"],
        "image_encoder_folder": SDXL_IP_ADAPTER["image_encoder_folder"],
        "vae": paths["vae"],
        "clip": paths["clip"],
        "local_files_only": True,
        "warning": None,
        "family": "sdxl",
        "extras": tuple((name, str(root / folder)) for name, (folder, _) in SDXL_EXTRAS.items()),
    }
    return ModelSet(**{**values, **fields})


def sdxl_from_folder(root: Path, requested: str, profile: str, marker: dict, warning: str | None) -> ModelSet:
    """A complete SDXL model folder, with the optional parts it has and why the others are missing."""
    missing = sdxl_missing_in_folder(root)
    if missing:
        raise ModelsUnavailable(
            f"SDXL model folder {root} is incomplete; missing: {', '.join(missing)}", field="models"
        )
    found, absent = [], []
    for name, (folder_name, files) in SDXL_EXTRAS.items():
        if all((root / folder_name / f).is_file() for f in files):
            found.append((name, str(root / folder_name)))
        else:
            absent.append((name, f"{root} has no {folder_name}/ ({', '.join(files)})"))
    fingerprints = tuple(sorted(marker.get("fingerprints", {}).items())) if profile != "local" else ()
    return sdxl_set(
        root,
        requested,
        profile,
        warning=warning,
        fingerprints=fingerprints,
        extras=tuple(found),
        missing_extras=tuple(absent),
    )


def resolve_sdxl(settings: Settings, requested: str) -> ModelSet:
    """The real SDXL weights from the Hugging Face cache (or `S2R_SDXL_BASE` as a folder): every
    required file must be there; the optional assets (few-step LoRA, TAESDXL) count when complete."""
    assets = profile_assets(settings, "sdxl")
    state = cache_state(settings, assets.required)
    if not state.complete:
        count = sum(len(files) for files in state.missing.values())
        raise ModelsUnavailable(
            f"The sdxl weights are not available offline: {count} of {state.total_files} files are not in the "
            f"Hugging Face cache {hf_cache_dir()} (missing from {', '.join(state.missing)}). Run "
            "`sketch2render models download --profile sdxl` once (needs network) to fetch them.",
            field="models",
        )
    extra_state = cache_state(settings, assets.optional)
    repos = {_COMPONENTS[a.name]: a.repo for a in assets.all}
    variants = {**state.variants, **extra_state.variants}
    return sdxl_set(
        Path(),
        requested,
        "sdxl",
        base=repos["base"],
        controlnet=repos["controlnet"],
        ip_adapter=repos["ip_adapter"],
        vae=repos["vae"],
        clip=repos["clip"],
        variants=tuple((_COMPONENTS[name], v) for name, v in variants.items() if v),
        extras=tuple((_COMPONENTS[a.name], a.repo) for a in assets.optional if a.repo not in extra_state.missing),
        missing_extras=tuple(
            (
                _COMPONENTS[a.name],
                f"{a.repo} is not in the Hugging Face cache; run `sketch2render models download --profile sdxl "
                f"--with {a.name}`",
            )
            for a in assets.optional
            if a.repo in extra_state.missing
        ),
    )
