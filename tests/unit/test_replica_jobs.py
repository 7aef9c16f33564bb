"""What a Ray replica is sent and how it reads it, without a cluster: the API process retrieves for the job's
owner and packs only the styles the job can use (images and kept embeddings); a replica's library serves
only what came with the job; embeddings it computed come back to the library and travel with later jobs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from PIL import Image

from sketch2render import errors
from sketch2render.config import Settings
from sketch2render.jobs.job import REGION_MASK_NAME
from sketch2render.jobs.store import INPUT_NAME
from sketch2render.scale.replica_jobs import RenderJob, ShippedEmbeds, ShippedStyle
from sketch2render.scale.replica_renderer import node_settings
from sketch2render.scale.shipped_styles import NO_SEARCH, ShippedLibrary
from sketch2render.scale.shipping import JobShipper
from sketch2render.schemas import RenderParams, StyleHit, StyleRecord


def record(style_id: str, title: str) -> StyleRecord:
    return StyleRecord(id=style_id, title=title, width=8, height=8, added_at=0.0)


RED, BLUE, GOLD = record("a" * 16, "Red"), record("b" * 16, "Blue"), record("c" * 16, "Gold")


class Library:
    """The API's library as packing sees it: records, stored images, kept embeddings."""

    def __init__(self, *records: StyleRecord) -> None:
        self.records = {r.id: r for r in records}
        self.embeds: dict[tuple[str, str], torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.records)

    def __contains__(self, style_id: object) -> bool:
        return style_id in self.records

    def get(self, style_id: str) -> StyleRecord:
        if style_id not in self.records:
            raise errors.NotFound(f"no style with id {style_id!r}", field="style_id")
        return self.records[style_id]

    def collection_ids(self, name: str, principal: str) -> frozenset[str]:
        return frozenset(self.records)

    def image_bytes(self, style_id: str) -> bytes:
        return f"png of {style_id}".encode()

    def load_image(self, style_id: str) -> Image.Image:
        raise AssertionError("packing sends the stored bytes, it decodes nothing")

    def load_ip_embeds(self, style_id: str, encoder_key: str) -> torch.Tensor | None:
        return self.embeds.get((style_id, encoder_key))

    def save_ip_embeds(self, style_id: str, encoder_key: str, embeds: torch.Tensor) -> None:
        self.embeds[style_id, encoder_key] = embeds


@dataclass
class Search:
    """Red matches the prompt by a word, Blue does not (not relevant); Gold matches the region's prompt."""

    asked: list[tuple[str, str]] = field(default_factory=list)

    def search(self, query, k=5, *, principal="", scope=None):
        self.asked.append((query, principal))
        if query == "gold":
            return [StyleHit(style=GOLD, score=1.0, lexical=1.0)]
        return [StyleHit(style=RED, score=1.0, lexical=1.0), StyleHit(style=BLUE, score=0.5, cosine=0.0)]


@dataclass
class Job:
    id: str = "j1"
    kind: str = "render"
    params: dict = field(default_factory=dict)
    owner: str | None = "alice"
    parent: str | None = None


def render_job(tmp_path: Path, **params) -> tuple[Job, Path]:
    (tmp_path / INPUT_NAME).write_bytes(b"sketch bytes")
    for i, _ in enumerate(params.get("regions", [])):
        (tmp_path / REGION_MASK_NAME.format(index=i)).write_bytes(f"mask {i}".encode())
    return Job(params=RenderParams(prompt="a red box", **params).model_dump(mode="json")), tmp_path


