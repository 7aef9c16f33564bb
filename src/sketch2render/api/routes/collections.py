"""Collections (moodboards) over HTTP: list, create, show, add and remove styles, delete.

A collection has an owner (the key that created it) and a visibility like styles: a team collection
is everyone's to read and bind renders and searches to (`collection=NAME`), a private one is a 404 to
everyone but its owner; admins list every one with `all=true`. Only the owner or an admin changes
or deletes one (403 otherwise). A style the caller cannot see is a 404 naming `style_id`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from ...principals import Principal
from ...schemas import COLLECTION_NAME, StyleRecord, Visibility
from ...styles import StyleLibrary
from ...styles.collections import Collection
from ..deps import Caller, LibraryDep
from ..handlers import ERROR_RESPONSES
from .styles import ALL, everyone

router = APIRouter(prefix="/v1/collections", tags=["collections"], responses=ERROR_RESPONSES)
NAME = Path(description="the collection's name", max_length=64)


class CollectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=COLLECTION_NAME)
    visibility: Visibility = "team"
    description: str = Field(default="", max_length=4000)
    style_ids: list[str] = Field(default_factory=list, max_length=10_000)


class StyleIds(BaseModel):
    model_config = ConfigDict(extra="forbid")

    style_ids: list[str] = Field(min_length=1, max_length=10_000)


class CollectionView(BaseModel):
    name: str
    owner: str
    visibility: Visibility
    description: str
    created_at: float
    count: int  # styles in it the caller may see
    styles: list[StyleRecord] = Field(default_factory=list)  # only in the answer about one collection

    @classmethod
    def of(cls, found: Collection, records: list[StyleRecord], *, styles: bool = True) -> CollectionView:
        """The view of a collection with the `records` of it the caller may see (listed when `styles`)."""
        return cls(
            name=found.name,
            owner=found.owner,
            visibility=found.visibility,
            description=found.description,
            created_at=found.created_at,
            count=len(records),
            styles=records if styles else [],
        )


class CollectionList(BaseModel):
    items: list[CollectionView]
    total: int


def view(library: StyleLibrary, found: Collection, caller: Principal, *, styles: bool = True) -> CollectionView:
    _, records = library.collection_styles(found.name, caller.name, admin=caller.is_admin)
    return CollectionView.of(found, records, styles=styles)


@router.get(
    "", response_model=CollectionList, summary="Your and the team's collections", operation_id="collections-list"
)
def list_collections(library: LibraryDep, caller: Caller, all: Annotated[bool, ALL] = False) -> CollectionList:
    principal = None if everyone(caller, all) else caller.name
    items = [view(library, c, caller, styles=False) for c in library.collections.list(principal)]
    return CollectionList(items=items, total=len(items))


@router.post(
    "", status_code=201, response_model=CollectionView, summary="Create a collection", operation_id="collections-create"
)
def create_collection(library: LibraryDep, caller: Caller, body: Annotated[CollectionIn, Body()]) -> JSONResponse:
    for style_id in body.style_ids:  # a style the caller cannot see: 404, nothing created
        library.get_for(style_id, caller.name, admin=caller.is_admin)
    found = library.collections.create(
        body.name, caller.name, visibility=body.visibility, description=body.description, style_ids=body.style_ids
    )
    answer = view(library, found, caller).model_dump(mode="json")
    return JSONResponse(answer, status_code=201, headers={"Location": f"/v1/collections/{found.name}"})


@router.get(
    "/{name}", response_model=CollectionView, summary="One collection and its styles", operation_id="collections-get"
)
def get_collection(library: LibraryDep, caller: Caller, name: Annotated[str, NAME]) -> CollectionView:
    return view(library, library.collections.get(name, caller.name, admin=caller.is_admin), caller)


@router.post(
    "/{name}/styles",
    response_model=CollectionView,
    summary="Add styles to a collection",
    operation_id="collections-add",
)
def add_styles(
    library: LibraryDep, caller: Caller, name: Annotated[str, NAME], body: Annotated[StyleIds, Body()]
) -> CollectionView:
    return view(library, library.add_to_collection(name, body.style_ids, caller.name, admin=caller.is_admin), caller)


@router.delete(
    "/{name}/styles/{style_id}",
    response_model=CollectionView,
    summary="Take a style out of a collection (the style stays in the library)",
    operation_id="collections-remove",
)
def remove_style(library: LibraryDep, caller: Caller, name: Annotated[str, NAME], style_id: str) -> CollectionView:
    found = library.collections.remove(name, [style_id], caller.name, admin=caller.is_admin)
    return view(library, found, caller)


@router.delete(
    "/{name}",
    response_model=CollectionView,
    summary="Delete a collection (its styles stay)",
    operation_id="collections-delete",
)
def delete_collection(library: LibraryDep, caller: Caller, name: Annotated[str, NAME]) -> CollectionView:
    found = library.collections.delete(name, caller.name, admin=caller.is_admin)
    return CollectionView.of(found, [])  # its styles stay in the library; it holds none now
