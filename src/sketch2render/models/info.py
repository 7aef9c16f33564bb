"""`sketch2render models info`: which models a render would use, where they lie, how big they are,
and which real-weights assets (repo, files, licence, what needs each) are in the Hugging Face cache.
With several `S2R_MODELS` profiles (one per family) it covers each: `families` lists one entry per
profile, and the top-level keys describe the first (the default family), as before families.
Builds nothing, downloads nothing."""

from __future__ import annotations

from pathlib import Path

from ..config import Settings
from ..errors import InvalidParameter, ModelsUnavailable
from .assets import Asset
from .cache import cache_state, cached_file, profile_assets
from .device import resolve_device
from .layout import cached_repo_dir, hf_cache_dir
from .profiles import ModelSet, family_of_profile, requested_profiles, resolve_models
from .sentence import sentence_model_info

# The real-weights profile whose hub assets a family's profiles are listed with.
HUB_PROFILE = {"sd15": "sd15", "sdxl": "sdxl", "klein": "klein"}
PER_PROFILE = ("profile", "family", "smoke_test", "local_files_only", "warning", "components", "assets", "error")


def _disk_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def model_info(settings: Settings, profile: str | None = None) -> dict:
    """What `sketch2render models info` prints: `profile`, or every profile of S2R_MODELS."""
    info: dict = {
        "requested": profile or settings.models,
        "models_dir": str(settings.models_dir),
        "model_dir": str(settings.model_dir) if settings.model_dir else None,
        "hf_cache": str(hf_cache_dir()),
        "device": resolve_device(settings),
        "sentence_model": sentence_model_info(settings),  # real weights in every profile
    }
    try:
        names = [profile] if profile else requested_profiles(settings)
    except InvalidParameter as exc:
        return {**info, "profile": None, "smoke_test": None, "warning": None, "error": exc.to_dict(), "families": []}
    entries = [profile_info(settings, name) for name in names]
    first = {key: value for key, value in entries[0].items() if key in PER_PROFILE}
    return {**info, **first, "families": entries}


def profile_info(settings: Settings, requested: str) -> dict:
    """One profile: its family, its hub assets, and (when it resolves) its components on disk."""
    family = family_of_profile(requested)
    entry: dict = {"requested": requested, "family": family}
    try:
        entry["assets"] = asset_rows(settings, HUB_PROFILE.get(family, "sd15"))
        models = resolve_models(settings, build=False, profile=requested)
    except (InvalidParameter, ModelsUnavailable) as exc:
        return {**entry, "profile": None, "smoke_test": None, "warning": None, "error": exc.to_dict()}
    components = {}
    for name, path in _local_paths(models).items():
        exists = path is not None and path.exists()
        components[name] = {
            "source": models.sources()[name],
            "id": models.ids().get(name, models.sources()[name]),
            "path": str(path) if path else None,
            "exists": exists,
            "bytes": _disk_bytes(path) if exists else 0,
        }
    return {
        **entry,
        "profile": models.profile,
        "family": models.family,
        "smoke_test": models.smoke_test,
        "local_files_only": models.local_files_only,
        "warning": models.warning,
        "components": components,
    }


def _local_paths(models: ModelSet) -> dict[str, Path | None]:
    """Where each component lies on disk: its folder, or its snapshot in the hub cache."""

    def local(source: str) -> Path | None:
        return Path(source) if Path(source).is_absolute() else cached_repo_dir(source)

    ip_root = local(models.ip_adapter)
    ip_sub = ip_root / models.ip_adapter_subfolder if ip_root is not None else None
    if models.image_encoder_folder:
        encoder = ip_root / models.image_encoder_folder if ip_root is not None else None
    else:
        encoder = ip_sub / "image_encoder" if ip_sub is not None else None
    return {
        "base": local(models.base),
        "controlnet": local(models.controlnet),
        "ip_adapter": ip_sub / models.ip_adapter_weight if ip_sub is not None else None,
        "image_encoder": encoder,
        "clip": local(models.clip),
        **({"vae": local(models.vae)} if models.vae else {}),
    }


def _asset_row(asset: Asset, variant: str | None, missing: list[str]) -> dict:
    files = asset.files_for(variant)
    paths = [p for p in (cached_file(asset.repo, f) for f in files) if p is not None]
    return {
        "asset": asset.name,
        "repo": asset.repo,
        "files": list(files),
        "licence": asset.licence or None,
        "needed_by": asset.needed_by,
        "optional": asset.optional,
        "variant": variant or "full",
        "present": not missing,
        "missing": missing,
        "bytes": sum(p.resolve().stat().st_size for p in paths),
    }


def asset_rows(settings: Settings, profile: str = "sd15") -> list[dict]:
    """One row per hub asset of a real-weights profile: present in the cache (every file) or not, its size."""
    assets = profile_assets(settings, profile).all
    state = cache_state(settings, assets)
    return [_asset_row(a, state.variants.get(a.name), state.missing.get(a.repo, [])) for a in assets]
