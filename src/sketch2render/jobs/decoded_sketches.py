"""Sketches decoded once: the POST that validates an upload (decode under the limits, resize to the
render size, check it has lines) hands its resized image, and the control map it checked, to the
in-process worker, which then skips decoding the same bytes and finding the same lines again.
Bounded by pixels (oldest dropped first). A job without one (the server restarted, the entry was
dropped, a Ray replica renders it) decodes its stored input file exactly as before, so the render
is the same either way: the POST decodes with the same `at_least`, resizes with the same
`resize_for_generation` and builds the control map with the same parameters and the same loaded
ControlNets the worker would use (before the models are loaded it hands over the image only).
Keyed by the job's request hash (sketch bytes + parameters), known before the row exists, so a
worker that claims the row at once still finds it. With `S2R_CACHES=off` (`enabled=False`) nothing is
handed over: the worker always decodes the stored input (render/caches.py lists the other caches).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from PIL import Image

from ..sketch.control import ControlMap

MAX_PIXELS = 32_000_000  # ~96 MB of RGB: 32 sketches at 1024², 120 at 512²


@dataclass(frozen=True)
class Decoded:
    image: Image.Image  # resized for generation
    control: ControlMap | None = None  # built from `image` with the job's parameters and the loaded ControlNets


class DecodedSketches:
    """Decoded sketches by request hash, each taken once. Thread-safe."""

    def __init__(self, max_pixels: int = MAX_PIXELS, *, enabled: bool = True) -> None:
        self.max_pixels = max_pixels
        self.enabled = enabled  # False (caches off): `put` keeps nothing
        self._images: OrderedDict[str, Decoded] = OrderedDict()
        self._pixels = 0
        self._lock = threading.Lock()

    def put(self, request_hash: str, image: Image.Image, control: ControlMap | None = None) -> None:
        """Hand over the sketch the POST decoded for the job with this request hash."""
        pixels = image.width * image.height
        if not self.enabled or pixels > self.max_pixels:
            return
        with self._lock:
            self._drop(request_hash)
            while self._images and self._pixels + pixels > self.max_pixels:
                self._drop(next(iter(self._images)))
            self._images[request_hash] = Decoded(image, control)
            self._pixels += pixels

    def take(self, request_hash: str) -> Decoded | None:
        """The decoded sketch handed over under a job's request hash (`Job.request_hash`: sketch bytes +
        parameters, not the job id), once; None when there is none."""
        with self._lock:
            image = self._images.get(request_hash)
            self._drop(request_hash)
            return image

    def discard(self, request_hash: str) -> None:
        with self._lock:
            self._drop(request_hash)

    def __len__(self) -> int:
        return len(self._images)

    def _drop(self, request_hash: str) -> None:
        decoded = self._images.pop(request_hash, None)
        if decoded is not None:
            self._pixels -= decoded.image.width * decoded.image.height
