"""A perceptual fingerprint of a style image, to spot near duplicates (a resized, re-encoded or slightly
cropped copy of a style already in the library).

The fingerprint is a 64-bit DCT hash (pHash: the signs of the lowest 8×8 DCT frequencies of a 32×32
grey thumbnail against their median), computed with numpy, plus the image's mean colour (the hash sees
only grey levels: two pictures of one layout in other colours are different styles). Two fingerprints
are near when their hashes differ in at most `MAX_BITS` bits and their mean colours are close. A flat
image (almost no contrast) has no structure to hash: its fingerprint never matches anything.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image

from ..schemas import StyleRecord

SIDE = 32
LOW = 8
MAX_BITS = 10  # of 64: a re-encode differs by 0-4, a 2.5 % crop by 0-10, unrelated pictures by 12 or more
MAX_COLOUR = 24.0  # mean-colour distance (0-255 per channel, Euclidean)
MIN_CONTRAST = 4.0  # grey standard deviation below which an image counts as flat


@dataclass(frozen=True)
class Fingerprint:
    hash: int  # 64 bits
    colour: tuple[float, float, float]
    flat: bool

    def text(self) -> str:
        """How a record stores it: 16 hex digits, the mean colour, `f` when flat."""
        r, g, b = self.colour
        return f"{self.hash:016x}:{r:.0f},{g:.0f},{b:.0f}{':f' if self.flat else ''}"

    @classmethod
    def parse(cls, text: str) -> Fingerprint | None:
        try:
            parts = text.split(":")
            r, g, b = (float(v) for v in parts[1].split(","))
            return cls(int(parts[0], 16), (r, g, b), len(parts) > 2 and parts[2] == "f")
        except (ValueError, IndexError):
            return None

    def distance(self, other: Fingerprint) -> int:
        return (self.hash ^ other.hash).bit_count()

    def near(self, other: Fingerprint) -> bool:
        if self.flat or other.flat or self.distance(other) > MAX_BITS:  # the cheap test first
            return False
        return sum((a - b) ** 2 for a, b in zip(self.colour, other.colour, strict=True)) <= MAX_COLOUR**2


@cache
def _dct_matrix(n: int = SIDE) -> np.ndarray:
    k = np.arange(n)[:, None]
    x = np.arange(n)[None, :]
    matrix = np.cos(np.pi * (2 * x + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    matrix[0] /= np.sqrt(2.0)
    return matrix


def fingerprint(image: Image.Image) -> Fingerprint:
    rgb = image.convert("RGB")
    colour = tuple(float(v) for v in np.asarray(rgb.resize((8, 8), Image.Resampling.BOX), dtype=float).mean((0, 1)))
    grey = np.asarray(rgb.convert("L").resize((SIDE, SIDE), Image.Resampling.LANCZOS), dtype=float)
    dct = _dct_matrix() @ grey @ _dct_matrix().T
    low = dct[:LOW, :LOW].flatten()[1:]  # without the DC term (the mean brightness)
    bits = low > np.median(low)
    value = 0
    for bit in bits:
        value = (value << 1) | int(bit)
    return Fingerprint(value, colour, float(grey.std()) < MIN_CONTRAST)  # type: ignore[arg-type]


class NearDuplicates:
    """The fingerprints of a library's styles, kept in memory, and the search for one near a new image.
    A record stored before fingerprints existed gets its fingerprint from its image on the first search
    (kept in memory only)."""

    def __init__(self, read_png: Callable[[str], bytes | None]) -> None:
        self._read_png = read_png
        self._known: dict[str, Fingerprint | None] = {}

    def of(self, record: StyleRecord) -> Fingerprint | None:
        if record.id not in self._known:
            found = Fingerprint.parse(record.fingerprint) if record.fingerprint else None
            if found is None and (png := self._read_png(record.id)) is not None:
                with Image.open(io.BytesIO(png)) as im:
                    found = fingerprint(im)
            self._known[record.id] = found
        return self._known[record.id]

    def find(self, new: Fingerprint, records: Iterable[StyleRecord]) -> StyleRecord | None:
        """The nearest record to `new` among `records` that is near enough, or None."""
        best: tuple[int, StyleRecord] | None = None
        for record in records:
            known = self.of(record)
            if known is not None and new.near(known) and (best is None or new.distance(known) < best[0]):
                best = (new.distance(known), record)
        return best[1] if best else None

    def forget(self, ids: Iterable[str] | None) -> None:
        """Drop what is kept of these styles (None: of every style)."""
        if ids is None:
            self._known.clear()
        for style_id in ids or ():
            self._known.pop(style_id, None)
