"""Sketches decoded once: the POST that validates an upload (decode under the limits, resize to the
render size, check it has lines) hands its resized image, and the control map it checked, to the
in-process worker, which then skips decoding the same bytes and finding the same lines again.
Bounded by pixels (oldest dropped first). A job without one (the server restarted, the entry was
dropped, a Ray replica renders it) decodes its stored input file exactly as before, so the render
is the same either way: the POST decodes with the same `at_least`, resizes with the same
`resize_for_generation` and builds the control map with the same parameters and the same loaded
ControlNets the worker would use (before the models are loaded it hands over the image only).
Keyed by the job's request hash (sketch bytes + parameters), known before the row exists, so a
worker that claims the row at once still finds it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from PIL import Image

from ..control import ControlMap

MAX_PIXELS = 32_000_000  # ~96 MB of RGB: 32 sketches at 1024², 120 at 512²


@dataclass(frozen=True)
class Decoded:
    image: Image.Image  # resized for generation
    control: ControlMap | None = None  # built from `image` with the job's parameters and the loaded ControlNets


class DecodedSketches:
    def __init__(self, max_pixels: int = MAX_PIXELS) -> None:
        self.max_pixels = max_pixels
        self._images: OrderedDict[str, Decoded] = OrderedDict()
        self._pixels = 0
        self._lock = threading.Lock()

    def put(self, key: str, image: Image.Image, control: ControlMap | None = None) -> None:
        pixels = image.width * image.height
        if pixels > self.max_pixels:
            return
        with self._lock:
            self._drop(key)
            while self._images and self._pixels + pixels > self.max_pixels:
                self._drop(next(iter(self._images)))
            self._images[key] = Decoded(image, control)
            self._pixels += pixels

    def take(self, job_id: str) -> Decoded | None:
        """The decoded sketch of a job, once (None when there is none)."""
        with self._lock:
            image = self._images.get(job_id)
            self._drop(job_id)
            return image

    def discard(self, job_id: str) -> None:
        with self._lock:
            self._drop(job_id)

    def __len__(self) -> int:
        return len(self._images)

    def _drop(self, job_id: str) -> None:
        decoded = self._images.pop(job_id, None)
        if decoded is not None:
            self._pixels -= decoded.image.width * decoded.image.height
