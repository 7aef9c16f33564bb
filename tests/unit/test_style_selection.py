"""Style selection and the softmax blend (render/pipeline.py select_styles), with known answers:
which styles drive the IP-Adapter, their exact weights, and the exact reason when none does.
No models: select_styles is pure, so these run in milliseconds (and under mutmut, docs/mutation.md)."""

from __future__ import annotations

import math

import pytest

from sketch2render.render.selection import select_styles
from sketch2render.render.stages import Retrieved
from sketch2render.schemas import RenderParams, StyleHit, StyleRecord


def hit(style_id: str, score: float, *, cosine: float | None = 0.0, lexical: float = 1.0) -> StyleHit:
    record = StyleRecord(id=style_id, title=f"Title {style_id}", width=8, height=8, added_at=0.0)
    return StyleHit(style=record, score=score, cosine=cosine, lexical=lexical)


def params(**overrides) -> RenderParams:
    return RenderParams(**{"prompt": "a night sky", **overrides})


def pick(hits, *, named=False, min_score=0.2, temperature=0.1, **overrides):
    return select_styles(Retrieved(hits, named, 0.0), params(**overrides), min_score=min_score, temperature=temperature)


def test_style_mode_none_uses_no_style_and_says_so():
    used, reason = pick([hit("a", 1.0)], style_mode="none")
    assert used == [] and reason == "style mode is 'none' (text and sketch only)"


def test_an_empty_library_says_so():
    assert pick([]) == ([], "the style library is empty")


def test_named_styles_share_equally_whatever_their_scores():
    used, reason = pick([hit("a", 0.9), hit("b", 0.1, lexical=0.0), hit("c", 0.0, lexical=0.0)], named=True)
    assert reason is None and [h.id for h in used] == ["a", "b", "c"]
    assert [h.weight for h in used] == [1 / 3, 1 / 3, 1 / 3]


def test_below_the_minimum_the_reason_names_the_style_its_similarity_and_the_minimum():
    used, reason = pick([hit("a", 0.9, cosine=0.1234, lexical=0.0)], min_score=0.25)
    assert used == []
    assert reason == (
        "the best style match, 'Title a', has CLIP similarity 0.123 below the minimum 0.25 and no word "
        "of the prompt matched it; rendered from text only"
    )


@pytest.mark.parametrize(
    ("cosine", "lexical", "relevant"),
    [(0.2, 0.0, True), (0.1999, 0.0, False), (None, 0.01, True), (0.0, 0.0, False)],  # None: a BM25-only hit
)
def test_relevance_is_cosine_at_or_above_the_minimum_or_any_word_matched(cosine, lexical, relevant):
    used, reason = pick([hit("a", 0.5, cosine=cosine, lexical=lexical)], min_score=0.2)
    assert ([h.id for h in used] == ["a"]) is relevant
    assert (reason is None) is relevant


def test_without_blend_the_best_hit_takes_all_of_it():
    used, reason = pick([hit("a", 0.9), hit("b", 0.8)])
    assert reason is None and [(h.id, h.weight) for h in used] == [("a", 1.0)]


def test_blend_weights_are_the_exact_softmax_over_the_relevant_hits():
    hits = [hit("a", 0.9), hit("b", 0.7), hit("c", 0.6, cosine=0.0, lexical=0.0), hit("d", 0.4)]
    used, reason = pick(hits, blend=True, temperature=0.5)
    exps = [math.exp(0.0), math.exp(-0.2 / 0.5), math.exp(-0.5 / 0.5)]  # c is not relevant: left out
    assert reason is None and [h.id for h in used] == ["a", "b", "d"]
    assert [h.weight for h in used] == pytest.approx([e / sum(exps) for e in exps], abs=1e-12)
    assert sum(h.weight for h in used) == pytest.approx(1.0, abs=1e-12)


def test_a_lower_temperature_sharpens_the_blend_and_equal_scores_share_equally():
    hits = [hit("a", 1.0), hit("b", 0.5)]
    sharp, _ = pick(hits, blend=True, temperature=0.05)
    soft, _ = pick(hits, blend=True, temperature=5.0)
    assert sharp[0].weight == pytest.approx(1 / (1 + math.exp(-10)))
    assert soft[0].weight == pytest.approx(1 / (1 + math.exp(-0.1)))
    equal, _ = pick([hit("a", 0.7), hit("b", 0.7)], blend=True, temperature=0.1)
    assert [h.weight for h in equal] == [0.5, 0.5]


def test_a_blend_of_one_relevant_hit_gives_it_everything():
    used, _ = pick([hit("a", 0.9), hit("b", 0.8, lexical=0.0)], blend=True)
    assert [(h.id, h.weight) for h in used] == [("a", 1.0)]


def test_selection_never_changes_the_retrieved_hits():
    hits = [hit("a", 0.9), hit("b", 0.8)]
    pick(hits, blend=True)
    assert [h.weight for h in hits] == [None, None]


def test_a_tiny_temperature_gives_the_best_hit_everything_without_overflow():
    used, _ = pick([hit("a", 1.0), hit("b", 0.9)], blend=True, temperature=0.001)
    assert used[0].weight == 1.0 and 0.0 <= used[1].weight < 1e-40
