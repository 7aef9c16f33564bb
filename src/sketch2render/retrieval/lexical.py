"""The lexical half of hybrid retrieval: BM25 (bm25s) over each style's words, and RRF fusion.

Dense CLIP similarity knows what "swirling night sky" looks like; BM25 knows that the style
is *titled* and *tagged* that way. Reciprocal rank fusion combines the two rankings without
having to calibrate their scores against each other. Not here: storage (library.py).
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from .fusion import RRF_K, RankedList, fuse

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    "a an and are as at be by for from has he in is it its of on or that the this to was were "
    "will with into over under like style look looking very".split()
)
BASIC_STOP = _STOP  # the stop words BM25 has always left out (the "rrf" design's)
# The common English function words besides: what a query's *content* words leave out (the kinds
# of the labelled queries, evaluation/query_kinds.py; BM25 with `english=True`).
ENGLISH_STOP = _STOP | frozenset(
    "about above after again against all am any aren because been before being below between both "
    "but can cannot could did do does doing down during each few further had have having her here "
    "hers herself him himself his how i if itself just me more most my myself no nor not now off "
    "once only other our ours ourselves out own same she should so some such than their theirs them "
    "themselves then there these they those through too until up we what when where which while who "
    "whom why would you your yours yourself yourselves".split()
)


def tokenize(text: str, stop: frozenset[str] = _STOP) -> list[str]:
    """Lower-case words without stop words, with a light plural strip ("waves" -> "wave")."""
    words = []
    for word in _WORD.findall(text.lower()):
        if word in stop:
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        words.append(word)
    return words


class LexicalIndex:
    """A BM25 index over id -> text, rebuilt lazily after changes (cheap at library sizes).
    `stop`: the words left out of texts and queries; `learned_df_floor`: the least document frequency
    a learned word's IDF is computed with (0: its own, so a word no style's text holds weighs most)."""

    def __init__(self, *, stop: frozenset[str] = _STOP, learned_df_floor: int = 0) -> None:
        self.stop = stop
        self.learned_df_floor = learned_df_floor
        self._texts: dict[str, str] = {}
        # pragma: no mutate start -- the state before the first rebuild, which every read does first
        self._ids: list[str] = []
        self._id_array = np.zeros(0, dtype=str)
        self._position: dict[str, int] = {}
        self._df: Counter[str] = Counter()  # word -> documents holding it (the IDF of extra words)
        self._bm25 = None
        self._dirty = True
        # pragma: no mutate end
        self._lock = threading.Lock()

    def set(self, doc_id: str, text: str) -> None:
        with self._lock:
            self._texts[doc_id] = text
            self._dirty = True

    def discard(self, doc_id: str) -> None:
        with self._lock:
            if self._texts.pop(doc_id, None) is not None:
                self._dirty = True

    def _rebuild(self) -> None:
        import bm25s

        self._ids = list(self._texts)
        self._id_array = np.array(self._ids, dtype=str)  # pragma: no mutate (dtype None infers the same str)
        self._position = {doc_id: j for j, doc_id in enumerate(self._ids)}
        empty = ["\x00"]  # pragma: no mutate (any placeholder)
        corpus = [tokenize(self._texts[i], self.stop) or empty for i in self._ids]
        self._df = Counter(word for words in corpus for word in set(words))
        self._bm25 = bm25s.BM25()
        if corpus:
            self._bm25.index(corpus, show_progress=False)  # pragma: no mutate (a progress bar)
        self._dirty = False  # pragma: no mutate (True: rebuilt on every search, the same scores)

    def warm(self) -> None:
        """Build the index now (otherwise the first search after a change builds it)."""
        with self._lock:
            if self._dirty:
                self._rebuild()

    def scores(self, query: str, allowed: Iterable[str] | None = None, limit: int | None = None) -> dict[str, float]:
        """BM25 scores of the documents with a positive score (optionally within `allowed`),
        only the `limit` best when given."""
        found = self.ranked(query, allowed, limit)
        return dict(zip(found.ids.tolist(), found.scores.tolist(), strict=True))  # pragma: no mutate (equal lengths)

    def ranked(
        self,
        query: str,
        allowed: Iterable[str] | None = None,
        limit: int | None = None,
        weight: float = 1.0,
        extra_words: Mapping[str, Iterable[str]] | None = None,
    ) -> RankedList:
        """The same as a `RankedList` named "lexical" (best first), without a dict on the way.
        `extra_words`: per document, query words that count as if its text held them once (a
        style's learned words): each adds its IDF, BM25's term score at tf 1 and average length."""
        return self.ranked_matches(query, allowed, limit, weight, extra_words, with_matches=False)[0]

    def ranked_matches(
        self,
        query: str,
        allowed: Iterable[str] | None = None,
        limit: int | None = None,
        weight: float = 1.0,
        extra_words: Mapping[str, Iterable[str]] | None = None,
        *,
        with_matches: bool = True,
    ) -> tuple[RankedList, Matches | None]:
        """`ranked`, and (`with_matches`) which query words each listed document holds (`matches`)."""
        tokens = tokenize(query, self.stop)
        with self._lock:
            if self._dirty:
                self._rebuild()
            if not tokens or not self._ids:
                return RankedList.ranked("lexical", [], [], weight), None
            raw = np.array(self._bm25.get_scores(tokens), dtype=float)  # a copy: extra words add to it
            for doc_id, words in (extra_words or {}).items():
                if (j := self._position.get(doc_id)) is not None:
                    raw[j] += sum(self._idf(word, self.learned_df_floor) for word in words if word in tokens)
            ids, names = self._id_array, self._ids
        if allowed is not None:
            keep = set(allowed)
            raw = np.where([doc_id in keep for doc_id in names], raw, 0.0)
        positive = np.flatnonzero(raw > 0)
        if limit is not None and len(positive) > limit:
            positive = positive[np.argpartition(-raw[positive], limit - 1)[:limit]]
        positive = positive[np.lexsort((ids[positive], -raw[positive]))]  # RankedList.ranked's order
        found = RankedList("lexical", ids[positive], raw[positive], float(weight))
        if not with_matches:
            return found, None
        return found, self._matches(tokens, positive, found.ids, extra_words)

    def _idf(self, word: str, floor: int = 0) -> float:
        """BM25's IDF (bm25s' default, Lucene's): ln(1 + (N - df + 0.5) / (df + 0.5)), df at least `floor`."""
        df = max(self._df.get(word, 0), floor)
        return math.log(1.0 + (len(self._ids) - df + 0.5) / (df + 0.5))

    def matched(self, query: str, doc_id: str, extra_words: Iterable[str] = ()) -> list[str]:
        """The query's words that a document holds (in its text or among `extra_words`), in query order."""
        with self._lock:
            text = self._texts.get(doc_id, "")
        held = set(tokenize(text, self.stop)) | set(extra_words)
        return [word for word in dict.fromkeys(tokenize(query, self.stop)) if word in held]

    def coverage(
        self, query: str, ids: np.ndarray, extra_words: Mapping[str, Iterable[str]] | None = None
    ) -> np.ndarray:
        """Per id of `ids` (documents of this index), how much of the query its words match: the
        IDF of the query's words it holds (in its text, or among its `extra_words`) over the IDF of
        all the query's words, in [0, 1]. A word no document holds counts at the highest IDF, so a
        single common word of a long query covers little, and a rare one more than a common one."""
        return self.matches(query, ids, extra_words).coverage()

    def matches(self, query: str, ids: np.ndarray, extra_words: Mapping[str, Iterable[str]] | None = None) -> Matches:
        """Which of the query's words each id holds, weighed by IDF (`coverage` is their share)."""
        with self._lock:
            if self._dirty:
                self._rebuild()
            where = np.array([self._position.get(i, -1) for i in ids.tolist()], dtype=int)
        return self._matches(tokenize(query, self.stop), where, ids, extra_words)

    def _matches(
        self, tokens: list[str], where: np.ndarray, ids: np.ndarray, extra_words: Mapping[str, Iterable[str]] | None
    ) -> Matches:
        """`matches` of the documents at positions `where` (-1: not indexed), named `ids`."""
        words = list(dict.fromkeys(tokens))
        weight = np.zeros((len(ids), len(words)))
        learned_here = np.zeros((len(ids), len(words)), dtype=bool)
        if not words or not len(ids):
            return Matches(words, weight, 0.0, learned_here)
        with self._lock:
            vocab, index = self._bm25.vocab_dict, self._bm25.scores
            idf = [self._idf(word) for word in words]
            held = np.zeros(len(self._ids) + 1, dtype=bool)  # the last place: ids not indexed
            for t, word in enumerate(words):
                if (v := vocab.get(word)) is not None and self._df.get(word, 0):
                    held[:] = False
                    held[index["indices"][index["indptr"][v] : index["indptr"][v + 1]]] = True
                    weight[:, t] = idf[t] * held[where]
            if extra_words:
                row = {doc_id: j for j, doc_id in enumerate(ids.tolist())}
                column = {word: t for t, word in enumerate(words)}
                for doc_id, learned in extra_words.items():
                    for word in learned:
                        if doc_id in row and word in column:
                            weight[row[doc_id], column[word]] = self._idf(word, self.learned_df_floor)
                            learned_here[row[doc_id], column[word]] = True
        return Matches(words, weight, sum(idf), learned_here)


@dataclass(frozen=True)
class Matches:
    """The query's distinct `words`, and per candidate (rows) the IDF each word it holds earns it
    (columns; 0 where it lacks the word); `total`: the IDF of all the words; `learned`: where the
    word is one of the candidate's learned words (its text lacks it), same shape as `weight`."""

    words: list[str]
    weight: np.ndarray
    total: float
    learned: np.ndarray

    def learned_count(self) -> np.ndarray:
        """Per candidate, how many of the query's words are its learned words."""
        return self.learned.sum(axis=1) if self.learned.size else np.zeros(len(self.weight), dtype=int)

    def coverage(self) -> np.ndarray:
        """Each candidate's share of the query, in [0, 1]."""
        if self.total <= 0:
            return np.zeros(len(self.weight))
        return np.minimum(self.weight.sum(axis=1) / self.total, 1.0)

    def held(self, row: int) -> list[str]:
        """The query's words that candidate `row` holds, in query order."""
        return [word for word, w in zip(self.words, self.weight[row], strict=True) if w > 0]


def rank_of(scores: Mapping[str, float]) -> dict[str, int]:
    """1-based ranks, best first; ties broken by id for determinism."""
    ordered = sorted(scores, key=lambda i: (-scores[i], i))
    return {doc_id: rank for rank, doc_id in enumerate(ordered, start=1)}


def reciprocal_rank_fusion(
    dense: Mapping[str, float],
    lexical: Mapping[str, float],
    *,
    dense_weight: float = 1.0,
    lexical_weight: float = 1.0,
    k: int = RRF_K,
) -> dict[str, float]:
    """Fused score in [0, 1] of the two lists (fusion.fuse over a dense and a lexical list)."""
    lists = [
        RankedList.from_scores("dense", dense, dense_weight),
        RankedList.from_scores("lexical", lexical, lexical_weight),
    ]
    return fuse(lists, k).as_dict()
