"""Who may call the API: principals (a name and a role) and the hashed keys that identify them.

Two sources of keys, both checked on every request:

- `S2R_API_KEYS` (settings): each listed key is an `admin` named `key:<12 hex of its SHA-256>`,
  as before principals existed, so existing setups keep working;
- the key store (`sketch2render keys add NAME --role user|admin`): one key per name, kept only as
  its SHA-256 (keys are 256-bit random tokens, so a plain hash is enough; no salt or slow hash is
  needed). Two stores behind one Protocol (`KeyRecords`), chosen by `open_key_store`:
  `keys.json` in the data folder (`KeyStore`, the default), re-read when the file changes; or,
  with `S2R_DATABASE_URL`, a table in that database (`shared.DatabaseKeyStore`), which every API
  process re-checks by a version counter, so a key added or revoked through one process (or the
  CLI) counts in all from their next request on. Either way a revoked key is refused from the
  next request on.

With no key anywhere, every caller is `anonymous`, an admin (one person on a loopback-only server).
A presented key is hashed once and compared with every known hash in constant time.
Left out: expiry dates, scopes finer than the two roles.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from ..config import Settings
from ..errors import Conflict, InvalidParameter, NotFound
from ..files import atomic_write

KEY_PREFIX = "s2r_"
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,62}")
RESERVED_NAMES = frozenset({"anonymous", "all", "local"})  # `local`: the UI that `up` starts


class Role(StrEnum):
    ADMIN = "admin"  # manage the library and keys, see every job
    USER = "user"  # render, see and cancel only its own jobs, read the library


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


ANONYMOUS = Principal("anonymous", Role.ADMIN)


@dataclass(frozen=True)
class KeyRecord:
    """One stored key: never the key itself, only its SHA-256."""

    name: str
    role: Role
    sha256: str
    created_at: float

    @property
    def principal(self) -> Principal:
        return Principal(self.name, self.role)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    """A fresh key: 256 random bits, URL-safe, with a prefix that secret scanners can spot."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def env_principal(key: str) -> Principal:
    """The principal of an `S2R_API_KEYS` key (the id the job queue used before named keys)."""
    return Principal("key:" + hash_key(key)[:12], Role.ADMIN)


UI_PRINCIPAL = Principal("local", Role.ADMIN)  # the web UI started by `sketch2render up` (S2R_UI_KEY)


def new_record(name: str, role: Role | str) -> tuple[KeyRecord, str]:
    """A new key for `name` and its record (what a store keeps); the name and role checked."""
    if role not in set(Role):
        raise InvalidParameter(f"bad role {role!r}: use {' or '.join(Role)}", field="role")
    key = new_key()
    return KeyRecord(check_name(name), Role(role), hash_key(key), time.time()), key


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name) or name in RESERVED_NAMES:
        raise InvalidParameter(
            f"bad principal name {name!r}: use 1-63 lowercase letters, digits, '.', '_' or '-' "
            f"(not {', '.join(sorted(RESERVED_NAMES))})",
            field="name",
        )
    return name


class KeyRecords(Protocol):
    """A key store, as the authenticator and the CLI use it."""

    blocking: bool  # reading it waits on a database (the API then reads it off the event loop)

    def records(self) -> tuple[KeyRecord, ...]:
        """Every stored key, current as of this call (a change by any writer is seen)."""
        ...

    def get(self, name: str) -> KeyRecord | None: ...

    def add(self, name: str, role: Role | str, *, replace: bool = False) -> tuple[KeyRecord, str]:
        """A new key for `name`; returns (record, key). The key is not kept: show it once."""
        ...

    def revoke(self, name: str) -> KeyRecord: ...

    def token_secret(self) -> bytes | None:
        """The secret that signs live tokens in every process of the service (None: each process
        makes its own)."""
        ...


