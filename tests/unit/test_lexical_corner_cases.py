"""Known answers for the BM25 side of style search (retrieval/lexical.py), written against the
mutants that survived the first mutation run of it."""

from __future__ import annotations

import numpy as np
import pytest

from sketch2render.retrieval.lexical import LexicalIndex, reciprocal_rank_fusion, tokenize


def test_tokenize_lowercases_drops_stop_words_and_strips_a_plural_s():
    assert tokenize("The WAVES of a Storm, like Gold-Leaf") == ["wave", "storm", "gold", "leaf"]
    assert tokenize("glass bus gas cats") == ["glass", "bus", "gas", "cat"]  # -ss and 3-letter words keep their s
    assert tokenize("dots") == ["dot"] and tokenize("sss") == ["sss"] and tokenize("Skies") == ["skie"]
    assert tokenize("style look looking very with into") == []


def index(**texts: str) -> LexicalIndex:
    lexical = LexicalIndex()
    for doc_id, text in texts.items():
        lexical.set(doc_id, text)
    return lexical


def test_ranked_lists_positive_scores_best_first_with_the_weight_and_limit():
    lexical = index(a="gold leaf mosaic", b="gold", c="night sky swirls", d="gold gold leaf")
    found = lexical.ranked("gold leaf", weight=0.5)
    assert found.name == "lexical" and found.weight == 0.5
    assert set(found.ids.tolist()) == {"a", "b", "d"} and "c" not in found.ids.tolist()  # no word: not listed
    assert list(found.scores) == sorted(found.scores, reverse=True) and (found.scores > 0).all()
    assert found.ids.tolist()[-1] == "b"  # one of the two words only
    top = lexical.ranked("gold leaf", limit=1)
    assert len(top) == 1 and top.ids[0] == found.ids[0]
    assert lexical.scores("gold leaf") == dict(zip(found.ids.tolist(), found.scores.tolist(), strict=True))


def test_allowed_ids_only_and_no_words_give_an_empty_list():
    lexical = index(a="gold leaf", b="gold", c="gold ink")
    assert set(lexical.ranked("gold", allowed=["b", "c"]).ids.tolist()) == {"b", "c"}
    assert len(lexical.ranked("the of a")) == 0  # only stop words
    assert len(LexicalIndex().ranked("gold")) == 0  # an empty index


def test_discard_removes_a_document_and_an_unknown_id_changes_nothing():
    lexical = index(a="gold leaf", b="gold")
    before = lexical.scores("gold")
    lexical.discard("zzz")
    assert lexical.scores("gold") == before
    lexical.discard("a")
    assert list(lexical.scores("gold")) == ["b"]
    lexical.set("a", "night sky")  # set again after a search: the index is rebuilt
    assert list(lexical.scores("night")) == ["a"]


def test_rrf_of_two_weighted_lists_known_answer():
    dense, words = {"x": 0.9, "y": 0.5}, {"y": 3.0, "z": 1.0}
    fused = reciprocal_rank_fusion(dense, words, dense_weight=2.0, lexical_weight=1.0, k=1)
    best = 3 / 2  # (w_dense + w_lexical) / (k + 1)
    assert fused == pytest.approx({"x": (2 / 2) / best, "y": (2 / 3 + 1 / 2) / best, "z": (1 / 3) / best})
    assert max(fused, key=fused.get) == "y" and np.isclose(fused["y"], 7 / 9)


def test_fusing_nothing_is_an_empty_ranking():
    from sketch2render.retrieval.fusion import RankedList, fuse

    for lists in ([], [RankedList.ranked("dense", [], [])]):
        fused = fuse(lists)
        assert len(fused) == 0 and fused.scores.shape == (0,) and fused.by_list == {} and fused.as_dict() == {}


def test_three_lists_keep_each_lists_own_scores_and_absent_ids_lose_ties():
    from sketch2render.retrieval.fusion import RankedList, fuse

    a = RankedList.from_scores("dense", {"p": 0.9, "q": 0.8})
    b = RankedList.from_scores("lexical", {"r": 5.0, "q": 2.0}, weight=2.0)
    c = RankedList.from_scores("caption", {"s": 0.7}, weight=0.5)
    fused = fuse([a, b, c], k=2)
    own = {name: dict(zip(fused.ids.tolist(), column.tolist(), strict=True)) for name, column in fused.by_list.items()}
    assert own["dense"]["p"] == 0.9 and own["dense"]["q"] == 0.8 and np.isnan(own["dense"]["r"])
    assert own["lexical"]["r"] == 5.0 and own["lexical"]["q"] == 2.0 and own["caption"]["s"] == 0.7
    best = 3.5 / 3  # the three weights / (k + 1)
    expected = {"p": (1 / 3) / best, "q": (1 / 4 + 2 / 4) / best, "r": (2 / 3) / best, "s": (0.5 / 3) / best}
    assert fused.as_dict() == pytest.approx(expected, abs=1e-6)
    assert fused.ids.tolist() == ["q", "r", "p", "s"]
    tie = fuse([RankedList.from_scores("dense", {"x": 0.4}), RankedList.from_scores("lexical", {"y": 1.0})])
    assert tie.ids.tolist() == ["x", "y"]  # equal fused scores: the one the first list has comes first


def test_an_empty_answer_is_still_the_weighted_lexical_list():
    for empty in (LexicalIndex().ranked("gold", weight=0.25), index(a="gold").ranked("the of", weight=0.25)):
        assert len(empty) == 0 and empty.name == "lexical" and empty.weight == 0.25
    assert LexicalIndex().ranked("gold").weight == 1.0


@pytest.mark.parametrize("limit", [1, 2, 3, 5, 8, 13, 38])
def test_a_limit_keeps_exactly_the_best_that_many(limit):
    """Documents with 1..39 copies of the word, in a shuffled order: distinct scores, so the best
    `limit` are known (and a partial sort at the wrong position picks others)."""
    counts = np.random.default_rng(3).permutation(np.arange(1, 40)).tolist()
    lexical = index(**{f"d{n:02d}": " ".join(["gold"] * n + ["filler"] * (40 - n)) for n in counts})
    found = lexical.ranked("gold", limit=limit)
    assert found.ids.tolist() == [f"d{n:02d}" for n in range(39, 39 - limit, -1)]
