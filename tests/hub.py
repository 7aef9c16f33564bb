"""A local stand-in for the Hugging Face hub, for tests that run `sketch2render models download`
without the internet: a threaded HTTP server on 127.0.0.1 that serves folders under real repo ids,
the way the hub's `resolve` endpoint does (HEAD and GET `/{repo}/resolve/{revision}/{file}`, with
`X-Repo-Commit`, an `ETag` that is the content's sha256, `Content-Length`, byte `Range`s, and a 404
with `X-Error-Code: EntryNotFound` for a missing file). It records every request, and can be slowed
down (bytes per second) so that a test can kill a download half-way.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

# The tiny model folder's parts under the repo ids the sd15 profile downloads.
SD15_REPOS = {
    "stable-diffusion-v1-5/stable-diffusion-v1-5": "base",
    "lllyasviel/control_v11p_sd15_canny": "controlnet",
    "h94/IP-Adapter": "ip-adapter",
    "openai/clip-vit-base-patch32": "clip",
}
# The stand-ins of the other control types' ControlNets (optional assets: `--with lineart,...`).
CONTROL_REPOS = {
    "lllyasviel/control_v11p_sd15_lineart": "controlnet-lineart",
    "lllyasviel/control_v11p_sd15_scribble": "controlnet-scribble",
    "lllyasviel/control_v11p_sd15_softedge": "controlnet-softedge",
    "latent-consistency/lcm-lora-sdv1-5": "lcm-lora",
    "madebyollin/taesd": "taesd",
    "lllyasviel/control_v11f1e_sd15_tile": "controlnet-tile",
}


@dataclass
class Hub:
    repos: dict[str, Path]  # repo id -> folder
    bytes_per_second: float | None = None  # throttle GETs (None: as fast as possible)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # (method, path, Range)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    @staticmethod
    def commit(repo: str) -> str:
        return hashlib.sha1(repo.encode()).hexdigest()

    def locate(self, path: str) -> tuple[str, Path] | None:
        """`/org/name/resolve/main/a/b.json` -> (repo id, file), or None."""
        parts = unquote(path.split("?", 1)[0]).strip("/").split("/")
        if len(parts) < 5 or parts[2] != "resolve":
            return None
        repo = "/".join(parts[:2])
        folder = self.repos.get(repo)
        if folder is None:
            return None
        target = (folder / "/".join(parts[4:])).resolve()
        if not target.is_file() or folder.resolve() not in target.parents:
            return None
        return repo, target

    def start(self) -> Hub:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def _answer(self, body: bool) -> None:
                hub.requests.append((self.command, self.path, self.headers.get("Range")))
                found = hub.locate(self.path)
                if found is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("X-Error-Message", "Entry not found")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                repo, target = found
                data = target.read_bytes()
                start = 0
                wanted = self.headers.get("Range")
                if body and wanted and wanted.startswith("bytes="):
                    start = int(wanted[6:].split("-", 1)[0] or 0)
                self.send_response(206 if start else 200)
                self.send_header("X-Repo-Commit", hub.commit(repo))
                self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(len(data) - start))
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                if body:
                    self._send_slowly(data[start:])

            def _send_slowly(self, data: bytes) -> None:
                step = 16 * 1024
                for offset in range(0, len(data), step):
                    try:
                        self.wfile.write(data[offset : offset + step])
                    except (BrokenPipeError, ConnectionResetError):
                        return
                    if hub.bytes_per_second:
                        time.sleep(step / hub.bytes_per_second)

            def do_HEAD(self) -> None:
                self._answer(body=False)

            def do_GET(self) -> None:
                self._answer(body=True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, name="stand-in-hub", daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def sd15_hub(tiny_models_dir: Path) -> Hub:
    """The tiny models served as the sd15 profile's repos."""
    repos = {**SD15_REPOS, **CONTROL_REPOS}
    return Hub({repo: tiny_models_dir / folder for repo, folder in repos.items()}).start()


def sdxl_repos() -> dict[str, str]:
    """The tiny-sdxl folder's parts under the repo ids the sdxl profile downloads (asset repo -> folder)."""
    from sketch2render.models.assets_sdxl import ASSET_FOLDERS, SDXL_REPOS

    return {
        **{repo: ASSET_FOLDERS[name] for name, repo in SDXL_REPOS.items()},
        "openai/clip-vit-base-patch32": ASSET_FOLDERS["clip"],
    }


def sdxl_hub(tiny_sdxl_dir: Path) -> Hub:
    """The tiny-sdxl models served as the sdxl profile's repos (tiny weights under the real ids)."""
    return Hub({repo: tiny_sdxl_dir / folder for repo, folder in sdxl_repos().items()}).start()


def hub_env(folder: Path, hub: Hub, models: str, environ: dict[str, str]) -> dict[str, str]:
    """A CLI's environment that downloads `models` from `hub`: its data folder `folder/home`, its cache
    `folder/hf-cache` (no telemetry, no Xet; no bundled styles: not needed, and embedding 21 images
    costs every command)."""
    return {
        **environ,
        "S2R_HOME": str(folder / "home"),
        "S2R_MODELS": models,
        "S2R_DEVICE": "cpu",
        "HF_HUB_CACHE": str(folder / "hf-cache"),
        "HF_ENDPOINT": hub.url,
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_XET": "1",
        "S2R_BUNDLED_STYLES": "false",
    }
