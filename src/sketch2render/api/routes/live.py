"""The live canvas: a page of our own (plain HTML + JS in `api/live/`, no build step) where a person
draws and each stroke is rendered in the live lane, and the few routes that page calls.

The page talks to the API from the browser, so it needs no page rerun: a stroke's image goes to
`POST /v1/live/renders` (the live lane: a newer stroke supersedes the session's older queued one),
the job's event stream (`GET /v1/live/renders/{id}/events`, the same `status` events as
`/v1/renders/{id}/events`) says when its image is ready, and the image is fetched and shown.

The browser is signed in as the person using it, never with a key handed to it: `POST
/v1/live/tokens` mints a short-lived token for the caller (the UI asks with the signed-in person's
key and puts the token in the link's fragment, which browsers never send to a server; a person can
also paste their own key into the page, which exchanges it and forgets it). The token opens only
the `/v1/live/` routes, and the caller's limits apply as to any request (`live_tokens.py`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel, Field, create_model

from ...config import Settings
from ...principals import ANONYMOUS, UI_PRINCIPAL, Authenticator
from ..deps import Caller, IdempotencyKey, OwnedJob, RuntimeDep, SettingsDep, StoreDep, WorkerDep
from ..forms import RenderForm
from ..handlers import ERROR_RESPONSES, JSON_ERROR_RESPONSES
from ..live_tokens import LiveTokens
from ..views import JobAccepted
from . import renders

ASSETS = Path(__file__).resolve().parent.parent / "live"
PAGE_PATHS = frozenset({"/live", "/live/canvas.js", "/live/canvas.css"})  # hold nothing secret: no key needed
PNG = {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}, "description": "PNG"}
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css"}

router = APIRouter(tags=["live"], responses=ERROR_RESPONSES)

# The render form, as the live canvas sends it: its live session is required, its speed is live.
LiveRenderForm = create_model(
    "LiveRenderForm",
    __base__=RenderForm,
    __doc__="The multipart form of `POST /v1/live/renders`: as `POST /v1/renders`, always speed=live.",
    live_session=(
        str,
        Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$", description="the live canvas's session"),
    ),
    speed=(Literal["live"] | None, Field(default=None, description="live (the only speed of the live canvas)")),
)


class LiveTokenView(BaseModel):
    token: str
    expires_at: float
    principal: str


def _asset(name: str, csp: str | None = None) -> FileResponse:
    headers = {"Cache-Control": "no-cache", "Referrer-Policy": "no-referrer"}
    if csp:
        headers["Content-Security-Policy"] = csp
    return FileResponse(ASSETS / name, media_type=TYPES[Path(name).suffix], headers=headers)


@router.get("/live", include_in_schema=False)
def live_page(settings: SettingsDep) -> FileResponse:
    """The page: same-origin requests only, no inline script, framed only by the UI's origins."""
    frames = " ".join(["'self'", *settings.cors_origins])
    csp = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
        f"connect-src 'self'; frame-ancestors {frames}; base-uri 'none'; form-action 'none'"
    )
    return _asset("canvas.html", csp)


@router.get("/live/canvas.js", include_in_schema=False)
def live_script() -> FileResponse:
    return _asset("canvas.js")


@router.get("/live/canvas.css", include_in_schema=False)
def live_style() -> FileResponse:
    return _asset("canvas.css")


def principal_check(authenticator: Authenticator, settings: Settings) -> Callable[[str], bool]:
    """Whether a token's principal may still call: it still has a key (the UI's own while `up` runs
    it), or, on a keyless loopback server, it is the one anonymous person."""

    def still_known(name: str) -> bool:
        if not authenticator.enabled:
            return name == ANONYMOUS.name
        if settings.ui_key and name == UI_PRINCIPAL.name:
            return True
        return any(p.name == name for p in authenticator.principals())

    return still_known


async def get_tokens(request: Request) -> LiveTokens:
    return request.app.state.live_tokens


@router.post(
    "/v1/live/tokens",
    response_model=LiveTokenView,
    summary="A short-lived token of the caller for the live canvas (only /v1/live/ routes accept it)",
    operation_id="live-token",
)
def mint_token(tokens: Annotated[LiveTokens, Depends(get_tokens)], caller: Caller) -> dict:
    minted = tokens.mint(caller)
    return {"token": minted.token, "expires_at": minted.expires_at, "principal": caller.name}


@router.post(
    "/v1/live/renders",
    status_code=202,
    response_model=JobAccepted,
    responses={200: {"model": JobAccepted, "description": "Replay: this Idempotency-Key already made this job"}},
    summary="Submit a live render of the canvas (speed=live, a live_session required): as POST /v1/renders",
    operation_id="live-submit",
)
def submit_live(
    runtime: RuntimeDep,
    settings: SettingsDep,
    store: StoreDep,
    worker: WorkerDep,
    caller: Caller,
    form: Annotated[LiveRenderForm, Form(media_type="multipart/form-data")],
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    form.speed = "live"
    return renders.submit_render(runtime, settings, store, worker, caller, form, idempotency_key)


@router.get(
    "/v1/live/renders/{job_id}/events",
    response_class=EventSourceResponse,
    responses=JSON_ERROR_RESPONSES,
    summary="The live render's server-sent events (as /v1/renders/{id}/events)",
    operation_id="live-events",
)
async def live_events(job: OwnedJob, runtime: RuntimeDep, store: StoreDep) -> AsyncIterator[ServerSentEvent]:
    async for event in renders.render_events(job, runtime, store):
        yield event


@router.get(
    "/v1/live/renders/{job_id}/image",
    response_class=Response,
    responses={200: PNG},
    summary="The live render's image (as /v1/renders/{id}/image)",
    operation_id="live-image",
)
def live_image(
    job: OwnedJob,
    store: StoreDep,
    index: Annotated[int, Query(ge=0, le=16, description="which image, from 0")] = 0,
) -> FileResponse:
    return renders.render_image(job, store, index)
