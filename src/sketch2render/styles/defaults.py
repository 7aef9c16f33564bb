"""The public-domain styles bundled with the package (with their licenses), and manifests."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from ..schemas import StyleMeta
from .library import StyleLibrary


def load_manifest(folder: Path) -> list[tuple[Path, StyleMeta]]:
    """Read a folder's manifest.json (file, title, creator, year, license, source, tags, description)."""
    entries = json.loads((folder / "manifest.json").read_text())
    items = []
    for entry in entries:
        fields = {k: entry[k] for k in StyleMeta.model_fields if k in entry}
        items.append((folder / entry["file"], StyleMeta(**fields)))
    return items


def default_styles_dir() -> Path:
    """The 21 public-domain style images shipped with the package (with their licenses)."""
    return Path(__file__).parent.parent / "data" / "styles"


def import_defaults(library: StyleLibrary, progress: Callable[[int, int, Path], None] | None = None) -> tuple[int, int]:
    """Add the bundled styles; idempotent. Returns (added, already present)."""
    results = library.add_files(load_manifest(default_styles_dir()), progress)
    added = sum(created for _, created in results)
    return added, len(results) - added
