"""Writing a file so that a reader sees the old content or the new, never a torn one.

`atomic_write` writes to a temp file beside the target (same folder, so the rename stays on one
filesystem), then renames it over the target. Temp names are `.<name>.<random>.tmp`: unique per
call, so concurrent writers never share one, and hidden, so globs for the real files skip them.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

TEMP_SUFFIX = ".tmp"


def temp_path(path: Path) -> Path:
    """A fresh temp name beside `path` (`.<name>.<random>.tmp`)."""
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}{TEMP_SUFFIX}")


def atomic_write(path: Path, data: bytes | str, mode: int | None = None, *, durable: bool = True) -> None:
    """Replace `path` with `data` (str is written as UTF-8) in one step; on failure the old file is
    left as it was and no temp file remains. `mode` sets the file's permission bits exactly (the
    temp is created owner-only first, so a secret is never readable by others); without it the
    file gets the usual default (0o666 less the umask). `durable` flushes the data to disk before
    the rename (fsync); pass False for files that are cheap to lose (previews, caches) on paths
    where the fsync's cost counts."""
    body = data.encode() if isinstance(data, str) else data
    tmp = temp_path(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if mode is not None else 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(body)
            f.flush()
            if durable:
                os.fsync(f.fileno())
            if mode is not None:
                os.fchmod(f.fileno(), mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
