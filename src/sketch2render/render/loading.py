"""Loading a family's pipeline the normal way: `from_pretrained`, `load_ip_adapter`, nothing else.

- SD 1.5: `ControlNetModel` (canny) + `StableDiffusionControlNetPipeline`, IP-Adapter from
  `<repo>/<subfolder>/<weight>` with its `image_encoder/` beside it.
- SDXL: `ControlNetUnionModel` (one ControlNet for every control type) + the fp16-fix `AutoencoderKL`
  + `StableDiffusionXLControlNetUnionPipeline`, IP-Adapter Plus from `sdxl_models/` with the ViT-H image
  encoder in `models/image_encoder`.

The pipeline class comes from the family (families.py); the same calls load the real weights and the
local stand-ins. `ControlNets` keeps the ControlNet of each control type, loaded on first use. No
safety checker and no watermarker (see README). Runs in the renderer's builder only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from cachetools import LRUCache

from ..config import Settings
from ..errors import InvalidParameter
from ..families import Family
from ..models import ModelSet
from .device_pinning import pinned

if TYPE_CHECKING:
    import torch
    from diffusers import ControlNetModel, DiffusionPipeline, ModelMixin


def loading_options(models: ModelSet, dtype: torch.dtype) -> dict:
    return {"dtype": dtype, "use_safetensors": True, "local_files_only": models.local_files_only}


def controlnet_loader(models: ModelSet, dtype: torch.dtype) -> Callable[[str], ModelMixin]:
    """Loads the ControlNet of a control type (SD 1.5: one per type; SDXL: the union one for all)."""
    import diffusers

    family = models.spec
    cls = diffusers.ControlNetUnionModel if family.geometry == "union" else diffusers.ControlNetModel
    options = loading_options(models, dtype)

    def load(kind: str) -> ModelMixin:
        variant = models.variant("controlnet" if kind == "canny" or family.geometry == "union" else kind)
        return cls.from_pretrained(models.controlnet_for(kind), variant=variant, **options)

    return load


def load_pipeline(models: ModelSet, settings: Settings, dtype: torch.dtype) -> DiffusionPipeline:
    """The family's render pipeline with its ControlNet, its VAE and the IP-Adapter loaded (on the CPU)."""
    import diffusers

    family: Family = models.spec
    options = loading_options(models, dtype)
    controlnet = controlnet_loader(models, dtype)("canny")
    extra: dict = {}
    if family.name == "sd15":
        extra = {"safety_checker": None, "feature_extractor": None, "requires_safety_checker": False}
    else:
        extra = {"add_watermarker": False}
        if models.vae is not None:
            extra["vae"] = diffusers.AutoencoderKL.from_pretrained(models.vae, variant=models.variant("vae"), **options)
    pipe = pinned(getattr(diffusers, family.pipeline)).from_pretrained(  # no safety checker: see README
        models.base, controlnet=controlnet, variant=models.variant("base"), **extra, **options
    )
    quality = getattr(diffusers, family.preset("quality").scheduler)
    pipe.scheduler = quality.from_config(pipe.scheduler.config)
    adapter = {"image_encoder_folder": models.image_encoder_folder} if models.image_encoder_folder else {}
    pipe.load_ip_adapter(
        models.ip_adapter,
        subfolder=models.ip_adapter_subfolder,
        weight_name=models.ip_adapter_weight,
        local_files_only=models.local_files_only,
        **adapter,
    )
    return pipe


class ControlNets:
    """The ControlNet of each control type: loaded on first use by `load(type)`, at most `size` kept
    in memory (least recently used dropped; ~0.7 GB each for SD 1.5 in fp16, ~1.4 GB in fp32)."""

    def __init__(self, load: Callable[[str], ControlNetModel] | None, size: int, *, current: tuple[str, object]):
        self._load = load
        self._nets: LRUCache[str, ControlNetModel] = LRUCache(max(1, size))
        self._nets[current[0]] = current[1]

    @property
    def loaded(self) -> list[str]:
        return list(self._nets)

    def get(self, kind: str) -> ControlNetModel:
        net = self._nets.get(kind)
        if net is None:
            if self._load is None:
                raise InvalidParameter(f"this renderer has no {kind} ControlNet", field="control")
            net = self._nets[kind] = self._load(kind)
        return net