class KeyStore:
    """`keys.json` (mode 0600): `{"version": 1, "keys": [KeyRecord...]}`. Writers take a lock file
    and replace the file atomically; readers cache it by (inode, mtime, size)."""

    blocking = False  # one stat per read

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._cache: tuple[tuple[int, int, int] | None, tuple[KeyRecord, ...]] = (None, ())
        self._lock = threading.Lock()

    # --- reading ---------------------------------------------------------------------------
    def records(self) -> tuple[KeyRecord, ...]:
        """Every stored key, re-read only when the file changed (one stat per call)."""
        try:
            st = self.path.stat()
            signature = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            return ()
        with self._lock:
            if self._cache[0] != signature:
                self._cache = (signature, self._read())
            return self._cache[1]

    def _read(self) -> tuple[KeyRecord, ...]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return ()
        except (OSError, ValueError) as exc:
            raise InvalidParameter(f"the key store {self.path} is unreadable ({type(exc).__name__})") from None
        return tuple(
            KeyRecord(str(k["name"]), Role(k["role"]), str(k["sha256"]), float(k["created_at"]))
            for k in data.get("keys", [])
        )

    def __len__(self) -> int:
        return len(self.records())

    def get(self, name: str) -> KeyRecord | None:
        return next((r for r in self.records() if r.name == name), None)

    # --- writing (the CLI) ---------------------------------------------------------------------
    @contextlib.contextmanager
    def _writing(self) -> Iterator[list[KeyRecord]]:
        """The records under an exclusive lock; whatever the block leaves in the list is saved."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            records = list(self._read())
            yield records
            self._write(records)

    def _write(self, records: Iterable[KeyRecord]) -> None:
        body = json.dumps({"version": 1, "keys": [asdict(r) for r in records]}, indent=2) + "\n"
        atomic_write(self.path, body, mode=0o600)

    def add(self, name: str, role: Role | str, *, replace: bool = False) -> tuple[KeyRecord, str]:
        """A new key for `name`; returns (record, key). The key is not kept: show it once."""
        record, key = new_record(name, role)
        with self._writing() as records:
            existing = [r for r in records if r.name == name]
            if existing and not replace:
                raise Conflict(f"{name!r} already has a key; revoke it first, or add it again with --replace")
            records[:] = [r for r in records if r.name != name] + [record]
        return record, key

    def revoke(self, name: str) -> KeyRecord:
        with self._writing() as records:
            found = next((r for r in records if r.name == name), None)
            if found is None:
                raise NotFound(f"no key named {name!r}", field="name")
            records.remove(found)
        return found

    def token_secret(self) -> None:
        return None  # one process owns a data folder's keys.json: its own secret serves


def open_key_store(settings: Settings) -> KeyRecords:
    """The key store the settings name: the database with `S2R_DATABASE_URL` (a data folder's
    `keys.json` is taken into it the first time, so no key is lost on the move), else `keys.json`."""
    if not settings.database_url:
        return KeyStore(settings.keys_file)
    from .shared import DatabaseKeyStore

    store = DatabaseKeyStore(settings.database_url)
    store.adopt(KeyStore(settings.keys_file))
    return store


class Authenticator:
    """Keys from the settings and from the key store -> the caller's principal."""

    def __init__(self, env_keys: Iterable[str], store: KeyRecords, *, ui_key: str | None = None) -> None:
        self._env = tuple((hash_key(k), env_principal(k)) for k in env_keys)
        self._ui = ((hash_key(ui_key), UI_PRINCIPAL),) if ui_key else ()  # counts only beside real keys
        self.store = store

    @classmethod
    def from_settings(cls, settings: Settings) -> Authenticator:
        return cls(settings.api_keys, open_key_store(settings), ui_key=settings.ui_key)

    @property
    def blocking(self) -> bool:
        return self.store.blocking

    @property
    def enabled(self) -> bool:
        """False when no key exists anywhere: every caller is `anonymous` (loopback only)."""
        return bool(self._env) or bool(self.store.records())

    def principals(self) -> list[Principal]:
        return [p for _, p in self._env] + [r.principal for r in self.store.records()]

    def authenticate(self, authorization: str | None) -> Principal | None:
        """The principal of an `Authorization: Bearer <key>` value; None when it is not a valid key."""
        known = [*self._env, *((r.sha256, r.principal) for r in self.store.records())]
        if not known:
            return ANONYMOUS
        known += self._ui
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        given = hash_key(token).encode()
        matched = None
        for digest, principal in known:  # no early exit: every hash is compared
            if hmac.compare_digest(given, digest.encode()) and matched is None:
                matched = principal
        return matched
