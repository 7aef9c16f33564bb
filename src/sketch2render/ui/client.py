"""A small typed HTTP client of the sketch2render API, the only way the web UI reaches the system.

Every failure becomes one of two exceptions the pages turn into readable messages: `ApiError`
(the API answered with an error: its `{"error": {"code", "message"}}` body, or a plain status) and
`ApiUnreachable` (nothing answered at the base URL). Images are immutable once served (style ids
are content hashes, a render's images exist only after it succeeded, its sketch never changes), so
they are kept in a small LRU cache, and so are finished jobs. Left out: streaming progress over
server-sent events (the UI polls), retries.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
from cachetools import LRUCache
from pydantic import ValidationError

from ..schemas import RenderRecipe, StyleHit, StyleRecord

TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
SCORES_WAIT_S = 30.0  # how long get_render waits for a succeeded job's quality scores


class ApiError(Exception):
    """The API refused or failed a request; `message` is meant for people."""

    def __init__(self, code: str, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


class ApiUnreachable(Exception):
    """Nothing answered at the API's base URL (not started, wrong URL, or down)."""

    def __init__(self, base_url: str, reason: str) -> None:
        super().__init__(f"cannot reach the API at {base_url}: {reason}")
        self.base_url = base_url
        self.reason = reason


@dataclass(frozen=True)
class Me:
    """Who the key is and what it may do (`GET /v1/me`); the API enforces it, the UI only adapts."""

    name: str
    role: str
    can_add_styles: bool = True
    can_remove_styles: bool = True
    can_see_all_jobs: bool = True
    queued: int = 0
    queue_max: int = 0

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Me:
        try:
            return cls(
                name=str(body["name"]),
                role=str(body["role"]),
                can_add_styles=bool(body.get("can_add_styles", False)),
                can_remove_styles=bool(body.get("can_remove_styles", False)),
                can_see_all_jobs=bool(body.get("can_see_all_jobs", False)),
                queued=int(body.get("queued") or 0),
                queue_max=int(body.get("queue_max") or 0),
            )
        except (KeyError, TypeError, ValueError):
            raise ApiError("bad_response", "the API sent a /v1/me answer this UI cannot read") from None


@dataclass(frozen=True)
class LiveToken:
    """A token of the live canvas: it opens only the API's `/v1/live/` routes, until `expires_at`."""

    token: str
    expires_at: float
    principal: str


@dataclass(frozen=True)
class RenderJob:
    """A render job as the API reports it (a history entry lacks params and result)."""

    id: str
    status: str
    prompt: str = ""
    created_at: float = 0.0
    step: int = 0
    total: int = 0
    error_code: str | None = None
    error_message: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    result: RenderRecipe | None = None
    image_count: int = 0
    warning: str | None = None
    owner: str | None = None  # the principal that submitted it (shown when listing everyone's)
    kind: str = "render"  # render | edit | upscale
    parent: str | None = None  # the render an edit or upscale was made from

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> RenderJob:
        progress = body.get("progress") or {}
        error = body.get("error") or {}
        images = (body.get("urls") or {}).get("images") or []
        try:
            result = RenderRecipe.model_validate(body["result"]) if body.get("result") else None
        except ValidationError as exc:
            raise ApiError(
                "bad_response", f"the API sent a render result this UI cannot read ({exc.error_count()} errors)"
            ) from None
        return cls(
            id=str(body["id"]),
            status=str(body.get("status", "unknown")),
            prompt=str(body.get("prompt") or (body.get("params") or {}).get("prompt", "")),
            created_at=float(body.get("created_at") or 0.0),
            step=int(progress.get("step") or 0),
            total=int(progress.get("total") or 0),
            error_code=error.get("code"),
            error_message=error.get("message"),
            params=dict(body.get("params") or {}),
            result=result,
            image_count=len(images) or (len(result.scores) if result and result.scores else 0),
            warning=body.get("warning"),
            owner=body.get("owner"),
            kind=str(body.get("kind") or "render"),
            parent=body.get("parent"),
        )


