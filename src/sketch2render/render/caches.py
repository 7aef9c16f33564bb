"""What a process keeps between renders to skip repeated work, and the one switch that turns it off.

`Caches` holds every speed-up cache of the render side, built once from `Settings` by
`build_service` (or handed in) and read where each saving happens:

- `answers`: search answers for a repeated question (retrieval/answer_cache.py; the library clears them);
- `prompts`: the text encoder's output for recent prompts (prompts.py);
- `style_embeds`: styles' IP-Adapter image embeddings in memory (`StyleEmbeds`, below), on top of
  the copy the library stores beside each style;
- and, under `enabled`, the IP-Adapter scale set only when it changes (renderer.py) and the
  pipelines' execution device fixed once (device_pinning.py).

The POST's decoded sketch handed to the in-process worker (jobs/decoded_sketches.py) obeys the same setting;
it sits in `jobs`, a layer this module may not import, so the API builds it itself.

With `S2R_CACHES=off` (`Caches.off()`) nothing is kept: every search runs, diffusers encodes the
prompt, every style's embedding is computed from its image, the scale is set before every render and
diffusers finds the device by itself. A render is the same, byte for byte, either way: the caches
only skip work whose answer cannot have changed.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cachetools import LRUCache

from ..config import Settings
from ..retrieval.answer_cache import Answers
from .prompts import PromptEmbeds

if TYPE_CHECKING:
    import torch
    from diffusers import StableDiffusionControlNetPipeline

    from .ports import ImageGenerator, StyleSource

STYLE_EMBEDS_SIZE = 512  # styles kept (a [2, 1, D] tensor each: a few KB)


class StyleEmbeds:
    """Styles' IP-Adapter image embeddings kept in memory, per image encoder. An id is a content hash,
    so a style's embedding never changes. Thread-safe."""

    def __init__(self, size: int = STYLE_EMBEDS_SIZE) -> None:
        self._kept: LRUCache[tuple[str, str], torch.Tensor] = LRUCache(size)
        self._lock = threading.Lock()

    def get(self, style_id: str, encoder_key: str) -> torch.Tensor | None:
        with self._lock:
            return self._kept.get((style_id, encoder_key))

    def put(self, style_id: str, encoder_key: str, embeds: torch.Tensor) -> None:
        with self._lock:
            self._kept[style_id, encoder_key] = embeds

    def __len__(self) -> int:
        with self._lock:
            return len(self._kept)


@dataclass(frozen=True)
class Caches:
    """The speed-up caches (None when off) and the switch (`enabled`) of the two remembered settings."""

    enabled: bool
    answers: Answers | None
    prompts: PromptEmbeds | None
    style_embeds: StyleEmbeds | None

    @classmethod
    def on(cls) -> Caches:
        return cls(enabled=True, answers=Answers(), prompts=PromptEmbeds(), style_embeds=StyleEmbeds())

    @classmethod
    def off(cls) -> Caches:
        return cls(enabled=False, answers=None, prompts=None, style_embeds=None)

    @classmethod
    def from_settings(cls, settings: Settings) -> Caches:
        return cls.on() if settings.caches == "on" else cls.off()

    def prompt_inputs(
        self, pipe: StableDiffusionControlNetPipeline, prompt: str, negative: str | None, *, cfg: bool, lora: bool
    ) -> Mapping[str, object]:
        """The pipeline's keyword arguments for the prompt: kept embeddings, or the words for diffusers
        to encode (off). Call in inference mode."""
        if self.prompts is None:
            return {"prompt": prompt, "negative_prompt": negative or None}
        return self.prompts.get(pipe, prompt, negative, cfg=cfg, lora=lora)

    def style_embed(self, style_id: str, library: StyleSource, renderer: ImageGenerator) -> torch.Tensor:
        """A style's IP-Adapter embedding: kept in memory, else the library's stored copy, else encoded
        from its image and stored. Off: encoded from its image every time, nothing read or stored."""
        if self.style_embeds is None:
            return renderer.encode_style(library.load_image(style_id))
        key = renderer.encoder_key
        embeds = self.style_embeds.get(style_id, key)
        if embeds is None:
            embeds = library.load_ip_embeds(style_id, key)
            if embeds is None:
                embeds = renderer.encode_style(library.load_image(style_id))
                library.save_ip_embeds(style_id, key, embeds)
            self.style_embeds.put(style_id, key, embeds)
        return embeds
