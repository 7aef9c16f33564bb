"""Build the local stand-in model folders: `tiny`, `tiny-sdxl` and `tiny-klein` (tests, CI),
`sd15-random`, `sdxl-random` and `klein-random` (benchmarks).

Random weights with each family's block layout (the tiny ones) or its full shapes (the -random ones),
written in the model-folder layout (`layout.py`, `layout_sdxl.py`; klein: the real hub repo's,
`layout_klein.py`) into a temporary sibling folder that is renamed into place only when complete,
with the marker (profile, family, versions, fingerprints) written last. Deterministic: fixed seeds
give byte-identical files. The networks: `components.py`, `components_sdxl.py`, `components_klein.py`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ..errors import ModelsUnavailable
from .components import write_models
from .layout import EXTRAS, FOLDERS, LAYOUT_VERSION, MARKER, SCHEDULER, read_marker
from .layout_klein import KLEIN_FAMILY, KLEIN_FOLDERS, KLEIN_SCHEDULER
from .layout_sdxl import SDXL_EXTRAS, SDXL_FAMILY, SDXL_FOLDERS, SDXL_IP_ADAPTER
from .library_logs import quieted
from .shapes import SD15_RANDOM, TINY, Shapes
from .shapes_klein import KLEIN_RANDOM, TINY_KLEIN, KleinShapes
from .shapes_sdxl import SDXL_RANDOM, TINY_SDXL, SdxlShapes


def build_tiny(directory: Path, *, force: bool = False) -> Path:
    """Tiny random models with the SD 1.5 block layout (~16 MB, ~4 s). Same bytes every build."""
    return _build(Path(directory), "tiny", TINY, force=force)


def build_sd15_random(directory: Path, *, force: bool = False) -> Path:
    """Full-size SD 1.5 architecture with random weights (fp16 on disk), for benchmarks."""
    return _build(Path(directory), "sd15-random", SD15_RANDOM, force=force)


def build_tiny_sdxl(directory: Path, *, force: bool = False) -> Path:
    """Tiny random models with SDXL's layouts (two text encoders, union ControlNet, IP-Adapter
    Plus, few-step LoRA, tiny autoencoder). Same bytes every build."""
    return _build(Path(directory), "tiny-sdxl", TINY_SDXL, force=force, family=SDXL_FAMILY)


def build_sdxl_random(directory: Path, *, force: bool = False) -> Path:
    """Full-size SDXL + union ControlNet + IP-Adapter Plus with random weights (fp16, ~10 GB)."""
    return _build(Path(directory), "sdxl-random", SDXL_RANDOM, force=force, family=SDXL_FAMILY)


def build_tiny_klein(directory: Path, *, force: bool = False) -> Path:
    """Tiny random FLUX.2 [klein] folder in the real repo's layout (~2 MB, ~3 s). Same bytes every build."""
    return _build(Path(directory), "tiny-klein", TINY_KLEIN, force=force, family=KLEIN_FAMILY)


def build_klein_random(directory: Path, *, force: bool = False) -> Path:
    """FLUX.2 [klein] 4B architecture with random weights (bf16 on disk, ~16 GB), for GPU benchmarks."""
    return _build(Path(directory), "klein-random", KLEIN_RANDOM, force=force, family=KLEIN_FAMILY)


def _writer(family: str | None) -> Callable[[Path, Shapes | SdxlShapes | KleinShapes], None]:
    if family == SDXL_FAMILY:
        from .write_sdxl import write_sdxl_models

        return write_sdxl_models
    if family == KLEIN_FAMILY:
        from .components_klein import write_klein_models

        return write_klein_models
    return write_models  # looked up now: tests replace it


def _build(
    directory: Path, profile: str, shapes: Shapes | SdxlShapes | KleinShapes, *, force: bool, family: str | None = None
) -> Path:
    """Build into a temporary sibling and rename it into place only when complete."""
    directory = directory.expanduser().absolute()
    marker = read_marker(directory)
    outdated = marker is not None and marker.get("layout", 1) < LAYOUT_VERSION  # built by an older version
    if marker is not None and not force and not outdated:
        return directory
    force = force or outdated
    if directory.is_dir() and any(directory.iterdir()) and marker is None:
        raise ModelsUnavailable(
            f"{directory} exists and is not a model folder built by sketch2render; remove it or choose another folder"
        )
    directory.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_builds(directory)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.building-", dir=directory.parent))
    try:
        with quieted():
            _writer(family)(tmp, shapes)
        _write_marker(tmp, profile, family)
        os.chmod(tmp, 0o755)
        _move_into_place(tmp, directory, force=force)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return directory


def _move_into_place(tmp: Path, directory: Path, *, force: bool) -> None:
    old = None
    if force and read_marker(directory) is not None:
        old = directory.with_name(f".{directory.name}.old-{os.getpid()}-{time.time_ns()}")
        try:
            os.rename(directory, old)
        except FileNotFoundError:
            old = None
    try:
        os.rename(tmp, directory)  # atomic; fails if another process finished first
    except OSError:
        if read_marker(directory) is None:
            raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def _remove_stale_builds(directory: Path, max_age_s: float = 6 * 3600) -> None:
    """Leftovers of builds that crashed (a killed process cannot clean up after itself)."""
    for pattern in (f".{directory.name}.building-*", f".{directory.name}.old-*"):
        for stale in directory.parent.glob(pattern):
            if time.time() - stale.stat().st_mtime > max_age_s:
                shutil.rmtree(stale, ignore_errors=True)


def _fingerprinted(family: str | None) -> tuple[dict[str, str], dict[str, str]]:
    """The folders a marker fingerprints, as name -> folder: those always there, then the optional."""
    if family == SDXL_FAMILY:
        encoder = f"{SDXL_FOLDERS['ip_adapter']}/{SDXL_IP_ADAPTER['image_encoder_folder']}"
        return {**SDXL_FOLDERS, "image_encoder": encoder}, {folder: folder for folder, _ in SDXL_EXTRAS.values()}
    if family == KLEIN_FAMILY:
        return {folder: folder for folder in KLEIN_FOLDERS}, {}
    return {**FOLDERS, "image_encoder": "ip-adapter/models/image_encoder"}, {
        folder: folder for folder, _ in EXTRAS.values()
    }


def _write_marker(root: Path, profile: str, family: str | None = None) -> None:
    import diffusers
    import safetensors
    import torch
    import transformers

    required, optional = _fingerprinted(family)
    marker = {
        "profile": profile,
        **({"family": family} if family else {}),
        "layout": LAYOUT_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "scheduler": {SDXL_FAMILY: "EulerDiscreteScheduler", KLEIN_FAMILY: KLEIN_SCHEDULER}.get(
            family or "", SCHEDULER
        ),
        "versions": {
            "torch": torch.__version__,
            "diffusers": diffusers.__version__,
            "transformers": transformers.__version__,
            "safetensors": safetensors.__version__,
        },
        "fingerprints": {
            **{name: _fingerprint(root / folder) for name, folder in required.items()},
            **{name: _fingerprint(root / folder) for name, folder in optional.items() if (root / folder).is_dir()},
        },
    }
    (root / MARKER).write_text(json.dumps(marker, indent=2) + "\n")


def _fingerprint(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(folder).as_posix()}\0{path.stat().st_size}\0".encode())
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()
