"""The FastAPI app factory: middleware, error handlers, routers, and the lifespan that starts the
runtime (job store, recovery, worker, model loading) and stops it gracefully.

`create_app(settings)` loads the real models in the background once the app starts;
`create_app(settings, components=service)` uses a ready `RenderBackend` (tests, embedding). Nothing is
loaded at import time or in `create_app` itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from .. import __version__ as version
from ..config import Settings
from ..principals import Authenticator
from . import handlers, openapi
from .backend import RenderBackend
from .forms import known_query
from .limits import open_limiter
from .live_tokens import LiveTokens
from .middleware import MULTIPART_OVERHEAD, AuthMiddleware, BodyLimit, HttpMetrics, ResponseGuard
from .routes import collections, edits, feedback, health, live, renders, style_import, styles
from .runtime import ApiRuntime

DESCRIPTION = """Sketch + a few words -> a render that keeps the sketch's geometry and takes a retrieved
style's look. Renders run as jobs: `POST /v1/renders` answers 202 with an id; poll
`GET /v1/renders/{id}` or stream `GET /v1/renders/{id}/events`.

Keys: once any key exists (`sketch2render keys add NAME --role user|admin`, or `S2R_API_KEYS`,
whose keys are admins), every operation needs `Authorization: Bearer <key>` (use "Authorize"
on this page); this description, `/docs` and `/livez` stay open. A `user` sees and cancels only
its own renders (another principal's render is a 404) and reads the library; an `admin` also
manages the library and sees every render (`GET /v1/renders?all=true`). Each principal may have
a limited number of renders waiting and a limited request rate (429 with `Retry-After`).
Errors: `{"error": {"code", "message"}}`."""


def create_app(settings: Settings, components: RenderBackend | None = None, *, shutdown_grace: float = 8.0) -> FastAPI:
    runtime = ApiRuntime(settings, components, shutdown_grace=shutdown_grace)
    authenticator = Authenticator.from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(runtime.start)
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(runtime.stop)

    app = FastAPI(
        title="sketch2render",
        version=version,
        description=DESCRIPTION,
        lifespan=lifespan,
        dependencies=[Depends(known_query)],  # an undeclared query parameter is a 422, never ignored
    )
    app.state.runtime = runtime
    handlers.install(app)
    secret = authenticator.store.token_secret()  # one for the service where keys are in a database
    app.state.live_tokens = tokens = LiveTokens(live.principal_check(authenticator, settings), secret=secret)
    routers = (
        health.router,
        style_import.router,
        styles.router,
        collections.router,
        renders.router,
        feedback.router,
        edits.router,
        live.router,
    )
    for router in routers:
        app.include_router(router)
    # Flat list of every route (FastAPI nests included routers): for metrics labels and `Allow`.
    app.state.route_table = [r for r in app.router.routes if getattr(r, "path", None)] + [
        r for router in routers for r in router.routes
    ]
    # add_middleware puts each one outside the previous: the last added runs first.
    limiter = open_limiter(settings)  # shared by every API process through S2R_DATABASE_URL
    app.add_middleware(
        AuthMiddleware,
        authenticator=authenticator,
        limiter=limiter,
        metrics=runtime.metrics,
        live_tokens=tokens,
        public=live.PAGE_PATHS,
    )
    larger = {"/v1/styles/import": style_import.MAX_ARCHIVE_BYTES + MULTIPART_OVERHEAD + settings.max_upload_bytes}
    app.add_middleware(BodyLimit, max_body=settings.max_upload_bytes + MULTIPART_OVERHEAD, larger=larger)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
            expose_headers=["Location", "Retry-After"],
        )
    app.add_middleware(HttpMetrics, metrics=runtime.metrics, routes=lambda: app.state.route_table)
    app.add_middleware(ResponseGuard)
    app.openapi = openapi.generator(app, lambda: authenticator.enabled)
    return app
