"""Bulk imports started over HTTP (`POST /v1/styles/import`): each runs in its own thread, as a job
with progress that `GET /v1/styles/import/{id}` reads.

The uploaded zip is kept under the style library's folder (`imports/<id>.zip`) while it runs; its
report is written beside it (`imports/<id>.json`): when it starts, then at most once a second while
it runs, and when it ends (then the zip is removed). So a report outlives a restart, and every API
process on the shared data folder answers for an import that another one runs. A running report
not rewritten for `STALE_S` belongs to a process that stopped: it reads as failed (interrupted).
An import cut off by a crash leaves a consistent library (styles/bulk.py); posting the zip again
finishes it. Left out: resuming an interrupted import by itself, cancelling one.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..config import UploadLimits
from ..errors import NotFound, S2RError
from ..files import atomic_write
from ..styles import StyleLibrary
from ..styles.bulk import FileReport, ImportOptions, import_styles, summary, zip_sources

log = logging.getLogger("sketch2render.api")
Status = Literal["running", "finished", "failed"]
PROGRESS_EVERY_S = 1.0  # a running import's report is rewritten at most this often
STALE_S = 120.0  # a running report not rewritten for this long: the process running it stopped


@dataclass
class StyleImport:
    id: str
    owner: str
    total: int
    status: Status = "running"
    files: list[FileReport] = field(default_factory=list)
    error: str | None = None

    def view(self) -> dict:
        return {
            "id": self.id,
            "owner": self.owner,
            "status": self.status,
            "total": self.total,
            "done": len(self.files),
            **summary(self.files),
            "files": [f.as_dict() for f in self.files],
            "error": self.error,
        }


class StyleImports:
    """The imports of one API process, by id."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._jobs: dict[str, StyleImport] = {}
        self._lock = threading.Lock()

    def start(
        self,
        library: StyleLibrary,
        archive: Path,
        rows: dict[str, dict[str, object]],
        options: ImportOptions,
        limits: UploadLimits,
        total: int,
    ) -> StyleImport:
        """Run the import of `archive` (a zip already checked, moved into this folder) in a thread."""
        job = StyleImport(archive.stem, options.owner, total)
        with self._lock:
            self._jobs[job.id] = job
        self._save(job, durable=False)  # the other processes answer for it from now on
        thread = threading.Thread(
            target=self._run, args=(job, library, archive, rows, options, limits), name=f"s2r-import-{job.id}"
        )
        thread.daemon = True
        thread.start()
        return job

    def new_archive(self) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        return self.folder / f"{uuid.uuid4().hex}.zip"

    def _save(self, job: StyleImport, *, durable: bool = True) -> None:
        atomic_write(self.folder / f"{job.id}.json", json.dumps(job.view()).encode(), durable=durable)

    def _run(self, job: StyleImport, library, archive: Path, rows, options: ImportOptions, limits) -> None:
        saved = [time.monotonic()]

        def progress(_done: int, _total: int, report: FileReport) -> None:
            job.files.append(report)
            if time.monotonic() - saved[0] >= PROGRESS_EVERY_S:
                self._save(job, durable=False)
                saved[0] = time.monotonic()

        try:
            with zipfile.ZipFile(archive) as opened:
                sources = zip_sources(opened)
                import_styles(library, sources, rows, options, limits, progress)
            job.status = "finished"
        except S2RError as exc:
            job.status, job.error = "failed", exc.message
        except Exception as exc:  # a bug: the report says so, the server goes on
            log.exception("style import %s failed", job.id)
            job.status, job.error = "failed", f"{type(exc).__name__}: {exc}"
        self._save(job)
        archive.unlink(missing_ok=True)

    def get(self, import_id: str, principal: str, *, admin: bool = False) -> dict:
        """An import's progress and report (running here, in another process, or finished before a
        restart); another principal's is the same 404 as none."""
        with self._lock:
            job = self._jobs.get(import_id)
        if job is not None:
            body = job.view()
        else:
            path = self.folder / f"{import_id}.json"
            if not (import_id.isalnum() and path.is_file()):
                raise NotFound(f"no import with id {import_id!r}", field="id")
            body = json.loads(path.read_text())
            if body["status"] == "running" and time.time() - path.stat().st_mtime > STALE_S:
                body["status"] = "failed"
                body["error"] = "interrupted: the process running it stopped; post the zip again to finish it"
        if not (admin or body["owner"] == principal):
            raise NotFound(f"no import with id {import_id!r}", field="id")
        return body
