"""A sketch made ready for a render: decoded under the upload limits, resized to the render size,
and its control map built (what ControlNet follows). The API's POST (to check a submission and
hand it to the worker), the render pipeline (a stored input) and the web UI's preview all go
through here, so all three give the same pixels and the same map for the same upload and
parameters. numpy/OpenCV/PIL only (the web UI imports it).

    bytes ─► decode_sketch (the decode size) ─► image ─► prepare_sketch (resize, control map)

`decode_sketch` is separate for callers that check region masks, which must match the decoded
sketch's size, between decoding and the rest; `prepare_sketch` decodes bytes itself otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

from ..config import UploadLimits
from ..schemas import RenderParams
from . import imaging
from .control import ControlMap, control_map


@dataclass(frozen=True, eq=False)
class PreparedSketch:
    """The sketch at the render size and the control map built from it with the render's parameters."""

    image: Image.Image  # RGB, resized for generation (imaging.resize_for_generation)
    control: ControlMap  # what ControlNet follows, its type, and the lines quality is scored against
    decode_s: float = 0.0  # decoding and resizing
    control_s: float = 0.0  # building the control map (0 when it was handed in)


def decode_sketch(data: bytes, params: RenderParams, limits: UploadLimits, *, full_size: bool = False) -> Image.Image:
    """The upload decoded under `limits`. A large JPEG or PNG may be decoded at a reduced scale that
    still covers the render size (the resize then gives the same pixels); `full_size`: decoded at
    its own size, for a sketch with region masks (they are checked against that size)."""
    return imaging.decode_upload(data, limits, at_least=None if full_size else params.size)


def prepare_sketch(
    sketch: bytes | Image.Image,
    params: RenderParams,
    limits: UploadLimits,
    *,
    available: Sequence[str],
    control: ControlMap | None = None,
) -> PreparedSketch:
    """Upload bytes (decoded by `decode_sketch`) or an already decoded image, resized to
    `params.size`, and its control map (`params.control`, `simplify`, `canny_low`/`canny_high`).
    Raises a domain error (`errors.S2RError`) for a sketch that cannot be used (bad file, no lines).

    `available`: the control types that `auto` may choose (it falls back to canny otherwise). The
    rule, the same for every caller: pass the ControlNets of the process that renders the map
    (`ModelSet.control_types`) when they are known; when they are not, pass every type
    (`control.CONTROL_TYPES`), so `auto` shows its own choice and the renderer, which knows, decides
    again with its own models. The pipeline and the API's POST know them once the models are loaded
    (under Ray the POST's styles service has the same model set as the replicas); the web UI never
    does (it is an HTTP client), so its preview of `auto` may show a type the server then replaces
    by canny (the render's recipe says so).

    `control`: a map already built from this image with these parameters (the POST's, handed to
    the worker with the resized image): used as it is, not built again."""
    t0 = time.perf_counter()
    image = decode_sketch(bytes(sketch), params, limits) if isinstance(sketch, bytes | bytearray) else sketch
    image = imaging.resize_for_generation(image, params.size)
    t1 = time.perf_counter()
    if control is None:
        control = control_map(
            image,
            params.control,
            simplify_strength=params.simplify,
            canny_low=params.canny_low,
            canny_high=params.canny_high,
            available=available,
        )
    return PreparedSketch(image, control, t1 - t0, time.perf_counter() - t1)