def test_a_render_job_is_retrieved_for_its_owner_and_carries_only_the_styles_it_can_use(tmp_path):
    search = Search()
    shipper = JobShipper(Library(RED, BLUE, GOLD), search, Settings())
    regions = [{"prompt": "gold", "mask_sha256": "0" * 64}]
    job = shipper.job(*render_job(tmp_path, regions=regions))
    assert isinstance(job, RenderJob)
    assert job.sketch == b"sketch bytes" and job.masks == (b"mask 0",) and job.params.regions[0].prompt == "gold"
    assert search.asked == [("a red box", "alice"), ("gold", "alice")]  # the owner's corrections count
    assert [h.id for h in job.retrieved.hits] == [RED.id, BLUE.id] and [h.id for h in job.retrieved.regions[0]] == [
        GOLD.id
    ]
    # Blue is not relevant: its image stays here; Red (global) and Gold (the region) travel
    assert [(s.record.id, s.image, s.embeds) for s in job.styles] == [
        (RED.id, f"png of {RED.id}".encode(), ()),
        (GOLD.id, f"png of {GOLD.id}".encode(), ()),
    ]


def test_named_styles_are_checked_here_and_travel(tmp_path):
    job = JobShipper(Library(RED, BLUE), Search(), Settings()).job(*render_job(tmp_path, style_ids=[BLUE.id]))
    assert job.retrieved.named and [s.record.id for s in job.styles] == [BLUE.id]
    with pytest.raises(errors.NotFound):  # a style the library does not have: refused here, before any replica
        JobShipper(Library(RED), Search(), Settings()).job(*render_job(tmp_path, style_ids=[GOLD.id]))


def test_embeddings_a_replica_computed_are_kept_and_travel_with_the_next_job(tmp_path):
    from safetensors.torch import save

    library = Library(RED, BLUE)
    shipper = JobShipper(library, Search(), Settings())
    tensor = torch.arange(6, dtype=torch.float32).reshape(2, 1, 3)
    shipper.keep([ShippedEmbeds(RED.id, "clip-h", save({"embeds": tensor}))])
    assert torch.equal(library.embeds[RED.id, "clip-h"], tensor)
    (red,) = shipper.job(*render_job(tmp_path)).styles
    assert [e.encoder_key for e in red.embeds] == ["clip-h"]
    assert torch.equal(ShippedLibrary([red]).load_ip_embeds(RED.id, "clip-h"), tensor)


def test_a_replica_library_serves_only_what_came_with_the_job():
    image = Image.new("RGB", (4, 2), (200, 10, 10))
    from io import BytesIO

    buffer = BytesIO()
    image.save(buffer, format="PNG")
    library = ShippedLibrary([ShippedStyle(RED, buffer.getvalue())], hits=[StyleHit(style=BLUE, score=0.1)])
    assert len(library) == 2 and RED.id in library and BLUE.id not in library  # Blue: a hit without an image
    assert library.get(BLUE.id) == BLUE and library.load_image(RED.id).getpixel((0, 0)) == (200, 10, 10)
    with pytest.raises(errors.NotFound):
        library.load_image(BLUE.id)
    with pytest.raises(errors.NotFound):
        library.get(GOLD.id)
    assert library.load_ip_embeds(RED.id, "clip-h") is None
    library.save_ip_embeds(RED.id, "clip-h", torch.ones(2, 1, 3))
    assert torch.equal(library.load_ip_embeds(RED.id, "clip-h"), torch.ones(2, 1, 3))
    assert [(e.style_id, e.encoder_key) for e in library.computed] == [(RED.id, "clip-h")]
    for refused in (lambda: library.collection_ids("mine", "alice"), lambda: NO_SEARCH.search("a red box")):
        with pytest.raises(errors.S2RError, match="API process"):
            refused()


def test_a_node_uses_its_own_folders_where_its_environment_names_them(tmp_path):
    settings = Settings(
        home=tmp_path / "api", ray_resources=json.loads('{"render": 1}'), database_url="postgresql://db.internal/s2r"
    )
    same = node_settings(settings, {})
    assert same.home == settings.home and same.database_url is None  # a replica never opens the API's database
    mine = node_settings(settings, {"S2R_HOME": str(tmp_path / "node"), "S2R_MODEL_DIR": str(tmp_path / "w")})
    assert (mine.home, mine.model_dir, mine.ray_resources) == (tmp_path / "node", tmp_path / "w", {"render": 1.0})
