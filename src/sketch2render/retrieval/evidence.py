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

The discount is for incidental word matches. A match holding two or more of a style's *learned*
words (words of the prompts the user corrected towards that style: a phrase of the user's own, not a
coincidence) counts whole whatever its coverage (`Design.learned_phrase`); one learned word alone
is discounted like any other word. The hit says so: `words: speck, tiny — 36% of the prompt,
counted whole: 2 of them learned from your corrections`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from .agreement import LED_LINE
from .fusion import RankedList
from .learning import Learned
from .lexical import LexicalIndex, Matches

HitFields = dict[str, float | list[str] | None]


def weigh_lexical(
    index: LexicalIndex,
    query: str,
    allowed: set[str] | None,
    limit: int,
    weight: float,
    extra_words: Mapping[str, tuple[str, ...]],
    power: float,
    phrase: int = 0,
) -> tuple[RankedList, Discounts]:
    """The lexical list (`LexicalIndex.ranked`) with each match's strength (coverage ** power; 1 for
    a match holding at least `phrase` learned words, when `phrase` > 0), and what the hits need to
    say so; ranks only and nothing discounted when `power` is 0."""
    lexical, matches = index.ranked_matches(query, allowed, limit, weight, extra_words, with_matches=power > 0)
    if matches is None or not len(lexical):
        return lexical, Discounts()
    coverage = matches.coverage()
    learned = matches.learned_count()
    whole = learned >= phrase if phrase > 0 else np.zeros(len(coverage), dtype=bool)
    strength = np.where(whole, 1.0, coverage**power)
    rows = {doc_id: j for j, doc_id in enumerate(lexical.ids.tolist()) if coverage[j] < 1.0 - 1e-9}
    return replace(lexical, strength=strength), Discounts(matches, coverage, rows, power, learned, whole)


@dataclass(frozen=True)
class Discounts:
    """The word matches that counted less than a full one: `rows[id]` indexes `matches` and `coverage`."""

    matches: Matches | None = None
    coverage: np.ndarray | None = None
    rows: dict[str, int] = field(default_factory=dict)
    power: float = 0.0
    learned: np.ndarray | None = None  # per row: how many of the matched words are learned words
    whole: np.ndarray | None = None  # per row: counted whole (a phrase of learned words)

    def line(self, style_id: str) -> str | None:
        """The explain line of a match that covered less than the whole prompt (None: it covered all)."""
        if (j := self.rows.get(style_id)) is None or self.matches is None or self.coverage is None:
            return None
        if self.whole is not None and self.learned is not None and self.whole[j]:
            return whole_line(self.matches.held(j), float(self.coverage[j]), int(self.learned[j]))
        return discount_line(self.matches.held(j), float(self.coverage[j]), self.power)


def discount_line(words: list[str], coverage: float, power: float) -> str:
    """The explain line of a word match that counted less than a full one."""
    return f"words: {', '.join(words)} — {coverage:.0%} of the prompt, counted at {coverage**power:.0%}"


def whole_line(words: list[str], coverage: float, learned: int) -> str:
    """The explain line of a partial word match counted whole: a phrase of the user's learned words."""
    said = f"words: {', '.join(words)} — {coverage:.0%} of the prompt"
    return f"{said}, counted whole: {learned} of them learned from your corrections"


def hit_fields(
    learned: Learned | None, discounts: Discounts, led: str | None = None
) -> Callable[[str], HitFields] | None:
    """A hit's extra fields (build_hits' `extra`): the learned lists', for a partial word match how
    it counted, and for the style the agreement moved to the top (`led`) why. None when there is
    nothing to add (as without learning)."""
    if learned is None and not discounts.rows and led is None:
        return None

    def fields(style_id: str) -> HitFields:
        found: HitFields = learned.hit_fields(style_id) if learned is not None else {"explain": []}
        explain = found["explain"] if isinstance(found["explain"], list) else []
        if (line := discounts.line(style_id)) is not None:
            explain = [*explain, line]
        if style_id == led:
            explain = [*explain, LED_LINE]
        found["explain"] = explain
        return found

    return fields
