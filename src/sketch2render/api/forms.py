"""The forms of the API as pydantic form models, and the refusal of what a route does not declare.

`RenderForm` (`POST /v1/renders`) is made from `RenderParams`: one optional form field per
parameter, with its bounds (validated by FastAPI, and shown in OpenAPI) and its default in the
description; a field left out takes the default of `RenderParams` (or of the speed preset).
`RenderForm.params()` turns it into validated `RenderParams` (422 naming the field). Its
`extra="forbid"` refuses a field the form does not have (handlers.py: a 422 naming it, and the
field meant when the name is close: `guidance` -> `guidance_scale`), never silently ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Request, UploadFile
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic.fields import FieldInfo

from ..errors import InvalidParameter
from ..schemas import RenderParams
from .handlers import from_validation_error, unknown_fields

PARAM_FIELDS = tuple(RenderParams.model_fields)
# One `tags` value: tags separated by commas; words, not markup or JSON (what the schema says too).
TAG_VALUE = Annotated[str, Field(pattern=r"^[\w ,.'&+/-]+$", max_length=500)]
STYLE_FIELDS = frozenset(
    {
        "image",
        "title",
        "tags",
        "description",
        "license",
        "source",
        "creator",
        "year",
        "visibility",
        "allow_near_duplicate",
    }
)


def known_fields(allowed: frozenset[str]) -> Callable[[Request], Coroutine[Any, Any, None]]:
    """A dependency refusing multipart fields outside `allowed` (FastAPI has parsed the form by then)."""

    async def check(request: Request) -> None:
        form = await request.form()
        unknown = sorted({name for name in form.keys() if name not in allowed})
        if unknown:
            raise unknown_fields(unknown, allowed)

    return check


def _query_names(dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


async def known_query(request: Request) -> None:
    """An app-wide dependency: a query parameter the route does not declare is a 422 naming it."""
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if dependant is None or not request.query_params:
        return
    unknown = sorted(set(request.query_params.keys()) - _query_names(dependant))
    if unknown:
        allowed = sorted(_query_names(dependant))
        raise InvalidParameter(
            f"unknown query parameter{'s' * (len(unknown) > 1)} {', '.join(map(repr, unknown))}; "
            f"this route takes: {', '.join(allowed) or 'none'}",
            field=unknown[0],
        )


_CONSTRAINTS = ("ge", "gt", "le", "lt", "min_length", "max_length", "multiple_of")


def split_list(values: list[str] | None) -> list[str]:
    """Repeated fields and comma-separated values, flattened, blanks dropped."""
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


def _param(name: str, *, description: str | None = None, **extra: Any) -> tuple[Any, FieldInfo]:
    """The form field of one RenderParams field, with its bounds: a required one stays required, the
    others are optional (left out: the default of `RenderParams`), their default described."""
    info = RenderParams.model_fields[name]
    bounds = {c: getattr(m, c) for m in info.metadata for c in _CONSTRAINTS if getattr(m, c, None) is not None}
    if info.is_required():
        return info.annotation, Field(description=description, **bounds, **extra)
    default = info.get_default(call_default_factory=True)
    text = f"default: {default!r}" if default not in (None, []) else "default: automatic"
    return info.annotation | None, Field(default=None, description=description or text, **bounds, **extra)


class _RenderFormBase(BaseModel):
    """The sketch, and how the form becomes `RenderParams`."""

    model_config = ConfigDict(extra="forbid")

    sketch: UploadFile = Field(description="the line drawing: PNG, JPEG, WEBP, GIF or BMP (not empty)")

    def params(self) -> RenderParams:
        """The parameters given (blank ones are left out), as `RenderParams`: 422 naming the field."""
        given = {name: getattr(self, name) for name in FORM_PARAMS if getattr(self, name) is not None}
        given["style_ids"] = split_list(given.get("style_ids"))
        try:
            return RenderParams.model_validate(given)
        except ValidationError as exc:
            raise from_validation_error(exc, PARAM_FIELDS) from None


# `regions` arrive as repeated region_mask files + region_prompt fields (api/regions.py).
FORM_PARAMS = tuple(name for name in PARAM_FIELDS if name != "regions")
_OVERRIDES: dict[str, tuple[Any, FieldInfo]] = {
    "prompt": _param("prompt", description="what to render"),
    "style_ids": (  # its count is checked once the values are split (`params()`)
        list[str] | None,
        Field(default=None, description="use these styles (skip retrieval); comma-separated or repeated"),
    ),
    "size": _param("size", multiple_of=8),
    "control": _param("control", description="canny (default) | lineart | scribble | softedge | auto"),
    "speed": _param("speed", description="quality (default) | fast | live"),
}
RenderForm = create_model(
    "RenderForm",
    __base__=_RenderFormBase,
    __doc__="The multipart form of `POST /v1/renders`: the sketch, the render parameters, the live lane, regions.",
    **{name: _OVERRIDES.get(name) or _param(name) for name in FORM_PARAMS},
    live_session=(
        str | None,
        Field(
            default=None,
            min_length=1,
            max_length=64,
            pattern=r"^[A-Za-z0-9_.:-]+$",
            description="with speed=live: the live lane (never behind quality jobs); a newer render of the same "
            "session replaces its older queued ones",
        ),
    ),
    region_mask=(
        list[UploadFile] | None,
        Field(
            default=None, description="a region: a mask the sketch's size (white, or paint on transparency); repeatable"
        ),
    ),
    region_prompt=(
        list[str] | None,
        Field(default=None, description="the prompt of each region_mask, in order: it retrieves the region's style"),
    ),
)
