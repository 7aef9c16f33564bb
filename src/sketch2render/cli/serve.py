"""`sketch2render serve | ui | up`: the API, the web UI, or both together (the README's `make run`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from ..config import Settings
from .common import edge, fail, settings

UI_SCRIPT = Path(__file__).resolve().parent.parent / "ui" / "app.py"


@edge
def serve(
    host: Annotated[str | None, typer.Option(help="Default: S2R_HOST (127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Default: S2R_PORT (8000).")] = None,
) -> None:
    """Run the HTTP API (OpenAPI docs at /docs)."""
    from ..api.server import serve as run_server  # FastAPI and uvicorn only for this command

    run_server(settings(), host=host, port=port)


def ui_command(port: int, api_url: str, max_upload_bytes: int, address: str = "127.0.0.1") -> list[str]:
    return [
        sys.executable, "-m", "streamlit", "run", str(UI_SCRIPT),
        "--server.port", str(port), "--server.address", address,
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
        "--server.maxUploadSize", str(max(1, max_upload_bytes // (1024 * 1024))),  # the API's limit
        "--server.fileWatcherType", "none", "--client.toolbarMode", "minimal",
        "--client.showErrorDetails", "none",
        "--", "--api-url", api_url,
    ]  # fmt: skip


@edge
def ui(port: Annotated[int | None, typer.Option(help="Default: S2R_UI_PORT (8501).")] = None) -> None:
    """Run the web UI (it talks to the API at S2R_API_URL). It listens on S2R_HOST: beyond loopback
    only when API keys exist, and then every visitor signs in with their own key."""
    from ..api.server import check_bind

    cfg = settings()
    check_bind(cfg, cfg.host)  # beyond loopback without keys: refused
    os.execv(sys.executable, ui_command(port or cfg.ui_port, cfg.api_url, cfg.max_upload_bytes, cfg.host))


def _client_host(host: str) -> str:
    """Where a client on this machine reaches a server bound to `host`."""
    host = host.strip()
    if host in ("", "0.0.0.0", "::", "[::]"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _give_the_ui_a_key(cfg: Settings, env: dict[str, str]) -> str:
    """The UI is a client of the API and, once keys exist, needs one. In order: the key you gave it
    (S2R_API_KEY: the UI acts as you), the first S2R_API_KEYS key (as before), else a key made for
    this run only (S2R_UI_KEY: the admin principal `local`, never written anywhere). Returns how
    the UI signs in, for the banner."""
    from ..principals import Authenticator, new_key

    if cfg.api_key:
        return ", with S2R_API_KEY"
    if cfg.api_keys:
        env["S2R_API_KEY"] = cfg.api_keys[0]
        return ", with the first S2R_API_KEYS key"
    if Authenticator.from_settings(cfg).enabled:
        env["S2R_API_KEY"] = env["S2R_UI_KEY"] = new_key()
        return ", signed in as 'local' (admin) with a key made for this run"
    return ""


def _wait_ready(url: str, proc: subprocess.Popen, timeout: float = 600.0) -> bool:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(url + "/livez", timeout=1.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    return False


@edge
def up(
    api_port: Annotated[int | None, typer.Option(help="Default: S2R_PORT (8000).")] = None,
    ui_port: Annotated[int | None, typer.Option(help="Default: S2R_UI_PORT (8501).")] = None,
) -> None:
    """Run the API and the web UI together; Ctrl-C stops both."""
    cfg = settings()
    api_port = api_port or cfg.port
    ui_port = ui_port or cfg.ui_port
    env = dict(os.environ)
    chroma = None
    if cfg.backend == "ray" and not cfg.chroma_url:
        # Ray workers share the library through a Chroma server: start one for all three of us.
        from ..scale.chroma_server import ChromaServer

        chroma = ChromaServer(cfg.home / "chroma-server")
        env["S2R_CHROMA_URL"] = chroma.start()
    try:
        _up(cfg, api_port, ui_port, env)
    finally:
        if chroma is not None:
            chroma.stop()


def warn_if_no_real_weights(cfg: Settings) -> None:
    from ..errors import S2RError
    from ..models import resolve_models

    try:
        models = resolve_models(cfg, build=False)
    except S2RError:
        return  # the API says why it cannot load them
    if models.smoke_test and models.warning:
        typer.secho(f"WARNING: {models.warning}", fg="yellow", bold=True, err=True)


def _up(cfg: Settings, api_port: int, ui_port: int, env: dict[str, str]) -> None:
    # The API imports the bundled styles into a new library itself. Here: say plainly when this
    # machine has no real weights, with the one command that fetches them.
    warn_if_no_real_weights(cfg)
    from ..api.server import check_bind

    check_bind(cfg, cfg.host)  # a public S2R_HOST without keys: refused before anything starts
    api_url = f"http://{_client_host(cfg.host)}:{api_port}"  # the API binds S2R_HOST; the UI calls it there
    env = {**env, "S2R_PORT": str(api_port), "S2R_API_URL": api_url}
    from ..api.server import is_loopback

    shared = not is_loopback(cfg.host)  # the UI is served to other machines (keys exist: check_bind)
    who = ", each visitor signs in with their own key" if shared else _give_the_ui_a_key(cfg, env)
    if shared:  # never hand the server's key to every visitor
        env.pop("S2R_API_KEY", None)
    procs = [subprocess.Popen([sys.executable, "-m", "sketch2render.api"], env=env)]
    try:
        if not _wait_ready(api_url, procs[0]):
            raise fail("the API did not start; see its log above")
        typer.secho(f"API:    {api_url}  (docs: {api_url}/docs)", fg="green")
        procs.append(subprocess.Popen(ui_command(ui_port, api_url, cfg.max_upload_bytes, cfg.host), env=env))
        where = f"http://{_client_host(cfg.host)}:{ui_port}"
        typer.secho(f"web UI: {where}  ({'shared' if shared else 'this machine only'}{who})", fg="green", bold=True)
        typer.echo("Ctrl-C stops both.")
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
        raise fail("a server stopped unexpectedly")
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
