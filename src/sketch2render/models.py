"""Model profiles: which weights a render uses, where they lie, and the local stand-ins.

`resolve_models(settings)` turns `S2R_MODELS` (auto | sd15 | tiny | sd15-random | a folder) into a
`ModelSet`: the folder paths or hub ids that `generation` passes to `from_pretrained` /
`load_ip_adapter`. It never touches the network: hub ids count only when every needed file is
already in the local Hugging Face cache. `build_tiny` / `build_sd15_random` write random-weight
stand-ins in the same "model folder" layout as a user's local copy of the real weights:

    base/  controlnet/  ip-adapter/<subfolder>/<weight>  ip-adapter/<subfolder>/image_encoder/
    clip/  s2r-models.json (marker, written last)

Left out: building the stand-ins (model_builder.py), loading the pipeline (generation.py) and the
retrieval embeddings (embeddings.py).
Heavy imports (torch, diffusers, transformers, huggingface_hub) stay inside functions.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

from sketch2render.config import Settings
from sketch2render.errors import InvalidParameter, ModelsUnavailable

PROFILES = ("auto", "sd15", "tiny", "sd15-random")
SMOKE_TEST_PROFILES = ("tiny", "sd15-random")
MARKER = "s2r-models.json"
FOLDERS = {"base": "base", "controlnet": "controlnet", "ip_adapter": "ip-adapter", "clip": "clip"}
# What render recipes name (and caches key on): the folders above plus the IP-Adapter's image encoder.
COMPONENTS = ("base", "controlnet", "ip_adapter", "image_encoder", "clip")
# The scheduler written into built folders: the usual fast choice for ControlNet on SD 1.5.
SCHEDULER = "UniPCMultistepScheduler"

TINY_WARNING = (
    "Using the TINY smoke-test models (random weights): images will be noise, not renders. "
    "Set S2R_MODELS=sd15 (weights in the Hugging Face cache) or S2R_MODEL_DIR=/path/to/models "
    "for real renders."
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
            return {name: f"{self.profile}:{digest[:12]}" for name, digest in self.fingerprints}
        if self.profile == "local":
            return {name: f"local:{value}" for name, value in self.sources().items()}
        return self.sources()


# --------------------------------------------------------------------------- what must exist


def required_files(settings: Settings) -> dict[str, tuple[str, ...]]:
    """Files each component needs, relative to its folder (or its hub repository root)."""
    sub = settings.ip_adapter_subfolder.strip("/")
    return {
        "base": (
            "model_index.json",
            "scheduler/scheduler_config.json",
            "text_encoder/config.json",
            "text_encoder/model.safetensors",
            "tokenizer/merges.txt",
            "tokenizer/vocab.json",
            "unet/config.json",
            "unet/diffusion_pytorch_model.safetensors",
            "vae/config.json",
            "vae/diffusion_pytorch_model.safetensors",
        ),
        "controlnet": ("config.json", "diffusion_pytorch_model.safetensors"),
        "ip_adapter": (
            f"{sub}/{settings.ip_adapter_weight}",
            f"{sub}/image_encoder/config.json",
            f"{sub}/image_encoder/model.safetensors",
        ),
        "clip": ("config.json", "model.safetensors", "merges.txt", "vocab.json", "preprocessor_config.json"),
    }


def _hub_ids(settings: Settings) -> dict[str, str]:
    return {
        "base": settings.base_model,
        "controlnet": settings.controlnet_model,
        "ip_adapter": settings.ip_adapter_repo,
        "clip": settings.clip_model,
    }


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache, read from the environment now (not at import time)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HUGGINGFACE_HUB_CACHE"):
        return Path(os.environ["HUGGINGFACE_HUB_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(os.environ.get("HF_HOME") or Path(xdg) / "huggingface").expanduser() / "hub"


def _missing_in_cache(settings: Settings) -> dict[str, list[str]]:
    from huggingface_hub import try_to_load_from_cache

    cache = hf_cache_dir()
    missing: dict[str, list[str]] = {}
    for name, files in required_files(settings).items():
        repo = _hub_ids(settings)[name]
        if Path(repo).expanduser().is_dir():  # an override pointing at a local copy of one model
            absent = [f for f in files if not (Path(repo).expanduser() / f).is_file()]
        else:
            try:
                absent = [f for f in files if not isinstance(try_to_load_from_cache(repo, f, cache_dir=cache), str)]
            except ValueError as exc:  # huggingface_hub's HFValidationError: not a repo id either
                setting = {"base": "BASE_MODEL", "controlnet": "CONTROLNET_MODEL", "ip_adapter": "IP_ADAPTER_REPO"}
                raise InvalidParameter(
                    f"S2R_{setting.get(name, 'CLIP_MODEL')}={repo!r} is neither an existing folder nor a hub id "
                    f"({str(exc).splitlines()[0]})",
                    field=name,
                ) from None
        if absent:
            missing[repo] = absent
    return missing


def _download_hint(missing: dict[str, list[str]]) -> str:
    lines = [f"  hf download {repo} {' '.join(files)}" for repo, files in missing.items()]
    return "Download them once (needs network), e.g.:\n" + "\n".join(lines)


def _missing_in_folder(root: Path, settings: Settings) -> list[str]:
    return [
        f"{FOLDERS[name]}/{f}"
        for name, files in required_files(settings).items()
        for f in files
        if not (root / FOLDERS[name] / f).is_file()
    ]


def read_marker(root: Path) -> dict | None:
    try:
        return json.loads((root / MARKER).read_text())
    except (OSError, ValueError):
        return None


# --------------------------------------------------------------------------- resolution


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
        try:
            return _resolve_sd15(settings, requested)
        except _NotCached as exc:
            tiny = _built(settings, "tiny", requested, build)
            warning = f"No real weights found ({exc.reason}). {TINY_WARNING}"
            return replace(tiny, warning=warning)
    folder = Path(requested).expanduser()
    if folder.is_dir():
        return _from_folder(folder, settings, requested)
    if os.sep in requested or requested.startswith((".", "~")):
        raise ModelsUnavailable(f"S2R_MODELS={requested!r}: no such model folder", field="models")
    raise InvalidParameter(
        f"S2R_MODELS={requested!r} is not one of {', '.join(PROFILES)} or an existing model folder",
        field="models",
    )


class _NotCached(ModelsUnavailable):
    def __init__(self, message: str, reason: str):
        super().__init__(message, field="models")
        self.reason = reason


def _resolve_sd15(settings: Settings, requested: str) -> ModelSet:
    if settings.model_dir is not None:
        # An explicit S2R_MODEL_DIR is never silently replaced by the tiny models.
        return _from_folder(settings.model_dir, settings, requested)
    missing = _missing_in_cache(settings)
    if missing:
        count = sum(len(files) for files in missing.values())
        total = sum(len(files) for files in required_files(settings).values())
        what = "none of the sd15 weights are" if count == total else f"{count} of {total} sd15 files are not"
        reason = f"{what} in the Hugging Face cache {hf_cache_dir()}"
        raise _NotCached(
            f"The sd15 weights are not available offline: {reason}.\n{_download_hint(missing)}\n"
            "or set S2R_MODEL_DIR to a folder with base/ controlnet/ ip-adapter/ clip/.",
            reason,
        )
    ids = _hub_ids(settings)
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
    )


def _from_folder(root: Path, settings: Settings, requested: str) -> ModelSet:
    """A model folder (ours or a user's). A folder we built keeps its profile and its warning."""
    root = root.expanduser().resolve()
    if not root.is_dir():
        raise ModelsUnavailable(f"Model folder {root} does not exist", field="models")
    marker = read_marker(root) or {}
    profile = marker.get("profile") if marker.get("profile") in SMOKE_TEST_PROFILES else "local"
    if profile != "local":  # our builds always use the h94 layout, whatever the overrides say
        settings = settings.model_copy(
            update={"ip_adapter_subfolder": "models", "ip_adapter_weight": "ip-adapter_sd15.safetensors"}
        )
    missing = _missing_in_folder(root, settings)
    if missing:
        raise ModelsUnavailable(f"Model folder {root} is incomplete; missing: {', '.join(missing)}", field="models")
    warning = {"tiny": TINY_WARNING, "sd15-random": SD15_RANDOM_WARNING}.get(profile)
    fingerprints = tuple(sorted(marker.get("fingerprints", {}).items())) if profile != "local" else ()
    return ModelSet(
        profile=profile,
        requested=requested,
        **_folder_paths(root),
        ip_adapter_subfolder=settings.ip_adapter_subfolder,
        ip_adapter_weight=settings.ip_adapter_weight,
        local_files_only=True,
        warning=warning,
        fingerprints=fingerprints,
    )


def _folder_paths(root: Path) -> dict[str, str]:
    """Where each model lies in a model folder (the layout in this module's docstring)."""
    return {name: str(root / folder) for name, folder in FOLDERS.items()}


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
        **_folder_paths(directory),
        ip_adapter_subfolder="models",
        ip_adapter_weight="ip-adapter_sd15.safetensors",
        local_files_only=True,
        warning=f"{warning} (not built yet: {directory})",
    )


