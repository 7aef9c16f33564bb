"""The style library over HTTP: list, add (multipart image + metadata), search, get, image, delete.

Style ids are content hashes made by the library; an id that is not alphanumeric is a 404
before anything touches the filesystem. `/v1/styles/search` is declared before `/{style_id}`.
Every principal reads the library's team styles and its own private ones (`visibility=private` on
add: another principal's private style is a 404, never listed or searched; admins list every style
with `all=true` and read any by id); adding a style needs an admin (or `S2R_USERS_CAN_ADD_STYLES`),
removing one always does (403 otherwise). `commercial_only` (or the server's `S2R_COMMERCIAL_ONLY`)
keeps a search to commercially usable styles. An add is refused with 507 when the disk would fall
below `S2R_MIN_FREE_MB` or is full, with 503 when the data folder is read-only; reads go on.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from ...errors import Forbidden, NotFound
from ...principals import Principal
from ...schemas import StyleHit, StyleMeta, StyleRecord, Visibility, is_style_id
from ...sketch import imaging
from ...storage import require_room, storing
from ..deps import AdminOnly, Caller, LibraryDep, RuntimeDep, SearchDep, SettingsDep, request_scope
from ..forms import STYLE_FIELDS, TAG_VALUE, known_fields, split_list
from ..handlers import ERROR_RESPONSES, from_validation_error
from ..views import StyleList, StyleSearch

router = APIRouter(prefix="/v1/styles", tags=["styles"], responses=ERROR_RESPONSES)
PNG = {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}, "description": "PNG"}
TAG_TEXT = "comma-separated, or repeat the field"


def checked_id(style_id: str) -> str:
    if not is_style_id(style_id):
        raise NotFound(f"no style with id {style_id!r}", field="style_id")
    return style_id


class StyleAdded(StyleRecord):
    near_duplicate_of: str | None = None  # the style this image nearly duplicates: nothing was added


def everyone(caller: Principal, all: bool) -> bool:
    """`all=true`: every principal's styles, for admins only (403 for users)."""
    if all and not caller.is_admin:
        raise Forbidden(f"{caller.name!r} has role {caller.role}; only admins may list every principal's styles")
    return all


ALL = Query(description="every principal's styles, private ones included (admins only; 403 for users)")
COMMERCIAL_ONLY = Query(description="only styles whose licence allows commercial use (the server may always ask it)")


def read_upload(upload: UploadFile, limit: int) -> bytes:
    """At most limit+1 bytes (the decoder refuses more); the body limit already bounds it."""
    return upload.file.read(limit + 1)


@router.get("", response_model=StyleList, summary="List styles (oldest first)", operation_id="styles-list")
def list_styles(
    library: LibraryDep,
    caller: Caller,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    tag: Annotated[str | None, Query(max_length=100)] = None,
    all: Annotated[bool, ALL] = False,
) -> dict:
    principal = None if everyone(caller, all) else caller.name
    everything = library.list(0, max(1, len(library)), tag, principal=principal)
    return {"items": everything[offset : offset + limit], "total": len(everything), "offset": offset, "limit": limit}


