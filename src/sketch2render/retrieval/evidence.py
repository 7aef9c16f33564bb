"""How much a word match says, for the "evidence" fusion (fusion.py `DESIGNS`), and what a hit's
`explain` says about it.

A style's BM25 rank only says that some word of the prompt is in its text. Its *coverage*
(lexical.py `LexicalIndex.coverage`: the IDF of the prompt's words it holds over the IDF of all the
prompt's words) says how much of the prompt that is: "river" in "a sleepy town under clouds that
spin like a river" covers about a third; "hudson river school landscape" is covered whole by the
style that holds all four words. The lexical rank term is scaled by coverage to a power (2: a
third counts a ninth), so one shared common word can no longer outrank what the caption meaning
says, while a full match keeps its whole weight. The hit says so when its match was discounted:
`words: river — 31% of the prompt, counted at 10%`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

import numpy as np

from .fusion import RankedList
from .learning import Learned
from .lexical import LexicalIndex

HitFields = dict[str, float | list[str] | None]


def weigh_lexical(
    lexical: RankedList,
    index: LexicalIndex,
    query: str,
    extra_words: Mapping[str, tuple[str, ...]],
    power: float,
) -> tuple[RankedList, dict[str, float]]:
    """The lexical list with each match's strength (coverage ** power) and each id's coverage;
    the list unchanged and no coverage when `power` is 0 (rank-only RRF)."""
    if power <= 0 or not len(lexical):
        return lexical, {}
    coverage = index.coverage(query, lexical.ids, extra_words)
    return replace(lexical, strength=coverage**power), dict(zip(lexical.ids.tolist(), coverage.tolist(), strict=True))


def discount_line(words: list[str], coverage: float, power: float) -> str:
    """The explain line of a word match that counted less than a full one."""
    return f"words: {', '.join(words)} — {coverage:.0%} of the prompt, counted at {coverage**power:.0%}"


def hit_fields(
    index: LexicalIndex,
    query: str,
    learned: Learned | None,
    coverage: Mapping[str, float],
    power: float,
) -> Callable[[str], HitFields] | None:
    """A hit's extra fields (build_hits' `extra`): the learned lists' and, for a discounted word
    match, why it counted less. None when there is nothing to add (as without learning)."""
    if learned is None and not any(c < 1.0 for c in coverage.values()):
        return None

    def fields(style_id: str) -> HitFields:
        found: HitFields = learned.hit_fields(style_id) if learned is not None else {"explain": []}
        share = coverage.get(style_id)
        if share is not None and share < 1.0 and not np.isclose(share, 1.0):
            words = index.matched(query, style_id, learned.words.get(style_id, ()) if learned else ())
            explain = found["explain"] if isinstance(found["explain"], list) else []
            found["explain"] = [*explain, discount_line(words, share, power)]
        return found

    return fields
