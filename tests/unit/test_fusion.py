"""Generic RRF over N named weighted ranked lists (retrieval/fusion.py): known answers."""

from __future__ import annotations

import pytest

from sketch2render.retrieval.fusion import RankedList, fuse
from sketch2render.retrieval.lexical import reciprocal_rank_fusion


def test_two_lists_give_todays_rrf_and_order():
    dense = RankedList.from_scores("dense", {"a": 0.9, "b": 0.8, "c": 0.1})
    lexical = RankedList.from_scores("lexical", {"b": 3.0, "c": 1.0})
    fused = fuse([dense, lexical], k=60)
    best = 2 / 61
    assert fused.ids.tolist() == ["b", "c", "a"]  # two mid ranks beat one first rank
    assert fused.scores.tolist() == pytest.approx(
        [(1 / 62 + 1 / 61) / best, (1 / 63 + 1 / 62) / best, (1 / 61) / best], abs=1e-6
    )
    assert fused.by_list["dense"].tolist() == pytest.approx([0.8, 0.1, 0.9])
    assert fused.by_list["lexical"][2] != fused.by_list["lexical"][2]  # NaN: "a" has no word match
    assert reciprocal_rank_fusion({"a": 0.9, "b": 0.8, "c": 0.1}, {"b": 3.0, "c": 1.0}) == pytest.approx(
        fused.as_dict()
    )


def test_a_third_weighted_list_changes_the_order_and_the_scale():
    dense = RankedList.from_scores("dense", {"a": 0.9, "b": 0.8})
    lexical = RankedList.from_scores("lexical", {})
    feedback = RankedList.from_scores("feedback", {"b": 5.0, "z": 1.0}, weight=2.0)
    fused = fuse([dense, lexical, feedback], k=60)
    best = (1 + 1 + 2) / 61  # every list's weight counts, the empty one too
    assert fused.ids.tolist() == ["b", "z", "a"]
    assert fused.as_dict() == pytest.approx(
        {"b": (1 / 62 + 2 / 61) / best, "z": (2 / 62) / best, "a": (1 / 61) / best}, abs=1e-6
    )
    without = fuse([dense, lexical, RankedList.from_scores("feedback", {}, weight=2.0)], k=60)
    assert without.ids.tolist() == ["a", "b"]


def test_ties_go_to_the_first_lists_score_then_the_id():
    dense = RankedList.from_scores("dense", {"x": 0.5, "y": 0.5})  # same score: ranked by id
    assert fuse([dense]).ids.tolist() == ["x", "y"]
    other = RankedList.from_scores("words", {"q": 2.0, "p": 2.0})
    tied = fuse([RankedList.from_scores("dense", {"p": 0.2, "q": 0.3}), other])
    # q: dense rank 1 + words rank 2; p: dense rank 2 + words rank 1 -> equal fused; q has the better dense
    assert tied.ids.tolist() == ["q", "p"]
    assert fuse([]).ids.tolist() == [] and len(fuse([RankedList.from_scores("dense", {})])) == 0