# --------------------------------------------------------------------------- info


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
        "device": settings.resolved_device(),
    }
    try:
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
        return Path(source) if Path(source).is_absolute() else _cached_repo_dir(source)

    ip_root = local(models.ip_adapter)
    ip_sub = ip_root / models.ip_adapter_subfolder if ip_root is not None else None
    return {
        "base": local(models.base),
        "controlnet": local(models.controlnet),
        "ip_adapter": ip_sub / models.ip_adapter_weight if ip_sub is not None else None,
        "image_encoder": ip_sub / "image_encoder" if ip_sub is not None else None,
        "clip": local(models.clip),
    }


def _cached_repo_dir(repo_id: str) -> Path | None:
    """The cached snapshot folder of a hub repo (`refs/main`), if any."""
    repo = hf_cache_dir() / ("models--" + repo_id.replace("/", "--"))
    try:
        return repo / "snapshots" / (repo / "refs" / "main").read_text().strip()
    except OSError:
        return None


# --------------------------------------------------------------------------- builders (model_builder.py)


def build_tiny(directory: Path, *, force: bool = False) -> Path:
    """Build the tiny random smoke-test models (seconds, ~16 MB) into `directory`; idempotent."""
    from .model_builder import build_tiny as build

    return build(directory, force=force)


def build_sd15_random(directory: Path, *, force: bool = False) -> Path:
    """Build full-size SD 1.5 + ControlNet + IP-Adapter with random weights (~1 min, 4.2 GB)."""
    from .model_builder import build_sd15_random as build

    return build(directory, force=force)
