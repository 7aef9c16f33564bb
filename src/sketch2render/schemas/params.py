"""What a render can be asked for (`RenderParams`, its regions), validated, with the family's defaults."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from ..families import FamilyName
from ..families import defaults as family_defaults
from .styles import is_style_id

DEFAULT_NEGATIVE_PROMPT = (
    "lowres, blurry, jpeg artifacts, deformed, distorted geometry, extra lines, watermark, "
    "signature, text, worst quality, low quality"
)
StyleMode = Literal["full", "style-only", "none"]
ControlChoice = Literal["canny", "lineart", "scribble", "softedge", "auto"]  # sketch/control.py builds each
Speed = Literal["quality", "fast", "live"]
COLLECTION_NAME = r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$"  # styles/collections.py
MAX_REGIONS = 4  # region masks per render (each is one more IP-Adapter image in every cross-attention)


class RegionParams(BaseModel):
    """One region of a render: its own prompt (which retrieves its own style) over a mask of the sketch.
    The mask itself travels beside the parameters (a file); `mask_sha256` names it."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1, max_length=1000)
    mask_sha256: str = Field(default="", pattern=r"^([0-9a-f]{64})?$")

    @field_validator("prompt")
    @classmethod
    def _prompt_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the region prompt is empty")
        return value.strip()


class RenderParams(BaseModel):
    """Everything a render can be asked for, validated (errors name the field)."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1, max_length=1000)
    negative_prompt: str = Field(default=DEFAULT_NEGATIVE_PROMPT, max_length=1000)
    steps: int = Field(default=20, ge=1, le=150)
    guidance_scale: float = Field(default=7.5, ge=0.0, le=30.0)
    control_strength: float = Field(default=1.0, ge=0.0, le=2.0)  # ControlNet conditioning scale
    control_start: float = Field(default=0.0, ge=0.0, le=1.0)
    control_end: float = Field(default=1.0, ge=0.0, le=1.0)
    style_strength: float = Field(default=0.7, ge=0.0, le=2.0)  # IP-Adapter scale
    style_mode: StyleMode = "full"
    style_ids: list[str] = Field(default_factory=list, max_length=8)  # use these, skip retrieval
    top_k: int = Field(default=3, ge=1, le=10)
    blend: bool = False  # mix the top-k styles instead of using the best one
    blend_temperature: float | None = Field(default=None, gt=0.0, le=10.0)
    min_style_score: float | None = Field(default=None, ge=-1.0, le=1.0)
    seed: int | None = Field(default=None, ge=0, le=2**32 - 1)
    num_images: int = Field(default=1, ge=1, le=4)
    size: int = Field(default=512, ge=64, le=1024)  # longest side of the output, multiple of 8
    control: ControlChoice = "canny"  # what ControlNet follows: see sketch/control.py (auto measures the sketch)
    simplify: float = Field(default=0.0, ge=0.0, le=1.0)  # hatching/shading suppression strength
    canny_low: int | None = Field(default=None, ge=0, le=255)  # None: automatic thresholds
    canny_high: int | None = Field(default=None, ge=0, le=255)
    auto_balance: bool = False  # search (control, style) strengths for the best trade-off first
    speed: Speed = "quality"  # quality: 20 UniPC steps; fast: LCM-LoRA, 4-8 steps; live: 2-4 steps + TAESD
    regions: list[RegionParams] = Field(default_factory=list, max_length=MAX_REGIONS)  # render/regions.py
    family: FamilyName | None = None  # the model family (families.py); None: the server's default family
    commercial_only: bool = False  # only styles whose licence allows commercial use (licenses.py)
    collection: str | None = Field(default=None, max_length=64, pattern=COLLECTION_NAME)  # retrieve only from it

    @field_validator("prompt")
    @classmethod
    def _prompt_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the prompt is empty")
        return value.strip()

    @field_validator("style_ids")
    @classmethod
    def _ids_look_like_ids(cls, value: list[str]) -> list[str]:
        for style_id in value:
            if not is_style_id(style_id):
                raise ValueError(f"{style_id!r} is not a style id")
        return value

    @field_validator("size")
    @classmethod
    def _multiple_of_8(cls, value: int) -> int:
        if value % 8:
            raise ValueError(f"size must be a multiple of 8, got {value}")
        return value

    @model_validator(mode="after")
    def _family_defaults(self) -> RenderParams:
        """The family's speed preset fills in what the request left out (steps, guidance, size; families.py).
        Filled in without counting as given, so `for_family` can fill them in again for another family."""
        for name, value in family_defaults(self.family, self.speed).items():
            if name not in self.model_fields_set:
                self.__dict__[name] = type(getattr(self, name))(value)
        return self

    def field_default(self, name: str) -> object:
        """What `name` is when a request leaves it out (before the family's defaults)."""
        return type(self).model_fields[name].get_default(call_default_factory=True)

    def for_family(self, family: str) -> RenderParams:
        """These parameters for `family`: what the request gave, the rest from that family's defaults."""
        if self.family == family:
            return self
        return RenderParams.model_validate({**self.model_dump(exclude_unset=True), "family": family})

    @model_validator(mode="after")
    def _ranges_in_order(self) -> RenderParams:
        if self.control_start >= self.control_end:
            raise ValueError("control_start must be below control_end")
        if (self.canny_low is None) != (self.canny_high is None):
            raise ValueError("give both canny_low and canny_high, or neither (automatic)")
        if self.canny_low is not None and self.canny_low > self.canny_high:
            raise ValueError("canny_low must not exceed canny_high")
        if self.regions and self.auto_balance:
            raise ValueError("auto_balance is not available with regions")
        return self
