"""A replica's style library for one job: the styles the job brought (replica_jobs.py), as the render
pipeline's `StyleSource`, so the chain, edits and upscales run unchanged on a machine without the API's
style library. Retrieval does not run here (the API process did it): `NO_SEARCH` refuses, as does a look-up
of a collection.

The embeddings the job brought are read from it; those the replica computes are noted (`computed`) to be
sent back to the API, which stores them in the library. The replica itself keeps them in memory across
jobs, by style id (a hash of the style's pixels) and image encoder: render/caches.py's `StyleEmbeds`,
as a local render does.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from PIL import Image

from ..errors import NotFound, S2RError
from ..schemas import StyleHit, StyleRecord
from .replica_jobs import ShippedEmbeds, ShippedStyle

if TYPE_CHECKING:
    from torch import Tensor

    from ..styles.scope import StyleScope

NOT_HERE = "retrieval runs in the API process, not on a render replica"


class ShippedLibrary:
    """The styles of one job (and the records of every style its retrieval found)."""

    def __init__(self, styles: Sequence[ShippedStyle], hits: Iterable[StyleHit] = ()) -> None:
        self._records: dict[str, StyleRecord] = {hit.id: hit.style for hit in hits}
        self._records.update({style.record.id: style.record for style in styles})
        self._images = {style.record.id: style.image for style in styles}
        self._embeds = {(e.style_id, e.encoder_key): e.data for style in styles for e in style.embeds}
        self.computed: list[ShippedEmbeds] = []  # embeddings computed here during the job

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, style_id: object) -> bool:
        return style_id in self._images

    def get(self, style_id: str) -> StyleRecord:
        record = self._records.get(style_id)
        if record is None:
            raise NotFound(f"no style with id {style_id!r} came with this job", field="style_id")
        return record

    def collection_ids(self, name: str, principal: str) -> frozenset[str]:
        raise S2RError(NOT_HERE, field="collection")

    def load_image(self, style_id: str) -> Image.Image:
        data = self._images.get(style_id)
        if data is None:
            raise NotFound(f"the image of style {style_id!r} did not come with this job", field="style_id")
        with Image.open(io.BytesIO(data)) as image:
            return image.convert("RGB")

    def load_ip_embeds(self, style_id: str, encoder_key: str) -> Tensor | None:
        data = self._embeds.get((style_id, encoder_key))
        if data is None:
            return None
        from safetensors.torch import load

        return load(data)["embeds"]

    def save_ip_embeds(self, style_id: str, encoder_key: str, embeds: Tensor) -> None:
        from safetensors.torch import save

        data = save({"embeds": embeds.detach().cpu().contiguous()}, metadata={"encoder": encoder_key})
        self._embeds[style_id, encoder_key] = data
        self.computed.append(ShippedEmbeds(style_id, encoder_key, data))


class NoSearch:
    """The search of a replica: none (its jobs bring their styles retrieved)."""

    def search(self, query: str, k: int = 5, *, principal: str = "", scope: StyleScope | None = None) -> list[StyleHit]:
        raise S2RError(NOT_HERE, field="prompt")


NO_SEARCH = NoSearch()
