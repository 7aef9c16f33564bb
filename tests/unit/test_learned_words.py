"""Learned words (styles/feedback.learned_words) and how the lexical list counts them: known answers."""

from __future__ import annotations

import math
import time

from sketch2render.retrieval.feedback import WORDS_CAP, learned_words
from sketch2render.retrieval.lexical import LexicalIndex
from sketch2render.retrieval.signals import FeedbackSignal

DAY = 86400.0


def signal(prompt: str, style: str = "s", kind: str = "chosen", who: str = "alice", age_days: float = 0.0):
    return FeedbackSignal(who, prompt, style, kind, "api", time.time() - age_days * DAY)


def test_words_the_corrections_are_on_balance_for_join_strongest_first():
    signals = [signal("gold leaf dome"), signal("gold leaf tower"), signal("gold sky", kind="rejected")]
    assert learned_words(signals, 90 * DAY, 1) == {"s": frozenset({"gold", "leaf", "dome", "tower"})}  # sky: -1
    signals.append(signal("gold sky", kind="rejected"))  # gold: 1 + 1 - 1 - 1 = 0: no longer for the style
    assert learned_words(signals, 90 * DAY, 1) == {"s": frozenset({"leaf", "dome", "tower"})}
    assert learned_words([signal("sky", kind="rejected")], 90 * DAY, 1) == {}


def test_at_most_the_cap_words_per_style_the_strongest_and_then_alphabetical():
    words = [f"w{i:02d}" for i in range(12)]
    signals = [signal(" ".join(words)), signal("w11 w10"), signal("w11", age_days=90)]  # w11: 1 + 1 + 0.5
    kept = learned_words(signals, 90 * DAY, 1)["s"]
    assert len(kept) == WORDS_CAP == 8
    assert kept == frozenset(["w11", "w10", "w00", "w01", "w02", "w03", "w04", "w05"])


def test_pooled_a_word_needs_two_principals_choices():
    signals = [signal("copper roof", who="alice")] * 5 + [signal("copper dome", who="bob")]
    assert learned_words(signals, 90 * DAY, 2) == {"s": frozenset({"copper"})}
    assert learned_words(signals, 90 * DAY, 1) == {"s": frozenset({"copper", "roof", "dome"})}


def test_an_extra_word_adds_its_idf_to_that_document_only():
    index = LexicalIndex()
    for doc_id, text in {"a": "red brick wall", "b": "blue sea", "c": "green forest sea"}.items():
        index.set(doc_id, text)

    def scores(query, extra=None):
        found = index.ranked(query, extra_words=extra)
        return dict(zip(found.ids.tolist(), found.scores.tolist(), strict=True))

    assert scores("sunset") == {}
    found = scores("sunset", {"b": ["sunset"]})
    assert found == {"b": math.log(1 + 3.5 / 0.5)}  # unseen in the corpus: df 0 of N 3
    base = scores("sea brick")
    more = scores("sea brick", {"b": ["brick"], "zz": ["brick"]})  # unknown ids: ignored
    assert more["b"] == base["b"] + math.log(1 + 2.5 / 1.5) and more["a"] == base["a"] and more["c"] == base["c"]
