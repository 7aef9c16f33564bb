"""The OpenAPI document, made to say exactly what the server accepts and to suit client generators.

FastAPI's document is adjusted in five ways:

1. uploads are `{"type": "string", "format": "binary"}` (what generators read as a file; FastAPI
   writes OpenAPI 3.1's `contentMediaType`, which they take for text) and may not be empty;
2. an optional multipart field is just not `required` (FastAPI writes `anyOf: [T, null]`, and a
   form field cannot carry a null); a list field is one value or a list (`anyOf: [T, [T]]`: a
   field sent once is one value, repeated a list); and a form has no fields but its own
   (`additionalProperties: false`: the server refuses others with a 422 naming them);
3. a PNG download is declared as `image/png` (what the server sends) and also as
   `application/octet-stream` (the binary type generators turn into a byte download);
4. links lead from a submitted render to its routes (status, files, events, cancel, preview, edit,
   upscale, rating) and from an added style to its routes (`$response.body#/id`) and to a render
   with it (its id as the form's `style_ids`), so a client, or schemathesis's stateful phase, can
   follow them (the stateful phase reaches `POST /v1/renders` through that last link only: it does
   not start from an operation whose `style_ids` name a resource nothing produces);
5. without any key on the server, the bearer scheme is left out (the docs say what is true).

The document itself is public (so `/docs` works in a browser); every operation in it needs a key
once any key exists, and the docs page's "Authorize" button takes one.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

RENDER_LINKS = {  # from POST /v1/renders (202, 200) to the routes of that render
    "GetRender": "renders-get",
    "RenderImage": "renders-image",
    "RenderControl": "renders-control",
    "RenderSketch": "renders-sketch",
    "RenderEvents": "renders-events",
    "CancelRender": "renders-cancel",
    "RenderPreview": "renders-preview",
    "EditRender": "renders-edit",
    "UpscaleRender": "renders-upscale",
    "RateRender": "renders-feedback",
}
STYLE_LINKS = {"GetStyle": "styles-get", "StyleImage": "styles-image", "DeleteStyle": "styles-delete"}
STYLE_TO_RENDER = {  # from POST /v1/styles to a render with that style
    "RenderWithStyle": {"operationId": "renders-submit", "requestBody": {"style_ids": "$response.body#/id"}}
}
FORM_NAMES = {  # the forms made of parameters (FastAPI names them Body_<operation id>)
    "Body_styles-add": "StyleForm",
    "Body_renders-edit": "EditForm",
    "Body_renders-upscale": "UpscaleForm",
}
FORMS = ("RenderForm", "LiveRenderForm", *FORM_NAMES.values())  # form models (forms.py, routes/live.py): named already


def generator(app: FastAPI, keyed: Callable[[], bool]) -> Callable[[], dict[str, Any]]:
    """`app.openapi`: the adjusted document, built once for each answer of `keyed()` (a key store
    that gains its first key turns the security scheme on)."""
    cache: dict[bool, dict[str, Any]] = {}

    def openapi() -> dict[str, Any]:
        with_keys = keyed()
        if with_keys not in cache:
            spec = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                openapi_version=app.openapi_version,
            )
            cache[with_keys] = adjust(spec, with_keys=with_keys)
        app.openapi_schema = cache[with_keys]
        return app.openapi_schema

    return openapi


def adjust(spec: dict[str, Any], *, with_keys: bool) -> dict[str, Any]:
    spec = copy.deepcopy(spec)
    schemas = spec.get("components", {}).get("schemas", {})
    for old, new in FORM_NAMES.items():
        if old in schemas:
            schemas[new] = schemas.pop(old)
            schemas[new]["title"] = new
            _rename_refs(spec, f"#/components/schemas/{old}", f"#/components/schemas/{new}")
    for name in FORMS:
        if name in schemas:
            _form_schema(schemas[name])
    for operation in _operations(spec):  # PNG downloads: also as octet-stream, which generators read as bytes
        for response in operation.get("responses", {}).values():
            content = response.get("content", {})
            if "image/png" in content and "application/octet-stream" not in content:
                content["application/octet-stream"] = copy.deepcopy(content["image/png"])
    _link(spec, "renders-submit", ("202", "200"), "job_id", RENDER_LINKS)
    _link(spec, "styles-add", ("201", "200"), "style_id", STYLE_LINKS, STYLE_TO_RENDER)
    if not with_keys:
        spec.get("components", {}).pop("securitySchemes", None)
        for operation in _operations(spec):
            operation.pop("security", None)
    return spec


def _form_schema(schema: dict[str, Any]) -> None:
    schema["additionalProperties"] = False
    for field in schema.get("properties", {}).values():
        if "contentMediaType" in field:  # an upload
            field.pop("contentMediaType")
            field.update(type="string", format="binary", minLength=1)
        variants = field.get("anyOf")
        if variants and {"type": "null"} in variants and len(variants) == 2:
            (kept,) = [v for v in variants if v != {"type": "null"}]
            del field["anyOf"]
            field.update(kept)
        if field.get("type") == "array":  # a form field given once is one value; repeated, a list
            items = field.get("items", {})
            if "contentMediaType" in items:  # repeated uploads (region_mask)
                items.pop("contentMediaType")
                items.update(type="string", format="binary", minLength=1)
            listed = {"type": "array", "items": items}
            for key in ("type", "items"):
                field.pop(key)
            field["anyOf"] = [items, listed]


def _rename_refs(node: Any, old: str, new: str) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and value == old:
                node[key] = new
            else:
                _rename_refs(value, old, new)
    elif isinstance(node, list):
        for item in node:
            _rename_refs(item, old, new)


def _operations(spec: dict[str, Any]):
    for operations in spec.get("paths", {}).values():
        yield from (op for op in operations.values() if isinstance(op, dict))


def _link(
    spec: dict[str, Any],
    source: str,
    statuses: tuple[str, ...],
    parameter: str,
    targets: dict,
    more: dict | None = None,
) -> None:
    """Links from `source`'s answers: the id as `parameter` of each target operation, and `more` as they are."""
    operation = next((op for op in _operations(spec) if op.get("operationId") == source), None)
    if operation is None:
        return
    links = {
        name: {"operationId": target, "parameters": {parameter: "$response.body#/id"}}
        for name, target in targets.items()
    }
    links.update(copy.deepcopy(more or {}))
    for status in statuses:
        if status in operation.get("responses", {}):
            operation["responses"][status]["links"] = links
