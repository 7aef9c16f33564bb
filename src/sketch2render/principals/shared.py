"""The key store in a database (`S2R_DATABASE_URL`): the keys every API process of one service
accepts, the same in all of them.

One row per key (`api_keys`: name, role, SHA-256, created), and a one-row state (`keys_state`)
whose version counter every change bumps in its own transaction. `records()` reads that counter
(one row by its primary key) and re-reads the keys only when it moved, so a key added or revoked
through any process, or the CLI with the same `S2R_DATABASE_URL`, is accepted or refused by every
process from its next request on. `recheck_s` may stretch the re-check to once per that many
seconds (0, the default, checks on every call). The schema is the `keys` store's migrations
(database/migrations/keys).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from ..database import Database, open_database
from ..errors import Conflict, NotFound
from . import KeyRecord, KeyRecords, Role, new_record

_COLUMNS = "name, role, sha256, created_at"


class DatabaseKeyStore:
    """The `keys` store at a database URL (or a SQLite file: tests, one machine). Thread-safe."""

    blocking = True

    def __init__(self, where: Path | str, *, recheck_s: float = 0.0, clock: Callable[[], float] = time.monotonic):
        self.database: Database = open_database(where, store="keys")
        self.recheck_s = recheck_s
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: tuple[int | None, tuple[KeyRecord, ...]] = (None, ())
        self._checked_at = float("-inf")

    # --- reading ---------------------------------------------------------------------------
    def records(self) -> tuple[KeyRecord, ...]:
        """Every stored key, re-read only when the version counter moved (one row read per call,
        or per `recheck_s`)."""
        now = self._clock()
        known, cached = self._cache
        if known is not None and now - self._checked_at < self.recheck_s:
            return cached
        with self.database.standalone() as conn:  # no lock held: requests on other threads read at once
            version = _version(conn)
            if version != known:
                rows = conn.execute(text(f"SELECT {_COLUMNS} FROM api_keys ORDER BY created_at, name")).all()
                cached = tuple(KeyRecord(n, Role(r), h, float(c)) for n, r, h, c in rows)
        with self._lock:  # the counter only grows: never go back to an older read
            if self._cache[0] is None or version >= self._cache[0]:
                self._cache = (version, cached)
            self._checked_at = now
        return cached

    def version(self) -> int:
        """Changes whenever a key is added or revoked, by any process."""
        with self.database.read() as conn:
            return _version(conn)

    def __len__(self) -> int:
        return len(self.records())

    def get(self, name: str) -> KeyRecord | None:
        return next((r for r in self.records() if r.name == name), None)

    # --- writing (the CLI) -----------------------------------------------------------------
    def add(self, name: str, role: Role | str, *, replace: bool = False) -> tuple[KeyRecord, str]:
        """A new key for `name`; returns (record, key). The key is not kept: show it once."""
        record, key = new_record(name, role)
        try:
            with self.database.write() as conn:
                if replace:
                    conn.execute(text("DELETE FROM api_keys WHERE name = :name"), {"name": record.name})
                _insert(conn, [record])
                _bump(conn)
        except IntegrityError:
            raise Conflict(f"{name!r} already has a key; revoke it first, or add it again with --replace") from None
        return record, key

    def revoke(self, name: str) -> KeyRecord:
        with self.database.write() as conn:
            found = conn.execute(
                text(f"DELETE FROM api_keys WHERE name = :name RETURNING {_COLUMNS}"), {"name": name}
            ).first()
            if found is None:
                raise NotFound(f"no key named {name!r}", field="name")
            _bump(conn)
        return KeyRecord(found[0], Role(found[1]), found[2], float(found[3]))

    def adopt(self, earlier: KeyRecords) -> int:
        """Take in the keys of `earlier` (a data folder's `keys.json`) the first time this database
        is used, so that moving to it loses no key; never again after (a key revoked here stays
        revoked). Returns how many were taken in."""
        with self.database.write() as conn:
            lock = " FOR UPDATE" if self.database.is_postgres else ""  # SQLite: BEGIN IMMEDIATE holds it
            adopted = conn.execute(text(f"SELECT adopted_file FROM keys_state WHERE id = 1{lock}")).scalar_one()
            if adopted:
                return 0
            records = earlier.records()
            taken = _insert(conn, records, skip_existing=True)
            conn.execute(text("UPDATE keys_state SET adopted_file = :yes WHERE id = 1"), {"yes": True})
            if taken:
                _bump(conn)
        return taken

    def token_secret(self) -> bytes:
        """The live tokens' signing secret, made once for the whole service and kept here."""
        with self.database.write() as conn:
            conn.execute(
                text("UPDATE keys_state SET token_secret = :fresh WHERE id = 1 AND token_secret IS NULL"),
                {"fresh": secrets.token_hex(32)},
            )
            return bytes.fromhex(conn.execute(text("SELECT token_secret FROM keys_state WHERE id = 1")).scalar_one())

    def close(self) -> None:
        self.database.close()


def _version(conn: Connection) -> int:
    return int(conn.execute(text("SELECT version FROM keys_state WHERE id = 1")).scalar_one())


def _insert(conn: Connection, records: tuple[KeyRecord, ...] | list[KeyRecord], *, skip_existing: bool = False) -> int:
    rows = [{"name": r.name, "role": r.role.value, "sha256": r.sha256, "created_at": r.created_at} for r in records]
    if not rows:
        return 0
    skip = " ON CONFLICT DO NOTHING" if skip_existing else ""
    before = conn.execute(text("SELECT count(*) FROM api_keys")).scalar_one()
    conn.execute(text(f"INSERT INTO api_keys ({_COLUMNS}) VALUES (:name, :role, :sha256, :created_at){skip}"), rows)
    return int(conn.execute(text("SELECT count(*) FROM api_keys")).scalar_one()) - int(before)


def _bump(conn: Connection) -> None:
    """Bump the version counter, inside the write transaction that changed the keys."""
    conn.execute(text("UPDATE keys_state SET version = version + 1 WHERE id = 1"))
