"""Style imports seen from another API process on the shared data folder: a running import's
progress, its finished report, and an import whose process stopped (read as interrupted)."""

from __future__ import annotations

import json
import os
import threading
import time
import zipfile

import pytest
from waiting import eventually

from sketch2render.api import style_imports
from sketch2render.api.style_imports import STALE_S, StyleImports
from sketch2render.config import UploadLimits
from sketch2render.errors import NotFound
from sketch2render.styles.bulk import FileReport, ImportOptions


@pytest.fixture
def gated(monkeypatch):
    """`import_styles` reporting one file, then waiting for the test, then one more."""
    gate = threading.Event()

    def fake_import(library, sources, rows, options, limits, progress):
        progress(1, 2, FileReport("a.png", "added", id="a" * 16))
        gate.wait(10)
        progress(2, 2, FileReport("b.png", "existed", id="b" * 16))

    monkeypatch.setattr(style_imports, "import_styles", fake_import)
    monkeypatch.setattr(style_imports, "zip_sources", lambda opened: [])
    monkeypatch.setattr(style_imports, "PROGRESS_EVERY_S", 0.0)
    return gate


def test_another_process_answers_for_a_running_and_a_finished_import(tmp_path, gated):
    running_here, elsewhere = StyleImports(tmp_path / "imports"), StyleImports(tmp_path / "imports")
    archive = running_here.new_archive()
    with zipfile.ZipFile(archive, "w"):
        pass
    job = running_here.start(None, archive, {}, ImportOptions(owner="alice"), UploadLimits(), total=2)

    def one_done() -> dict | None:
        body = elsewhere.get(job.id, "alice")
        return body if body["done"] == 1 else None

    seen = eventually(one_done, timeout=10)
    assert seen["status"] == "running" and seen["added"] == 1 and seen["owner"] == "alice"
    with pytest.raises(NotFound):
        elsewhere.get(job.id, "bob")  # another principal's: the same 404 as none
    gated.set()
    done = eventually(lambda: (b := elsewhere.get(job.id, "alice"))["status"] == "finished" and b, timeout=10)
    assert done["done"] == 2 and done["existed"] == 1 and not archive.exists()


def test_a_running_report_nobody_rewrites_reads_as_interrupted(tmp_path):
    folder = tmp_path / "imports"
    folder.mkdir()
    report = folder / "abc123.json"
    body = {"id": "abc123", "owner": "alice", "status": "running", "total": 3, "done": 1, "files": [], "error": None}
    report.write_text(json.dumps(body))
    assert StyleImports(folder).get("abc123", "alice")["status"] == "running"  # recent: its process may run it
    old = time.time() - STALE_S - 5
    os.utime(report, (old, old))
    stale = StyleImports(folder).get("abc123", "alice")
    assert stale["status"] == "failed" and "interrupted" in stale["error"] and stale["done"] == 1
