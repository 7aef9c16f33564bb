"""The kinds and folds of labelled retrieval queries, decided mechanically from the styles' text.

A query's *content words* are its words as BM25 tokenises them (retrieval/lexical.py) without
English stop words (`ENGLISH_STOP`). Against the style it is labelled with (the right one) and the
other styles of the library (title, tags, creator, description):

    shares-word     holds a content word of the right style's text
    no-shared-word  holds no content word of any style's text (only meaning can find it)
    decoy-word      holds none of the right style's, but one of another style's (the hard case:
                    a word match points at the wrong style)

Folds: the queries sorted by (kind, style, SHA-256 of the query text) are dealt round-robin into
`FOLDS` folds, so each fold holds about the same share of every kind and style, and a query keeps
its fold whatever else the file holds in other groups. Folds `TUNE` are for choosing a design and
its numbers; folds `REPORT` are only reported (never tuned on).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from ..retrieval.lexical import ENGLISH_STOP, tokenize
from ..schemas import StyleMeta

SHARES, NO_SHARED, DECOY = "shares-word", "no-shared-word", "decoy-word"
KINDS = (SHARES, NO_SHARED, DECOY)
FOLDS = 5
TUNE, REPORT = (0, 1, 2), (3, 4)


def content_words(text: str) -> set[str]:
    """The words of `text` that carry content (BM25's tokens less English stop words)."""
    return set(tokenize(text, ENGLISH_STOP))


def style_words(meta: StyleMeta) -> set[str]:
    """The content words of a style's text: title, tags, creator, description."""
    return content_words(" ".join([meta.title, *meta.tags, meta.creator, meta.description]))


def kind_of(query: str, style: str, words: Mapping[str, set[str]]) -> str:
    """The kind of `query` labelled with `style`, given each style's content words (`style_words`)."""
    asked = content_words(query)
    if asked & words[style]:
        return SHARES
    if any(asked & other for name, other in words.items() if name != style):
        return DECOY
    return NO_SHARED


def fold_of(rows: Iterable[tuple[str, str, str]]) -> dict[str, int]:
    """query -> fold, for rows (query, style, kind), by the procedure in the module docstring."""
    ordered = sorted(rows, key=lambda r: (r[2], r[1], hashlib.sha256(r[0].encode()).hexdigest()))
    return {query: j % FOLDS for j, (query, _style, _kind) in enumerate(ordered)}