@router.post(
    "",
    status_code=201,
    response_model=StyleRecord,
    responses={
        200: {
            "model": StyleAdded,
            "description": "The same image (or, with `near_duplicate_of`, a near duplicate) was already there",
        }
    },
    summary="Add a style image with its metadata (the same image again returns the existing id); admins",
    operation_id="styles-add",
    dependencies=[Depends(known_fields(STYLE_FIELDS))],
)
def add_style(
    library: LibraryDep,
    settings: SettingsDep,
    caller: Caller,
    image: Annotated[UploadFile, File(description="PNG, JPEG, WEBP, GIF or BMP (not empty)")],
    title: Annotated[str, Form(max_length=300)] = "",
    tags: Annotated[list[TAG_VALUE] | None, Form(description=TAG_TEXT)] = None,
    description: Annotated[str, Form(max_length=4000)] = "",
    license: Annotated[str, Form(max_length=1000)] = "",
    source: Annotated[str, Form(max_length=1000)] = "",
    creator: Annotated[str, Form(max_length=300)] = "",
    year: Annotated[str, Form(max_length=50)] = "",
    visibility: Annotated[Visibility, Form(description="team (everyone) or private (only you)")] = "team",
    allow_near_duplicate: Annotated[
        bool, Form(description="add it even when it is a near duplicate (resized, re-encoded, cropped) of a style")
    ] = False,
) -> JSONResponse:
    if not (caller.is_admin or settings.users_can_add_styles):
        raise Forbidden(f"{caller.name!r} has role {caller.role}; adding styles needs an admin key")
    try:
        meta = StyleMeta(
            title=title,
            tags=split_list(tags),
            description=description,
            license=license,
            source=source,
            creator=creator,
            year=year,
            visibility=visibility,
        )
    except ValidationError as exc:
        raise from_validation_error(exc) from None
    data = read_upload(image, settings.max_upload_bytes)
    # the image and the reserve must fit (507); a full or read-only disk while storing: 507 or 503
    require_room(settings.styles_dir, settings.min_free_mb, len(data))
    decoded = imaging.decode_upload(data, settings.limits)
    with storing(settings.styles_dir):
        added = library.add_checked(decoded, meta, owner=caller.name, allow_near_duplicate=allow_near_duplicate)
    body = added.record.model_dump(mode="json")
    if added.near_duplicate_of:  # nothing added: the style it nearly duplicates
        body["near_duplicate_of"] = added.near_duplicate_of
    return JSONResponse(
        body, status_code=201 if added.created else 200, headers={"Location": f"/v1/styles/{added.record.id}"}
    )


@router.get(
    "/search", response_model=StyleSearch, summary="Search styles by meaning and words", operation_id="styles-search"
)
def search_styles(
    search: SearchDep,
    runtime: RuntimeDep,
    caller: Caller,
    q: Annotated[str, Query(min_length=1, max_length=1000, description="what the style should look like")],
    k: Annotated[int, Query(ge=1, le=100)] = 5,
    min_score: Annotated[float | None, Query(ge=-1.0, le=1.0, description="minimum CLIP cosine")] = None,
    tags: Annotated[list[TAG_VALUE] | None, Query(description=f"only styles with all these tags; {TAG_TEXT}")] = None,
    commercial_only: Annotated[bool, COMMERCIAL_ONLY] = False,
    collection: Annotated[str | None, Query(max_length=64, description="only this collection's styles")] = None,
) -> dict:
    scope = request_scope(runtime, caller, commercial_only=commercial_only, collection=collection)
    tag_list = split_list(tags)
    hits: list[StyleHit] = search.search(q, k, min_score=min_score, tags=tag_list, principal=caller.name, scope=scope)
    return {"query": q, "hits": hits}


@router.get("/{style_id}", response_model=StyleRecord, summary="One style's record", operation_id="styles-get")
def get_style(style_id: str, library: LibraryDep, caller: Caller) -> StyleRecord:
    return library.get_for(checked_id(style_id), caller.name, admin=caller.is_admin)


@router.get(
    "/{style_id}/image",
    response_class=Response,
    responses={200: PNG},
    summary="The style image as PNG (or a thumbnail with ?size=N)",
    operation_id="styles-image",
)
def style_image(
    style_id: str,
    library: LibraryDep,
    caller: Caller,
    size: Annotated[int | None, Query(ge=16, le=2048, description="longest side of a thumbnail")] = None,
) -> Response:
    library.get_for(checked_id(style_id), caller.name, admin=caller.is_admin)
    if size is not None:
        return Response(imaging.thumbnail_png(library.load_image(style_id), size), media_type="image/png")
    # From the disk or, with S2R_CHROMA_URL, the shared Chroma server (NotFound when missing).
    return Response(library.image_bytes(style_id), media_type="image/png")


@router.delete(
    "/{style_id}",
    response_model=StyleRecord,
    summary="Remove a style (returns its record); admins only",
    operation_id="styles-delete",
)
def delete_style(style_id: str, library: LibraryDep, _: AdminOnly) -> StyleRecord:
    return library.remove(checked_id(style_id))
