"""Bulk import: a folder or a zip of images, with optional metadata (CSV or JSON Lines), into the library.

Metadata columns (CSV header, or JSONL keys): `file,title,tags,description,license,source,creator,year`;
`file` is the image's path inside the folder or zip (or its bare name); tags are separated by commas or
semicolons (JSONL: a list or a string). A default licence applies to files whose row gives none.

Every file gets one line of the report: `added`, `existed` (the same pixels are in the library),
`near_duplicate` (of the style named; nothing added) or `refused` with the reason (not an image, too
large, bad metadata). A file that fails never stops the others, and each add commits on its own
(`StyleLibrary.add_checked`): an import killed half-way leaves a consistent library, and running it
again reports what it added before as `existed` and finishes the rest. With a collection, every file
that is (or already was) in the library is added to it, so a re-run completes the collection too.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import ValidationError

from ..config import UploadLimits
from ..errors import InvalidParameter, S2RError
from ..schemas import StyleMeta, Visibility
from ..sketch import imaging
from .library import StyleLibrary

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp"}
MAX_FILES = 20_000
COLLECTION_BATCH = 200  # styles added to the collection at once
COLUMNS = ("file", "title", "tags", "description", "license", "source", "creator", "year")
Status = Literal["added", "existed", "near_duplicate", "refused"]


@dataclass(frozen=True)
class Source:
    """One image to import: its name (path inside the folder or zip) and how to read its bytes."""

    name: str
    size: int
    read: Callable[[], bytes]


@dataclass(frozen=True)
class FileReport:
    file: str
    status: Status
    id: str | None = None
    near_duplicate_of: str | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class ImportOptions:
    owner: str = ""
    license: str = ""  # for files whose metadata gives none
    visibility: Visibility = "team"
    collection: str | None = None
    allow_near_duplicate: bool = False
    admin: bool = False  # may add to any collection


# --- sources ---------------------------------------------------------------------------------
def folder_sources(folder: Path) -> list[Source]:
    """The images under a folder (recursively, by path), never following links out of it."""
    root = Path(folder).resolve()
    found = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    inside = [p for p in found if p.resolve().is_relative_to(root)]
    return _limited([Source(p.relative_to(root).as_posix(), p.stat().st_size, p.read_bytes) for p in inside])


def zip_sources(archive: zipfile.ZipFile) -> list[Source]:
    """The images in a zip (by path; folders and macOS resource forks left out). Bytes are read one
    member at a time, never unpacked to disk."""
    members = [
        m
        for m in archive.infolist()
        if not m.is_dir()
        and PurePosixPath(m.filename).suffix.lower() in IMAGE_SUFFIXES
        and not m.filename.startswith("__MACOSX/")
    ]
    members.sort(key=lambda m: m.filename)
    return _limited([Source(m.filename, m.file_size, lambda m=m: archive.read(m)) for m in members])


def _limited(sources: list[Source]) -> list[Source]:
    if len(sources) > MAX_FILES:
        raise InvalidParameter(f"{len(sources)} images: at most {MAX_FILES} in one import", field="archive")
    return sources


# --- metadata --------------------------------------------------------------------------------
def read_metadata(data: bytes, name: str) -> dict[str, dict[str, object]]:
    """Rows by file (its path and its bare name) from CSV or JSON Lines (chosen by `name`'s suffix)."""
    text = data.decode("utf-8-sig", errors="replace")
    rows: list[dict[str, object]] = []
    if name.lower().endswith((".jsonl", ".ndjson", ".json")):
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    row = json.loads(line)
                except ValueError:
                    raise InvalidParameter(f"metadata line {number} is not JSON", field="metadata") from None
                if not isinstance(row, dict):
                    raise InvalidParameter(f"metadata line {number} is not an object", field="metadata")
                rows.append(row)
    else:
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames or "file" not in reader.fieldnames:
            raise InvalidParameter(
                f"the metadata CSV needs a header with `file` ({', '.join(COLUMNS)})", field="metadata"
            )
        rows = [dict(r) for r in reader]
    found: dict[str, dict[str, object]] = {}
    for row in rows:
        file = str(row.get("file") or "").strip()
        if file:
            found[file] = row
            found.setdefault(PurePosixPath(file).name, row)
    return found


def meta_for(source: Source, rows: dict[str, dict[str, object]], options: ImportOptions) -> StyleMeta:
    """A file's metadata: its row (by path, then bare name), the default licence, the title from its name."""
    row = rows.get(source.name) or rows.get(PurePosixPath(source.name).name) or {}
    fields = {k: row[k] for k in COLUMNS[1:] if row.get(k) not in (None, "")}
    tags = fields.get("tags", [])
    if isinstance(tags, str):
        tags = [t for part in tags.split(";") for t in part.split(",")]
    fields["tags"] = [str(t).strip() for t in tags if str(t).strip()]  # type: ignore[union-attr]
    fields.setdefault("license", options.license)
    fields.setdefault("title", PurePosixPath(source.name).stem.replace("_", " "))
    return StyleMeta.model_validate(
        {**{k: str(v) if k != "tags" else v for k, v in fields.items()}, "visibility": options.visibility}
    )


# --- the import ------------------------------------------------------------------------------
def import_styles(
    library: StyleLibrary,
    sources: list[Source],
    rows: dict[str, dict[str, object]],
    options: ImportOptions,
    limits: UploadLimits,
    progress: Callable[[int, int, FileReport], None] | None = None,
) -> list[FileReport]:
    """Import every source, one report each, calling `progress(done, total, report)` after each. With a
    collection, the styles join it every `COLLECTION_BATCH` files and at the end (a re-run adds what an
    interrupted run had not)."""
    if options.collection:  # a collection that is not there, or not theirs to change, fails before any file
        library.add_to_collection(options.collection, [], options.owner, admin=options.admin)
    reports, pending = [], []
    for done, source in enumerate(sources, start=1):
        report = _one(library, source, rows, options, limits)
        reports.append(report)
        if options.collection and report.status in ("added", "existed") and report.id:
            pending.append(report.id)
        if pending and (len(pending) >= COLLECTION_BATCH or done == len(sources)):
            library.add_to_collection(options.collection, pending, options.owner, admin=options.admin)
            pending = []
        if progress is not None:
            progress(done, len(sources), report)
    return reports


def _one(library: StyleLibrary, source: Source, rows, options: ImportOptions, limits: UploadLimits) -> FileReport:
    try:
        if source.size > limits.max_bytes:
            return FileReport(
                source.name, "refused", reason=f"over the {limits.max_bytes // 1_000_000} MB upload limit"
            )
        meta = meta_for(source, rows, options)
        image = imaging.decode_upload(source.read(), limits)
        added = library.add_checked(image, meta, owner=options.owner, allow_near_duplicate=options.allow_near_duplicate)
    except ValidationError as exc:
        error = exc.errors()[0]
        return FileReport(source.name, "refused", reason=f"metadata {'.'.join(map(str, error['loc']))}: {error['msg']}")
    except S2RError as exc:
        return FileReport(source.name, "refused", reason=exc.message)
    if added.near_duplicate_of:
        return FileReport(source.name, "near_duplicate", added.record.id, added.near_duplicate_of)
    return FileReport(source.name, "added" if added.created else "existed", added.record.id)


def summary(reports: list[FileReport]) -> dict[str, int]:
    counts = {status: 0 for status in ("added", "existed", "near_duplicate", "refused")}
    for report in reports:
        counts[report.status] += 1
    return counts


@contextmanager
def open_sources(path: Path) -> Iterator[list[Source]]:
    """The sources of a folder or a zip file (the zip stays open while they are read)."""
    if path.is_dir():
        yield folder_sources(path)
        return
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise InvalidParameter(f"{path.name} is neither a folder nor a zip file", field="archive") from None
    with archive:
        yield zip_sources(archive)
