"""Feedback signals: what users told retrieval, per principal, in the feedback database (a SQLite
file in the data folder, or the PostgreSQL database `S2R_DATABASE_URL` names).

One row per signal: who (principal), the prompt, the style, the kind and when. Kinds and their
votes (what retrieval/feedback.py learns from):

    chosen       +1     the user picked this style for the prompt (explicitly, or by rendering with it)
    up           +1     a 👍 on a render: each style it used
    passed_over  -0.25  implicit and weak: retrieval ranked it above the style the user picked
    down         -1     a 👎 on a render: each style it used
    rejected     -1     "not this style" for the prompt

Several processes may share it (API processes, a CLI `styles feedback`): every write bumps a
one-row counter in the same transaction, and readers notice a change through `version()`.
The schema is the `feedback` store's migrations (database/migrations/feedback). Export/import as
JSON Lines, one signal a line; `reset` removes a principal's signals. Left out: editing single signals.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, get_args

from sqlalchemy import Connection, text

from ..database import Database, open_database
from ..errors import InvalidParameter

Signal = Literal["chosen", "rejected", "passed_over", "up", "down"]
SIGNALS: tuple[str, ...] = get_args(Signal)
VOTES: dict[str, float] = {"chosen": 1.0, "up": 1.0, "passed_over": -0.25, "down": -1.0, "rejected": -1.0}
MAX_PROMPT = 1000


@dataclass(frozen=True)
class FeedbackSignal:
    principal: str
    prompt: str
    style_id: str
    signal: str
    source: str  # api | render | rating | cli | import
    created_at: float

    @property
    def vote(self) -> float:
        return VOTES[self.signal]


def check_signal(prompt: str, style_id: str, signal: str) -> str:
    """The prompt, stripped; refuses what cannot be learned from, naming the field."""
    prompt = (prompt or "").strip()
    if not prompt:
        raise InvalidParameter("the prompt is empty", field="prompt")
    if len(prompt) > MAX_PROMPT:
        raise InvalidParameter(f"the prompt is over {MAX_PROMPT} characters", field="prompt")
    if not style_id or len(style_id) > 64:
        raise InvalidParameter("style_id is empty or too long", field="style_id")
    if signal not in SIGNALS:
        raise InvalidParameter(f"signal must be one of {', '.join(SIGNALS)}, got {signal!r}", field="signal")
    return prompt


class SignalStore:
    """The signals of every principal, at a SQLite file or a database URL. Thread-safe (pooled connections)."""

    def __init__(self, where: Path | str) -> None:
        self.database: Database = open_database(where, store="feedback")
        self.url = str(where)

    def add(self, principal: str, prompt: str, style_id: str, signal: str, *, source: str = "api") -> FeedbackSignal:
        prompt = check_signal(prompt, style_id, signal)
        item = FeedbackSignal(principal, prompt, style_id, signal, source, time.time())
        self._insert([item])
        return item

    def add_many(
        self, principal: str, prompt: str, votes: Iterable[tuple[str, str]], *, source: str
    ) -> list[FeedbackSignal]:
        """Several (style_id, signal) for one prompt, in one transaction (all or none)."""
        now = time.time()
        items = [FeedbackSignal(principal, check_signal(prompt, s, k), s, k, source, now) for s, k in votes]
        self._insert(items)
        return items

    def _insert(self, items: Iterable[FeedbackSignal]) -> int:
        rows = [asdict(s) for s in items]
        with self.database.write() as conn:
            if rows:
                conn.execute(
                    text(
                        "INSERT INTO signals (principal, prompt, style_id, signal, source, created_at) "
                        "VALUES (:principal, :prompt, :style_id, :signal, :source, :created_at)"
                    ),
                    rows,
                )
            _bump(conn)
        return len(rows)

    def signals(self, principal: str | None = None) -> list[FeedbackSignal]:
        """Every signal of one principal (None: of everyone), oldest first."""
        query = "SELECT principal, prompt, style_id, signal, source, created_at FROM signals"
        args: dict[str, str] = {}
        if principal is not None:
            query, args = query + " WHERE principal = :principal", {"principal": principal}
        with self.database.read() as conn:
            rows = conn.execute(text(query + " ORDER BY seq"), args).all()
        return [FeedbackSignal(*row) for row in rows]

    def version(self) -> int:
        """Changes whenever a signal is added or removed, by any process (a counter every write bumps
        in its transaction). Read several times per search: one row, not a scan of the table."""
        return int(self.database.peek("SELECT version FROM signals_state WHERE id = 1"))

    def reset(self, principal: str) -> int:
        """Remove every signal of a principal; returns how many."""
        with self.database.write() as conn:
            removed = conn.execute(text("DELETE FROM signals WHERE principal = :p"), {"p": principal}).rowcount
            _bump(conn)
        return removed

    def export_lines(self, principal: str) -> Iterator[str]:
        """A principal's signals as JSON Lines (without the principal: import names the owner)."""
        for item in self.signals(principal):
            row = asdict(item)
            row.pop("principal")
            yield json.dumps(row, sort_keys=True)

    def import_lines(self, principal: str, lines: Iterable[str]) -> int:
        """Add the signals of an export to `principal`; all or nothing. A bad line is refused by
        number, before anything is stored."""
        items = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                prompt = check_signal(row["prompt"], row["style_id"], row["signal"])
                created = float(row.get("created_at", time.time()))
            except (ValueError, KeyError, TypeError, InvalidParameter) as exc:
                raise InvalidParameter(f"line {number} is not a feedback signal: {exc}", field="file") from None
            source = str(row.get("source", "import"))[:20]
            items.append(FeedbackSignal(principal, prompt, str(row["style_id"]), row["signal"], source, created))
        return self._insert(items)

    def close(self) -> None:
        self.database.close()


def _bump(conn: Connection) -> None:
    """Bump the version counter, inside the write transaction that changed the signals."""
    conn.execute(text("UPDATE signals_state SET version = version + 1 WHERE id = 1"))
