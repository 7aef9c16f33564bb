"""Model profiles: which weights a render uses and where they come from.

`resolve_models(settings)` turns `S2R_MODELS` (auto | sd15 | tiny | sd15-random | a folder) into a
`ModelSet`: the folder paths or hub ids that the renderer passes to `from_pretrained` /
`load_ip_adapter`. It never touches the network: hub ids count only when every needed file is
already in the local Hugging Face cache. `tiny` and `sd15-random` are random-weight stand-ins
that `stand_ins` builds locally, in the model-folder layout of `layout`.
Heavy imports (torch, diffusers, transformers, huggingface_hub) stay inside functions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from ..config import Settings
from ..errors import InvalidParameter, ModelsUnavailable
from .assets import hub_ids, optional_assets
from .cache import cache_state
from .layout import (
    BUILT_IP_ADAPTER,
    COMPONENTS,
    EXTRA_CONTROLNETS,
    EXTRAS,
    folder_paths,
    hf_cache_dir,
    missing_in_folder,
    read_marker,
)
from .stand_ins import build_sd15_random, build_tiny

PROFILES = ("auto", "sd15", "tiny", "sd15-random")
SMOKE_TEST_PROFILES = ("tiny", "sd15-random")

TINY_WARNING = (
    "Using the TINY smoke-test models (random weights): images will be noise, not renders. "
    "For real renders run `sketch2render models download` once (several GB; needs network), then restart; "
    "or set S2R_MODEL_DIR=/path/to/models."
)
SD15_RANDOM_WARNING = (
    "Using the SD15-RANDOM benchmark models (full-size SD 1.5 architecture, random weights): "
    "images will be noise; use this profile for speed and memory measurements only."
)


@dataclass(frozen=True)
class ModelSet:
    """Where each model of a render comes from. Paths or hub ids, ready for `from_pretrained`."""

    profile: str  # effective: "sd15" | "tiny" | "sd15-random" | "local"
    requested: str
    base: str
    controlnet: str
    ip_adapter: str  # for load_ip_adapter(ip_adapter, subfolder=..., weight_name=...)
    ip_adapter_subfolder: str
    ip_adapter_weight: str
    clip: str
    local_files_only: bool
    warning: str | None
    fingerprints: tuple[tuple[str, str], ...] = ()  # (component, sha256) of built folders
    variants: tuple[tuple[str, str], ...] = ()  # (component, "fp16") where the cache holds fp16 weights
    extras: tuple[tuple[str, str], ...] = ()  # (optional asset, folder or hub id) that are here
    missing_extras: tuple[tuple[str, str], ...] = ()  # (optional asset, why it cannot be used here)

    @property
    def control_types(self) -> tuple[str, ...]:
        """The control types this profile can render (canny always)."""
        return ("canny", *(name for name, _ in self.extras if name in EXTRA_CONTROLNETS))

    def has(self, name: str) -> bool:
        return name in dict(self.extras)

    def extra(self, name: str, what: str, field: str) -> str:
        """An optional asset's folder or hub id, or a ModelsUnavailable saying why and how to get it."""
        found = dict(self.extras).get(name)
        if found is None:
            why = dict(self.missing_extras).get(name, "this profile has none")
            raise ModelsUnavailable(f"the {what} is not available: {why}", field=field)
        return found

    def controlnet_for(self, kind: str) -> str:
        """The ControlNet of a control type, or a ModelsUnavailable saying why and how to get it."""
        return self.controlnet if kind == "canny" else self.extra(kind, f"{kind} ControlNet", "control")

    def controlnet_id(self, kind: str) -> str:
        """What a recipe names as the ControlNet of a render with this control type."""
        if kind == "canny":
            return self.ids()["controlnet"]
        self.controlnet_for(kind)  # unavailable: the error says why
        return self.extra_id(kind)

    def extra_id(self, name: str) -> str:
        """What a recipe names an optional asset: hub id, "<profile>:<hash>" or "local:<path>"."""
        source = dict(self.extras)[name]
        digest = dict(self.fingerprints).get(EXTRAS[name][0])
        if digest:
            return f"{self.profile}:{digest[:12]}"
        return f"local:{source}" if self.profile == "local" else source

    def variant(self, component: str) -> str | None:
        """diffusers' `variant` for loading a component ("fp16"), or None for the full weights."""
        return dict(self.variants).get(component)

    @property
    def smoke_test(self) -> bool:
        return self.profile in SMOKE_TEST_PROFILES

    def sources(self) -> dict[str, str]:
        """Each component's folder or hub id (the IP-Adapter as repo/subfolder/weight file)."""
        sub = f"{self.ip_adapter}/{self.ip_adapter_subfolder}".rstrip("/")
        return {
            "base": self.base,
            "controlnet": self.controlnet,
            "ip_adapter": f"{sub}/{self.ip_adapter_weight}",
            "image_encoder": f"{sub}/image_encoder",
            "clip": self.clip,
        }

    def ids(self) -> dict[str, str]:
        """Names of each model for render recipes: hub ids, "<profile>:<hash>" or "local:<path>"."""
        if self.fingerprints:
            digests = dict(self.fingerprints)
            return {name: f"{self.profile}:{digests[name][:12]}" for name in COMPONENTS if name in digests}
        if self.profile == "local":
            return {name: f"local:{value}" for name, value in self.sources().items()}
        return self.sources()


def resolve_models(settings: Settings, *, build: bool = True) -> ModelSet:
    """The models a render will use. `build=False` never builds a missing tiny folder (for `info`)."""
    requested = settings.models.strip()
    if requested == "tiny":
        return _built(settings, "tiny", requested, build)
    if requested == "sd15-random":
        return _built(settings, "sd15-random", requested, build)
    if requested == "sd15":
        return _resolve_sd15(settings, requested)
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
    if profile != "local":  # our builds always use the h94 layout, whatever the overrides say
        settings = settings.model_copy(update=BUILT_IP_ADAPTER)
    missing = missing_in_folder(root, settings)
    if missing:
        raise ModelsUnavailable(f"Model folder {root} is incomplete; missing: {', '.join(missing)}", field="models")
    warning = {"tiny": TINY_WARNING, "sd15-random": SD15_RANDOM_WARNING}.get(profile)
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
        (build_tiny if profile == "tiny" else build_sd15_random)(directory)
    elif read_marker(directory) is None:
        return _unbuilt(settings, profile, requested, directory)
    return _from_folder(directory, settings, requested)


def _unbuilt(settings: Settings, profile: str, requested: str, directory: Path) -> ModelSet:
    warning = TINY_WARNING if profile == "tiny" else SD15_RANDOM_WARNING
    return ModelSet(
        profile=profile,
        requested=requested,
        **folder_paths(directory),
        **BUILT_IP_ADAPTER,
        local_files_only=True,
        warning=f"{warning} (not built yet: {directory})",
        extras=tuple((name, str(directory / folder)) for name, (folder, _) in EXTRAS.items()),
    )
