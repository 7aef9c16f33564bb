"""The SDXL profiles' model sets: a model folder in SDXL's layout (layout_sdxl.py: ours, built by the
stand-ins, or a local copy of the real weights), and the real weights from the Hugging Face cache
(`sdxl`, with `S2R_SDXL_BASE` replacing the base checkpoint). Never touches the network."""

from __future__ import annotations

from pathlib import Path

from ..config import Settings
from ..errors import ModelsUnavailable
from .assets_sdxl import sdxl_assets
from .cache import cache_state
from .layout_sdxl import SDXL_EXTRAS, SDXL_FOLDERS, SDXL_IP_ADAPTER, sdxl_missing_in_folder
from .model_set import ModelSet


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


# An asset of the sdxl profile -> the ModelSet part (or optional extra) it fills.
_PARTS = {"sdxl_base": "base", "sdxl_vae": "vae", "sdxl_controlnet": "controlnet", "sdxl_ip_adapter": "ip_adapter"}
_EXTRAS = {"lightning_lora": "lightning_lora", "taesdxl": "taesd"}
DOWNLOAD_COMMAND = "sketch2render models download --profile sdxl"
DOWNLOAD_HINT = "Run `sketch2render models download --profile sdxl` once (needs network) to fetch them."


def resolve_sdxl(settings: Settings, requested: str) -> ModelSet:
    """The real SDXL weights from the Hugging Face cache, the base from `S2R_SDXL_BASE` (a hub id or a
    folder in diffusers layout: a fine-tune replaces SDXL base 1.0 there)."""
    assets = sdxl_assets(settings, {"sdxl_base": settings.sdxl_base})
    required = [a for a in assets if not a.optional]
    state = cache_state(settings, required)
    if state.missing:
        count = sum(len(files) for files in state.missing.values())
        raise ModelsUnavailable(
            f"The sdxl weights are not available offline: {count} files are missing "
            f"(from {', '.join(state.missing)}). {DOWNLOAD_HINT}",
            field="models",
        )
    optional = [a for a in assets if a.optional]
    extra_state = cache_state(settings, optional)
    repo = {a.name: a.repo for a in assets}
    variants = {**state.variants, **extra_state.variants}
    return ModelSet(
        profile="sdxl",
        requested=requested,
        base=repo["sdxl_base"],
        controlnet=repo["sdxl_controlnet"],
        ip_adapter=repo["sdxl_ip_adapter"],
        ip_adapter_subfolder=SDXL_IP_ADAPTER["subfolder"],
        ip_adapter_weight=SDXL_IP_ADAPTER["weight_name"],
        image_encoder_folder=SDXL_IP_ADAPTER["image_encoder_folder"],
        vae=repo["sdxl_vae"],
        clip=repo["clip"],
        local_files_only=True,
        warning=None,
        family="sdxl",
        variants=tuple((_PARTS.get(name, name), v) for name, v in variants.items() if v),
        extras=tuple((_EXTRAS[a.name], a.repo) for a in optional if a.repo not in extra_state.missing),
        missing_extras=tuple(
            (_EXTRAS[a.name], f"{a.repo} is not in the Hugging Face cache; run `{DOWNLOAD_COMMAND} --with {a.name}`")
            for a in optional
            if a.repo in extra_state.missing
        ),
    )
