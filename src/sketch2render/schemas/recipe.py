"""What a render did (`RenderRecipe`) and its parts: timings, scores, the speed preset, auto-balance,
references, regions, the parent link."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
)

from .params import RenderParams
from .styles import StyleCredit, StyleHit


class Timings(BaseModel):
    """Seconds per stage."""

    decode: float = 0.0
    edges: float = 0.0
    retrieval: float = 0.0
    embeds: float = 0.0  # IP-Adapter image embeddings (0 when cached)
    denoise: float = 0.0
    vae_decode: float = 0.0
    scores: float = Field(default=0.0, validation_alias=AliasChoices("scores", "metrics"))  # "metrics" before
    total: float = 0.0


class RecipePart(BaseModel):
    """A part of a recipe, written back with the fields it was given: a render without some score,
    or a recipe stored by an older version, keeps its shape. Keys this version does not know (older
    score names such as `structure_f1`) pass through."""

    model_config = ConfigDict(extra="allow")

    @model_serializer(mode="wrap")
    def _as_given(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        data = handler(self)
        return {key: value for key, value in data.items() if key in self.model_fields_set}


class StructureScores(RecipePart):
    """Did the render keep the sketch's lines: edge precision, recall and F1 within a tolerance, and
    the symmetric Chamfer distance (None when the render or the sketch has no edges). render/quality.py."""

    precision: float = 0.0
    recall: float = 0.0
    f1: float = 0.0
    chamfer_px: float | None = None  # in the render's pixels
    chamfer_norm: float | None = None  # over the image diagonal: comparable across sizes
    tolerance_px: float = 0.0  # the match tolerance at this size


class RegionScores(RecipePart):
    """Style similarity inside one region, against the region's own styles (None: it had none)."""

    prompt: str = ""
    style_similarity: float | None = None


class EditScores(RecipePart):
    """An edit's score: style similarity inside the edited region."""

    style_similarity: float | None = None


class ImageScores(RecipePart):
    """The quality scores of one image of a render (the recipe's `scores`, one per image)."""

    structure: StructureScores | None = None
    style_similarity: float | None = None  # CLIP image-image cosine to the styles used (None: no style)
    prompt_alignment: float | None = None  # CLIP text-image cosine to the prompt
    structure_warning: str | bool | None = False  # False, or why the structure score is low
    regions: list[RegionScores] | None = None  # with region masks: one per region
    edit: EditScores | None = None  # an edit's own score


class BalanceProbe(RecipePart):
    """One (control, style) strength pair auto-balance tried, and its probe's scores (render/balance.py); on a
    reference family what reference 1 was and how many style references went in instead."""

    control: float | None = None
    style: float | None = None
    reference_from: str | None = None
    style_references: int | None = None
    f1: float
    style_similarity: float | None = None
    met_threshold: bool | None = None  # the chosen pair only


class BalanceReport(RecipePart):
    """The auto-balance grid and its choice (render/balance.py)."""

    grid: list[BalanceProbe] = Field(default_factory=list)
    chosen: BalanceProbe | None = None
    probe_steps: int = 0
    threshold: float = 0.0
    seconds: float = 0.0  # left out of the PNG, like the timings


class SpeedRecord(RecipePart):
    """What a speed preset resolved to (render/speed.py), and the steps it ran."""

    preset: str = "quality"
    scheduler: str = ""
    lora: str | None = None  # the LoRA of the fast presets
    decoder: str = "vae"  # vae | taesd
    eta: float | None = None  # TCD's stochasticity per step (TCD only)
    gpu: dict[str, bool | str | None] | None = None  # the GPU fast path, when on (render/fastpath.py)
    steps: int | None = None
    guidance_scale: float | None = None
    steps_per_tile: int | None = None  # an upscale's steps per tile


class ReferenceImage(RecipePart):
    """One reference image a reference family (FLUX.2 [klein]) was given, in the order it was passed."""

    kind: Literal["sketch", "control", "style", "parent"]
    style_id: str | None = None
    weight: float | None = None  # the style's fused weight (references take none: they are ordered by it)


class ReferenceRecord(RecipePart):
    """What a reference family was given instead of a ControlNet and an IP-Adapter: the images in
    order (reference 1 carries the geometry), and the instruction the prompt was wrapped in."""

    reference_from: str  # "sketch" | "control": what reference 1 is
    images: list[ReferenceImage] = Field(default_factory=list)
    instruction: str = ""  # the template ({prompt}, {styles})
    prompt: str = ""  # what the model was given


class RegionRecipe(BaseModel):
    """What one region of a render got: its prompt, which mask, the styles retrieved for its prompt
    (used ones carry a weight) or why none was used, and its share of the image."""

    prompt: str
    mask_sha256: str
    area: float  # fraction of the image the mask covers
    styles: list[StyleHit] = Field(default_factory=list)
    fallback_reason: str | None = None


class ParentLink(BaseModel):
    """The render an edit or upscale was made from: its job id (None from the CLI) and its recipe."""

    id: str | None = None
    recipe: RenderRecipe


class RenderRecipe(BaseModel):
    """What was rendered and how: enough to reproduce it, stored in the PNG and beside it."""

    params: RenderParams  # with the seed filled in
    seed: int
    family: str = "sd15"  # the model family it was rendered with (families.py); recipes before families: sd15
    width: int
    height: int
    styles: list[StyleHit] = Field(default_factory=list)  # used ones carry a weight
    fallback_reason: str | None = None  # why no style was used, when none was
    edges: dict = Field(default_factory=dict)  # canny: thresholds used, inverted, edge fraction
    control: dict = Field(default_factory=dict)  # the control type used, what `auto` measured and chose
    speed: SpeedRecord = Field(default_factory=SpeedRecord)  # the preset and what it resolved to
    models: dict = Field(default_factory=dict)  # profile and model ids
    smoke_test: bool = False  # tiny / random weights: the image is noise, not a render
    device: str = "cpu"
    dtype: str = "float32"
    timings: Timings = Field(default_factory=Timings)
    # The quality scores, one per image (empty until computed). Recipes from before call them `metrics`.
    scores: list[ImageScores] = Field(default_factory=list, validation_alias=AliasChoices("scores", "metrics"))
    balance: BalanceReport | None = None  # the auto-balance grid and its choice
    regions: list[RegionRecipe] = Field(default_factory=list)  # a style per region (render/regions.py)
    operation: dict = Field(default_factory=dict)  # edit / upscale: what was done (kind, mask hash, band, factor)
    references: ReferenceRecord | None = None  # reference families: the images and instruction passed
    parent: ParentLink | None = None  # the recipe chain: an edit's or upscale's parent render
    attribution: list[StyleCredit] = Field(default_factory=list)  # one per style used (global and regions)
    version: str = ""


ParentLink.model_rebuild()
