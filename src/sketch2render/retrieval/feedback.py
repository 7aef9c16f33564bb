"""The feedback list: past prompts similar to a new one vote for the styles chosen for them and
against those rejected.

For a new prompt q and each stored signal (prompt p, style s, vote v from signals.py, age a):

    similarity  = max(sentence cosine(q, p), word overlap(q, p))   # meaning, or shared words
    relevance   = (similarity - FLOOR) / (1 - FLOOR), 0 below FLOOR  # unrelated prompts do not vote
    vote        = v * relevance * 0.5 ** (a / half_life)            # older corrections fade

A style's votes are summed per principal and bounded (`PER_PRINCIPAL` when pooled: one principal
cannot push a style into everyone's results; `CAP` in all), as `cap * tanh(sum / cap)`. With a
stand-in sentence model (random weights) only the word side counts. Scope: a principal's own
signals (default) or everyone's (`S2R_FEEDBACK_SCOPE=pooled`, an admin's setting).

Learned words (`words`): the words of the prompts a style was corrected for, each weighted by the
votes of the signals whose prompt holds it (decayed the same way); a word the corrections are on
balance *for* joins the style's lexical field (lexical.py counts it once), the `WORDS_CAP`
strongest per style. Pooled, a word joins only when at least two principals' corrections hold it,
so one principal cannot put words into everyone's search.
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from .captions import SentenceVectors
from .lexical import tokenize
from .signals import FeedbackSignal, SignalStore

FLOOR = 0.3  # similarity at which a past prompt starts to vote (unrelated prompts score ~0-0.15)
CAP = 3.0  # the most feedback can say about one style for one prompt
PER_PRINCIPAL = 1.0  # pooled: the most one principal's signals can say
DAY = 86400.0
WORDS_CAP = 8  # the most learned words one style's lexical field takes


@dataclass
class StyleVotes:
    """What the signals say about one style for one prompt."""

    score: float = 0.0  # bounded, in [-CAP, CAP]
    counts: dict[str, int] = field(default_factory=dict)  # signal kind -> similar prompts with it

    def explain(self) -> str:
        kinds = sorted(self.counts, key=lambda s: (-self.counts[s], s))
        said = ", ".join(f"{kind.replace('_', ' ')} {self.counts[kind]}×" for kind in kinds)
        return f"feedback: {self.score:+.1f} ({said} for similar prompts)"


def word_overlap(a: set[str], b: set[str]) -> float:
    """Shared words over the geometric mean of the two sizes (1.0: the same words)."""
    return len(a & b) / math.sqrt(len(a) * len(b)) if a and b else 0.0


class FeedbackLearner:
    """Votes of stored signals for a prompt. Re-reads the store when any process changed it."""

    def __init__(
        self, store: SignalStore, vectors: SentenceVectors, *, half_life_days: float = 90.0, pooled: bool = False
    ) -> None:
        self.store = store
        self.vectors = vectors
        self.half_life_s = half_life_days * DAY
        self.pooled = pooled
        self._cache: dict[str | None, tuple[tuple[int, int], list[FeedbackSignal]]] = {}
        self._words: dict[str | None, tuple[tuple[int, int], dict[str, frozenset[str]]]] = {}
        self._lock = threading.Lock()

    def _signals(self, principal: str | None) -> list[FeedbackSignal]:
        scope = None if self.pooled else principal
        version = self.store.version()
        with self._lock:
            cached = self._cache.get(scope)
            if cached is None or cached[0] != version:
                cached = self._cache[scope] = (version, self.store.signals(scope))
            return cached[1]

    def has_signals(self, principal: str | None) -> bool:
        return (self.pooled or bool(principal)) and bool(self._signals(principal))

    def votes(self, query: str, query_vector: np.ndarray | None, principal: str | None) -> dict[str, StyleVotes]:
        """The bounded vote per style that similar past prompts cast (styles with no vote absent)."""
        if not self.has_signals(principal):
            return {}
        signals = self._signals(principal)
        relevance = self._relevance(query, query_vector, signals)
        now = time.time()
        raw: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))  # style -> principal -> sum
        counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for item, rel in zip(signals, relevance, strict=True):
            if rel <= 0:
                continue
            decay = 0.5 ** (max(0.0, now - item.created_at) / self.half_life_s)
            raw[item.style_id][item.principal] += item.vote * rel * decay
            counts[item.style_id][item.signal] += 1
        per_principal = PER_PRINCIPAL if self.pooled else CAP
        result = {}
        for style_id, by_principal in raw.items():
            total = sum(per_principal * math.tanh(s / per_principal) for s in by_principal.values())
            result[style_id] = StyleVotes(round(CAP * math.tanh(total / CAP), 4), dict(counts[style_id]))
        return result

    def words(self, principal: str | None) -> dict[str, frozenset[str]]:
        """Each corrected style's learned words (at most `WORDS_CAP`); styles without any absent."""
        if not self.has_signals(principal):
            return {}
        scope = None if self.pooled else principal
        version = self.store.version()
        with self._lock:
            cached = self._words.get(scope)
        if cached is None or cached[0] != version:
            cached = (version, learned_words(self._signals(principal), self.half_life_s, 2 if self.pooled else 1))
            with self._lock:
                self._words[scope] = cached
        return cached[1]

    def _relevance(self, query: str, query_vector: np.ndarray | None, signals: list[FeedbackSignal]) -> np.ndarray:
        words = set(tokenize(query))
        sims = np.array([word_overlap(words, set(tokenize(s.prompt))) for s in signals])
        if query_vector is not None:  # the meaning side (a real sentence model)
            prompts = self.vectors.embed(s.prompt for s in signals)
            sims = np.maximum(sims, prompts @ query_vector)
        return np.clip((sims - FLOOR) / (1.0 - FLOOR), 0.0, 1.0)


def learned_words(signals: list[FeedbackSignal], half_life_s: float, principals: int) -> dict[str, frozenset[str]]:
    """Per style, the `WORDS_CAP` words with the largest positive sum of decayed votes over the
    signals whose prompt holds them, held by the prompts of at least `principals` principals."""
    now = time.time()
    weight: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    who: dict[tuple[str, str], set[str]] = defaultdict(set)
    for item in signals:
        vote = item.vote * 0.5 ** (max(0.0, now - item.created_at) / half_life_s)
        for word in set(tokenize(item.prompt)):
            weight[item.style_id][word] += vote
            if item.vote > 0:
                who[item.style_id, word].add(item.principal)
    result = {}
    for style_id, words in weight.items():
        kept = [w for w, v in words.items() if v > 0 and len(who[style_id, w]) >= principals]
        if kept:
            result[style_id] = frozenset(sorted(kept, key=lambda w: (-words[w], w))[:WORDS_CAP])
    return result
