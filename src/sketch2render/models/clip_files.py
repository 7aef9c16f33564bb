"""CLIP tokenizer and image-processor files written without a download: a vocabulary in CLIP's
order (256 byte symbols, the same with `</w>`, merged tokens, then the two specials) with
whole-word merges for common prompt words, so that prompts are a few tokens, not one per letter."""

from __future__ import annotations

import json
from pathlib import Path

# Words that get whole-word BPE merges, so that prompts are a few tokens, not one per letter.
_WORDS = (
    "the a of and in on with at by for from to an is sketch render drawing painting photo "
    "style art light dark night day sky sea water river lake mountain tree forest flower garden "
    "house building city street bridge castle church tower room chair table window door car boat "
    "ship train bird cat dog horse person man woman child portrait face landscape still life "
    "watercolor oil ink pencil charcoal pastel print woodblock japanese impressionist cubist "
    "modern old red blue green yellow orange purple black white gold silver cinematic studio "
    "realistic detailed soft bright warm cold winter summer spring autumn sunset sunrise cloud"
).split()


def _byte_symbols() -> list[str]:
    """GPT-2 / CLIP byte-to-unicode table, in CLIP's vocabulary order."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    codes = keep[:]
    extra = 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            codes.append(256 + extra)
            extra += 1
    return [chr(c) for c in codes]


def clip_vocab() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """CLIP's vocabulary order: bytes, bytes + </w>, merged tokens, then the two specials."""
    merges: list[tuple[str, str]] = []
    for word in _WORDS:
        parts = [*word[:-1], word[-1] + "</w>"]
        left = parts[0]
        for right in parts[1:]:
            if (left, right) not in merges:
                merges.append((left, right))
            left += right
    symbols = _byte_symbols()
    tokens = [*symbols, *(s + "</w>" for s in symbols), *(a + b for a, b in merges)]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {token: i for i, token in enumerate(dict.fromkeys(tokens))}, merges


def write_tokenizer(folder: Path, vocab: dict[str, int], merges: list[tuple[str, str]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    merges_text = "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges)
    (folder / "merges.txt").write_text(merges_text)
    special = {
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>",
    }
    config = {"tokenizer_class": "CLIPTokenizer", "model_max_length": 77, "do_lower_case": True, **special}
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    (folder / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n")


def write_image_processor(folder: Path, size: int) -> None:
    """CLIP's preprocessing (as in openai/clip-vit-base-patch32), named CLIPImageProcessor."""
    config = {
        "image_processor_type": "CLIPImageProcessor",
        "do_resize": True,
        "size": {"shortest_edge": size},
        "resample": 3,
        "do_center_crop": True,
        "crop_size": {"height": size, "width": size},
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711],
        "do_convert_rgb": True,
    }
    (folder / "preprocessor_config.json").write_text(json.dumps(config, indent=2) + "\n")


def rewrite_pil_processor_names(root: Path) -> None:
    """Without torchvision transformers records `CLIPImageProcessorPil`; older versions lack it."""
    for path in root.rglob("*.json"):
        text = path.read_text()
        if "CLIPImageProcessorPil" in text:
            path.write_text(text.replace("CLIPImageProcessorPil", "CLIPImageProcessor"))
