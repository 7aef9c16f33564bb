"""The text encoder's answer for a prompt, kept for the next render with the same words.

Every render encodes its prompt and, with classifier-free guidance, the negative prompt (a CLIP text
encoder pass each). Someone drawing re-renders the same prompt at every stroke and re-rolls seeds, so
the embeddings are kept (least recently used dropped) and handed to the pipeline as `prompt_embeds` /
`negative_prompt_embeds`: diffusers then skips its own encode and the image is the same, byte for
byte. The key holds whether the LoRA of the fast presets is switched on, in case it touches the text
encoder. One of the `Caches` (caches.py): with `S2R_CACHES=off` diffusers encodes every prompt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cachetools import LRUCache

if TYPE_CHECKING:
    import torch
    from diffusers import StableDiffusionControlNetPipeline

SIZE = 64  # prompts kept; a pair of 77×768 tensors each (~0.5 MB in fp32)


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
        key = (prompt, negative or None, cfg, lora)
        kept = self._kept.get(key)
        if kept is None:
            positive, negative_embeds = pipe.encode_prompt(prompt, pipe._execution_device, 1, cfg, negative or None)
            kept = self._kept[key] = {"prompt_embeds": positive, "negative_prompt_embeds": negative_embeds}
        return kept
