"""Typed records that cross module boundaries (library, renderer, API, CLI, UI)."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from . import licenses
from .families import FamilyName
from .families import defaults as family_defaults


def is_style_id(value: object) -> bool:
    """The one rule for style ids (content hashes, hex): 1-64 letters and digits. Anything else
    is refused before it reaches a path, a query or a store."""
    return isinstance(value, str) and 1 <= len(value) <= 64 and value.isalnum()


Visibility = Literal["team", "private"]


class StyleMeta(BaseModel):
    """What a user says about a style image."""

    title: str = Field(default="", max_length=300)
    tags: list[str] = Field(default_factory=list, max_length=50)
    description: str = Field(default="", max_length=4000)
    license: str = Field(default="", max_length=1000)
    source: str = Field(default="", max_length=1000)
    creator: str = Field(default="", max_length=300)
    year: str = Field(default="", max_length=50)
    visibility: Visibility = "team"  # private: only its owner sees, retrieves and blends it


class StyleRecord(StyleMeta):
    """A style in the library. Its licence's id and class are stored with it; a record stored
    before they existed gets them from its licence text when read (licenses.py)."""

    id: str
    width: int
    height: int
    added_at: float
    license_id: str = ""  # SPDX id (or public-domain, proprietary, unknown): licenses.spdx_id
    license_class: licenses.LicenseClass = "unknown"
    commercial_use: bool = False  # a render with it may be used commercially (what commercial_only keeps)
    attribution_required: bool = True
    owner: str = ""  # the principal that added it ("": added before owners were kept)
    fingerprint: str = ""  # perceptual hash and mean colour (styles/fingerprint.py; "": computed when needed)

    @model_validator(mode="after")
    def _licensed(self) -> StyleRecord:
        if not self.license_id:
            found = licenses.classify(self.license)
            self.license_id, self.license_class = found.id, found.license_class
            self.commercial_use, self.attribution_required = found.commercial_use, found.attribution
        return self

    def visible_to(self, principal: str) -> bool:
        """Team styles are everyone's; a private one only its owner's."""
        return self.visibility == "team" or (bool(self.owner) and self.owner == principal)

    def credit(self) -> str:
        return licenses.credit_line(self.title, self.creator, self.source, self.license_id)

    def search_text(self) -> str:
        """The words BM25 sees: the title twice (it matters most), tags, creator, description."""
        return " ".join([self.title, self.title, *self.tags, self.creator, self.description])


CAPTION_RELEVANT = 0.3  # sentence cosine at which a caption means the prompt (unrelated: ~0-0.15)


class StyleHit(BaseModel):
    """One retrieved style and why it was chosen."""

    style: StyleRecord
    score: float  # fused score in [0, 1]: what the ranking uses
    cosine: float | None = None  # CLIP text->image (or image->image) cosine
    lexical: float = 0.0  # BM25 score over title, tags and description (0 = no word matched)
    weight: float | None = None  # share of the IP-Adapter blend this style got, when rendered
    caption: float | None = None  # sentence-model cosine prompt <-> title, tags, description
    feedback: float | None = None  # what similar past prompts' corrections said, in [-3, 3]
    explain: list[str] = Field(default_factory=list)  # e.g. "feedback: +2.3 (chosen 3× for similar prompts)"

    @property
    def id(self) -> str:
        return self.style.id

    def is_relevant(self, min_cosine: float) -> bool:
        """A hit counts when CLIP finds it similar enough, a word of the prompt matched, its
        caption means the same (sentence model) or corrections for similar prompts chose it."""
        if self.lexical > 0 or (self.feedback or 0.0) > 0 or (self.caption or 0.0) >= CAPTION_RELEVANT:
            return True
        return self.cosine is not None and self.cosine >= min_cosine


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


class StyleCredit(BaseModel):
    """What a render owes one style it used: who made it, where it is from, its licence, the credit line."""

    id: str
    title: str
    creator: str = ""
    source: str = ""
    license: str = ""  # the licence text as given
    license_id: str = "unknown"
    attribution_required: bool = True
    credit: str  # the line to print beside the image

    @classmethod
    def of(cls, style: StyleRecord) -> StyleCredit:
        return cls(
            id=style.id,
            title=style.title,
            creator=style.creator,
            source=style.source,
            license=style.license,
            license_id=style.license_id,
            attribution_required=style.attribution_required,
            credit=style.credit(),
        )


def credit_text(attribution: list[StyleCredit]) -> str:
    """The credits of a render, one line per style (what its PNG carries)."""
    return "\n".join(c.credit for c in attribution)


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
