"""Which hub assets a real-weights profile has (`profile_assets`: sd15, sdxl, klein), what of them is already
in the local Hugging Face cache (or in a local folder that a setting points at), and which weight
variant each asset can load. Never touches the network."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..config import Settings
from ..errors import InvalidParameter
from .assets import FEATURES, Asset, optional_assets, sd15_assets
from .assets_klein import klein_assets
from .assets_sdxl import SDXL_FEATURES, sdxl_assets
from .layout import hf_cache_dir

# The profiles whose weights come from the hub (the others are built locally).
HUB_PROFILES = ("sd15", "sdxl", "klein")

REPO_SETTINGS = {
    "base": "S2R_BASE_MODEL",
    "controlnet": "S2R_CONTROLNET_MODEL",
    "ip_adapter": "S2R_IP_ADAPTER_REPO",
    "clip": "S2R_CLIP_MODEL",
    "lineart": "S2R_CONTROLNET_LINEART_MODEL",
    "scribble": "S2R_CONTROLNET_SCRIBBLE_MODEL",
    "softedge": "S2R_CONTROLNET_SOFTEDGE_MODEL",
    "lcm_lora": "S2R_LCM_LORA_MODEL",
    "taesd": "S2R_TAESD_MODEL",
    "sdxl_base": "S2R_SDXL_BASE",
}


@dataclass(frozen=True)
class ProfileAssets:
    """A real-weights profile's hub assets: what every render needs, what only some features need, and
    the `--with` feature names (feature -> its optional assets)."""

    profile: str
    required: list[Asset]
    optional: list[Asset]
    features: dict[str, tuple[str, ...]]

    @property
    def all(self) -> list[Asset]:
        return [*self.required, *self.optional]


def profile_assets(settings: Settings, profile: str = "sd15") -> ProfileAssets:
    """The assets of a real-weights profile (sd15, sdxl with S2R_SDXL_BASE as its base, klein)."""
    if profile == "sdxl":
        assets = sdxl_assets(settings, repos={"sdxl_base": settings.sdxl_base})
        required = [a for a in assets if not a.optional]
        return ProfileAssets("sdxl", required, [a for a in assets if a.optional], dict(SDXL_FEATURES))
    if profile == "sd15":
        return ProfileAssets("sd15", sd15_assets(settings), optional_assets(settings), dict(FEATURES))
    if profile == "klein":  # one repo holds the whole pipeline: nothing optional
        return ProfileAssets("klein", klein_assets(settings), [], {})
    raise InvalidParameter(
        f"{profile!r} has no weights on the hub; real-weights profiles: {', '.join(HUB_PROFILES)}", field="profile"
    )


@dataclass
class CacheState:
    missing: dict[str, list[str]] = field(default_factory=dict)  # repo -> files not there
    variants: dict[str, str | None] = field(default_factory=dict)  # asset -> "fp16" or None (full)
    total_files: int = 0

    @property
    def complete(self) -> bool:
        return not self.missing


def cached_file(repo: str, filename: str) -> Path | None:
    """The local path of one file of a repo (a local folder, or the hub cache), or None."""
    folder = Path(repo).expanduser()
    if folder.is_dir():
        path = folder / filename
        return path if path.is_file() else None
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo, filename, cache_dir=hf_cache_dir())
    return Path(found) if isinstance(found, str) else None


def _variant(asset: Asset, present: dict[str, bool]) -> str | None:
    """fp16 when every weight of the asset that has an fp16 copy is cached as that copy."""
    swaps = asset.fp16_swaps()
    if swaps and all(present[half] for half in swaps.values()):
        return "fp16"
    return None


def cache_state(settings: Settings, assets: list[Asset] | None = None) -> CacheState:
    state = CacheState()
    for asset in assets if assets is not None else sd15_assets(settings):
        names = set(asset.files) | set(asset.files_for("fp16"))
        try:
            present = {f: cached_file(asset.repo, f) is not None for f in names}
        except ValueError as exc:  # huggingface_hub's HFValidationError: not a repo id either
            raise InvalidParameter(
                f"{REPO_SETTINGS.get(asset.name, asset.name)}={asset.repo!r} is neither an existing folder nor a "
                f"hub id ({str(exc).splitlines()[0]})",
                field=asset.name,
            ) from None
        variant = _variant(asset, present)
        absent = [f for f in asset.files_for(variant) if not present[f]]
        state.variants[asset.name] = variant
        state.total_files += len(asset.files)
        if absent:
            state.missing[asset.repo] = absent
    return state
