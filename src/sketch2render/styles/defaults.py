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


BUNDLED_MARKER = "bundled-styles-imported"


def import_bundled_once(
    library: StyleLibrary, marker_dir: Path, progress: Callable[[int, int, Path], None] | None = None
) -> int:
    """A data folder's first use: the bundled styles go into an empty library, once. A marker
    remembers it, so a library its owner emptied on purpose stays empty. Returns how many were added."""
    marker = marker_dir / BUNDLED_MARKER
    if marker.exists():
        return 0
    added = import_defaults(library, progress)[0] if len(library) == 0 else 0
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"{added} bundled styles imported\n")
    return added
