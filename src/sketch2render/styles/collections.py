"""Collections (moodboards): named sets of styles, with an owner and a visibility like styles.

SQLite beside the style records (`collections.sqlite3` in the library's folder), WAL mode so the API
server and a CLI command may share it. One row per collection, one per (collection, style). Names are
one namespace for everyone (a private collection's name is taken for the others too). A team
collection is everyone's to read and use; a private one is its owner's (a 404 to the others, as a
private style). Changing a collection needs its owner or an admin. Members are style ids: a style
removed from the library simply stops counting (`StyleLibrary` shows only styles that exist and the
caller may see). Left out: renaming, nested collections.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import Conflict, Forbidden, InvalidParameter, NotFound
from ..schemas import StyleRecord, Visibility, is_style_id

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}")
VISIBILITIES = ("team", "private")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS collections (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    visibility TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS members (
    collection TEXT NOT NULL REFERENCES collections(name) ON DELETE CASCADE,
    style_id TEXT NOT NULL,
    added_at REAL NOT NULL,
    PRIMARY KEY (collection, style_id)
);
"""


@dataclass(frozen=True)
class Collection:
    name: str
    owner: str
    visibility: Visibility
    description: str
    created_at: float
    style_ids: tuple[str, ...] = field(default=())  # in the order they were added

    def visible_to(self, principal: str) -> bool:
        return self.visibility == "team" or self.owner == principal


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not NAME.fullmatch(name):
        raise InvalidParameter(
            f"bad collection name {name!r}: 1-64 letters, digits, spaces, '.', '_' or '-', starting with a letter "
            "or digit",
            field="collection",
        )
    return name


class CollectionStore:
    """Every collection. Thread-safe: one connection, every statement under a lock."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = Path(db_path)
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.db_path, isolation_level=None, check_same_thread=False, timeout=10.0)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA busy_timeout=10000")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # --- reading ---------------------------------------------------------------------------
    def _row(self, name: str) -> Collection | None:
        found = self._conn.execute(
            "SELECT name, owner, visibility, description, created_at FROM collections WHERE name = ?", (name,)
        ).fetchone()
        if found is None:
            return None
        ids = self._conn.execute(
            "SELECT style_id FROM members WHERE collection = ? ORDER BY added_at, style_id", (name,)
        ).fetchall()
        return Collection(*found, style_ids=tuple(i for (i,) in ids))

    def get(self, name: str, principal: str, *, admin: bool = False) -> Collection:
        """A collection as `principal` sees it: another's private collection, or a name no collection
        can have, is the same 404 as none."""
        name = (name or "").strip()
        if not NAME.fullmatch(name):
            raise NotFound(f"no collection named {name!r}", field="collection")
        with self._lock:
            found = self._row(name)
        if found is None or not (admin or found.visible_to(principal)):
            raise NotFound(f"no collection named {name!r}", field="collection")
        return found

    def list(self, principal: str | None = None) -> list[Collection]:
        """Every collection `principal` may see (None: every one), by name."""
        with self._lock:
            names = [n for (n,) in self._conn.execute("SELECT name FROM collections ORDER BY name")]
            found = [c for c in (self._row(n) for n in names) if c is not None]
        return [c for c in found if principal is None or c.visible_to(principal)]

    # --- writing ---------------------------------------------------------------------------
    def create(
        self, name: str, owner: str, *, visibility: str = "team", description: str = "", style_ids: Iterable[str] = ()
    ) -> Collection:
        name = check_name(name)
        if visibility not in VISIBILITIES:
            raise InvalidParameter(f"visibility must be team or private, got {visibility!r}", field="visibility")
        if len(description) > 4000:
            raise InvalidParameter("the description is over 4000 characters", field="description")
        ids = _checked_ids(style_ids)
        now = time.time()
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute(
                    "INSERT INTO collections (name, owner, visibility, description, created_at) VALUES (?, ?, ?, ?, ?)",
                    (name, owner, visibility, description, now),
                )
                self._conn.executemany(
                    "INSERT OR IGNORE INTO members (collection, style_id, added_at) VALUES (?, ?, ?)",
                    [(name, i, now + n * 1e-6) for n, i in enumerate(ids)],
                )
            except sqlite3.IntegrityError:
                self._conn.execute("ROLLBACK")
                raise Conflict(f"a collection named {name!r} exists already", field="collection") from None
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            created = self._row(name)
        assert created is not None
        return created

    def _editable(self, name: str, principal: str, admin: bool) -> Collection:
        found = self.get(name, principal, admin=admin)
        if not (admin or found.owner == principal):
            raise Forbidden(
                f"collection {found.name!r} belongs to {found.owner!r}; only they or an admin may change it"
            )
        return found

    def add(self, name: str, style_ids: Iterable[str], principal: str, *, admin: bool = False) -> Collection:
        found = self._editable(name, principal, admin)
        now = time.time()
        rows = [(found.name, i, now + n * 1e-6) for n, i in enumerate(_checked_ids(style_ids))]
        with self._lock:
            self._conn.executemany(
                "INSERT OR IGNORE INTO members (collection, style_id, added_at) VALUES (?, ?, ?)", rows
            )
        return self.get(found.name, principal, admin=admin)

    def remove(self, name: str, style_ids: Iterable[str], principal: str, *, admin: bool = False) -> Collection:
        found = self._editable(name, principal, admin)
        with self._lock:
            self._conn.executemany(
                "DELETE FROM members WHERE collection = ? AND style_id = ?", [(found.name, i) for i in style_ids]
            )
        return self.get(found.name, principal, admin=admin)

    def delete(self, name: str, principal: str, *, admin: bool = False) -> Collection:
        found = self._editable(name, principal, admin)
        with self._lock:
            self._conn.execute("DELETE FROM collections WHERE name = ?", (found.name,))
        return found


def _checked_ids(style_ids: Iterable[str]) -> list[str]:
    ids = list(dict.fromkeys(style_ids))
    for style_id in ids:
        if not is_style_id(style_id):
            raise InvalidParameter(f"{style_id!r} is not a style id", field="style_ids")
    if len(ids) > 10_000:
        raise InvalidParameter("at most 10000 styles at once", field="style_ids")
    return ids


class StyleCollections:
    """The style library's side of collections (a base of `StyleLibrary`): a collection's styles as one
    principal may see and use them, and adding styles they may see."""

    collections: CollectionStore
    _records: Mapping[str, StyleRecord]

    if TYPE_CHECKING:  # what StyleLibrary provides

        def sync(self) -> None: ...

        def get_for(self, style_id: str, principal: str, *, admin: bool = False) -> StyleRecord: ...

    def collection_styles(
        self, name: str, principal: str, *, admin: bool = False
    ) -> tuple[Collection, list[StyleRecord]]:
        """A collection `principal` may see and its styles that exist and they may see (404 otherwise)."""
        found = self.collections.get(name, principal, admin=admin)
        self.sync()
        records = [self._records[i] for i in found.style_ids if i in self._records]
        return found, [r for r in records if admin or r.visible_to(principal)]

    def collection_ids(self, name: str, principal: str) -> frozenset[str]:
        """The ids of a collection's styles, as `principal` may use them (what a render or search keeps to)."""
        return frozenset(r.id for r in self.collection_styles(name, principal)[1])

    def add_to_collection(
        self, name: str, style_ids: Sequence[str], principal: str, *, admin: bool = False
    ) -> Collection:
        """Add styles to a collection its owner (or an admin) changes; a style they cannot see is a 404."""
        for style_id in style_ids:
            self.get_for(style_id, principal, admin=admin)
        return self.collections.add(name, style_ids, principal, admin=admin)
