"""When the two content lists agree, the fused ranking follows them (the "evidence" design's
`agreement`, fusion.py `DESIGNS`).

BM25 reads a style's words, caption meaning reads what its caption means: two independent views of
the same text. When both rank the same style first, that style leads the fused ranking, so a vote of
the feedback list for another style (a past prompt that merely resembles this one) cannot push it
down. An explicit vote *against* it (a rejection for a similar prompt) still wins: then nothing
leads. The hit says why it is first: `led: its words and its caption's meaning both rank it first`.
Without a caption list (its weight 0, a stand-in sentence model) or without word matches nothing
changes.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .fusion import Fused, RankedList
from .learning import Learned

LED_LINE = "led: its words and its caption's meaning both rank it first"


def agreed_first(lexical: RankedList, learned: Learned) -> str | None:
    """The style that BM25 and caption meaning both rank first (ties by id, as each list orders),
    unless feedback votes against it; None when they differ or one list is empty."""
    if not len(lexical) or not learned.caption:
        return None
    first = min(learned.caption, key=lambda i: (-learned.caption[i], i))
    if first != str(lexical.ids[0]):
        return None
    votes = learned.votes.get(first)
    return None if votes is not None and votes.score < 0 else first


def lead(fused: Fused, style_id: str | None) -> tuple[Fused, str | None]:
    """`fused` with `style_id` first (its score raised to the first's, so scores still only fall),
    and the id when that moved it (None: it was first already, or is not in the ranking)."""
    if style_id is None:
        return fused, None
    where = np.flatnonzero(fused.ids == style_id)
    if not len(where) or where[0] == 0:
        return fused, None
    j = int(where[0])
    order = np.concatenate(([j], np.delete(np.arange(len(fused)), j)))
    scores = fused.scores[order].copy()
    scores[0] = fused.scores[0]
    by_list = {name: column[order] for name, column in fused.by_list.items()}
    return replace(fused, ids=fused.ids[order], scores=scores, by_list=by_list), style_id
