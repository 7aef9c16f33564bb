"""The link to a shared Chroma server (`S2R_CHROMA_URL`): a client whose calls time out instead of
hanging, a heartbeat that says whether the server answers (kept for a moment, so readiness and the
job worker may ask often), and a lost connection turned into `ChromaUnavailable` naming the server.

chromadb's own HTTP client waits for ever and takes no timeout: `with_timeouts` sets them on its
HTTP session (build.py's `build_chroma_client`). This module imports no chromadb.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import httpx

from ..errors import ChromaUnavailable

log = logging.getLogger("sketch2render.styles")

if TYPE_CHECKING:
    from chromadb.api import ClientAPI

CONNECT_TIMEOUT_S = 2.0  # a server that is gone refuses at once; one that is unplugged, here
CALL_TIMEOUT_S = 10.0  # a server that accepts but does not answer (stopped, swapping)
HEARTBEAT_TIMEOUT_S = 1.0
HEARTBEAT_TTL_S = 1.5  # how long one heartbeat's answer is kept


def with_timeouts(client: ClientAPI) -> ClientAPI:
    """`client` with a connect and a read timeout on its HTTP session. chromadb offers no setting for
    it (nor a client class of one's own), so this reaches its session; a chromadb without one is
    left as it is, and said so in the log."""
    session = getattr(getattr(client, "_server", None), "_session", None)
    if isinstance(session, httpx.Client):
        session.timeout = httpx.Timeout(CALL_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
    else:
        log.warning("this chromadb's HTTP client has no session to set timeouts on: calls may hang")
    return client


def server_url(client: ClientAPI) -> str | None:
    """The URL of the server behind an HTTP client (None for an on-disk one)."""
    settings = client.get_settings()
    if not settings.chroma_server_host:
        return None
    scheme = "https" if settings.chroma_server_ssl_enabled else "http"
    return f"{scheme}://{settings.chroma_server_host}:{settings.chroma_server_http_port}"


def unreachable(url: str | None, cause: BaseException | str) -> ChromaUnavailable:
    what = cause if isinstance(cause, str) else f"{type(cause).__name__}: {cause}".rstrip(": ")
    return ChromaUnavailable(f"the Chroma server at {url or 'S2R_CHROMA_URL'} is unreachable ({what})")


@contextmanager
def chroma_calls_to(url: str | None) -> Iterator[None]:
    """Calls to the server at `url` inside: a lost or timed-out connection raises `ChromaUnavailable`."""
    try:
        yield
    except httpx.TransportError as exc:  # refused, reset, timed out
        raise unreachable(url, exc) from None


def chroma_calls(client: ClientAPI) -> contextlib.AbstractContextManager[None]:
    """`chroma_calls_to` the server behind `client` (an on-disk client raises no transport error)."""
    return chroma_calls_to(server_url(client))


class ChromaHeartbeat:
    """Whether the Chroma server at `url` answers its heartbeat, asked at most every `ttl` seconds;
    one caller asks while the others take the last answer."""

    def __init__(self, url: str, *, timeout: float = HEARTBEAT_TIMEOUT_S, ttl: float = HEARTBEAT_TTL_S) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.ttl = ttl
        self._lock = threading.Lock()
        self._asked_at = float("-inf")
        self._problem: str | None = None

    def problem(self) -> str | None:
        """None while the server answers, else why not (a line for /readyz)."""
        if time.monotonic() - self._asked_at < self.ttl or not self._lock.acquire(blocking=False):
            return self._problem
        try:
            self._problem = self._ask()
            self._asked_at = time.monotonic()
        finally:
            self._lock.release()
        return self._problem

    def reachable(self) -> bool:
        return self.problem() is None

    def _ask(self) -> str | None:
        try:
            response = httpx.get(f"{self.url}/api/v2/heartbeat", timeout=self.timeout)
        except httpx.HTTPError as exc:
            return str(unreachable(self.url, exc))
        if response.status_code != 200:
            return str(unreachable(self.url, f"heartbeat answered {response.status_code}"))
        return None
