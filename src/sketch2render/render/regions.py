"""A style per region: each region's prompt retrieves its own style, and the IP-Adapter applies it
only inside the region's mask (diffusers' IP-Adapter masking: one IP-Adapter image per region,
`cross_attention_kwargs={"ip_adapter_masks": [mask]}` with masks from `IPAdapterMaskProcessor`).

The global prompt conditions the whole image; the global style (retrieved for the global prompt,
as without regions) applies where no region is. A region whose prompt finds no relevant style
(the same fallback rules as the global style) gets no IP-Adapter image: inside it only the prompt
and the sketch act. Style selection and embedding are the pipeline's (`select_styles`,
`style_embedding`); this module decodes the masks, retrieves per region and builds the
IP-Adapter inputs. Left out: a text prompt per region (regional prompting of the text encoder).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from ..config import UploadLimits
from ..errors import InvalidParameter
from ..schemas import RegionRecipe, RenderParams, StyleHit
from ..sketch import masks as mask_ops
from ..styles.scope import StyleScope
from .ports import StyleSearcher

if TYPE_CHECKING:
    from torch import Tensor

FIELD = "region_mask"


@dataclass(frozen=True)
class RegionOutcome:
    """What generation did with the regions: each region's recipe and the mask of each (render size)."""

    recipes: list[RegionRecipe]
    masks: tuple[Image.Image, ...]
    used: list[list[StyleHit]]  # the styles that drove the IP-Adapter in each region


def decode_region_masks(
    masks: Sequence[bytes | Image.Image], params: RenderParams, *, sketch_size: tuple[int, int], limits: UploadLimits
) -> tuple[Image.Image, ...]:
    """Each region's mask (bytes: decoded and checked against the sketch's size), binary, "L"."""
    if len(masks) != len(params.regions):
        raise InvalidParameter(
            f"{FIELD}: {len(masks)} mask(s) for {len(params.regions)} region prompt(s); give one mask per prompt",
            field=FIELD,
        )
    decoded = []
    for i, mask in enumerate(masks, start=1):
        if isinstance(mask, bytes | bytearray):
            decoded.append(mask_ops.decode_mask(bytes(mask), limits, size=sketch_size, field=FIELD))
        else:
            decoded.append(mask.convert("L").point(lambda v: 255 if v > mask_ops.THRESHOLD else 0))
            if mask.size != sketch_size:
                raise InvalidParameter(f"{FIELD}: mask {i} does not match the sketch's size", field=FIELD)
    return tuple(decoded)


def retrieve_regions(
    params: RenderParams, search: StyleSearcher, principal: str = "", scope: StyleScope | None = None
) -> list[list[StyleHit]]:
    """Hybrid search of the library for each region's prompt, with the corrections of `principal`
    and within `scope` like the global search (the caller skips it with style_mode none or an empty library)."""
    return [search.search(region.prompt, k=params.top_k, principal=principal, scope=scope) for region in params.regions]


def background(masks: Sequence[Image.Image]) -> Image.Image:
    """Where no region is: the global style's mask."""
    union = np.zeros(np.asarray(masks[0]).shape, dtype=bool)
    for mask in masks:
        union |= np.asarray(mask) > mask_ops.THRESHOLD
    return Image.fromarray(((~union) * 255).astype(np.uint8), mode="L")


def ip_adapter_inputs(
    global_embeds: Tensor | None, region_embeds: Sequence[Tensor | None], masks: Sequence[Image.Image]
) -> tuple[Tensor | None, Tensor | None]:
    """One IP-Adapter image per styled region (and the global style on the background): embeddings
    [2 (negative, positive), N, D] and masks [1, N, H, W]; (None, None) when nothing is styled."""
    import torch
    from diffusers.image_processor import IPAdapterMaskProcessor

    pairs = [(e, m) for e, m in zip(region_embeds, masks, strict=True) if e is not None]
    rest = background(masks)
    if global_embeds is not None and mask_ops.area(rest) > 0:
        pairs.append((global_embeds, rest))
    if not pairs:
        return None, None
    width, height = masks[0].size
    processed = IPAdapterMaskProcessor().preprocess([m for _, m in pairs], height=height, width=width)
    embeds = torch.cat([e for e, _ in pairs], dim=1)  # each [2, 1, D]
    return embeds, processed.reshape(1, len(pairs), height, width)


def region_recipes(
    params: RenderParams,
    masks: Sequence[Image.Image],
    hits: Sequence[Sequence[StyleHit]],
    used: Sequence[Sequence[StyleHit]],
    fallbacks: Sequence[str | None],
) -> list[RegionRecipe]:
    """The recipe of each region: prompt, mask hash, area, retrieved styles (used ones weighted)."""
    recipes = []
    for region, mask, found, chosen, fallback in zip(params.regions, masks, hits, used, fallbacks, strict=True):
        weights = {h.id: h.weight for h in chosen}
        recipes.append(
            RegionRecipe(
                prompt=region.prompt,
                mask_sha256=region.mask_sha256,
                area=round(mask_ops.area(mask), 4),
                styles=[h.model_copy(update={"weight": weights.get(h.id)}) for h in found],
                fallback_reason=fallback,
            )
        )
    return recipes
