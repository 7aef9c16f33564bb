"""A full disk and a read-only data folder, as real faults: the data folder is a small tmpfs (the
tests mount it, so they need root; elsewhere they skip saying so), filled with a file or put under
a read-only mount, under the real app on the fake render service.

- Below the reserve (`S2R_MIN_FREE_MB`) a render, an upscale and a style add are refused with 507
  `insufficient_storage` naming the folder and its free space, and `/readyz` says 503 why; with the
  reserve off, the write that meets the full disk (ENOSPC) is the same 507, never a 500.
- Read-only: renders and style adds are a 503 `read_only`, reads (status, images, the sketch,
  styles) still answer 200, and `/readyz` says why.
- Both clear by themselves: once the filler is gone or the folder is writable again, the next
  render is accepted (202) and runs; nothing has to be restarted.

A read-only remount of the tmpfs itself is refused while the server holds its databases open for
writing (Linux: "mount point is busy"), so the read-only fault is a read-only bind mount over the
data folder: every path the server opens from then on is read-only (EROFS), as on a folder
remounted read-only underneath it; the SQLite handles opened before keep writing to the old mount.
The SQLite side of both faults (SQLITE_FULL, SQLITE_READONLY) is checked on a database of its own.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import typer
from fastapi.testclient import TestClient

from api.conftest import Harness, assert_error, colour_png, submit, wait_for
from sketch2render import storage
from sketch2render.cli.common import edge
from sketch2render.errors import InsufficientStorage, StorageReadOnly

DISK_MB = 24  # the tmpfs: room for the databases of a fresh data folder and a few renders
RESERVE_MB = 6
MB = storage.MB


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, text=True, timeout=10)


@dataclass
class Disk:
    """A tmpfs mounted at `path`, with the mounts stacked on it (unmounted in reverse at the end)."""

    path: Path
    mounts: list[Path] = field(default_factory=list)

    def fill(self, leave_bytes: int = 0) -> Path:
        """A filler file that leaves about `leave_bytes` free (0: write until the disk is full)."""
        filler = self.path / "filler.bin"
        chunk = b"\0" * MB
        with open(filler, "wb", buffering=0) as f:
            while (free := storage.free_bytes(self.path)) > leave_bytes:
                try:
                    f.write(chunk[: max(4096, min(MB, free - leave_bytes))])
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc
                    break
        return filler

    def read_only(self) -> None:
        """A read-only bind mount over the folder (see the module docstring)."""
        _mount("--bind", str(self.path), str(self.path))
        self.mounts.append(self.path)
        _mount("-o", "remount,bind,ro", str(self.path))

    def writable(self) -> None:
        _mount("-o", "remount,bind,rw", str(self.path))


def _unmount(path: Path) -> None:
    result = subprocess.run(["umount", str(path)], capture_output=True, text=True, timeout=10)
    if result.returncode != 0:  # something still holds it: detach it now, freed when let go
        subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=10)


@contextlib.contextmanager
def tmpfs(path: Path, size_mb: int) -> Iterator[Disk]:
    path.mkdir(parents=True, exist_ok=True)
    try:
        _mount("-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(path))
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        pytest.skip(f"these tests mount a tmpfs as the data folder; mounting is not allowed here: {detail.strip()}")
    disk = Disk(path, [path])
    try:
        yield disk
    finally:
        for mount in reversed(disk.mounts):
            _unmount(mount)


@pytest.fixture
def disk(tmp_path) -> Iterator[tuple[Disk, Harness]]:
    """A tmpfs data folder and a harness on it; the apps stop before the disk is unmounted."""
    with tmpfs(tmp_path / "home", DISK_MB) as mounted:
        harness = Harness(mounted.path)
        try:
            yield mounted, harness
        finally:
            harness.close_all()


def add_style(client, colour="teal"):
    files = {"image": ("style.png", colour_png(colour), "image/png")}
    return client.post("/v1/styles", data={"title": colour}, files=files)


def settled(job: dict) -> bool:
    """Finished, its deferred scores written too: nothing of it is still being stored."""
    return job["status"] in {"succeeded", "failed", "cancelled"} and not job.get("scores_pending")


def test_below_the_reserve_renders_styles_and_upscales_are_507_until_space_returns(disk):
    mounted, harness = disk
    client, _ = harness.client(min_free_mb=RESERVE_MB)
    job = wait_for(client, submit(client).json()["id"], settled)
    assert job["status"] == "succeeded"
    assert client.get("/readyz").status_code == 200

    filler = mounted.fill(leave_bytes=RESERVE_MB * MB // 2)
    error = assert_error(submit(client), 507, "insufficient_storage")
    assert str(mounted.path / "renders") in error["message"] and "MB free" in error["message"]
    assert "S2R_MIN_FREE_MB" in error["message"]
    assert_error(add_style(client), 507, "insufficient_storage")
    assert_error(client.post(f"/v1/renders/{job['id']}/upscale", data={"factor": "2"}), 507, "insufficient_storage")
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert any(r.startswith("disk below the reserve") for r in ready.json()["reasons"]), ready.json()
    assert client.get(f"/v1/renders/{job['id']}/image").status_code == 200  # reads go on

    filler.unlink()  # space is back: no restart, no stale state
    assert client.get("/readyz").status_code == 200
    again = submit(client, seed="8")
    assert again.status_code == 202, again.text
    assert wait_for(client, again.json()["id"], settled)["status"] == "succeeded"
    assert add_style(client).status_code == 201


def test_a_write_that_meets_a_full_disk_is_507_not_500(disk):
    mounted, harness = disk
    client, _ = harness.client(min_free_mb=0)  # no reserve: the write itself runs out of space
    filler = mounted.fill()
    error = assert_error(submit(client), 507, "insufficient_storage")
    assert "no space left" in error["message"] and str(mounted.path) in error["message"]
    assert client.get("/v1/renders").json()["total"] == 0  # nothing half-stored
    filler.unlink()
    response = submit(client)
    assert response.status_code == 202, response.text
    assert wait_for(client, response.json()["id"], settled)["status"] == "succeeded"


def test_a_read_only_data_folder_refuses_writes_with_503_and_keeps_reads(disk):
    mounted, harness = disk
    client, _ = harness.client(min_free_mb=1)
    job = wait_for(client, submit(client).json()["id"], settled)
    style = add_style(client).json()

    mounted.read_only()
    error = assert_error(submit(client, seed="9"), 503, "read_only")
    assert "read-only" in error["message"] and str(mounted.path) in error["message"]
    assert_error(add_style(client, "olive"), 503, "read_only")
    assert_error(client.delete(f"/v1/styles/{style['id']}"), 503, "read_only")  # the app's safety net
    for path in (
        f"/v1/renders/{job['id']}",
        f"/v1/renders/{job['id']}/image",
        f"/v1/renders/{job['id']}/sketch",  # its PNG is cached on the first GET: skipped when it cannot be
        "/v1/renders",
        "/v1/styles",
        f"/v1/styles/{style['id']}",
        f"/v1/styles/{style['id']}/image",
    ):
        assert client.get(path).status_code == 200, path
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert any(r.startswith("data folder read-only") for r in ready.json()["reasons"]), ready.json()

    mounted.writable()  # writable again underneath the running server
    assert client.get("/readyz").status_code == 200
    response = submit(client, seed="9")
    assert response.status_code == 202, response.text
    assert wait_for(client, response.json()["id"], settled)["status"] == "succeeded"


def test_storage_checks_on_a_real_small_disk(tmp_path):
    with tmpfs(tmp_path / "small", 4) as mounted:
        folder = mounted.path
        assert storage.writable(folder)
        storage.require_room(folder, 1, incoming_bytes=MB)
        with pytest.raises(InsufficientStorage, match="in reserve"):
            storage.require_room(folder, 2, incoming_bytes=3 * MB)
        storage.require_room(folder, 0, incoming_bytes=100 * MB)  # 0: no check
        assert storage.reserve_of(folder, 7) == 7  # the one set
        assert storage.reserve_of(folder, None) == 1  # unset: a twentieth of a small disk, at least 1 MB
        db = sqlite3.connect(folder / "full.sqlite3", isolation_level=None)
        try:
            db.execute("CREATE TABLE t (x BLOB)")
            filler = mounted.fill()
            with pytest.raises(InsufficientStorage, match="no space left"), storage.storing(folder):
                for _ in range(64):
                    db.execute("INSERT INTO t VALUES (randomblob(65536))")
            with pytest.raises(InsufficientStorage), storage.storing(folder):
                (folder / "more.bin").write_bytes(b"x" * 8192)
            filler.unlink()
            with storage.storing(folder):  # room again: writes simply work
                db.execute("INSERT INTO t VALUES (randomblob(65536))")
        finally:
            db.close()
        mounted.read_only()
        assert not storage.writable(folder)
        assert storage.write_problem(folder) == os.strerror(errno.EROFS)
        with pytest.raises(StorageReadOnly, match="read-only"), storage.storing(folder):
            (folder / "new.bin").write_bytes(b"x")
        readonly = sqlite3.connect(f"file:{folder / 'full.sqlite3'}", uri=True, isolation_level=None)
        try:
            with pytest.raises(StorageReadOnly), storage.storing(folder):
                readonly.execute("INSERT INTO t VALUES (1)")
        finally:
            readonly.close()
        mounted.writable()
        assert storage.writable(folder)
    with tmpfs(tmp_path / "larger", 200) as mounted:
        assert storage.reserve_of(mounted.path, None) == 10
    assert storage.reserve_of(tmp_path, None) <= storage.DEFAULT_RESERVE_MB


def test_the_cli_says_a_full_or_read_only_disk_in_one_line(tmp_path, capsys):
    @edge
    def write(path: Path) -> None:
        path.write_bytes(b"x" * 65536)

    with tmpfs(tmp_path / "cli", 1) as mounted:
        filler = mounted.fill()
        with pytest.raises(typer.Exit) as exited:
            write(mounted.path / "render.png")
        assert exited.value.exit_code == 1
        line = capsys.readouterr().err
        assert line.startswith("error: no space left") and line.count("\n") == 1, line
        filler.unlink()
        mounted.read_only()
        with pytest.raises(typer.Exit):
            write(mounted.path / "render.png")
        assert "is read-only" in capsys.readouterr().err


def test_other_os_errors_stay_a_logged_500(harness, caplog):
    app, _ = harness.app()

    @app.get("/boom")
    def boom():
        raise OSError(errno.EIO, "Input/output error", "/data/secret.bin")

    with TestClient(app) as client:
        response = client.get("/boom")
    assert_error(response, 500, "internal_error")
    assert "secret" not in response.text and "Input/output error" in caplog.text


def noisy_sketch_png(side: int, seed: int) -> bytes:
    """A line drawing on a grainy paper: about 1 MB at 800², since grain does not compress."""
    import io

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    pixels = 235 + rng.integers(0, 20, (side, side, 3), dtype=np.uint8)
    width = side // 40
    for k in range(1, 7):  # a grid of dark strokes, thick enough to survive the resize
        at = side // 8 * k
        pixels[at : at + width, side // 8 : -side // 8] = 20
        pixels[side // 8 : -side // 8, at : at + width] = 20
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def test_the_disk_fills_under_a_stream_of_renders_and_every_job_ends_once_space_returns(disk):
    """The operator's scenario: a small data folder sent renders of a ~1 MB sketch until its disk is
    full. Every answer is 202 or a 507 with its reason (never a 500), /readyz says 503 while the
    disk is below the reserve; then the disk is filled to the last byte under the running jobs (so
    outputs and the ends of jobs cannot be written), and once the space comes back every accepted
    job ends, succeeded or failed with its reason, within a minute and without a restart."""
    mounted, harness = disk
    ballast = mounted.path / "ballast.bin"  # what the operator frees at the end
    ballast.write_bytes(b"\0" * (8 * MB))
    client, _ = harness.client(min_free_mb=RESERVE_MB, step_delay=0.05)
    accepted, refused = [], []
    for seed in range(40):
        response = submit(client, sketch=noisy_sketch_png(800, seed), seed=str(seed))
        assert response.status_code in (202, 507), response.text
        (accepted if response.status_code == 202 else refused).append(response)
        if len(refused) >= 3:
            break
    assert accepted and refused, (len(accepted), len(refused))
    for response in refused:
        assert_error(response, 507, "insufficient_storage")
    ready = client.get("/readyz")
    assert ready.status_code == 503 and any(r.startswith("disk below the reserve") for r in ready.json()["reasons"])

    filler = mounted.fill()  # the last byte too, under the jobs still queued or running
    assert submit(client, sketch=noisy_sketch_png(800, 99)).status_code == 507
    filler.unlink()
    ids = [response.json()["id"] for response in accepted]
    ended = [wait_for(client, job_id, settled, timeout=60) for job_id in ids]
    assert {job["status"] for job in ended} <= {"succeeded", "failed"}
    for job in ended:
        if job["status"] == "failed":
            assert job["error"]["code"] and job["error"]["message"], job
    ballast.unlink()
    assert client.get("/readyz").status_code == 200
    response = submit(client, seed="100")
    assert response.status_code == 202 and wait_for(client, response.json()["id"], settled)["status"] == "succeeded"
