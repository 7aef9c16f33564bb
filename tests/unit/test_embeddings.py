"""CLIPEmbeddings on the tiny CLIP: LangChain's own standard suites, plus our own behaviour."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests
from PIL import Image

from sketch2render.errors import InvalidImage
from sketch2render.styles import CLIPEmbeddings

_TINY: dict[str, Path] = {}


@pytest.fixture(autouse=True)
def _tiny_clip(tiny_models_dir):
    _TINY["clip"] = tiny_models_dir / "clip"


class _Params:
    @property
    def embeddings_class(self):
        return CLIPEmbeddings

    @property
    def embedding_model_params(self) -> dict:
        return {"model": str(_TINY["clip"]), "local_files_only": True}


class TestCLIPEmbeddingsUnit(_Params, EmbeddingsUnitTests):
    pass


class TestCLIPEmbeddingsIntegration(_Params, EmbeddingsIntegrationTests):
    pass


@pytest.fixture
def clip(tiny_models_dir):
    return CLIPEmbeddings(str(tiny_models_dir / "clip"), cache_size=2)


def test_vectors_are_unit_length_and_batches_agree(clip):
    texts = [f"text number {i}" for i in range(5)]
    clip.batch_size = 2
    batched = np.array(clip.embed_documents(texts))
    single = np.array([clip.embed_documents([t])[0] for t in texts])
    assert np.allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    assert np.allclose(batched, single, atol=1e-5)
    assert batched.shape[1] == clip.dimension


def test_images_by_path_and_text_share_one_space(clip, tmp_path):
    path = tmp_path / "a.png"
    Image.new("RGB", (40, 30), (200, 30, 30)).save(path)
    (image_vec,) = clip.embed_image([str(path)])
    assert len(image_vec) == len(clip.embed_query("red")) == clip.dimension
    assert np.isclose(np.linalg.norm(image_vec), 1.0, atol=1e-5)
    with pytest.raises(InvalidImage):
        clip.embed_image([str(tmp_path / "missing.png")])


def test_query_cache_is_bounded_lru(clip):
    first = clip.embed_query("gold ornamental")
    assert clip.embed_query("gold ornamental") == first and clip.cache_hits == 1
    clip.embed_query("b")
    clip.embed_query("c")  # evicts "gold ornamental" (cache_size=2)
    clip.embed_query("gold ornamental")
    assert clip.cache_hits == 1


def test_model_loads_once_under_concurrency(tiny_models_dir, monkeypatch):
    import transformers

    loads = []
    real = transformers.CLIPModel.from_pretrained
    monkeypatch.setattr(transformers.CLIPModel, "from_pretrained", lambda *a, **k: loads.append(1) or real(*a, **k))
    clip = CLIPEmbeddings(str(tiny_models_dir / "clip"))
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(clip.embed_query("x"))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(loads) == 1 and len(results) == 4 and all(r == results[0] for r in results)
