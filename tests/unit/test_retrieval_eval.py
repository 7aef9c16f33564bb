"""The bundled labelled query set and `sketch2render eval retrieval`: the set is what it claims
(>= 60 queries, no word of a style's caption, train and test disjoint, word-sharing vs word-free
kinds), and replaying the corrections lifts the word-sharing queries (known answer, stand-in
sentence model: only the word side of the learning). The CLIP side needs real weights (-m weights)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from sketch2render.cli import app
from sketch2render.evaluation.retrieval import BUNDLED
from sketch2render.retrieval.lexical import tokenize
from sketch2render.styles import default_styles_dir, load_manifest


def rows(name: str) -> list[list[str]]:
    lines = (BUNDLED / name).read_text().splitlines()
    return [line.split("\t") for line in lines if line.strip() and not line.startswith("#")]


def test_the_bundled_query_set_shares_no_word_with_the_captions_and_is_split():
    train, test = rows("train.tsv"), rows("test.tsv")
    assert len(train) + len(test) >= 60 and {r[2] for r in test} == {"words", "paraphrase"}
    assert not {r[0] for r in train} & {r[0] for r in test}  # disjoint
    captions = {}
    for _path, meta in load_manifest(default_styles_dir()):
        captions[meta.title] = set(tokenize(" ".join([meta.title, *meta.tags, meta.creator, meta.description])))
    trained = {r[1]: set(tokenize(r[0])) for r in train}
    assert set(trained) == set(captions)  # one correction per bundled style
    for query, title, kind in test:
        words = set(tokenize(query))
        assert not words & captions[title], (query, words & captions[title])
        assert bool(words & trained[title]) == (kind == "words"), query
    assert all(not set(tokenize(q)) & captions[t] for q, t, _ in train)


def test_eval_retrieval_reports_the_lift_of_replayed_corrections(tmp_path, tiny_models_dir):
    env = {"S2R_HOME": str(tmp_path / "home"), "S2R_MODELS": str(tiny_models_dir), "S2R_DEVICE": "cpu"}
    result = CliRunner().invoke(app, ["eval", "retrieval", "--bundled", "--json"], env=env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[result.stdout.index("{") :])
    assert set(report) == {"today", "feedback"}  # a stand-in sentence model: no caption list
    today, learned = report["today"]["words"], report["feedback"]["words"]
    assert today["queries"] == 21 and today["top1"] <= 0.1  # no caption word: words alone find nothing
    assert learned["top1"] >= 0.6 and learned["top3"] == 1.0 and learned["mrr"] > today["mrr"] + 0.5  # shared words
    # word-free: its own correction cannot help; other styles' learned words ("above", "tiny") may outrank it
    assert report["feedback"]["paraphrase"]["mrr"] <= report["today"]["paraphrase"]["mrr"]


def test_eval_retrieval_refuses_a_bad_file_in_one_line(tmp_path, tiny_models_dir):
    bad = tmp_path / "q.tsv"
    bad.write_text("gold things\tNo Such Style\twords\n")
    env = {"S2R_HOME": str(tmp_path / "home"), "S2R_MODELS": str(tiny_models_dir), "S2R_DEVICE": "cpu"}
    result = CliRunner().invoke(app, ["eval", "retrieval", "--queries", str(bad)], env=env)
    assert result.exit_code == 1 and "q.tsv:1: no style with id or title 'No Such Style'" in result.output
    missing = CliRunner().invoke(app, ["eval", "retrieval"], env=env)
    assert missing.exit_code == 1 and "--queries Q.tsv is required" in missing.output


@pytest.mark.weights
def test_real_clip_finds_paraphrases_before_any_correction(tmp_path, real_sentence_dir):
    """The CLIP side (real ViT-B/32 from the Hugging Face cache): image meaning ranks the style of
    a word-free query well above chance (1/21) before any correction, and feedback keeps it."""
    from sketch2render.config import Settings
    from sketch2render.errors import ModelsUnavailable
    from sketch2render.evaluation.retrieval import evaluate_retrieval, read_tsv
    from sketch2render.models import resolve_models
    from sketch2render.retrieval import build_search
    from sketch2render.styles import build_embeddings, build_library, import_defaults

    settings = Settings(home=tmp_path, models="sd15", sentence_model=real_sentence_dir, caption_weight=0.0)
    try:
        models = resolve_models(settings)
    except ModelsUnavailable as exc:
        pytest.skip(f"real weights not available here: {exc.message}")
    library = build_library(settings, build_embeddings(settings, models))
    import_defaults(library)
    report = evaluate_retrieval(
        build_search(settings, library, models),
        read_tsv(BUNDLED / "test.tsv", library, "all"),
        read_tsv(BUNDLED / "train.tsv", library, "chosen"),
    )
    assert report["today"]["all"]["mrr"] > 0.3  # chance is ~0.17 over 21 styles
    assert report["feedback"]["words"]["mrr"] >= report["today"]["words"]["mrr"]
