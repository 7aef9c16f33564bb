"""Settings: one pydantic-settings class read from `S2R_*` environment variables.

Everything a user can tune lives here, validated at start-up. No heavy imports.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, NamedTuple

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MB = 1024 * 1024


class UploadLimits(NamedTuple):
    """The one rule for untrusted images: bytes on the wire, decoded pixels, longest side."""

    max_bytes: int = 20 * MB
    max_pixels: int = 40_000_000
    max_side: int = 12_000


class JobLimits(NamedTuple):
    """How long a job may run: its worker renews its lease every third of `lease_s` (a lapsed one is
    re-queued), and a render past `render_timeout` seconds (per speed preset: `per_speed`, else
    `render_timeout_s`) fails with `render_timeout` and frees the worker."""

    lease_s: float = 60.0
    render_timeout_s: float = 1800.0
    per_speed: tuple[tuple[str, float], ...] = ()

    def render_timeout(self, speed: str) -> float:
        return dict(self.per_speed).get(speed, self.render_timeout_s)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="S2R_", extra="ignore")

    # --- where things live and what runs them ---
    home: Path = Field(default_factory=lambda: Path.home() / ".sketch2render")
    # a profile (auto | sd15 | tiny | sd15-random | sdxl | tiny-sdxl | sdxl-random) or a model folder; several
    # comma-separated (`sdxl,sd15`): one per family, the first is the default family (models/profiles.py)
    models: str = "auto"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    model_dir: Path | None = None  # a local folder holding the sd15 weights (see README)

    # --- real weights (sd15 profile); each overridable ---
    base_model: str = "stable-diffusion-v1-5/stable-diffusion-v1-5"
    controlnet_model: str = "lllyasviel/control_v11p_sd15_canny"
    controlnet_lineart_model: str = "lllyasviel/control_v11p_sd15_lineart"
    controlnet_scribble_model: str = "lllyasviel/control_v11p_sd15_scribble"
    controlnet_softedge_model: str = "lllyasviel/control_v11p_sd15_softedge"
    controlnet_tile_model: str = "lllyasviel/control_v11f1e_sd15_tile"  # upscale: tiled img2img
    # upscale tile side: bounds its memory (None: the family's native size, 512 on SD 1.5, 1024 on SDXL)
    upscale_tile: int | None = Field(default=None, ge=64, le=1024, multiple_of=8)
    controlnet_cache: int = Field(default=2, ge=1, le=4)  # ControlNets kept loaded (~0.7 GB each in fp16)
    lcm_lora_model: str = "latent-consistency/lcm-lora-sdv1-5"  # speed=fast/live: 4-8 step LCM-LoRA
    fast_scheduler: Literal["lcm", "tcd"] = "lcm"  # tcd: TCDScheduler, for the TCD LoRA (h1t/TCD-SD15-LoRA)
    taesd_model: str = "madebyollin/taesd"  # speed=live and previews: the tiny autoencoder
    preview_every: int = Field(default=5, ge=0)  # a preview image every N denoising steps (0: none)
    live_sessions_max: int = Field(default=8, ge=1)  # live sessions rendering at once; 429 beyond
    ip_adapter_repo: str = "h94/IP-Adapter"
    ip_adapter_subfolder: str = "models"
    ip_adapter_weight: str = "ip-adapter_sd15.safetensors"
    clip_model: str = "openai/clip-vit-base-patch32"

    # --- real weights (sdxl profile) ---
    sdxl_base: str = (
        "stabilityai/stable-diffusion-xl-base-1.0"  # any SDXL checkpoint in diffusers layout (repo or folder)
    )

    # --- input limits ---
    max_upload_bytes: int = Field(default=20 * MB, ge=1024)
    max_image_pixels: int = Field(default=40_000_000, ge=64 * 64)
    max_side: int = Field(default=12_000, ge=64)  # longest side of an accepted image, pixels

    # --- generation (per-render parameters and their defaults: schemas.RenderParams) ---
    attention_slicing: bool = False  # memory option; slows modern GPUs (see README)
    cpu_offload: bool = False  # memory option for small GPUs
    # FLUX.2 [klein]'s CPU offload (S2R_OFFLOAD): model (~13 GB), sequential (less, much slower), off;
    # None: model when S2R_CPU_OFFLOAD is on, else off
    offload: Literal["model", "sequential", "off"] | None = None
    # GPU fast path (CUDA only; render/fastpath.py says what each does and costs)
    channels_last: bool = True  # UNet + ControlNets in channels_last memory format
    fuse_qkv: bool = True  # one matmul for each self-attention's q/k/v (IP-Adapter kept)
    compile: Literal["off", "default", "reduce-overhead", "max-autotune"] = "off"  # torch.compile + warm-up

    # --- retrieval ---
    bundled_styles: bool = True  # a new data folder starts with the 21 bundled public-domain styles
    min_style_score: float = 0.2  # CLIP cosine below which (and no lexical match) we fall back
    commercial_only: bool = False  # every render, search and eval keeps to commercially usable styles (licenses.py)
    dense_weight: float | None = Field(default=None, ge=0.0)  # None: 1.0, or 0.0 for tiny CLIP
    lexical_weight: float = Field(default=1.0, ge=0.0)
    rrf_k: int | None = Field(default=None, ge=1)  # None: the fusion design's (5 evidence, 60 rrf)
    fusion: Literal["evidence", "rrf"] = "evidence"  # rrf: ranks only, the design before (retrieval/fusion.py)
    blend_temperature: float = Field(default=0.1, gt=0.0)
    query_cache_size: int = Field(default=1024, ge=0)
    # what a process keeps between renders (render/caches.py, jobs/decoded_sketches.py); off: every step runs again
    caches: Literal["on", "off"] = "on"
    # --- learning from corrections (retrieval/feedback.py) and caption meaning (retrieval/captions.py) ---
    sentence_model: Path | None = None  # a folder replacing the packaged all-MiniLM-L6-v2 (models/sentence.py)
    feedback_weight: float = Field(default=1.0, ge=0.0)  # the feedback list's weight in RRF; 0: off
    caption_weight: float | None = Field(default=None, ge=0.0)  # None: 1.0, or 0.0 for a stand-in model
    feedback_half_life_days: float = Field(default=90.0, gt=0.0)  # a correction's vote halves this often
    feedback_scope: Literal["principal", "pooled"] = "principal"  # pooled: everyone's corrections count

    # --- quality ---
    structure_threshold: float = Field(default=0.3, ge=0.0, le=1.0)
    edge_tolerance_px: int = Field(default=2, ge=0, le=20)

    # --- service ---
    log_level: Literal["debug", "info", "warning", "error"] = "info"  # the API's log (stderr)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    ui_port: int = Field(default=8501, ge=1, le=65535)
    api_url: str = "http://127.0.0.1:8000"  # where the UI finds the API
    public_api_url: str | None = None  # where browsers find the API (the live canvas); None: api_url
    api_key: str | None = None  # the key the UI / CLI client sends
    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    queue_max: int = Field(default=32, ge=1)
    max_history: int = Field(default=10_000, ge=10)
    # free space the data folder keeps: uploads that would go below it are refused (507; 0: no check)
    min_free_mb: int | None = Field(default=None, ge=0)  # None: a twentieth of the disk, at most 256 MB
    # --- a job that hangs (jobs/worker.py, jobs/leases.py): see `JobLimits` ---
    job_lease_s: float = Field(default=60.0, ge=1.0)  # a running job not renewed this long is re-queued
    render_timeout: float = Field(default=1800.0, gt=0.0)  # seconds a render may run; then it fails
    render_timeout_quality: float | None = Field(default=None, gt=0.0)  # per speed preset; None: render_timeout
    render_timeout_fast: float | None = Field(default=None, gt=0.0)
    render_timeout_live: float | None = Field(default=None, gt=0.0)
    # --- principals (principals/): fair use of one server by several keys ---
    queue_max_per_principal: int = Field(default=16, ge=1)  # jobs one principal may have waiting
    rate_limit: float = Field(default=20.0, ge=0.0)  # requests per second per principal; 0: no limit
    rate_burst: int = Field(default=120, ge=1)  # requests one principal may send at once
    users_can_add_styles: bool = False  # principals with role `user` may add (never remove) styles
    ui_key: str | None = None  # set by `up` only: the key its own web UI sends (principal `local`, admin)

    # --- scale-out ---
    backend: Literal["local", "ray"] = "local"
    ray_address: str | None = None
    ray_min_replicas: int = Field(default=1, ge=0)
    ray_max_replicas: int = Field(default=2, ge=1)
    ray_target_ongoing: int = Field(default=1, ge=1)
    ray_max_queued: int = Field(default=16, ge=-1)
    # custom Ray resources each render replica requires (JSON, e.g. {"render": 1}): replicas go only to
    # nodes started with them (`ray start --resources '{"render": 2}'`), so the API's node takes none
    ray_resources: dict[str, float] = Field(default_factory=dict)
    chroma_url: str | None = None
    # one PostgreSQL database for jobs, keys, feedback signals and collections (postgresql://user@host/db):
    # several API processes on it act as one service; unset, each store is a SQLite file in `home`
    database_url: str | None = None

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str | None) -> str | None:
        if value and not value.startswith(("postgresql://", "postgres://", "postgresql+psycopg://", "sqlite:///")):
            raise ValueError("S2R_DATABASE_URL must be a postgresql://user@host:port/name URL (or unset: SQLite files)")
        return value or None

    @field_validator("ray_resources")
    @classmethod
    def _positive_resources(cls, value: dict[str, float]) -> dict[str, float]:
        for name, amount in value.items():
            if not name or amount <= 0:
                raise ValueError(f"S2R_RAY_RESOURCES: {name!r} must name a resource with a positive amount")
        return value

    @field_validator("api_keys", "cors_origins", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("home", "model_dir", "sentence_model", mode="after")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    # Paths under home, one place for all of them.
    @property
    def styles_dir(self) -> Path:
        return self.home / "styles"

    @property
    def renders_dir(self) -> Path:
        return self.home / "renders"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def jobs_db(self) -> Path:
        return self.home / "jobs.sqlite3"

    @property
    def feedback_db(self) -> Path:
        return self.home / "feedback.sqlite3"

    def store_url(self, sqlite_file: Path) -> str:
        """The database a store opens: `S2R_DATABASE_URL` (shared by every store), else its SQLite file."""
        return self.database_url or f"sqlite:///{Path(sqlite_file).absolute()}"

    @property
    def keys_file(self) -> Path:
        return self.home / "keys.json"

    @property
    def job_limits(self) -> JobLimits:
        """The job lease and the render time limits (the job worker reads them)."""
        overrides = {
            "quality": self.render_timeout_quality,
            "fast": self.render_timeout_fast,
            "live": self.render_timeout_live,
        }
        per_speed = tuple((speed, value) for speed, value in overrides.items() if value is not None)
        return JobLimits(self.job_lease_s, self.render_timeout, per_speed)

    @property
    def limits(self) -> UploadLimits:
        """What an uploaded or imported image may be (imaging.decode_upload checks it)."""
        return UploadLimits(self.max_upload_bytes, self.max_image_pixels, self.max_side)


TOOL_VARIABLES = {"S2R_BENCH_CACHE", "S2R_FUZZ_SECONDS"}  # read by benchmarks/ and tests/fuzz/, not settings


def unknown_settings(environ: dict[str, str] | None = None) -> list[str]:
    """`S2R_*` variables that are no setting (a typo: `S2R_MODEL=sd15` does nothing), each with the
    nearest real name when one is close."""
    import difflib

    known = {f"S2R_{name.upper()}" for name in Settings.model_fields} | TOOL_VARIABLES
    found = []
    for name in sorted(environ if environ is not None else os.environ):
        if name.startswith("S2R_") and name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            found.append(f"{name} (did you mean {close[0]}?)" if close else name)
    return found


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
