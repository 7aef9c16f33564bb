"""Qwen2-style byte-level BPE tokenizer files written without a download, for the FLUX.2 [klein]
stand-ins: the same seven files as the real `tokenizer/` folder (tokenizer.json, vocab.json,
merges.txt, tokenizer_config.json, special_tokens_map.json, added_tokens.json, chat_template.jinja),
loadable with `Qwen2TokenizerFast.from_pretrained`.

The vocabulary is the 256 byte symbols, whole-word merges for common prompt words (with and without
the leading-space symbol), then Qwen's special tokens. The chat template renders a user turn the way
Qwen3's does with `enable_thinking=False`, which is how the klein pipeline encodes prompts.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from .clip_files import _WORDS, _byte_symbols

SPACE = "Ġ"  # the byte-level symbol of " "
# Qwen2's pre-tokenizer pattern (as transformers' Qwen2Tokenizer uses it).
PRETOKENIZE = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
SPECIAL = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
THINK = ("<think>", "</think>")  # added, not special (as in Qwen3)
# Qwen3's template for what the pipeline sends: user turns, the generation prompt, thinking off.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}"
    "{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}{%- endif %}\n"
)


def _apply(pieces: list[str], ranks: dict[tuple[str, str], int]) -> list[str]:
    """Byte-pair encoding of one word with the merges so far (lowest rank first)."""
    while len(pieces) > 1:
        pairs = [(ranks.get(pair, len(ranks)), i) for i, pair in enumerate(itertools.pairwise(pieces))]
        rank, i = min(pairs)
        if rank == len(ranks):
            break
        pieces = [*pieces[:i], pieces[i] + pieces[i + 1], *pieces[i + 2 :]]
    return pieces


def qwen_vocab() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Byte symbols, then merged words; each new word's merges extend what the earlier merges
    leave of it, so every listed word encodes to one token."""
    merges: list[tuple[str, str]] = []
    ranks: dict[tuple[str, str], int] = {}
    for word in (*_WORDS, "user", "assistant"):  # the chat template's roles too
        for pieces in (list(word), [SPACE, *word]):
            left, *rest = _apply(pieces, ranks)
            for right in rest:
                if (left, right) not in ranks:
                    ranks[(left, right)] = len(merges)
                    merges.append((left, right))
                left += right
    tokens = [*_byte_symbols(), *(a + b for a, b in merges)]
    return {token: i for i, token in enumerate(dict.fromkeys(tokens))}, merges


def _added(vocab: dict[str, int]) -> dict[str, int]:
    return {token: len(vocab) + i for i, token in enumerate((*SPECIAL, *THINK))}


def vocab_size(vocab: dict[str, int]) -> int:
    """Tokens the text encoder must embed: the BPE vocabulary and the added tokens."""
    return len(vocab) + len(SPECIAL) + len(THINK)


def special_token_ids(vocab: dict[str, int]) -> dict[str, int]:
    """Qwen3's config ids: end of text pads and starts, `<|im_end|>` ends a turn."""
    added = _added(vocab)
    return {"bos_token_id": added["<|endoftext|>"], "eos_token_id": added["<|im_end|>"]}


def _tokenizer_json(vocab: dict[str, int], merges: list[tuple[str, str]]) -> dict:
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, byte_fallback=False, fuse_unk=False))
    tokenizer.normalizer = normalizers.NFC()
    split = pre_tokenizers.Split(Regex(PRETOKENIZE), behavior="isolated", invert=False)
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([split, byte_level])
    tokenizer.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL])
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in THINK])
    return json.loads(tokenizer.to_str())


def write_qwen_tokenizer(folder: Path, vocab: dict[str, int], merges: list[tuple[str, str]]) -> None:
    """The seven files of a Qwen3 `tokenizer/` folder, byte-identical on every call."""
    folder.mkdir(parents=True, exist_ok=True)
    added = _added(vocab)
    (folder / "tokenizer.json").write_text(json.dumps(_tokenizer_json(vocab, merges), ensure_ascii=False) + "\n")
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False) + "\n")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    (folder / "added_tokens.json").write_text(json.dumps(added, indent=2) + "\n")
    special = {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}
    (folder / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n")
    flags = {"lstrip": False, "normalized": False, "rstrip": False, "single_word": False}
    decoder = {str(i): {"content": t, **flags, "special": t in SPECIAL} for t, i in added.items()}
    config = {
        "add_prefix_space": False,
        "added_tokens_decoder": decoder,
        "bos_token": None,
        "clean_up_tokenization_spaces": False,
        "errors": "replace",
        "model_max_length": 131072,
        "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer",
        "unk_token": None,
        **special,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    (folder / "chat_template.jinja").write_text(CHAT_TEMPLATE)
