"""The text encoder's answer for a prompt, kept for the next render with the same words.

Every render encodes its prompt and, with classifier-free guidance, the negative prompt (a CLIP text encoder
pass each). Someone drawing re-renders the same prompt at every stroke and re-rolls seeds, so the embeddings
are kept (least recently used dropped) and handed to the pipeline as `prompt_embeds` /
`negative_prompt_embeds`: diffusers then skips its own encode and the image is the same, byte for byte (SDXL's
pooled embeddings of its second text encoder travel with them). The key holds whether the LoRA of the fast
presets is switched on, in case it touches the text encoder. One of the `Caches` (caches.py): with
`S2R_CACHES=off` diffusers encodes every prompt."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cachetools import LRUCache

if TYPE_CHECKING:
    import torch
    from diffusers import StableDiffusionControlNetPipeline

SIZE = 64  # prompts kept; a pair of 77×768 tensors each (~0.5 MB in fp32; SDXL: 77×2048 and pooled, ~1.3 MB)
# What `encode_prompt` hands back, in order: SD 1.5 the first two, SDXL all four.
EMBED_NAMES = ("prompt_embeds", "negative_prompt_embeds", "pooled_prompt_embeds", "negative_pooled_prompt_embeds")


class PromptEmbeds:
    def __init__(self, size: int = SIZE) -> None:
        self._kept: LRUCache[tuple, dict[str, torch.Tensor | None]] = LRUCache(size)

    def __len__(self) -> int:
        return len(self._kept)

    def clear(self) -> None:
        self._kept.clear()

    def get(
        self, pipe: StableDiffusionControlNetPipeline, prompt: str, negative: str | None, *, cfg: bool, lora: bool
    ) -> dict[str, torch.Tensor | None]:
        """The pipeline's keyword arguments for this prompt: its embeddings (call in inference mode)."""
        key = (id(pipe.text_encoder), prompt, negative or None, cfg, lora)  # one text encoder per family
        kept = self._kept.get(key)
        if kept is None:
            encoded = pipe.encode_prompt(
                prompt=prompt,
                device=pipe._execution_device,
                num_images_per_prompt=1,
                do_classifier_free_guidance=cfg,
                negative_prompt=negative or None,
            )
            kept = self._kept[key] = dict(zip(EMBED_NAMES, encoded, strict=False))
        return kept
