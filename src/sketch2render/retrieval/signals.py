"""Feedback signals: what users told retrieval, per principal, in SQLite in the data folder.

One row per signal: who (principal), the prompt, the style, the kind and when. Kinds and their
votes (what retrieval/feedback.py learns from):

    chosen       +1     the user picked this style for the prompt (explicitly, or by rendering with it)
    up           +1     a 👍 on a render: each style it used
    passed_over  -0.25  implicit and weak: retrieval ranked it above the style the user picked
    down         -1     a 👎 on a render: each style it used
    rejected     -1     "not this style" for the prompt

Several processes may share the file (the API server and a CLI `styles feedback`): SQLite in WAL
mode, and readers notice a change through `version()`. Export/import as JSON Lines, one signal a
line; `reset` removes a principal's signals. Left out: editing single signals.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, get_args

from ..errors import InvalidParameter

Signal = Literal["chosen", "rejected", "passed_over", "up", "down"]
SIGNALS: tuple[str, ...] = get_args(Signal)
VOTES: dict[str, float] = {"chosen": 1.0, "up": 1.0, "passed_over": -0.25, "down": -1.0, "rejected": -1.0}
MAX_PROMPT = 1000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS signals (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    principal TEXT NOT NULL,
    prompt TEXT NOT NULL,
    style_id TEXT NOT NULL,
    signal TEXT NOT NULL,
    source TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS signals_principal ON signals (principal);
"""


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
    """The signals of every principal. Thread-safe: one connection, every statement under a lock."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = Path(db_path)
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.db_path, isolation_level=None, check_same_thread=False, timeout=10.0)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA busy_timeout=10000")
        self._conn.executescript(_SCHEMA)
        self._writes = 0  # changes made through this connection (see `version`)

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
        rows = [(s.principal, s.prompt, s.style_id, s.signal, s.source, s.created_at) for s in items]
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    "INSERT INTO signals (principal, prompt, style_id, signal, source, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    rows,
                )
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            self._writes += 1
        return len(rows)

    def signals(self, principal: str | None = None) -> list[FeedbackSignal]:
        """Every signal of one principal (None: of everyone), oldest first."""
        query = "SELECT principal, prompt, style_id, signal, source, created_at FROM signals"
        args: tuple[str, ...] = ()
        if principal is not None:
            query, args = query + " WHERE principal = ?", (principal,)
        with self._lock:
            rows = self._conn.execute(query + " ORDER BY seq", args).fetchall()
        return [FeedbackSignal(*row) for row in rows]

    def version(self) -> tuple[int, int]:
        """Changes whenever a signal is added or removed: by another connection or process (SQLite's
        `data_version`) or through this one (its count of writes). Read several times per search, so
        it is a constant-time pragma, not a scan of the table."""
        with self._lock:
            (others,) = self._conn.execute("PRAGMA data_version").fetchone()
            return int(others), self._writes

    def reset(self, principal: str) -> int:
        """Remove every signal of a principal; returns how many."""
        with self._lock:
            self._writes += 1
            return self._conn.execute("DELETE FROM signals WHERE principal = ?", (principal,)).rowcount

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
        with self._lock:
            self._conn.close()
