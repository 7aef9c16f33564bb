"""atomic_write (files.py): the data lands, the mode is exact, a failed write leaves the old file and
no temp behind, and concurrent writers never leave a torn file for a reader."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from sketch2render import files
from sketch2render.files import atomic_write


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(files.TEMP_SUFFIX))


def test_bytes_and_text_land(tmp_path: Path) -> None:
    atomic_write(tmp_path / "a.bin", b"\x00\x01binary")
    atomic_write(tmp_path / "b.txt", "text é\n")
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01binary"
    assert (tmp_path / "b.txt").read_bytes() == "text é\n".encode()
    assert _leftovers(tmp_path) == []


def test_replaces_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_bytes(b"old content that is longer")
    atomic_write(target, b"new", durable=False)
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


@pytest.mark.parametrize("mode", [0o600, 0o644, 0o640])
def test_mode_is_set_exactly(tmp_path: Path, mode: int) -> None:
    target = tmp_path / "secret.json"
    target.write_text("{}")
    os.chmod(target, 0o666)
    old_umask = os.umask(0o077)  # the mode wins over the umask
    try:
        atomic_write(target, "{}", mode=mode)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(target.stat().st_mode) == mode


def test_without_a_mode_the_default_permissions_apply(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        atomic_write(tmp_path / "f", b"x")
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o644


def test_temp_lies_beside_the_target_hidden_and_unique(tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    a, b = files.temp_path(target), files.temp_path(target)
    assert a != b
    assert a.parent == b.parent == tmp_path
    assert a.name.startswith(".out.png.") and a.name.endswith(".tmp")


def test_a_failure_mid_write_keeps_the_old_file_and_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "keys.json"
    target.write_bytes(b"old")

    def fail(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError, match="No space"):
        atomic_write(target, b"new" * 1000)
    assert target.read_bytes() == b"old"
    assert _leftovers(tmp_path) == []


def test_an_interrupted_write_cleans_up_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "f"
    target.write_bytes(b"old")

    def interrupt(src: object, dst: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupt)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    assert _leftovers(tmp_path) == []


def test_a_failed_rename_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "a-folder"
    target.mkdir()
    (target / "inside").write_bytes(b"x")  # a non-empty folder cannot be replaced by a file
    with pytest.raises(OSError):
        atomic_write(target, b"new")
    assert target.is_dir()
    assert _leftovers(tmp_path) == []


def test_a_missing_folder_is_an_error_not_a_temp(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        atomic_write(tmp_path / "nope" / "f", b"x")
    assert list(tmp_path.iterdir()) == []


def test_concurrent_writers_never_give_a_torn_file(tmp_path: Path) -> None:
    target = tmp_path / "shared.bin"
    bodies = [bytes([i]) * 200_000 for i in range(4)]  # big enough that a torn write would show
    atomic_write(target, bodies[0], durable=False)
    stop = threading.Event()
    errors: list[BaseException] = []

    def write(body: bytes) -> None:
        try:
            for _ in range(40):
                atomic_write(target, body, durable=False)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    def read() -> None:
        while not stop.is_set():
            data = target.read_bytes()
            if data not in bodies:
                errors.append(AssertionError(f"torn file: {len(data)} bytes, starts {data[:1]!r}"))
                return

    reader = threading.Thread(target=read)
    writers = [threading.Thread(target=write, args=(body,)) for body in bodies]
    reader.start()
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    stop.set()
    reader.join()
    assert errors == []
    assert target.read_bytes() in bodies
    assert _leftovers(tmp_path) == []
