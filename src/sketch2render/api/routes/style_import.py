"""Bulk import over HTTP: `POST /v1/styles/import` (a zip of images, optional metadata) starts a job
(202) whose progress and per-file report `GET /v1/styles/import/{id}` reads (api/style_imports.py).

Everything that can be checked before the job starts is (the caller may add styles, the zip opens
and holds images within the limits, the metadata parses, the collection exists and is theirs to
change, the disk has room): a 4xx naming the field, and nothing stored.
"""

from __future__ import annotations

import shutil
import threading
import zipfile
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ...errors import Forbidden, InvalidParameter, TooLarge
from ...schemas import Visibility
from ...storage import require_room, storing
from ...styles.bulk import ImportOptions, read_metadata, zip_sources
from ..deps import Caller, LibraryDep, SettingsDep
from ..forms import known_fields
from ..handlers import ERROR_RESPONSES
from ..style_imports import StyleImports

router = APIRouter(prefix="/v1/styles/import", tags=["styles"], responses=ERROR_RESPONSES)
IMPORT_FIELDS = frozenset({"archive", "metadata", "license", "collection", "visibility", "allow_near_duplicate"})
MAX_ARCHIVE_BYTES = 2_000_000_000
_create_lock = threading.Lock()


class ImportAccepted(BaseModel):
    id: str
    status: str
    total: int
    url: str


class ImportReport(BaseModel):
    id: str
    owner: str
    status: str  # running | finished | failed
    total: int
    done: int
    added: int
    existed: int
    near_duplicate: int
    refused: int
    files: list[dict[str, str]] = Field(default_factory=list)  # file, status, id, near_duplicate_of, reason
    error: str | None = None


async def get_imports(request: Request, settings: SettingsDep) -> StyleImports:
    """The app's imports (made on first use)."""
    with _create_lock:
        imports = getattr(request.app.state, "style_imports", None)
        if imports is None:
            imports = request.app.state.style_imports = StyleImports(settings.styles_dir / "imports")
    return imports


ImportsDep = Annotated[StyleImports, Depends(get_imports)]


@router.post(
    "",
    status_code=202,
    response_model=ImportAccepted,
    summary="Import a zip of style images (with optional CSV/JSONL metadata) as a job; admins",
    operation_id="styles-import",
    dependencies=[Depends(known_fields(IMPORT_FIELDS))],
)
def start_import(
    library: LibraryDep,
    settings: SettingsDep,
    caller: Caller,
    imports: ImportsDep,
    archive: Annotated[UploadFile, File(description="a zip of images (PNG, JPEG, WEBP, GIF, BMP)")],
    metadata: Annotated[
        UploadFile | None, File(description="CSV or JSONL: file,title,tags,description,license,source,creator,year")
    ] = None,
    license: Annotated[str, Form(max_length=1000, description="for files whose metadata gives none")] = "",
    collection: Annotated[str | None, Form(max_length=64, description="put every style in this collection")] = None,
    visibility: Annotated[Visibility, Form()] = "team",
    allow_near_duplicate: Annotated[bool, Form()] = False,
) -> JSONResponse:
    if not (caller.is_admin or settings.users_can_add_styles):
        raise Forbidden(f"{caller.name!r} has role {caller.role}; adding styles needs an admin key")
    rows = read_metadata(metadata.file.read(settings.max_upload_bytes + 1), metadata.filename or "") if metadata else {}
    options = ImportOptions(caller.name, license, visibility, collection or None, allow_near_duplicate, caller.is_admin)
    if options.collection:
        library.add_to_collection(options.collection, [], caller.name, admin=caller.is_admin)
    size = archive.size or 0
    if size > MAX_ARCHIVE_BYTES:
        raise TooLarge(f"the archive is over {MAX_ARCHIVE_BYTES // 1_000_000} MB", field="archive")
    require_room(settings.styles_dir, settings.min_free_mb, size)
    path = imports.new_archive()
    with storing(settings.styles_dir), path.open("wb") as out:
        shutil.copyfileobj(archive.file, out)
    try:
        with zipfile.ZipFile(path) as opened:
            total = len(zip_sources(opened))
    except zipfile.BadZipFile:
        path.unlink(missing_ok=True)
        raise InvalidParameter("archive: not a zip file", field="archive") from None
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    if total == 0:
        path.unlink(missing_ok=True)
        raise InvalidParameter("archive: no images in it (PNG, JPEG, WEBP, GIF, BMP)", field="archive")
    job = imports.start(library, path, rows, options, settings.limits, total)
    url = f"/v1/styles/import/{job.id}"
    body = ImportAccepted(id=job.id, status=job.status, total=total, url=url).model_dump()
    return JSONResponse(body, status_code=202, headers={"Location": url})


@router.get(
    "/{import_id}",
    response_model=ImportReport,
    summary="An import's progress and its per-file report",
    operation_id="styles-import-get",
)
def get_import(import_id: str, caller: Caller, imports: ImportsDep) -> dict:
    return imports.get(import_id, caller.name, admin=caller.is_admin)
