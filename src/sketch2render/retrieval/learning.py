"""The two learned lists of hybrid search, beside CLIP (image meaning) and BM25 (words):

- caption meaning (captions.py): the sentence model's cosine between prompt and caption, ranked;
- feedback (feedback.py): similar past prompts' votes; a *signed* list: styles voted for add
  `w * |score| / (k + rank)`, styles voted against subtract it. The bounded score (at most CAP = 3)
  scales the rank term, so a weak or unsure vote moves a style less than three clear corrections,
  and three clear corrections outweigh being first in two other lists.

`Learning.apply` adds both to the fused CLIP + BM25 ranking of fusion.fuse and renormalises
to at most 1 over all four weights. Weights 0 (or nothing learned and no caption list)
return the input unchanged: exactly the ranking without learning. A style's learned words
(feedback.py, at most WORDS_CAP) join its BM25 field for the query words it does not already hold
(`Learned.words`, which the library passes to the lexical list).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ..config import Settings
from ..schemas import StyleRecord
from .captions import SentenceVectors, caption_scores
from .feedback import CAP, FeedbackLearner, StyleVotes
from .fusion import Fused
from .lexical import rank_of, tokenize
from .signals import SignalStore


@dataclass
class Learned:
    """What the learned lists said about a search's candidates."""

    caption: dict[str, float] = field(default_factory=dict)  # sentence cosine prompt <-> caption
    votes: dict[str, StyleVotes] = field(default_factory=dict)
    words: dict[str, tuple[str, ...]] = field(default_factory=dict)  # learned query words a style lacks

    @property
    def active(self) -> bool:
        """Whether a learned list has anything to say (then the search keeps all its candidates)."""
        return bool(self.caption or self.votes)

    def hit_fields(self, style_id: str) -> dict[str, float | list[str] | None]:
        """A hit's `caption`, `feedback` and `explain` (StyleHit fields)."""
        caption, votes = self.caption.get(style_id), self.votes.get(style_id)
        explain = [votes.explain()] if votes is not None else []
        if style_id in self.words:
            explain.append(f"learned words: {', '.join(self.words[style_id])}")
        if caption is not None:
            explain.append(f"caption meaning: {caption:.2f}")
        return {
            "caption": round(caption, 6) if caption is not None else None,
            "feedback": votes.score if votes is not None else None,
            "explain": explain,
        }


