"""A fake API client for the web UI's AppTest tests: the same methods as `ui.client.ApiClient`,
answers from memory, and a record of what the pages asked for. With `keys` set it behaves like a
server with principals: a 401 for any other key, `/v1/me` from the key's entry, a 403 for what the
role may not do."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from sketch2render.schemas import RenderParams, RenderRecipe, StyleCredit, StyleHit, StyleRecord, Timings
from sketch2render.ui.client import ApiError, ApiUnreachable, CollectionInfo, LiveToken, Me, RenderJob
from sketch2render.ui.session import FACTORY_KEY

APP = Path(__file__).resolve().parents[2] / "src" / "sketch2render" / "ui" / "app.py"
SKETCHES = Path(__file__).resolve().parents[2] / "src" / "sketch2render" / "data" / "sketches"


def png(colour: str = "white", size: tuple[int, int] = (32, 24)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


FAMILY_INFO = {
    "sd15": {
        "family": "sd15", "title": "Stable Diffusion 1.5", "native_size": 512, "available": True,
        "speeds": {"quality": {"steps": 20, "guidance_scale": 7.5}},
        "control_types": ["canny", "lineart", "scribble", "softedge"],
    },
    "sdxl": {
        "family": "sdxl", "title": "Stable Diffusion XL", "native_size": 1024, "available": True,
        "speeds": {"quality": {"steps": 30, "guidance_scale": 5.0}},
        "control_types": ["canny", "lineart", "scribble", "softedge"],
    },
}  # fmt: skip


def principal(name: str, role: str, *, users_can_add_styles: bool = False) -> Me:
    admin = role == "admin"
    return Me(name, role, admin or users_can_add_styles, admin, admin, queued=0, queue_max=8)


def style(style_id: str, title: str, tags: list[str]) -> StyleRecord:
    return StyleRecord(id=style_id, title=title, tags=tags, license="CC0", width=64, height=64, added_at=1.0)


class FakeApi:
    """Three styles, one scripted render job (queued -> running 1/2, 2/2 -> succeeded)."""

    base_url = "http://fake-api"
    poll_interval = 0.0

    def __init__(self) -> None:
        self.ready: dict | Exception = {
            "ready": True,
            "reasons": [],
            "profile": "sd15",
            "smoke_test": False,
            "warning": None,
            "device": "cuda",
            "models_loaded": True,
            "queue": {"depth": 0, "max": 32, "full": False},
        }
        self.styles = [
            style("aaa111", "The Starry Night", ["night", "swirl"]),
            style("bbb222", "Great Wave", ["ink", "waves"]),
            style("ccc333", "Water Lilies", ["pond"]),
        ]
        self.scores = [(0.87, 0.31, 2.0), (0.55, 0.24, 0.0), (0.41, 0.2, 0.0)]
        self.collections: dict[str, list[str]] = {}  # name -> style ids
        self.imports: list[tuple[str, dict]] = []  # (zip name, form fields) of each bulk import
        self.import_polls = 0
        self.searches: list[tuple[str, int]] = []
        self.served = ["sd15"]  # the families /v1/families lists, the default first
        self.submitted: list[tuple[bytes, dict, str]] = []
        self.added: list[dict] = []
        self.deleted: list[str] = []
        self.polls = 0
        self.fail: dict[str, Exception] = {}  # method name -> exception to raise
        self.final_status = "succeeded"
        self.keys: dict[str, Me] = {}  # key -> principal; empty: a keyless loopback server
        self.key: str | None = None  # the key the UI built its client with
        self.connected: list[str | None] = []  # every key a client was built with
        self.owners: list[str] = []  # the principal of each submitted job
        self.listed_everyone: list[bool] = []  # the `all` flag of each list_renders call
        self.regions: list = []  # the (mask, prompt) regions of the last submitted render
        self.live_tokens = 0  # live tokens minted
        self.derived: list[tuple[str, str, dict]] = []  # edits and upscales asked for: (kind, parent, fields)

    def connect(self, base_url: str, api_key: str | None) -> FakeApi:
        """The client factory the UI's session uses (`session.FACTORY_KEY`)."""
        self.key = api_key
        self.connected.append(api_key)
        return self

    def caller(self) -> Me:
        if not self.keys:
            return principal("anonymous", "admin")
        if self.key not in self.keys:
            raise ApiError("unauthorized", "missing API key" if not self.key else "unknown API key", 401)
        return self.keys[self.key]

    def _forbid(self, allowed: bool, what: str) -> None:
        if not allowed:
            me = self.caller()
            raise ApiError("forbidden", f"{me.name!r} has role {me.role}; {what} needs an admin key", 403)

    def _check(self, method: str) -> None:
        self.caller()
        if method in self.fail:
            raise self.fail[method]

    # --- health and styles ---
    def readiness(self) -> dict:
        if isinstance(self.ready, Exception):
            raise self.ready
        self.caller()
        return self.ready

    def me(self) -> Me:
        self._check("me")
        return self.caller()

    def families(self) -> list[dict]:
        """`/v1/families`: what `served` lists (default: SD 1.5 only, so the page shows no picker)."""
        self._check("families")
        return [dict(FAMILY_INFO[name], default=i == 0) for i, name in enumerate(self.served)]

    def live_token(self) -> LiveToken:
        """A live token of the caller (the browser gets this, never the key)."""
        self._check("live_token")
        self.live_tokens += 1
        return LiveToken(f"s2rlive.token-{self.live_tokens}", time.time() + 900, self.caller().name)

    def list_styles(self, offset: int = 0, limit: int = 500) -> tuple[list[StyleRecord], int]:
        self._check("list_styles")
        return self.styles[offset : offset + limit], len(self.styles)

    def search_styles(
        self, query: str, k: int = 3, *, commercial_only: bool = False, collection: str | None = None
    ) -> list[StyleHit]:
        self._check("search_styles")
        self.searches.append((query, k))
        inside = self.collections.get(collection) if collection else None
        return [
            StyleHit(style=s, score=score, cosine=cos, lexical=lex)
            for s, (score, cos, lex) in list(zip(self.styles, self.scores, strict=False))[:k]
            if (s.commercial_use or not commercial_only) and (inside is None or s.id in inside)
        ]

    # --- bulk import ---
    def import_styles(self, archive: bytes, filename: str, **fields) -> dict:
        self.imports.append((filename, fields))
        return {"id": "imp1", "status": "running", "total": 2, "url": "/v1/styles/import/imp1"}

    def import_report(self, import_id: str) -> dict:
        self.import_polls += 1
        files = [{"file": "a.png", "status": "added", "id": "eee555"}, {"file": "b.txt", "status": "refused"}]
        done = min(2, self.import_polls - 1)
        counts = {"added": min(done, 1), "existed": 0, "near_duplicate": 0, "refused": max(0, done - 1)}
        return {"id": import_id, "status": "finished" if done == 2 else "running", "total": 2, "done": done,
                **counts, "files": files[:done]}  # fmt: skip

    # --- collections ---
    def _collection(self, name: str) -> CollectionInfo:
        ids = self.collections[name]
        styles = tuple(s for s in self.styles if s.id in ids)
        return CollectionInfo(name, "alice", "team", len(styles), styles)

    def list_collections(self) -> list[CollectionInfo]:
        return [self._collection(n) for n in self.collections]

    def get_collection(self, name: str) -> CollectionInfo:
        return self._collection(name)

    def create_collection(self, name: str, *, visibility: str = "team", style_ids=()) -> CollectionInfo:
        self.collections[name] = list(style_ids)
        return self._collection(name)

    def add_to_collection(self, name: str, style_ids) -> CollectionInfo:
        self.collections[name] += list(style_ids)
        return self._collection(name)

    def style_image(self, style_id: str, size: int | None = 256) -> bytes:
        return png("navy")

    def add_style(self, image: bytes, filename: str, *, title: str = "", tags=None, **meta) -> tuple[StyleRecord, bool]:
        self._check("add_style")
        self._forbid(self.caller().can_add_styles, "adding styles")
        self.added.append({"filename": filename, "title": title, "tags": tags, **meta})
        record = style("ddd444", title, tags or [])
        self.styles.append(record)
        return record, True

    def delete_style(self, style_id: str) -> StyleRecord:
        self._check("delete_style")
        self._forbid(self.caller().can_remove_styles, "removing styles")
        self.deleted.append(style_id)
        record = next(s for s in self.styles if s.id == style_id)
        self.styles.remove(record)
        return record

    # --- renders ---
    def submit_render(self, sketch: bytes, params: dict, filename: str = "sketch.png", regions=()) -> str:
        self._check("submit_render")
        self.submitted.append((sketch, params, filename))
        self.regions = list(regions)
        self.owners.append(self.caller().name)
        self.polls = 0
        return f"job{len(self.submitted)}"

    def recipe(self, params: dict) -> RenderRecipe:
        fields = {k: v for k, v in params.items() if v is not None}
        seed = params.get("seed") if params.get("seed") is not None else 1234
        chosen = params.get("style_ids") or [self.styles[0].id]
        hits = [
            StyleHit(style=s, score=0.87, cosine=0.31, lexical=2.0, weight=1.0 / len(chosen))
            for s in self.styles
            if s.id in chosen
        ]
        image_scores = {
            "structure": {"f1": 0.61},
            "style_similarity": 0.72,
            "prompt_alignment": 0.28,
            "structure_warning": None,
        }
        return RenderRecipe(
            params=RenderParams(**{**fields, "seed": seed}),
            seed=seed,
            width=512,
            height=384,
            styles=hits,
            models={"profile": "sd15"},
            timings=Timings(total=1.5),
            scores=[image_scores] * int(params.get("num_images", 1)),
            attribution=[StyleCredit.of(h.style) for h in hits],
        )

    def get_render(self, job_id: str) -> RenderJob:
        self._check("get_render")
        params = self.submitted[int(job_id.removeprefix("job")) - 1][1]
        self.polls += 1
        steps = int(params.get("steps", 20))
        owner = self.owners[int(job_id.removeprefix("job")) - 1]
        base = {"id": job_id, "prompt": params["prompt"], "params": params, "created_at": 1.7e9, "owner": owner}
        if self.polls == 1:
            return RenderJob(status="queued", **base)
        if self.polls <= 1 + steps:
            return RenderJob(status="running", step=self.polls - 1, total=steps, **base)
        if self.final_status == "failed":
            message = "the GPU ran out of memory at 1024 px; try a smaller size"
            return RenderJob(
                status="failed", step=1, total=steps, error_code="out_of_memory", error_message=message, **base
            )
        n = int(params.get("num_images", 1))
        return RenderJob(status="succeeded", step=steps, total=steps, result=self.recipe(params), image_count=n, **base)

    def list_renders(
        self, offset: int = 0, limit: int = 20, *, everyone: bool = False, q: str = ""
    ) -> tuple[list[RenderJob], int]:
        self._check("list_renders")
        self._forbid(not everyone or self.caller().can_see_all_jobs, "listing every principal's jobs")
        self.listed_everyone.append(everyone)
        jobs = []
        name = self.caller().name
        for i in range(len(self.submitted)):
            if not (everyone or self.owners[i] == name):
                continue  # the API lists only the caller's own jobs
            if q and not all(w in self.submitted[i][1]["prompt"].lower() for w in q.lower().split()):
                continue  # words of the prompt
            self.polls = 10_000  # finished
            jobs.append(self.get_render(f"job{i + 1}"))
        return jobs[offset : offset + limit], len(jobs)

    def edit_render(self, job_id: str, mask: bytes, fields: dict) -> str:
        self.derived.append(("edit", job_id, fields))
        return self.submit_render(self.submitted[-1][0] if self.submitted else b"", fields)

    def upscale_render(self, job_id: str, factor: int = 2, detail_strength: float = 0.35) -> str:
        self.derived.append(("upscale", job_id, {"factor": factor}))
        return self.submit_render(self.submitted[-1][0] if self.submitted else b"", {"prompt": "upscale"})

    def cancel_render(self, job_id: str) -> None:
        pass

    def render_image(self, job_id: str, index: int = 0) -> bytes:
        return png("orange", (64, 48))

    def render_control(self, job_id: str) -> bytes:
        return png("black", (64, 48))

    def render_sketch(self, job_id: str) -> bytes:
        self._check("render_sketch")
        return self.submitted[int(job_id.removeprefix("job")) - 1][0]


@pytest.fixture
def fake_api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def app(fake_api: FakeApi):
    """`app()` -> an AppTest of the web UI wired to `fake_api` (not yet run)."""

    def make() -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=30)
        at.session_state[FACTORY_KEY] = fake_api.connect
        return at

    return make


__all__ = ["ApiError", "ApiUnreachable", "FakeApi", "SKETCHES", "png", "principal"]
