"""The sentence model (real all-MiniLM-L6-v2 weights from the installed package): known paraphrase
pairs score high, unrelated pairs near zero; the builder loads once per process; the stand-in
loads through the same code and says it is one."""

from __future__ import annotations

import numpy as np
import pytest

from sketch2render.config import Settings
from sketch2render.errors import ModelsUnavailable
from sketch2render.models.sentence import load_sentence_model, sentence_model_info


@pytest.fixture(scope="module")
def model(real_sentence_dir, tmp_path_factory):
    return load_sentence_model(Settings(home=tmp_path_factory.mktemp("home"), sentence_model=real_sentence_dir))


def test_known_paraphrases_are_close_and_unrelated_prompts_are_not(model):
    assert model.similarity("haunted mansion hallway", "spooky ghost house corridor") == pytest.approx(0.785, abs=0.02)
    assert model.similarity("retro arcade poster", "eighties video game flyer") == pytest.approx(0.554, abs=0.02)
    assert model.similarity("cosy cottage kitchen", "a snug farmhouse scullery") == pytest.approx(0.42, abs=0.02)
    assert abs(model.similarity("haunted mansion hallway", "quarterly tax spreadsheet")) < 0.1
    assert not model.stand_in and model.dimension == 384


def test_vectors_are_unit_length_and_batching_does_not_change_them(model):
    one = model.encode(["swirling night sky over a village"])
    sentences = ["a", "swirling night sky over a village", "a much longer sentence about gold leaf"]
    many = model.encode(sentences, batch_size=2)
    assert one.shape == (1, 384) and np.allclose(np.linalg.norm(many, axis=1), 1.0, atol=1e-5)
    assert np.allclose(one[0], many[1], atol=1e-5)  # padding in a batch leaves a sentence's vector alone


def test_the_builder_loads_once_per_process(model, real_sentence_dir, tmp_path):
    assert load_sentence_model(Settings(home=tmp_path, sentence_model=real_sentence_dir)) is model


def test_the_stand_in_loads_through_the_same_code_and_is_marked(sentence_stand_in, tmp_path):
    stand_in = load_sentence_model(Settings(home=tmp_path))  # S2R_SENTENCE_MODEL points at it in tests
    assert stand_in.stand_in and stand_in.encode(["x"]).shape == (1, 32)
    info = sentence_model_info(Settings(home=tmp_path))
    assert info["license"] == "Apache-2.0" and info["stand_in"] and info["exists"]


def test_a_folder_without_weights_is_refused_in_one_line(tmp_path):
    with pytest.raises(ModelsUnavailable, match="lacks config.json, model.safetensors, tokenizer.json"):
        load_sentence_model(Settings(home=tmp_path, sentence_model=tmp_path))
