"""`sketch2render models info`: which models a render would use, where they lie, how big they are,
and which real-weights assets are in the Hugging Face cache. Builds nothing, downloads nothing."""

from __future__ import annotations

from pathlib import Path

from ..config import Settings
from ..errors import InvalidParameter, ModelsUnavailable
from .assets import Asset, optional_assets, sd15_assets
from .cache import cache_state, cached_file
from .device import resolve_device
from .layout import cached_repo_dir, hf_cache_dir
from .profiles import ModelSet, resolve_models
from .sentence import sentence_model_info


def _disk_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def model_info(settings: Settings) -> dict:
    """What `sketch2render models info` prints. Builds nothing, downloads nothing."""
    info: dict = {
        "requested": settings.models,
        "models_dir": str(settings.models_dir),
        "model_dir": str(settings.model_dir) if settings.model_dir else None,
        "hf_cache": str(hf_cache_dir()),
        "device": resolve_device(settings),
        "sentence_model": sentence_model_info(settings),  # real weights in every profile
    }
    try:
        info["assets"] = asset_rows(settings)
        models = resolve_models(settings, build=False)
    except (InvalidParameter, ModelsUnavailable) as exc:
        return {**info, "profile": None, "smoke_test": None, "warning": None, "error": exc.to_dict()}
    components = {}
    for name, path in _local_paths(models).items():
        exists = path is not None and path.exists()
        components[name] = {
            "source": models.sources()[name],
            "id": models.ids()[name],
            "path": str(path) if path else None,
            "exists": exists,
            "bytes": _disk_bytes(path) if exists else 0,
        }
    return {
        **info,
        "profile": models.profile,
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
    return {
        "base": local(models.base),
        "controlnet": local(models.controlnet),
        "ip_adapter": ip_sub / models.ip_adapter_weight if ip_sub is not None else None,
        "image_encoder": ip_sub / "image_encoder" if ip_sub is not None else None,
        "clip": local(models.clip),
    }


def _asset_row(asset: Asset, variant: str | None, missing: list[str]) -> dict:
    files = asset.files_for(variant)
    paths = [p for p in (cached_file(asset.repo, f) for f in files) if p is not None]
    return {
        "asset": asset.name,
        "repo": asset.repo,
        "needed_by": asset.needed_by,
        "optional": asset.optional,
        "variant": variant or "full",
        "present": not missing,
        "missing": missing,
        "bytes": sum(p.resolve().stat().st_size for p in paths),
    }


def asset_rows(settings: Settings) -> list[dict]:
    """One row per real-weights asset: present in the cache (every file) or not, and its size."""
    assets = [*sd15_assets(settings), *optional_assets(settings)]
    state = cache_state(settings, assets)
    return [_asset_row(a, state.variants.get(a.name), state.missing.get(a.repo, [])) for a in assets]
