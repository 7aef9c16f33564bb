"""Hybrid search over a style library: which styles a prompt (or an image) means.

One search, its stages in order: the tag filter; the learned lists (caption meaning, the user's
corrections, learned words: learning.py); BM25 over the styles' words (lexical.py); the CLIP side
from the library's vector index (`StyleLibrary.nearest`); reciprocal rank fusion (fusion.py), each
word match weighed by how much of the prompt it covers (evidence.py; `fusion="rrf"`: ranks only, the
design before), the learned lists fused after it, the style BM25 and caption meaning agree on moved
first (agreement.py); the hits (hybrid.py). The library stores; this ranks. It watches the
library's changes to keep its word index current and to drop kept answers (answer_cache.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from PIL import Image

from ..errors import InvalidParameter
from ..schemas import StyleHit, StyleRecord
from ..styles.chroma_link import chroma_calls
from ..styles.library import StyleLibrary
from ..styles.scope import StyleScope
from .agreement import agreed_first, lead
from .answer_cache import Answers
from .evidence import hit_fields, weigh_lexical
from .fusion import DESIGNS, fuse
from .hybrid import build_hits, dense_list
from .learning import Learned, Learning
from .lexical import BASIC_STOP, ENGLISH_STOP, LexicalIndex

MAX_QUERY_CHARS = 1000
MAX_TAGS = 50
MAX_SCOPES = 256  # scopes whose left-out ids are kept (principals × licence filter × collection)


class HybridSearch:
    """Text and image search over `library`. `learning`: the learned lists (None: CLIP + BM25 only);
    the weights of the dense and lexical lists and RRF's k (None: the design's); `fusion`: a design
    of fusion.DESIGNS; `answers`: kept answers to repeated questions (None: every search runs, as
    with S2R_CACHES=off)."""

    def __init__(
        self,
        library: StyleLibrary,
        *,
        learning: Learning | None = None,
        dense_weight: float = 1.0,
        lexical_weight: float = 1.0,
        rrf_k: int | None = None,
        answers: Answers | None = None,
        fusion: str = "evidence",
    ) -> None:
        if fusion not in DESIGNS:
            raise InvalidParameter(f"fusion must be one of {', '.join(DESIGNS)}, got {fusion!r}", field="fusion")
        self.library = library
        self.learning = learning
        self.design = DESIGNS[fusion]
        self.weights = (dense_weight, lexical_weight, rrf_k or self.design.k)
        self.answers = answers
        self._lexical = self._new_lexical()
        self._outside: dict[StyleScope, frozenset[str]] = {}  # per scope, the ids it leaves out
        library.watch(self._library_changed)

    def _library_changed(self, records: Mapping[str, StyleRecord], ids: Sequence[str] | None) -> None:
        if ids is None:  # reloaded: build the word index aside and swap it in
            lexical = self._new_lexical()
            for doc_id, record in records.items():
                lexical.set(doc_id, record.search_text())
            lexical.warm()  # build BM25 now, not on the first search
            self._lexical = lexical
        else:
            for doc_id in ids:
                if doc_id in records:
                    self._lexical.set(doc_id, records[doc_id].search_text())
                else:
                    self._lexical.discard(doc_id)
        self._outside.clear()
        if self.answers is not None:
            self.answers.clear()

    def _out_of(self, records: Mapping[str, StyleRecord], scope: StyleScope) -> frozenset[str]:
        """The ids `scope` leaves out, computed once per scope until the library changes (one pass
        over every record: too slow to repeat on each search of a large library)."""
        if (found := self._outside.get(scope)) is None:
            if len(self._outside) >= MAX_SCOPES:
                self._outside.clear()
            found = self._outside[scope] = frozenset(i for i, r in records.items() if not scope.allows(r))
        return found

    def _new_lexical(self) -> LexicalIndex:
        return LexicalIndex(stop=ENGLISH_STOP if self.design.english_stop else BASIC_STOP)

    def search(
        self,
        query: str,
        k: int = 5,
        *,
        min_score: float | None = None,
        tags: Sequence[str] = (),
        principal: str = "",
        scope: StyleScope | None = None,
    ) -> list[StyleHit]:
        """Hybrid text search. `min_score` is a minimum CLIP cosine; hits that match a word of
        the query are kept regardless (with a tiny model CLIP means nothing; words still do).
        `principal`: whose corrections the feedback list learns from ("": nobody's). `scope`: which
        styles may be candidates (default: every style `principal` may see; styles/scope.py)."""
        query = (query or "").strip()
        if not query:
            raise InvalidParameter("the search query is empty", field="q")
        if len(query) > MAX_QUERY_CHARS:
            raise InvalidParameter(f"the search query is over {MAX_QUERY_CHARS} characters", field="q")
        vector = self.library.embeddings.embed_query(query)
        scope = scope if scope is not None else StyleScope(principal)
        key = (query, k, min_score, tuple(tags), principal, scope)
        token = self.learning.token() if self.learning else None
        # A change clears the kept answers under the lock; a shared Chroma server that is gone is a 503.
        with self.library.lock, chroma_calls(self.library.client):
            self.library.sync()
            if self.answers is None:  # caches off
                return self._hybrid(vector, query, k, min_score, tags, principal, scope)
            if (kept := self.answers.get(key, token)) is None:
                kept = self._hybrid(vector, query, k, min_score, tags, principal, scope)
                self.answers.put(key, token, kept)
            return kept

    def single_lists(self, query: str, principal: str = "") -> dict[str, list[str]]:
        """Each list's own ranking of the whole library for a text query, best first, as the search
        would see it (for `eval retrieval`): "clip", "bm25" (learned words included), and with a
        learning side "caption" (when its weight is on) and "feedback" (the styles voted for)."""
        query = (query or "").strip()
        vector = self.library.embeddings.embed_query(query)
        with self.library.lock, chroma_calls(self.library.client):
            self.library.sync()
            records = self.library.records()
            n = len(records)
            learned = self.learning.lists(query, principal, records, None, n) if self.learning else Learned()
            lists = {
                "clip": dense_list(self.library.nearest(vector, n, ()), records, 1.0).ids.tolist(),
                "bm25": self._lexical.ranked(query, None, n, 1.0, learned.words).ids.tolist(),
            }
        if self.learning is not None:
            if self.learning.caption_weight > 0:
                lists["caption"] = sorted(learned.caption, key=lambda i: (-learned.caption[i], i))
            votes = {i: v.score for i, v in learned.votes.items() if v.score > 0}
            lists["feedback"] = sorted(votes, key=lambda i: (-votes[i], i))
        return lists

    def search_by_image(
        self, image: Image.Image | str, k: int = 5, *, scope: StyleScope | None = None
    ) -> list[StyleHit]:
        """Styles that look like an image (or like a library style, given its id; itself excluded),
        within `scope` (default: the team's styles)."""
        exclude = None
        if isinstance(image, str):
            with chroma_calls(self.library.client):
                exclude, image = image, self.library.load_image(image)
        vector = self.library.embeddings.embed_pil([image.convert("RGB")])[0]
        with self.library.lock, chroma_calls(self.library.client):
            self.library.sync()
            hits = self._hybrid(vector, "", k + (1 if exclude else 0), None, (), scope=scope or StyleScope())
        return [h for h in hits if h.id != exclude][:k]

    def _hybrid(
        self,
        vector: Sequence[float],
        query: str,
        k: int,
        min_score: float | None,
        tags: Sequence[str],
        principal="",
        scope: StyleScope | None = None,
    ) -> list[StyleHit]:
        """One search under the library's lock (the caller has synced a shared store)."""
        if not 1 <= k <= 100:
            raise InvalidParameter(f"k must be between 1 and 100, got {k}", field="k")
        tags = list(dict.fromkeys(t.strip().lower() for t in tags if t.strip()))
        if len(tags) > MAX_TAGS:
            raise InvalidParameter(f"at most {MAX_TAGS} tags in a filter, got {len(tags)}", field="tags")
        records = self.library.records()
        allowed = {i for i, r in records.items() if all(t in r.tags for t in tags)} if tags else None
        allowed, hidden = scoped(records, allowed, self._out_of(records, scope or StyleScope(principal)))
        total = len(records) if allowed is None else len(allowed)
        if total == 0:
            return []
        n = min(total, max(50, 4 * k))  # candidates from each side; RRF only needs top ranks
        dense_w, lexical_w, rrf_k = self.weights
        learned = self.learning.lists(query, principal, records, allowed, n) if self.learning else Learned()
        power, phrase = self.design.coverage_power, self.design.learned_phrase  # each match by its coverage
        lexical, discounts = weigh_lexical(self._lexical, query, allowed, n, lexical_w, learned.words, power, phrase)
        # Only the dense side ranks: its top k are the answer (fewer candidates, a cheaper query).
        only_dense = len(lexical) == 0 and min_score is None and not learned.active
        dense_records = records if allowed is None else {i: records[i] for i in allowed}  # candidates in scope
        wanted = min(len(records), (min(n, k) if only_dense else n) + hidden)  # out-of-scope ids take places
        dense = dense_list(self.library.nearest(vector, wanted, tags), dense_records, dense_w)
        if only_dense and len(dense) < min(n, k):  # uncommitted ids took places: ask for all n
            dense = dense_list(
                self.library.nearest(vector, min(len(records), n + hidden), tags), dense_records, dense_w
            )
        fused = fuse([dense, lexical], rrf_k)
        if self.learning:
            fused = self.learning.apply(fused, learned, dense_w + lexical_w, rrf_k, self.design.feedback_scale)
        led = None
        if self.design.agreement:  # BM25 and caption meaning agree on the first: it leads
            fused, led = lead(fused, agreed_first(lexical, learned))
        extra = hit_fields(learned if self.learning else None, discounts, led)
        return build_hits(fused, records, k, min_score, extra)

    def close(self) -> None:
        """Release the learned side's store (the feedback signals' database)."""
        if self.learning is not None:
            self.learning.feedback.store.close()


def scoped(
    records: Mapping[str, StyleRecord], allowed: set[str] | None, outside: frozenset[str]
) -> tuple[set[str] | None, int]:
    """The candidate ids (None: every record) without those out of scope (`outside`), and how many
    styles that leaves out."""
    hidden = outside if allowed is None else outside & allowed
    if not hidden:
        return allowed, 0
    return (set(records) if allowed is None else allowed) - hidden, len(hidden)
