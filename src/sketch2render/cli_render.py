"""CLI commands that render or serve: `render`, `serve`, `ui`, `up`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from .cli import JsonOpt, app, edge, fail, print_json, progress_bar, settings, warn_if_smoke
from .errors import InvalidParameter


@app.command()
@edge
def render(
    sketch: Annotated[Path, typer.Argument(help="The sketch: PNG, JPEG or WEBP line drawing.")],
    prompt: Annotated[str, typer.Option("--prompt", "-p", help="What it should look like.")],
    style: Annotated[list[str] | None, typer.Option("--style", help="Use this style id (repeatable).")] = None,
    top_k: Annotated[int, typer.Option(min=1, max=10)] = 3,
    blend: Annotated[bool, typer.Option(help="Blend the top-k styles by score.")] = False,
    style_mode: Annotated[str, typer.Option(help="full | style-only | none")] = "full",
    style_strength: Annotated[float, typer.Option(help="IP-Adapter scale.")] = 0.7,
    control_strength: Annotated[float, typer.Option(help="ControlNet scale.")] = 1.0,
    seed: Annotated[int | None, typer.Option(help="Random when absent; always recorded.")] = None,
    steps: Annotated[int, typer.Option(min=1, max=150)] = 20,
    guidance: Annotated[float, typer.Option(help="Classifier-free guidance scale.")] = 7.5,
    num_images: Annotated[int, typer.Option(min=1, max=4)] = 1,
    size: Annotated[int, typer.Option(help="Longest side of the output (multiple of 8).")] = 512,
    negative: Annotated[str | None, typer.Option(help="Negative prompt.")] = None,
    auto_balance: Annotated[bool, typer.Option(help="Search strengths for the best trade-off.")] = False,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output PNG path.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Render a sketch with a retrieved (or named) style."""
    from pydantic import ValidationError

    from .schemas import RenderParams
    from .service import build_service, save_render

    fields = dict(
        prompt=prompt,
        style_ids=style or [],
        top_k=top_k,
        blend=blend,
        style_mode=style_mode,
        style_strength=style_strength,
        control_strength=control_strength,
        seed=seed,
        steps=steps,
        guidance_scale=guidance,
        num_images=num_images,
        size=size,
        auto_balance=auto_balance,
    )
    if negative is not None:
        fields["negative_prompt"] = negative
    try:
        params = RenderParams(**fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InvalidParameter(f"{'.'.join(map(str, err['loc']))}: {err['msg']}") from None
    if not sketch.is_file():
        raise fail(f"no such file: {sketch}")
    cfg = settings()
    if sketch.stat().st_size > cfg.max_upload_bytes:
        size_mb, limit_mb = sketch.stat().st_size / 1e6, cfg.max_upload_bytes / 1e6
        raise fail(f"{sketch.name} is {size_mb:.1f} MB, over the {limit_mb:.1f} MB limit")
    data = sketch.read_bytes()
    service = build_service(cfg)
    warn_if_smoke(service.models)
    for style_id in params.style_ids:
        service.library.get(style_id)  # unknown id: one-line error before any work
    with progress_bar("denoising") as bar:
        task = bar.add_task("", total=params.steps)
        result = service.render(data, params, progress=lambda step, total: bar.update(task, completed=step))
    out = out or Path(f"{sketch.stem}-{result.recipe.seed}.png")
    saved = save_render(result, out.parent if str(out.parent) else Path("."), out.stem)
    if as_json:
        print_json(
            {
                "images": [str(p) for p in saved.images],
                "edges": str(saved.control),
                "recipe_path": str(saved.recipe),
                "recipe": result.recipe.model_dump(mode="json"),
            }
        )
        return
    used = [h for h in result.recipe.styles if h.weight]
    typer.echo(f"wrote {', '.join(map(str, saved.images))} (seed {result.recipe.seed})")
    if used:
        typer.echo("style: " + ", ".join(f"{h.style.title} ({h.weight:.2f})" for h in used))
    if result.recipe.fallback_reason:
        typer.echo(f"no style used: {result.recipe.fallback_reason}")


@app.command()
@edge
def serve(
    host: Annotated[str | None, typer.Option(help="Default: S2R_HOST (127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Default: S2R_PORT (8000).")] = None,
) -> None:
    """Run the HTTP API (OpenAPI docs at /docs)."""
    from .api.server import serve as run_server

    run_server(settings(), host=host, port=port)


def ui_command(port: int, api_url: str, max_upload_bytes: int) -> list[str]:
    script = Path(__file__).parent / "ui" / "app.py"
    return [
        sys.executable, "-m", "streamlit", "run", str(script),
        "--server.port", str(port), "--server.address", "127.0.0.1",
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
        "--server.maxUploadSize", str(max(1, max_upload_bytes // (1024 * 1024))),  # the API's limit
        "--server.fileWatcherType", "none", "--client.toolbarMode", "minimal",
        "--client.showErrorDetails", "none",
        "--", "--api-url", api_url,
    ]  # fmt: skip


@app.command()
@edge
def ui(port: Annotated[int | None, typer.Option(help="Default: S2R_UI_PORT (8501).")] = None) -> None:
    """Run the web UI (it talks to the API at S2R_API_URL)."""
    cfg = settings()
    if not (Path(__file__).parent / "ui" / "app.py").exists():
        raise fail("the web UI is not installed in this version")
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


@app.command()
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
        from .scale.chroma_server import ChromaServer

        chroma = ChromaServer(cfg.home / "chroma-server")
        env["S2R_CHROMA_URL"] = chroma.start()
    try:
        _up(cfg, api_port, ui_port, env)
    finally:
        if chroma is not None:
            chroma.stop()


def _up(cfg, api_port: int, ui_port: int, env: dict[str, str]) -> None:
    # First run: the bundled styles. In a child process, so this process never holds the store
    # the API is about to own (Chroma is not process-safe).
    imported = subprocess.run(
        [sys.executable, "-m", "sketch2render", "styles", "import-defaults", "--if-empty", "--json"],
        capture_output=True,
        text=True,
        env=env,
    )
    if imported.returncode != 0:
        raise fail(imported.stderr.strip().splitlines()[-1] if imported.stderr.strip() else "import failed")
    added = json.loads(imported.stdout or "{}").get("added", 0)
    if added:
        typer.echo(f"style library was empty: imported {added} bundled public-domain styles")
    api_url = f"http://127.0.0.1:{api_port}"
    env = {**env, "S2R_PORT": str(api_port), "S2R_API_URL": api_url}
    if cfg.api_keys and not cfg.api_key:
        env["S2R_API_KEY"] = cfg.api_keys[0]  # the UI is a client of the API: give it a key
    procs = [subprocess.Popen([sys.executable, "-m", "sketch2render.api"], env=env)]
    try:
        if not _wait_ready(api_url, procs[0]):
            raise fail("the API did not start; see its log above")
        typer.secho(f"API:    {api_url}  (docs: {api_url}/docs)", fg="green")
        if (Path(__file__).parent / "ui" / "app.py").exists():
            procs.append(subprocess.Popen(ui_command(ui_port, api_url, cfg.max_upload_bytes), env=env))
            typer.secho(f"web UI: http://127.0.0.1:{ui_port}", fg="green", bold=True)
        else:
            typer.secho("the web UI is not part of this version yet: API only", fg="yellow")
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
