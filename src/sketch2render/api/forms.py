"""The render form of `POST /v1/renders`: one field per `RenderParams` field, with the bounds and
defaults of `RenderParams` copied into OpenAPI, turned into validated `RenderParams` (422 naming
the field). Fields left out take the defaults of `RenderParams`. A field the form does not have
is a 422 naming it (and the field meant, when the name is close: `guidance` -> `guidance_scale`),
never silently ignored."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Form, Request
from pydantic import Field, ValidationError

from ..errors import InvalidParameter
from ..schemas import ControlChoice, RenderParams, Speed, StyleMode
from .handlers import from_validation_error

PARAM_FIELDS = tuple(RenderParams.model_fields)
# One `tags` value: tags separated by commas; words, not markup or JSON (what the schema says too).
TAG_VALUE = Annotated[str, Field(pattern=r"^[\w ,.'&+/-]+$", max_length=500)]
# `regions` arrive as repeated region_mask files + region_prompt fields (api/regions.py).
SKETCH_FIELDS = frozenset({"sketch", "live_session", "region_mask", "region_prompt", *PARAM_FIELDS} - {"regions"})
STYLE_FIELDS = frozenset({"image", "title", "tags", "description", "license", "source", "creator", "year"})


def known_fields(allowed: frozenset[str]) -> Callable[[Request], Coroutine[Any, Any, None]]:
    """A dependency refusing multipart fields outside `allowed` (FastAPI has parsed the form by then)."""

    async def check(request: Request) -> None:
        form = await request.form()
        unknown = sorted({name for name in form.keys() if name not in allowed})
        if unknown:
            hints = ", ".join(_hint(name, allowed) for name in unknown)
            raise InvalidParameter(
                f"unknown field{'s' * (len(unknown) > 1)} {hints}; the form has: {', '.join(sorted(allowed))}",
                field=unknown[0],
            )

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


def _hint(name: str, allowed: frozenset[str]) -> str:
    close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
    return f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name)


_CONSTRAINTS = ("ge", "gt", "le", "lt", "min_length", "max_length", "multiple_of")


def split_list(values: list[str] | None) -> list[str]:
    """Repeated fields and comma-separated values, flattened, blanks dropped."""
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


def _form(name: str, **extra: Any) -> Any:
    """A Form() for one RenderParams field, with its bounds and default copied into OpenAPI."""
    info = RenderParams.model_fields[name]
    bounds = {c: getattr(m, c) for m in info.metadata for c in _CONSTRAINTS if getattr(m, c, None) is not None}
    default = info.get_default(call_default_factory=True)
    text = f"default: {default!r}" if default not in (None, []) else "default: automatic"
    return Form(description=extra.pop("description", text), **bounds, **extra)


async def render_params(
    prompt: Annotated[str, _form("prompt", description="what to render")],
    negative_prompt: Annotated[str | None, _form("negative_prompt")] = None,
    steps: Annotated[int | None, _form("steps")] = None,
    guidance_scale: Annotated[float | None, _form("guidance_scale")] = None,
    control_strength: Annotated[float | None, _form("control_strength")] = None,
    control_start: Annotated[float | None, _form("control_start")] = None,
    control_end: Annotated[float | None, _form("control_end")] = None,
    style_strength: Annotated[float | None, _form("style_strength")] = None,
    style_mode: Annotated[StyleMode | None, _form("style_mode")] = None,
    style_ids: Annotated[
        list[str] | None, Form(description="use these styles (skip retrieval); comma-separated or repeated")
    ] = None,
    top_k: Annotated[int | None, _form("top_k")] = None,
    blend: Annotated[bool | None, _form("blend")] = None,
    blend_temperature: Annotated[float | None, _form("blend_temperature")] = None,
    min_style_score: Annotated[float | None, _form("min_style_score")] = None,
    seed: Annotated[int | None, _form("seed")] = None,
    num_images: Annotated[int | None, _form("num_images")] = None,
    size: Annotated[int | None, _form("size", multiple_of=8)] = None,
    control: Annotated[
        ControlChoice | None, _form("control", description="canny (default) | lineart | scribble | softedge | auto")
    ] = None,
    simplify: Annotated[float | None, _form("simplify")] = None,
    canny_low: Annotated[int | None, _form("canny_low")] = None,
    canny_high: Annotated[int | None, _form("canny_high")] = None,
    auto_balance: Annotated[bool | None, _form("auto_balance")] = None,
    speed: Annotated[Speed | None, _form("speed", description="quality (default) | fast | live")] = None,
) -> RenderParams:
    """The form fields as `RenderParams`; an invalid value is a 422 naming its field. (`async`: it
    only validates, and FastAPI would run a plain `def` in a worker thread.)"""
    fields = {
        "prompt": prompt,
        "negative_prompt": negative_prompt,
        "steps": steps,
        "guidance_scale": guidance_scale,
        "control_strength": control_strength,
        "control_start": control_start,
        "control_end": control_end,
        "style_strength": style_strength,
        "style_mode": style_mode,
        "top_k": top_k,
        "blend": blend,
        "blend_temperature": blend_temperature,
        "min_style_score": min_style_score,
        "seed": seed,
        "num_images": num_images,
        "size": size,
        "control": control,
        "simplify": simplify,
        "canny_low": canny_low,
        "canny_high": canny_high,
        "auto_balance": auto_balance,
        "speed": speed,
    }
    given = {name: value for name, value in fields.items() if value is not None}
    given["style_ids"] = split_list(style_ids)
    try:
        return RenderParams.model_validate(given)
    except ValidationError as exc:
        raise from_validation_error(exc, PARAM_FIELDS) from None
