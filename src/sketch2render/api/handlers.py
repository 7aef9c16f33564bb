"""Every error leaves the API as `{"error": {"code", "message"[, "field"]}}` with a fitting
status: domain errors (`S2RError`) with their own status, request validation as 422 naming the
field (a field a form model does not have: 422 naming it and the field meant, when the name is
close), HTTP errors (404, 405, ...) in the same shape. A full disk or a read-only data folder met
anywhere (an OSError or a SQLite error of those kinds) is its 507 or 503 (`storage.translate`).
Unexpected exceptions are handled by `middleware.ResponseGuard` (a logged 500 without a traceback)."""

from __future__ import annotations

import difflib
import sqlite3
from http import HTTPStatus

from fastapi import FastAPI, Request, params
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from ..errors import InvalidParameter, S2RError
from ..storage import translate

LOCATIONS = {"body", "query", "path", "header", "cookie"}
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_format",
    422: "invalid_parameter",
    429: "queue_full",
    503: "unavailable",
}


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict] = {
    "4XX": {"model": ErrorResponse, "description": "The request was refused (see error.code)"},
    "5XX": {"model": ErrorResponse, "description": "The server could not answer (see error.code)"},
}
# For routes whose success is not JSON (an event stream): errors are still JSON.
_JSON_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
JSON_ERROR_RESPONSES: dict[int | str, dict] = {
    status: {"description": spec["description"], "content": _JSON_ERROR} for status, spec in ERROR_RESPONSES.items()
}


def error_json(status: int, code: str, message: str, field: str | None = None, headers=None) -> JSONResponse:
    body: dict = {"code": code, "message": message}
    if field:
        body["field"] = field
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _field_of(loc: tuple | list) -> str | None:
    names = [str(part) for part in loc if not isinstance(part, int) and str(part) not in LOCATIONS]
    return names[0] if names else None


def invalid_parameter(errors: list[dict], fields: tuple[str, ...] = ()) -> InvalidParameter:
    """One InvalidParameter from pydantic errors, naming the first field. Errors of a whole model
    (`control_start must be below control_end`) name the field their message starts with."""
    first = errors[0]
    msg = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    field = _field_of(first.get("loc", ()))
    if field is None:
        mentioned = [(msg.find(f), -len(f), f) for f in fields if f in msg]  # earliest, then longest name
        field = min(mentioned)[2] if mentioned else None
    more = f" (and {len(errors) - 1} more problem{'s' * (len(errors) > 2)})" if len(errors) > 1 else ""
    return InvalidParameter(f"{field}: {msg}{more}" if field else f"{msg}{more}", field=field)


def from_validation_error(exc: ValidationError, fields: tuple[str, ...] = ()) -> InvalidParameter:
    return invalid_parameter(exc.errors(include_url=False, include_input=False), fields)


async def _s2r_error(request: Request, exc: S2RError) -> JSONResponse:
    return error_json(exc.http_status, exc.code, exc.message, exc.field, getattr(exc, "headers", None))


async def _storage_error(request: Request, exc: Exception) -> JSONResponse:
    """A write that met a full disk or a read-only folder outside a route's own `storage.storing`;
    any other OSError or SQLite error goes on to the 500 of `ResponseGuard`."""
    runtime = getattr(request.app.state, "runtime", None)
    named = isinstance(exc, OSError) and exc.filename  # an OSError names its file; SQLite's live in the home
    translated = translate(exc, None if named or runtime is None else runtime.settings.home)
    if translated is None:
        raise exc
    return await _s2r_error(request, translated)


def unknown_fields(unknown: list[str], allowed: frozenset[str]) -> InvalidParameter:
    """The 422 for form fields outside `allowed`, naming the first, with the field meant when close."""
    hints = ", ".join(_hint(name, allowed) for name in unknown)
    return InvalidParameter(
        f"unknown field{'s' * (len(unknown) > 1)} {hints}; the form has: {', '.join(sorted(allowed))}",
        field=unknown[0],
    )


def _hint(name: str, allowed: frozenset[str]) -> str:
    close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
    return f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name)


def _form_fields(request: Request) -> frozenset[str] | None:
    """The fields of the route's form model (`Annotated[SomeForm, Form()]`); None for other bodies."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or route.body_field is None:
        return None
    info = route.body_field.field_info
    model = info.annotation
    if not (isinstance(info, params.Form) and isinstance(model, type) and issubclass(model, BaseModel)):
        return None
    return frozenset(field.alias or name for name, field in model.model_fields.items())


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = list(exc.errors())
    unknown = sorted({str(e["loc"][-1]) for e in errors if e.get("type") == "extra_forbidden" and e.get("loc")})
    allowed = _form_fields(request) if unknown else None
    if unknown and allowed is not None:  # before any other problem, as a form is read by name first
        err = unknown_fields(unknown, allowed)
    else:
        err = invalid_parameter(errors or [{"msg": "invalid request"}])
    return error_json(422, err.code, err.message, err.field)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    status = exc.status_code
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "error"
    message = exc.detail if isinstance(exc.detail, str) and exc.detail else phrase
    headers = dict(exc.headers or {})
    if status == 404 and message == phrase:
        message = f"no route {request.url.path}"
    if status == 405:  # Starlette names only the first route's methods; list every route's for the path
        headers["Allow"] = ", ".join(allowed_methods(request))
    return error_json(status, HTTP_CODES.get(status, f"http_{status}"), message, headers=headers or None)


def allowed_methods(request: Request) -> list[str]:
    """The methods of the path template that routing picked (the first one matching the path)."""
    routes = getattr(request.app.state, "route_table", request.app.router.routes)
    first = next((r for r in routes if r.matches(request.scope)[0] != Match.NONE), None)
    template = getattr(first, "path", None)
    return sorted({m for r in routes if getattr(r, "path", None) == template for m in getattr(r, "methods", ())})


def install(app: FastAPI) -> None:
    app.add_exception_handler(S2RError, _s2r_error)
    app.add_exception_handler(OSError, _storage_error)
    app.add_exception_handler(sqlite3.OperationalError, _storage_error)
    app.add_exception_handler(DBAPIError, _storage_error)  # a database error as SQLAlchemy wraps it
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
