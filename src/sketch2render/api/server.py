"""Run the API with uvicorn. Without API keys the server binds to loopback only (and says so);
asked for any other host without keys it refuses with `InvalidParameter`.

SIGTERM / Ctrl-C: the app stops taking jobs and ends event streams at once, open requests get
`GRACEFUL_SHUTDOWN_S` to finish, then the lifespan lets the running render finish or re-queues it.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from typing import Any

from ..config import Settings, unknown_settings
from ..errors import InvalidParameter
from ..principals import Authenticator

GRACEFUL_SHUTDOWN_S = 5


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(settings: Settings, host: str) -> str | None:
    """Raise for a public bind without keys; return the notice to print when keys are missing.
    Keys are those of S2R_API_KEYS and of the key store (`sketch2render keys add`)."""
    if Authenticator.from_settings(settings).enabled:
        return None
    if not is_loopback(host):
        raise InvalidParameter(
            f"refusing to listen on {host}: no API keys exist. Add one with `sketch2render keys add NAME "
            "--role admin` (or set S2R_API_KEYS=<key>[,<key>...]) to serve other machines, or bind to 127.0.0.1.",
            field="host",
        )
    return (
        f"No API keys (sketch2render keys add, or S2R_API_KEYS): binding to loopback only ({host}); "
        "other machines cannot connect."
    )


def serve(
    settings: Settings,
    host: str | None = None,
    port: int | None = None,
    *,
    echo: Callable[[str], Any] = print,
    log_level: str | None = None,
) -> None:
    """Run the API until SIGINT / SIGTERM (blocking)."""
    from .app import create_app

    host = host or settings.host
    port = port or settings.port
    notice = check_bind(settings, host)
    if notice:
        echo(notice)
    log_level = log_level or settings.log_level
    logging.basicConfig(
        level=getattr(logging, log_level.upper(), logging.INFO), format="%(levelname)s %(name)s: %(message)s"
    )
    for name in unknown_settings():
        logging.getLogger("sketch2render.api").warning("%s is not a sketch2render setting; it is ignored", name)
    server = make_server(create_app(settings), host, port, log_level=log_level)
    echo(f"sketch2render API on http://{host}:{port} (docs at /docs)")
    server.run()


def make_server(app: Any, host: str, port: int, *, log_level: str = "info") -> Any:
    """A uvicorn server whose first SIGTERM/SIGINT also tells the app to stop taking jobs."""
    import uvicorn

    runtime = app.state.runtime

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            runtime.begin_shutdown()  # before uvicorn waits on open connections (SSE streams)
            super().handle_exit(sig, frame)

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        server_header=False,
        proxy_headers=False,
    )
    return Server(config)
