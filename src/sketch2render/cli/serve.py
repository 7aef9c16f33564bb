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


def ui_command(port: int, api_url: str, max_upload_bytes: int) -> list[str]:
    return [
        sys.executable, "-m", "streamlit", "run", str(UI_SCRIPT),
        "--server.port", str(port), "--server.address", "127.0.0.1",
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
        "--server.maxUploadSize", str(max(1, max_upload_bytes // (1024 * 1024))),  # the API's limit
        "--server.fileWatcherType", "none", "--client.toolbarMode", "minimal",
        "--client.showErrorDetails", "none",
        "--", "--api-url", api_url,
    ]  # fmt: skip


@edge
def ui(port: Annotated[int | None, typer.Option(help="Default: S2R_UI_PORT (8501).")] = None) -> None:
    """Run the web UI (it talks to the API at S2R_API_URL)."""
    cfg = settings()
    os.execv(sys.executable, ui_command(port or cfg.ui_port, cfg.api_url, cfg.max_upload_bytes))


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
    api_url = f"http://127.0.0.1:{api_port}"
    env = {**env, "S2R_PORT": str(api_port), "S2R_API_URL": api_url}
    if cfg.api_keys and not cfg.api_key:
        env["S2R_API_KEY"] = cfg.api_keys[0]  # the UI is a client of the API: give it a key
    procs = [subprocess.Popen([sys.executable, "-m", "sketch2render.api"], env=env)]
    try:
        if not _wait_ready(api_url, procs[0]):
            raise fail("the API did not start; see its log above")
        typer.secho(f"API:    {api_url}  (docs: {api_url}/docs)", fg="green")
        procs.append(subprocess.Popen(ui_command(ui_port, api_url, cfg.max_upload_bytes), env=env))
        typer.secho(f"web UI: http://127.0.0.1:{ui_port}", fg="green", bold=True)
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
