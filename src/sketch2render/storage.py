"""Room and writability of the data folder: the one place that knows what a full or read-only
disk looks like and turns it into an error a user can read.

- `require_room` refuses a request before it is stored when the folder would fall below the
  reserve (`S2R_MIN_FREE_MB`, so the job database keeps room to record the ends of jobs);
- `storing` (a context manager) and `translate` turn a write that failed on a full disk (ENOSPC,
  EDQUOT, SQLite's "database or disk is full") into `InsufficientStorage` (507) and one on a
  read-only mount (EROFS, SQLite's "attempt to write a readonly database") into `StorageReadOnly`
  (503);
- `low_space_problem` and `write_problem_of` give the readiness reasons (below the reserve; read-only or unreadable).

Every answer is read from the filesystem when asked (statvfs, a real write probe): nothing is
cached, so writes resume by themselves when space or writability returns. The probe writes because
`os.access` says yes to root on any folder and knows nothing of read-only mounts. No heavy imports.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import OperationalError as DatabaseOperationalError

from .errors import DatabaseUnavailable, InsufficientStorage, S2RError, StorageReadOnly
from .files import temp_path

if TYPE_CHECKING:
    from .config import Settings

MB = 1024 * 1024
NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT})
READ_ONLY = frozenset({errno.EROFS})
SQLITE_FULL, SQLITE_READONLY = 13, 8  # primary result codes (the low byte of an extended one)
PG_DISK_FULL, PG_READ_ONLY = "53100", "25006"  # PostgreSQL's SQLSTATEs: disk_full, read_only_sql_transaction
PG_GONE = ("08", "57P01", "57P02", "57P03")  # no connection; the server shutting down, crashed, starting
PROBE_NAME = "write-probe"  # the probe is `.write-probe.<random>.tmp`, removed at once


def _existing(folder: Path) -> Path:
    """`folder`, or its nearest ancestor that exists (a folder not made yet lives on its parent's disk)."""
    path = Path(folder).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def free_bytes(folder: Path) -> int:
    """Bytes an unprivileged writer may still use on the filesystem holding `folder`."""
    stat = os.statvfs(_existing(folder))
    return stat.f_bavail * stat.f_frsize


def _mb(size: int) -> str:
    return f"{size / MB:.1f} MB"


class _Shortfalls:
    """The room the last refused write needed, per device: readiness stays 503 until that much is
    free again (a disk that refuses uploads is full for its users even above the bare reserve)."""

    def __init__(self) -> None:
        self._needed: dict[int, int] = {}
        self._lock = threading.Lock()

    def refused(self, folder: Path, needed: int) -> None:
        with contextlib.suppress(OSError), self._lock:
            self._needed[os.stat(_existing(folder)).st_dev] = needed

    def still_short(self, device: int, free: int) -> int | None:
        """The bytes a refused write needed while `free` is still less; forgotten once it is not."""
        with self._lock:
            needed = self._needed.get(device)
            if needed is not None and free >= needed:
                del self._needed[device]
                return None
            return needed


SHORTFALLS = _Shortfalls()


DEFAULT_RESERVE_MB = 256  # the reserve's ceiling when S2R_MIN_FREE_MB is not set
RESERVE_SHARE = 20  # ... and its share of a smaller disk: a twentieth of it


def reserve_of(folder: Path, reserve_mb: int | None) -> int:
    """The reserve in MB for `folder`: the one set, else a twentieth of its disk up to 256 MB (so a
    small volume is not refused outright, and the job database keeps room to record ends)."""
    if reserve_mb is not None:
        return reserve_mb
    stat = os.statvfs(_existing(folder))
    return min(DEFAULT_RESERVE_MB, max(1, stat.f_blocks * stat.f_frsize // MB // RESERVE_SHARE))


def require_room(folder: Path, reserve_mb: int | None, incoming_bytes: int = 0) -> None:
    """Raise `InsufficientStorage` unless `folder` keeps its reserve free after storing
    `incoming_bytes` (`reserve_of`: None is the default reserve, 0 turns the check off)."""
    reserve_mb = reserve_of(folder, reserve_mb)
    if reserve_mb <= 0:
        return
    free = free_bytes(folder)
    if free - incoming_bytes < reserve_mb * MB:
        SHORTFALLS.refused(folder, reserve_mb * MB + incoming_bytes)
        raise InsufficientStorage(
            f"not enough free space to store this: {folder} has {_mb(free)} free and the server keeps "
            f"{reserve_mb} MB in reserve (S2R_MIN_FREE_MB); this request needs {_mb(incoming_bytes)}. "
            "Retry when space was freed"
        )


def write_problem(folder: Path) -> str | None:
    """Why nothing can be written in `folder` (a real write probe), or None when it can. A full
    disk is not a write problem (`require_room` tells that): an empty file still fits."""
    probe = temp_path(Path(folder) / PROBE_NAME)
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        if exc.errno in NO_ROOM:
            return None
        return exc.strerror or type(exc).__name__
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return None


def writable(folder: Path) -> bool:
    return write_problem(folder) is None


def no_room(folder: Path | None) -> InsufficientStorage:
    """The 507 for a write that ran out of space in `folder`."""
    if folder is None:
        return InsufficientStorage("no space left on the device; free some space and retry")
    try:
        free = f" ({_mb(free_bytes(folder))} free)"
    except OSError:
        free = ""
    return InsufficientStorage(f"no space left in {folder}{free}; free some space and retry")


def read_only(folder: Path | None) -> StorageReadOnly:
    """The 503 for a write refused by a read-only `folder`."""
    where = f"the data folder {folder}" if folder is not None else "the data folder"
    return StorageReadOnly(f"{where} is read-only: nothing can be stored until it is writable again (reads still work)")


def translate(exc: BaseException, folder: Path | None = None) -> S2RError | None:
    """The user's error for a write that failed on a full disk or a read-only folder, or for a
    database server that does not answer (503 `database_unavailable`), else None. `folder` names
    where it was writing (else the file the OSError names). A database error may come wrapped by
    SQLAlchemy; PostgreSQL says it by SQLSTATE."""
    if isinstance(exc, DatabaseOperationalError) and _server_gone(exc.orig):
        return DatabaseUnavailable("the database does not answer (S2R_DATABASE_URL); retry in a moment")
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    sqlstate = getattr(exc, "sqlstate", None)
    if sqlstate == PG_DISK_FULL:
        return no_room(None)
    if sqlstate == PG_READ_ONLY:
        return StorageReadOnly("the database is read-only: nothing can be stored until it is writable again")
    if isinstance(exc, OSError):
        where = folder if folder is not None else (Path(os.fsdecode(exc.filename)).parent if exc.filename else None)
        if exc.errno in NO_ROOM:
            return no_room(where)
        if exc.errno in READ_ONLY:
            return read_only(where)
        return None
    if isinstance(exc, sqlite3.OperationalError):
        code = getattr(exc, "sqlite_errorcode", None)
        primary = code & 0xFF if isinstance(code, int) else None
        message = str(exc).lower()
        if primary == SQLITE_FULL or "database or disk is full" in message:
            return no_room(folder)
        if primary == SQLITE_READONLY or "readonly database" in message:
            return read_only(folder)
    return None


def _server_gone(orig: BaseException | None) -> bool:
    """A PostgreSQL driver error saying the server is not there (psycopg's errors carry a SQLSTATE,
    None when no connection was made; SQLite's carry none: a locked file is not a server away)."""
    if orig is None or not hasattr(orig, "sqlstate"):
        return False
    sqlstate = getattr(orig, "sqlstate", None)
    return sqlstate is None or str(sqlstate).startswith(PG_GONE)


@contextlib.contextmanager
def storing(folder: Path | None) -> Iterator[None]:
    """Run a write into `folder`; a full disk or a read-only folder leaves as its `S2RError`."""
    try:
        yield
    except (OSError, sqlite3.OperationalError, DBAPIError) as exc:
        translated = translate(exc, folder)
        if translated is None:
            raise
        raise translated from exc


def _filesystems(settings: Settings) -> Iterator[tuple[Path, int, os.statvfs_result | OSError]]:
    """The data folders that exist, one per filesystem: (folder, device, its statvfs or the error)."""
    seen: set[int] = set()  # devices checked: a folder on one already seen says nothing new
    for folder in (settings.home, settings.renders_dir, settings.styles_dir):
        if not folder.is_dir():
            continue
        try:
            device, stat = os.stat(folder).st_dev, os.statvfs(folder)
        except OSError as exc:
            yield folder, -1, exc
            continue
        if device not in seen:
            seen.add(device)
            yield folder, device, stat


def low_space_problem(settings: Settings) -> str | None:
    """Why the data folder's disk takes no uploads now (a readiness reason): free space below the
    reserve, or still less than an upload refused for room needed. None when all is well."""
    for folder, device, stat in _filesystems(settings):
        if isinstance(stat, OSError):
            continue  # `write_problem_of` says it
        reserve = reserve_of(folder, settings.min_free_mb)
        free = stat.f_bavail * stat.f_frsize
        needed = SHORTFALLS.still_short(device, free)
        if reserve > 0 and free < reserve * MB:
            return f"disk below the reserve: {folder} has {_mb(free)} free (S2R_MIN_FREE_MB={reserve})"
        if reserve > 0 and needed is not None:
            return (
                f"disk below the reserve: {folder} has {_mb(free)} free, and an upload that needed {_mb(needed)} "
                f"with the reserve (S2R_MIN_FREE_MB={reserve}) was refused"
            )
    return None


def write_problem_of(settings: Settings) -> str | None:
    """Why the data folder takes no writes at all now (a readiness reason): read-only, or
    unreadable. None when all is well."""
    for folder, _, stat in _filesystems(settings):
        if isinstance(stat, OSError):
            return f"data folder unreadable: {folder} ({stat.strerror or stat})"
        if (why := write_problem(folder)) is not None:
            return f"data folder read-only: {folder} ({why})"
    return None