def _form_fields(params: dict[str, Any]) -> dict[str, str | list[str]]:
    """RenderParams-named form fields: lists as repeated fields, booleans as true/false, None left out."""

    def text(value: Any) -> str:
        return ("true" if value else "false") if isinstance(value, bool) else str(value)

    return {
        name: [text(v) for v in value] if isinstance(value, list | tuple) else text(value)
        for name, value in params.items()
        if value is not None
    }


@dataclass(frozen=True)
class CollectionInfo:
    """A collection (moodboard) as the API reports it: `styles` only when one collection was asked for."""

    name: str
    owner: str
    visibility: str
    count: int
    styles: tuple[StyleRecord, ...] = ()

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> CollectionInfo:
        styles = tuple(StyleRecord.model_validate(s) for s in body.get("styles", []))
        return cls(str(body["name"]), str(body.get("owner", "")), str(body.get("visibility", "team")),
                   int(body.get("count", 0)), styles)  # fmt: skip


class ApiClient:
    """Typed calls to the sketch2render HTTP API at `base_url` (with an optional Bearer key)."""

    poll_interval = 0.5  # seconds between progress polls (fakes in tests use less)

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        cache_size: int = 256,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=httpx.Timeout(timeout, connect=3.0), transport=transport
        )
        self._images: LRUCache[str, bytes] = LRUCache(cache_size)  # image bytes by URL
        self._jobs: LRUCache[str, RenderJob] = LRUCache(cache_size)  # finished jobs never change
        self._lock = threading.Lock()

    # --- plumbing ---------------------------------------------------------------------------
    def _request(self, method: str, path: str, *, ok: tuple[int, ...] = (), **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise ApiUnreachable(self.base_url, str(exc) or type(exc).__name__) from None
        except httpx.TimeoutException:
            raise ApiError("timeout", f"the API at {self.base_url} did not answer in time") from None
        except httpx.HTTPError as exc:
            raise ApiUnreachable(self.base_url, str(exc) or type(exc).__name__) from None
        if response.is_success or response.status_code in ok:
            return response
        raise self._error(response)

    @staticmethod
    def _error(response: httpx.Response) -> ApiError:
        try:
            body = response.json()["error"]
            return ApiError(str(body["code"]), str(body["message"]), response.status_code)
        except Exception:  # not our JSON error body: a proxy, or an unexpected server
            text = response.text.strip().splitlines()[0][:200] if response.text.strip() else response.reason_phrase
            return ApiError(
                f"http_{response.status_code}", f"HTTP {response.status_code}: {text}", response.status_code
            )

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._request(method, path, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise ApiError("bad_response", f"the API sent something that is not JSON for {path}") from None

    def _image(self, path: str, params: dict[str, Any] | None = None) -> bytes:
        key = path + "?" + "&".join(f"{k}={v}" for k, v in sorted((params or {}).items()))
        with self._lock:
            data = self._images.get(key)
        if data is None:
            data = self._request("GET", path, params=params).content
            with self._lock:
                self._images[key] = data
        return data

    def close(self) -> None:
        self._http.close()

    # --- health -----------------------------------------------------------------------------
    def readiness(self) -> dict[str, Any]:
        """`/readyz` (its 503 "not ready" body is an answer too): ready, reasons, profile, smoke_test, …"""
        return self._request("GET", "/readyz", ok=(503,), timeout=5.0).json()

    def families(self) -> list[dict[str, Any]]:
        """`/v1/families`: the model families the server serves, the default first."""
        return list(self._json("GET", "/v1/families", timeout=5.0)["families"])

    def me(self) -> Me:
        """`/v1/me`: the caller's name, role and permissions (401 without a valid key)."""
        return Me.from_json(self._json("GET", "/v1/me", timeout=5.0))

    def live_token(self) -> LiveToken:
        """`POST /v1/live/tokens`: a short-lived token of this client's principal for the live canvas
        (the browser gets the token, never this client's key); an older API answers 404."""
        body = self._json("POST", "/v1/live/tokens", timeout=5.0)
        try:
            return LiveToken(str(body["token"]), float(body["expires_at"]), str(body["principal"]))
        except (KeyError, TypeError, ValueError):
            raise ApiError("bad_response", "the API sent a live token this UI cannot read") from None

    # --- styles -----------------------------------------------------------------------------
    def list_styles(self, offset: int = 0, limit: int = 500) -> tuple[list[StyleRecord], int]:
        body = self._json("GET", "/v1/styles", params={"offset": offset, "limit": limit})
        return [StyleRecord.model_validate(s) for s in body["items"]], int(body.get("total", 0))

    def search_styles(
        self, query: str, k: int = 3, *, commercial_only: bool = False, collection: str | None = None
    ) -> list[StyleHit]:
        params: dict[str, Any] = {"q": query, "k": k, **({"commercial_only": "true"} if commercial_only else {})}
        if collection:
            params["collection"] = collection
        body = self._json("GET", "/v1/styles/search", params=params)
        return [StyleHit.model_validate(h) for h in body["hits"]]

    def style_image(self, style_id: str, size: int | None = 256) -> bytes:
        return self._image(f"/v1/styles/{style_id}/image", {"size": size} if size else None)

    def add_style(
        self, image: bytes, filename: str, *, title: str = "", tags: list[str] | None = None, **meta: str
    ) -> tuple[StyleRecord, bool]:
        """Add a style; returns (record, created) — False when the same image was already there."""
        fields = _form_fields({"title": title, "tags": list(tags or []), **{k: v for k, v in meta.items() if v}})
        response = self._request("POST", "/v1/styles", data=fields, files={"image": (filename, image)})
        return StyleRecord.model_validate(response.json()), response.status_code == 201

    def delete_style(self, style_id: str) -> StyleRecord:
        return StyleRecord.model_validate(self._json("DELETE", f"/v1/styles/{style_id}"))

    def import_styles(self, archive: bytes, filename: str, **fields: str) -> dict[str, Any]:
        """Start a bulk import of a zip (`POST /v1/styles/import`): {id, status, total, url}."""
        data = {k: v for k, v in fields.items() if v}
        response = self._request("POST", "/v1/styles/import", data=data, files={"archive": (filename, archive)})
        return response.json()

    def import_report(self, import_id: str) -> dict[str, Any]:
        """An import's progress (`done` of `total`), counts and per-file report."""
        return self._json("GET", f"/v1/styles/import/{quote(import_id)}")

    # --- collections (moodboards) ------------------------------------------------------------
    def list_collections(self) -> list[CollectionInfo]:
        return [CollectionInfo.from_json(c) for c in self._json("GET", "/v1/collections")["items"]]

    def get_collection(self, name: str) -> CollectionInfo:
        return CollectionInfo.from_json(self._json("GET", f"/v1/collections/{quote(name)}"))

    def create_collection(
        self, name: str, *, visibility: str = "team", style_ids: Sequence[str] = ()
    ) -> CollectionInfo:
        body = {"name": name, "visibility": visibility, "style_ids": list(style_ids)}
        return CollectionInfo.from_json(self._json("POST", "/v1/collections", json=body))

    def add_to_collection(self, name: str, style_ids: Sequence[str]) -> CollectionInfo:
        body = {"style_ids": list(style_ids)}
        return CollectionInfo.from_json(self._json("POST", f"/v1/collections/{quote(name)}/styles", json=body))

    # --- feedback (what retrieval learns from) ---------------------------------------------------
    def send_feedback(self, prompt: str, style_id: str, signal: str) -> dict[str, Any]:
        """`chosen` or `rejected`: this style is (not) right for prompts like this one."""
        return self._json("POST", "/v1/feedback", json={"prompt": prompt, "style_id": style_id, "signal": signal})

    def rate_render(self, job_id: str, rating: str) -> dict[str, Any]:
        """`up` or `down` for the styles a finished render used."""
        return self._json("POST", f"/v1/renders/{job_id}/feedback", json={"rating": rating})

    # --- renders ----------------------------------------------------------------------------
    def submit_render(
        self,
        sketch: bytes,
        params: dict[str, Any],
        filename: str = "sketch.png",
        regions: Sequence[tuple[bytes, str]] = (),
    ) -> str:
        """Queue a render; returns the job id (the API answers 202 once the job is stored).
        `regions`: (mask PNG the sketch's size, prompt) pairs, each retrieving its own style."""
        data = {**_form_fields(params), **({"region_prompt": [p for _, p in regions]} if regions else {})}
        files = [("sketch", (filename, sketch, "image/png"))]
        files += [("region_mask", (f"region-{i}.png", mask, "image/png")) for i, (mask, _) in enumerate(regions)]
        return str(self._json("POST", "/v1/renders", data=data, files=files)["id"])

    def edit_render(self, job_id: str, mask: bytes, fields: dict[str, Any]) -> str:
        """Repaint the masked area of a finished render (`fields`: prompt, style_ids, seed, …); the new job's id."""
        files = {"mask": ("mask.png", mask, "image/png")}
        return str(self._json("POST", f"/v1/renders/{job_id}/edit", data=_form_fields(fields), files=files)["id"])

    def upscale_render(self, job_id: str, factor: int = 2, detail_strength: float = 0.35) -> str:
        """Enlarge a finished render by 2 or 4 with tiled detail; the new job's id."""
        data = {"factor": str(factor), "detail_strength": str(detail_strength)}
        return str(self._json("POST", f"/v1/renders/{job_id}/upscale", data=data)["id"])

    def get_render(self, job_id: str) -> RenderJob:
        """The job's state; a finished job never changes, so it is remembered. A succeeded job is
        reported as soon as its images are written: this waits the moment its quality scores take."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            body = self._json("GET", f"/v1/renders/{job_id}")
            deadline = time.monotonic() + SCORES_WAIT_S
            while body.get("scores_pending") and time.monotonic() < deadline:
                time.sleep(0.02)
                body = self._json("GET", f"/v1/renders/{job_id}")
            job = RenderJob.from_json(body)
            if job.terminal and not body.get("scores_pending"):
                with self._lock:
                    self._jobs[job_id] = job
        return job

    def list_renders(
        self, offset: int = 0, limit: int = 20, *, everyone: bool = False, q: str = ""
    ) -> tuple[list[RenderJob], int]:
        """The caller's renders, newest first; `everyone=True` (admins only, else a 403): every principal's;
        `q`: only those with these words in a prompt."""
        params: dict[str, Any] = {"offset": offset, "limit": limit}
        if everyone:
            params["all"] = "true"
        if q.strip():
            params["q"] = q.strip()
        body = self._json("GET", "/v1/renders", params=params)
        return [RenderJob.from_json(j) for j in body["items"]], int(body.get("total", 0))

    def cancel_render(self, job_id: str) -> None:
        self._request("DELETE", f"/v1/renders/{job_id}")

    def render_image(self, job_id: str, index: int = 0) -> bytes:
        """The PNG (with its recipe in text chunks) of image `index` of a succeeded render."""
        return self._image(f"/v1/renders/{job_id}/image", {"index": index} if index else None)

    def render_control(self, job_id: str) -> bytes:
        """The control image ControlNet followed (edges, lineart or scribble) as PNG."""
        return self._image(f"/v1/renders/{job_id}/control")

    def render_sketch(self, job_id: str) -> bytes:
        """The job's input sketch as the API keeps it, re-encoded as PNG (upright, RGB)."""
        return self._image(f"/v1/renders/{job_id}/sketch")
