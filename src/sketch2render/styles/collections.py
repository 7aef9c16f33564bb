"""Collections (moodboards): named sets of styles, with an owner and a visibility like styles.

Kept in the `collections` store: a SQLite file beside the style records (`collections.sqlite3` in the
library's folder) that the API server and a CLI command may share, or the PostgreSQL database
`S2R_DATABASE_URL` names (several API processes then see the same collections). The schema is the
store's migrations (database/migrations/collections). One row per collection, one per (collection,
style). Names are one namespace for everyone (a private collection's name is taken for the others too). A team
collection is everyone's to read and use; a private one is its owner's (a 404 to the others, as a
private style). Changing a collection needs its owner or an admin. Members are style ids: a style
removed from the library simply stops counting (`StyleLibrary` shows only styles that exist and the
caller may see). Left out: renaming, nested collections.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from ..database import Database, open_database
from ..errors import Conflict, Forbidden, InvalidParameter, NotFound
from ..schemas import StyleRecord, Visibility, is_style_id

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}")
VISIBILITIES = ("team", "private")

COLLECTIONS_FILE = "collections.sqlite3"  # in the style library's folder, when no database URL is set


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
    """Every collection, at a SQLite file or a database URL. Thread-safe (pooled connections)."""

    def __init__(self, where: Path | str) -> None:
        self.database: Database = open_database(where, store="collections")

    def close(self) -> None:
        self.database.close()

    # --- reading ---------------------------------------------------------------------------
    @staticmethod
    def _row(conn: Connection, name: str) -> Collection | None:
        found = conn.execute(
            text("SELECT name, owner, visibility, description, created_at FROM collections WHERE name = :name"),
            {"name": name},
        ).first()
        if found is None:
            return None
        ids = conn.execute(
            text("SELECT style_id FROM members WHERE collection = :name ORDER BY added_at, style_id"), {"name": name}
        ).all()
        return Collection(*found, style_ids=tuple(i for (i,) in ids))

    def get(self, name: str, principal: str, *, admin: bool = False) -> Collection:
        """A collection as `principal` sees it: another's private collection, or a name no collection
        can have, is the same 404 as none."""
        name = (name or "").strip()
        if not NAME.fullmatch(name):
            raise NotFound(f"no collection named {name!r}", field="collection")
        with self.database.read() as conn:
            found = self._row(conn, name)
        if found is None or not (admin or found.visible_to(principal)):
            raise NotFound(f"no collection named {name!r}", field="collection")
        return found

    def list(self, principal: str | None = None) -> list[Collection]:
        """Every collection `principal` may see (None: every one), by name."""
        with self.database.read() as conn:
            rows = conn.execute(
                text("SELECT name, owner, visibility, description, created_at FROM collections ORDER BY name")
            ).all()
            members = conn.execute(
                text("SELECT collection, style_id FROM members ORDER BY collection, added_at, style_id")
            ).all()
        ids: dict[str, list[str]] = {}
        for collection, style_id in members:
            ids.setdefault(collection, []).append(style_id)
        found = [Collection(*row, style_ids=tuple(ids.get(row[0], ()))) for row in rows]
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
        try:
            with self.database.write() as conn:
                conn.execute(
                    text(
                        "INSERT INTO collections (name, owner, visibility, description, created_at) "
                        "VALUES (:name, :owner, :visibility, :description, :created_at)"
                    ),
                    {
                        "name": name,
                        "owner": owner,
                        "visibility": visibility,
                        "description": description,
                        "created_at": now,
                    },
                )
                _insert_members(conn, name, ids, now)
                created = self._row(conn, name)
        except IntegrityError:
            raise Conflict(f"a collection named {name!r} exists already", field="collection") from None
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
        ids = _checked_ids(style_ids)
        with self.database.write() as conn:
            _insert_members(conn, found.name, ids, time.time())
        return self.get(found.name, principal, admin=admin)

    def remove(self, name: str, style_ids: Iterable[str], principal: str, *, admin: bool = False) -> Collection:
        found = self._editable(name, principal, admin)
        rows = [{"name": found.name, "style_id": i} for i in style_ids]
        if rows:
            with self.database.write() as conn:
                conn.execute(text("DELETE FROM members WHERE collection = :name AND style_id = :style_id"), rows)
        return self.get(found.name, principal, admin=admin)

    def delete(self, name: str, principal: str, *, admin: bool = False) -> Collection:
        found = self._editable(name, principal, admin)
        with self.database.write() as conn:
            conn.execute(text("DELETE FROM collections WHERE name = :name"), {"name": found.name})
        return found


def _insert_members(conn: Connection, name: str, ids: Sequence[str], now: float) -> None:
    """Add styles to a collection in the order given (a style already in it keeps its place); a
    collection removed meanwhile by another process is the same 404 as none."""
    rows = [{"name": name, "style_id": i, "added_at": now + n * 1e-6} for n, i in enumerate(ids)]
    if not rows:
        return
    try:
        conn.execute(
            text(
                "INSERT INTO members (collection, style_id, added_at) VALUES (:name, :style_id, :added_at) "
                "ON CONFLICT (collection, style_id) DO NOTHING"
            ),
            rows,
        )
    except IntegrityError:  # the foreign key: the collection is gone
        raise NotFound(f"no collection named {name!r}", field="collection") from None


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
