"""Pure ASGI middleware (no body buffering, no BaseHTTPMiddleware): response headers and the last
line of defence for errors, HTTP metrics, the request-body limit, and API-key authentication with
the per-principal request rate.

Order, outermost first: ResponseGuard -> HttpMetrics -> [CORS] -> BodyLimit -> Auth -> app.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio
from sqlalchemy.exc import DBAPIError
from starlette.routing import BaseRoute, Match

from ..errors import DatabaseUnavailable, RateLimited, Unauthorized
from ..principals import ANONYMOUS, Authenticator, Principal
from ..storage import translate
from .limits import RequestLimiter
from .live_tokens import LiveTokens
from .metrics import ApiMetrics

log = logging.getLogger("sketch2render.api")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MULTIPART_OVERHEAD = 64 * 1024  # boundaries, part headers and the small form fields
# Open without a key: liveness, and the API's description (every operation in it needs a key;
# the docs page has an "Authorize" button for one).
PUBLIC_PATHS = frozenset({"/livez", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})


def error_message(status: int, code: str, message: str, headers: dict[str, str] | None = None):
    """(start, body) ASGI messages of a JSON error response."""
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    return (
        {"type": "http.response.start", "status": status, "headers": raw},
        {"type": "http.response.body", "body": body},
    )


async def send_error(send: Send, status: int, code: str, message: str, headers: dict[str, str] | None = None):
    for message_part in error_message(status, code, message, headers):
        await send(message_part)


class ResponseGuard:
    """`X-Content-Type-Options: nosniff` on every response; an exception that escaped everything
    else becomes a logged 500 JSON error without a traceback (or, when it is a storage fault
    `storage.translate` knows, such as a database that is away, that fault's own error)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"x-content-type-options"]
                message["headers"] = [*headers, (b"x-content-type-options", b"nosniff")]
            await send(message)

        try:
            await self.app(scope, receive, guarded_send)
        except Exception as exc:
            known = translate(exc)  # e.g. the key check in a middleware meeting a database that is away
            if known is not None and not started:
                log.warning("%s %s: %s", scope.get("method"), scope.get("path"), known.message)
                await send_error(guarded_send, known.http_status, known.code, known.message, known.headers)
                return
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if not started:
                await send_error(guarded_send, 500, "internal_error", "internal server error; see the server log")


class HttpMetrics:
    """Counts requests by method, route template and status code."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics, routes: Callable[[], list[BaseRoute]]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    def _template(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is None:  # answered before routing (401, 413) or no route matched
            for candidate in self.routes():
                match, _ = candidate.matches(scope)
                if match != Match.NONE:
                    route = candidate
                    break
        return getattr(route, "path", None) or "unmatched"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = 500

        async def counting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            self.metrics.observe_http(scope["method"], self._template(scope), status, time.perf_counter() - start)


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """413 for bodies over the limit: at once from Content-Length (nothing is read), or as soon as
    a streamed (chunked) body passes it. Whatever the app does after that, the client gets 413."""

    def __init__(self, app: ASGIApp, max_body: int, larger: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_body = max_body
        self.larger = larger or {}  # path -> its own limit (a bulk import's zip)

    def _message(self, limit: int) -> str:
        return f"the request body is over the {limit / 1e6:.1f} MB limit"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        limit = self.larger.get(scope.get("path", ""), self.max_body)
        if length is not None:
            if not length.strip().isdigit():
                return await send_error(send, 400, "bad_request", "invalid Content-Length header")
            if int(length) > limit:
                return await send_error(send, 413, "too_large", self._message(limit), {"Connection": "close"})
        received = 0
        exceeded = False
        responded = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                raise BodyTooLarge
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise BodyTooLarge
            return message

        async def limited_send(message: Message) -> None:
            nonlocal responded
            if exceeded:  # replace whatever the app answers (e.g. a 400 for a cut-off form)
                if message["type"] == "http.response.start" and not responded:
                    responded = True
                    await send_error(send, 413, "too_large", self._message(limit), {"Connection": "close"})
                return
            if message["type"] == "http.response.start":
                responded = True
            await send(message)

        try:
            await self.app(scope, limited_receive, limited_send)
        except BodyTooLarge:
            if not responded:
                await send_error(send, 413, "too_large", self._message(limit), {"Connection": "close"})
        except Exception:
            if not exceeded:
                raise
            if not responded:
                await send_error(send, 413, "too_large", self._message(limit), {"Connection": "close"})


class AuthMiddleware:
    """`Authorization: Bearer <key>` on every path but the public ones when any key exists (before
    any body is read), then the principal's request rate (429 + Retry-After; not for `anonymous`,
    the one person of a keyless loopback server). The principal goes
    into the request state (`deps.Caller`). Keys are never logged: only principal names are. On the
    live canvas's routes a live token (`live_tokens.py`) stands for its principal too; `public`
    adds the paths of pages that hold nothing secret (the live canvas's page and script). Where the
    keys or the rate limit are in a database, the check runs in a worker thread, off the event loop."""

    def __init__(
        self,
        app: ASGIApp,
        authenticator: Authenticator,
        limiter: RequestLimiter,
        metrics: ApiMetrics,
        live_tokens: LiveTokens | None = None,
        public: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.limiter = limiter
        self.metrics = metrics
        self.live_tokens = live_tokens
        self.public = PUBLIC_PATHS | public
        self.blocking = authenticator.blocking or limiter.blocking

    def _principal(self, scope: Scope) -> Principal | None:
        header = dict(scope.get("headers") or []).get(b"authorization")
        value = header.decode("latin-1") if header else None
        principal = self.authenticator.authenticate(value)
        scheme, _, token = (value or "").partition(" ")
        if principal is None and scheme.lower() == "bearer" and self.live_tokens is not None:
            principal = self.live_tokens.verify(token.strip()) if self.live_tokens.in_scope(scope["path"]) else None
        return principal

    def _admit(self, scope: Scope) -> tuple[Principal | None, int | None]:
        """The caller's principal (None: not a valid key) and, when over its rate, the seconds to wait."""
        principal = self._principal(scope)
        if principal is None or principal is ANONYMOUS or scope.get("method") == "OPTIONS":
            return principal, None  # keyless: one person, no limit
        return principal, self.limiter.acquire(principal.name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if scope.get("path") in self.public:
            return await self.app(scope, receive, send)
        try:
            if self.blocking:
                principal, wait = await anyio.to_thread.run_sync(self._admit, scope)
            else:
                principal, wait = self._admit(scope)
        except DBAPIError as exc:  # the keys' or the buckets' database cannot be reached
            log.warning("keys or rate limits unavailable: %s", type(exc.orig or exc).__name__)
            return await send_error(
                send,
                DatabaseUnavailable.http_status,
                DatabaseUnavailable.code,
                "the database of keys and rate limits does not answer (S2R_DATABASE_URL); retry in a moment",
                {"Retry-After": "5"},
            )
        if principal is None:
            self.metrics.auth_failures.inc()
            return await send_error(
                send,
                Unauthorized.http_status,
                Unauthorized.code,
                "a valid API key is required: send 'Authorization: Bearer <key>'",
                {"WWW-Authenticate": 'Bearer realm="sketch2render"'},
            )
        self.metrics.principal_requests.labels(principal.name).inc()
        if wait is not None:
            self.metrics.principal_refused.labels(principal.name, "rate").inc()
            return await send_error(
                send,
                RateLimited.http_status,
                RateLimited.code,
                f"too many requests from {principal.name!r} (limit {self.limiter.rate:g}/s, "
                f"bursts of {self.limiter.burst}); retry in {wait} s",
                {"Retry-After": str(wait)},
            )
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)
