"""The FLUX.2 [klein] profiles' model sets: a klein model folder (layout_klein.py: ours, built by the
stand-ins, or a local copy of the real repo) and the real 4B weights from the Hugging Face cache
(`klein`, Apache-2.0; assets_klein.py). A klein set has no ControlNet and no IP-Adapter: `base` is the
whole pipeline folder (or hub id), loaded by `Flux2KleinPipeline.from_pretrained`. Never touches the network."""

from __future__ import annotations

from pathlib import Path

from ..config import Settings
from ..errors import ModelsUnavailable
from .assets_klein import KLEIN_REPO, KLEIN_TEXT_SHARDS, klein_assets
from .cache import cache_state
from .layout import hf_cache_dir
from .layout_klein import KLEIN_FAMILY, klein_folder_paths, missing_in_klein_folder
from .model_set import ModelSet


def klein_set(root: Path | None, requested: str, profile: str, **fields) -> ModelSet:
    """A klein ModelSet: a folder (`root`) or, with `base=`/`clip=` in `fields`, hub ids."""
    paths = klein_folder_paths(root) if root is not None else {"pipeline": "", "clip": ""}
    values = {
        "profile": profile,
        "requested": requested,
        "base": paths["pipeline"],
        "controlnet": "",
        "ip_adapter": "",
        "ip_adapter_subfolder": "",
        "ip_adapter_weight": "",
        "clip": paths["clip"],
        "local_files_only": True,
        "warning": None,
        "family": KLEIN_FAMILY,
    }
    return ModelSet(**{**values, **fields})


def klein_from_folder(root: Path, requested: str, profile: str, marker: dict, warning: str | None) -> ModelSet:
    """A complete klein model folder (one text-encoder file, or the published two shards)."""
    missing = missing_in_klein_folder(root, 1)
    if missing and missing_in_klein_folder(root, KLEIN_TEXT_SHARDS):
        raise ModelsUnavailable(
            f"klein model folder {root} is incomplete; missing: {', '.join(missing)}", field="models"
        )
    if not (root / "clip").is_dir():
        raise ModelsUnavailable(f"klein model folder {root} has no clip/ (the retrieval CLIP)", field="models")
    fingerprints = tuple(sorted(marker.get("fingerprints", {}).items())) if profile != "local" else ()
    return klein_set(root, requested, profile, warning=warning, fingerprints=fingerprints)


def resolve_klein(settings: Settings, requested: str) -> ModelSet:
    """The real FLUX.2 [klein] 4B weights from the Hugging Face cache: every file must be there."""
    assets = klein_assets(settings)
    state = cache_state(settings, assets)
    if not state.complete:
        count = sum(len(files) for files in state.missing.values())
        raise ModelsUnavailable(
            f"The klein weights are not available offline: {count} of {state.total_files} files are not in the "
            f"Hugging Face cache {hf_cache_dir()} (missing from {', '.join(state.missing)}). Run "
            f"`sketch2render models download --profile klein` once (needs network; {KLEIN_REPO}, Apache-2.0, ~16 GB).",
            field="models",
        )
    repos = {a.name: a.repo for a in assets}
    return klein_set(None, requested, "klein", base=repos["klein"], clip=repos["clip"])