@dataclass
class Learning:
    """The learned side of a library's search: weights, the sentence vectors, the feedback."""

    vectors: SentenceVectors
    feedback: FeedbackLearner
    caption_weight: float = 1.0
    feedback_weight: float = 1.0

    def token(self) -> tuple:
        """What the learned lists depend on besides the question and the library: the weights, the
        feedback's scope and the signal store's version (kept search answers are checked against it)."""
        return self.caption_weight, self.feedback_weight, self.feedback.pooled, self.feedback.store.version()

    def warm_up(self) -> None:
        """Load the sentence model now (the API does at start) if a learned list will need it,
        so the first search does not wait for it under the library's lock."""
        if self.caption_weight > 0 or self.feedback_weight > 0:
            self.vectors.embed(["warm-up"])

    def lists(
        self,
        query: str,
        principal: str | None,
        records: Mapping[str, StyleRecord],
        allowed: set[str] | None,
        limit: int,
    ) -> Learned:
        learned = Learned()
        use_feedback = self.feedback_weight > 0 and self.feedback.has_signals(principal)
        if not query or (self.caption_weight <= 0 and not use_feedback):
            return learned  # nothing to do: the sentence model is not even loaded
        meaningful = not self.vectors.model.stand_in  # a random stand-in: only words count
        query_vector = self.vectors.embed([query])[0] if meaningful else None
        if self.caption_weight > 0 and query_vector is not None:
            learned.caption = caption_scores(self.vectors, query_vector, records, allowed, limit)
        if use_feedback:
            votes = self.feedback.votes(query, query_vector, principal)
            learned.votes = {i: v for i, v in votes.items() if i in records and (allowed is None or i in allowed)}
            learned.words = self._words(query, principal, records, allowed)
        return learned

    def _words(
        self, query: str, principal: str | None, records: Mapping[str, StyleRecord], allowed: set[str] | None
    ) -> dict[str, tuple[str, ...]]:
        """Per style, the query's words among its learned words that its own text lacks."""
        asked = set(tokenize(query))
        found = {}
        for style_id, words in self.feedback.words(principal).items():
            record, matched = records.get(style_id), asked & words
            if record is None or (allowed is not None and style_id not in allowed) or not matched:
                continue
            if new := matched - set(tokenize(record.search_text())):
                found[style_id] = tuple(sorted(new))
        return found

    def apply(self, fused: Fused, learned: Learned, base_weight: float, k: int, feedback_scale: float = 1.0) -> Fused:
        """`fuse` on a `Fused` ranking: the same object when nothing learned moves it, else a new
        ranking in the same order rule (score, then the first list's own score, then id)."""
        if not learned.active:
            return fused
        before = fused.as_dict()
        scores = self.fuse(before, learned, base_weight, k, feedback_scale)
        if scores == before:
            return fused
        ids = np.array(list(scores), dtype=str)
        value = np.round(np.fromiter(scores.values(), dtype=float, count=len(ids)), 6)
        position = {i: j for j, i in enumerate(fused.ids.tolist())}
        index = np.array([position.get(i, -1) for i in ids.tolist()], dtype=int)

        def column(old: np.ndarray) -> np.ndarray:
            return np.where(index >= 0, old[np.maximum(index, 0)], np.nan) if len(old) else np.full(len(ids), np.nan)

        by_list = {name: column(old) for name, old in fused.by_list.items()}
        first = next(iter(by_list.values()), np.full(len(ids), np.nan))
        order = np.lexsort((ids, -np.nan_to_num(first, nan=-np.inf), -value))
        return Fused(ids[order], value[order], {name: c[order] for name, c in by_list.items()})

    def fuse(
        self, fused: Mapping[str, float], learned: Learned, base_weight: float, k: int, feedback_scale: float = 1.0
    ) -> dict[str, float]:
        """`fused` (normalised by `base_weight / (k + 1)`) plus the learned lists, renormalised; the
        feedback weight times `feedback_scale` (the fusion design's)."""
        cw = self.caption_weight if learned.caption else 0.0
        fw = self.feedback_weight * feedback_scale if learned.votes else 0.0
        if cw == 0 and fw == 0:
            return dict(fused)
        base_best = base_weight / (k + 1) if base_weight > 0 else 0.0
        raw = {i: s * base_best for i, s in fused.items()}
        for doc_id, rank in rank_of(learned.caption).items():
            raw[doc_id] = raw.get(doc_id, 0.0) + cw / (k + rank)
        for sign in (1, -1):
            side = {i: abs(v.score) for i, v in learned.votes.items() if v.score * sign > 0}
            if sign < 0:  # a vote against only lowers a candidate; it never makes one
                side = {i: v for i, v in side.items() if i in raw}
            for doc_id, rank in rank_of(side).items():
                raw[doc_id] = raw.get(doc_id, 0.0) + sign * fw * side[doc_id] / (k + rank)
        best = (base_weight + cw + fw * CAP) / (k + 1)  # first in every list, the most feedback
        return {i: s / best for i, s in raw.items()}


def build_learning(settings: Settings) -> Learning:
    """The learned lists of these settings. The sentence model loads on the first search that
    needs it (a text search with a caption weight, or with feedback to learn from)."""
    from ..models.sentence import is_stand_in, load_sentence_model, sentence_model_dir

    stand_in = is_stand_in(sentence_model_dir(settings))
    vectors = SentenceVectors(lambda: load_sentence_model(settings), cache_size=max(256, settings.query_cache_size))
    store = SignalStore(settings.store_url(settings.feedback_db))
    pooled = settings.feedback_scope == "pooled"
    feedback = FeedbackLearner(store, vectors, half_life_days=settings.feedback_half_life_days, pooled=pooled)
    caption_weight = settings.caption_weight
    if caption_weight is None:  # a random stand-in carries no meaning: off unless set
        caption_weight = 0.0 if stand_in else 1.0
    return Learning(vectors, feedback, caption_weight, settings.feedback_weight)
