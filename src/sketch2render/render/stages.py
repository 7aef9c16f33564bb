"""What flows between the steps of the render chain (pipeline.py): the request, the prepared sketch, the
retrieved styles, the plan, the rendered images, and the loaded collaborators the steps run with."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from ..config import Settings
from ..errors import InvalidParameter
from ..models import ModelSet
from ..schemas import RenderParams, StyleHit
from ..sketch.control import ControlMap
from .ports import Generated, ImageGenerator, Scorer, StyleSearcher, StyleSource
from .regions import RegionOutcome


@dataclass(frozen=True)
class Retrieved:
    hits: list[StyleHit]
    named: bool  # the user named the styles (no retrieval)
    seconds: float
    regions: tuple[list[StyleHit], ...] = ()  # the hits of each region's prompt


@dataclass(frozen=True)
class RenderRequest:
    """The chain's input: a sketch (upload bytes or an image) and validated parameters."""

    sketch: bytes | Image.Image
    params: RenderParams
    masks: tuple[bytes | Image.Image, ...] = ()  # one per region of `params.regions` (regions.py)
    principal: str = ""  # whose corrections retrieval learns from (retrieval/feedback.py); "": nobody's
    control: ControlMap | None = None  # already built from `sketch` (an image) with these params: not again
    retrieved: Retrieved | None = None  # the styles, found by the caller (a Ray replica's request): not again

    def __post_init__(self) -> None:
        if not isinstance(self.params, RenderParams):
            raise InvalidParameter("a render request needs RenderParams", field="params")


@dataclass(frozen=True)
class Prepared:
    sketch: Image.Image  # resized for generation
    control_map: ControlMap  # what ControlNet follows, its type, and the lines quality is scored against
    control: Image.Image  # the control map as ControlNet's 3-channel input, built once
    decode_s: float
    edges_s: float
    region_masks: tuple[Image.Image, ...] = ()  # binary, at the render size


@dataclass(frozen=True)
class Planned:
    request: RenderRequest
    prepared: Prepared
    retrieved: Retrieved


@dataclass(frozen=True)
class Rendered:
    planned: Planned
    params: RenderParams  # seed filled in, auto-balance's strengths applied
    used: list[StyleHit]  # the styles that drove the IP-Adapter, with their weights
    fallback: str | None  # why no style was used, when none was
    generated: Generated
    embed_s: float
    balance: dict | None
    started: float  # perf_counter at the start of `generate`
    regions: RegionOutcome | None = None


@dataclass(frozen=True)
class RenderComponents:
    """What a render runs with, loaded once (RenderService builds it): the style library, the
    diffusers renderer, the quality scorer, the settings and the model set."""

    library: StyleSource
    search: StyleSearcher
    renderer: ImageGenerator
    scorer: Scorer
    settings: Settings
    models: ModelSet | None = None
