"""The speed presets on the one loaded pipeline, and previews while rendering.

What each preset is comes from the family (families.py): its scheduler, its few-step LoRA (an extra of
the model set), steps, guidance and decoder. On SD 1.5:

- `quality`: UniPC, the full VAE, no LoRA (the seed's path, byte for byte).
- `fast`: the LCM-LoRA (`latent-consistency/lcm-lora-sdv1-5`) with `LCMScheduler`, 4-8 steps and
  guidance 1 (no classifier-free doubling): what LCM-LoRA's authors and diffusers' LCM guide give
  for SD 1.5, and it composes with ControlNet and IP-Adapter (a LoRA on the UNet's attention
  projections; the adapters attach elsewhere).
- `live`: as fast, 2-4 steps, and the tiny autoencoder (TAESD, `madebyollin/taesd`, diffusers'
  `AutoencoderTiny`) instead of the full VAE.

The LoRA is loaded once (`load_lora_weights`, peft backend) and switched on and off per render
(`enable_lora` / `disable_lora`), so a quality render after a fast one is the same as before it.
TAESD is loaded on first use and also decodes the previews (every `S2R_PREVIEW_EVERY` steps).
Everything here runs under the renderer's lock.

`S2R_FAST_SCHEDULER=tcd` swaps LCMScheduler for diffusers' TCDScheduler (eta 0.3, its authors'
default), for the TCD LoRA (`S2R_LCM_LORA_MODEL=h1t/TCD-SD15-LoRA`, MIT): same LoRA layout, same
loading code. Which of the two looks better with ControlNet + IP-Adapter is a question for real
weights (docs/facts.md says what the published comparisons claim); LCM-LoRA stays the default.

On SDXL, `fast` and `live` run the SDXL-Lightning 4-step LoRA with Euler on trailing timesteps and no
classifier-free guidance (its authors' settings), `live` decodes with TAESDXL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PIL import Image

from ..errors import ModelsUnavailable
from ..families import SD15, Family
from ..models import ModelSet
from ..schemas import SpeedRecord

if TYPE_CHECKING:
    import torch
    from diffusers import AutoencoderTiny, StableDiffusionControlNetPipeline

LORA_ADAPTER = "lcm"  # the adapter name of every family's few-step LoRA
PREVIEW_SIDE = 256
TCD_ETA = 0.3  # the TCD authors' default ("often yields good results")


class Speeds:
    def __init__(
        self,
        pipe: StableDiffusionControlNetPipeline,
        models: ModelSet | None,
        *,
        device: str,
        dtype: torch.dtype,
        scheduler: str = "lcm",
        family: Family = SD15,
    ) -> None:
        self.models = models
        self.family = family
        self.device = device
        self.dtype = dtype
        self.quality_scheduler = pipe.scheduler
        self._lcm_scheduler = None
        self.scheduler_kind = scheduler  # lcm | tcd
        self._lora = False  # loaded into the UNet
        self._lora_on: bool | None = None  # switched on or off last (each switch walks every module)
        self._taesd: AutoencoderTiny | None = None

    def _require(self, name: str, what: str) -> str:
        if self.models is None:
            raise ModelsUnavailable(f"the {what} is not available with these models", field="speed")
        return self.models.extra(name, what, "speed")

    def taesd(self) -> AutoencoderTiny:
        if self._taesd is None:
            from diffusers import AutoencoderTiny

            what = self.family.preset("live").decoder_title
            source = self._require("taesd", f"tiny autoencoder ({what}, for speed=live)")
            self._taesd = AutoencoderTiny.from_pretrained(
                source, dtype=self.dtype, use_safetensors=True, local_files_only=self.models.local_files_only
            ).to(self.device)
        return self._taesd

    @property
    def can_preview(self) -> bool:
        return self._taesd is not None or (self.models is not None and self.models.has("taesd"))

    def apply(self, pipe: StableDiffusionControlNetPipeline, speed: str) -> SpeedRecord:
        """Set the pipeline up for a preset; returns what the recipe records of it."""
        if speed == "quality":
            pipe.scheduler = self.quality_scheduler
            if self._lora:
                self._switch_lora(pipe, False)
            return SpeedRecord(preset="quality", scheduler=type(pipe.scheduler).__name__, lora=None, decoder="vae")
        preset = self.family.preset(speed)
        if not self._lora:
            source = self._require(preset.lora, f"{preset.lora_title} (for speed=fast and live)")
            pipe.load_lora_weights(
                source,
                weight_name=preset.lora_weight,
                adapter_name=LORA_ADAPTER,
                local_files_only=self.models.local_files_only,
            )
            self._lora = True
        self._switch_lora(pipe, True)
        if self._lcm_scheduler is None:
            import diffusers

            name = "TCDScheduler" if self.scheduler_kind == "tcd" and preset.tcd else preset.scheduler
            options = dict(preset.scheduler_options)
            self._lcm_scheduler = getattr(diffusers, name).from_config(self.quality_scheduler.config, **options)
        pipe.scheduler = self._lcm_scheduler
        decoder = preset.decoder
        if decoder == "taesd":
            self.taesd()
        record = SpeedRecord(
            preset=speed,
            scheduler=type(self._lcm_scheduler).__name__,
            lora=self.models.extra_id(preset.lora) if self.models is not None else None,
            decoder=decoder,
        )
        if type(self._lcm_scheduler).__name__ == "TCDScheduler":
            record.eta = TCD_ETA  # TCD's gamma: stochasticity per step
        return record

    def available(self, speed: str) -> bool:
        """This preset's weights are here (its LoRA, and TAESD where it decodes with it)."""
        if self.models is None:
            return speed == "quality"
        return self.models.speed_available(speed)

    @property
    def lora_on(self) -> bool:
        """The fast presets' LoRA is loaded and switched on (for the render about to run)."""
        return bool(self._lora_on)

    def _switch_lora(self, pipe: StableDiffusionControlNetPipeline, on: bool) -> None:
        """`enable_lora` / `disable_lora`, only when the state changes: each call walks every module
        of the UNet (and the text encoder), milliseconds per render for nothing when it is already so."""
        if self._lora_on is not on:
            pipe.enable_lora() if on else pipe.disable_lora()
            self._lora_on = on

    def decode(self, pipe: StableDiffusionControlNetPipeline, latents: torch.Tensor, decoder: str) -> torch.Tensor:
        """Latents to images in [-1, 1]: the full VAE, or TAESD."""
        vae = self.taesd() if decoder == "taesd" else pipe.vae
        return vae.decode(latents.to(vae.dtype) / vae.config.scaling_factor, return_dict=False)[0]

    def preview(self, pipe: StableDiffusionControlNetPipeline, latents: torch.Tensor) -> Image.Image:
        """A small picture of the first image's current latents, decoded by TAESD."""
        image = pipe.image_processor.postprocess(self.decode(pipe, latents[:1], "taesd"), output_type="pil")[0]
        image.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
        return image
