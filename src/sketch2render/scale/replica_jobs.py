"""What a render replica is sent: one job with everything it needs, so that a replica on another machine
reads no file of the API's data folder (`S2R_HOME`) and asks no server of it (no Chroma, no feedback store).

Retrieval runs in the API process, which keeps the retrieval model, the style library and the owners'
corrections (scale/shipping.py builds these jobs there); a replica only renders:

- `RenderJob`: the uploaded sketch's bytes, the validated parameters, each region's mask (bytes), and the
  styles the API retrieved for the prompt and for each region (`Retrieved`: the hits with their records,
  fused scores and explanations, the owner's corrections already counted in).
- `EditJob`: `EditInputs` (the parent PNG with its recipe, the parent's control image, the mask, the new
  parameters) and the new prompt's styles, retrieved likewise.
- `UpscaleJob`: `UpscaleInputs` (the parent PNG, the factor, the detail strength, the tile).

Each carries `styles`: every style the job may drive the IP-Adapter with (or score against), as a
`ShippedStyle`: its record, its stored PNG, and the IP-Adapter embeddings the library has kept for it
(`ShippedEmbeds`, per image encoder). A style id is the hash of its pixels, so what a replica keeps of a
style (its embedding, its CLIP vector) is keyed by the id and never goes stale. The embeddings a replica
computes come back in its stream (`{"embeds": [ShippedEmbeds, ...]}`) and the API stores them in the
library, so the next job ships them instead of having them computed again.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..render.inpaint import EditInputs
from ..render.stages import Retrieved
from ..render.upscale import UpscaleInputs
from ..schemas import RenderParams, StyleRecord


@dataclass(frozen=True)
class ShippedEmbeds:
    """A style's IP-Adapter image embedding for one image encoder: safetensors bytes (`{"embeds": tensor}`)."""

    style_id: str
    encoder_key: str
    data: bytes


@dataclass(frozen=True)
class ShippedStyle:
    """A style a job may use: its record, its image as the library stores it (PNG), its kept embeddings."""

    record: StyleRecord
    image: bytes
    embeds: tuple[ShippedEmbeds, ...] = ()


@dataclass(frozen=True)
class RenderJob:
    sketch: bytes  # the upload, as stored with the job
    params: RenderParams
    masks: tuple[bytes, ...]  # one per region of `params.regions`
    retrieved: Retrieved  # the prompt's styles and each region's (or the named ones)
    styles: tuple[ShippedStyle, ...]


@dataclass(frozen=True)
class EditJob:
    inputs: EditInputs
    retrieved: Retrieved  # the new prompt's styles (or the named ones)
    styles: tuple[ShippedStyle, ...]


@dataclass(frozen=True)
class UpscaleJob:
    inputs: UpscaleInputs
    styles: tuple[ShippedStyle, ...]  # the styles the parent's recipe used that are still in the library


ReplicaJob = RenderJob | EditJob | UpscaleJob
