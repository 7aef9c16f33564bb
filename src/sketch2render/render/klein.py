"""The FLUX.2 [klein] generator: the sketch and the retrieved styles as reference images, in one call.

FLUX.2 [klein] has no ControlNet and no IP-Adapter. `Flux2KleinPipeline` takes reference images in
order (`image=[...]`, at most the family's `reference_limit`): reference 1 carries the geometry (the
sketch as drawn, or its control image: the family's `reference_from`), the used styles follow, best
first (fused weights cannot be given to references, so they order them). The prompt is wrapped in the
family's instruction (keep image 1's lines and composition exactly; take only the look from the
styles). The step-distilled model runs without guidance: `guidance_scale` is passed as 1.0.
How well geometry held is what the structure scores of every render measure.

Edits run `Flux2KleinInpaintPipeline` built with `from_pipe` (no second copy): the parent is its
implicit reference 1, the styles go in as `image_reference`; inpaint.py pastes the parent back past
the feather band. There is no img2img pipeline: the upscale's tiles go through the same inpaint
pipeline with an all-white mask and `strength` below 1 (the tile noised, then denoised).
Sizes: the model works on a 16 px grid; a render whose sides are not multiples of 16 (the sketch's
aspect) is generated on the grid below and resized to the requested size.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from PIL import Image

from ..config import Settings
from ..errors import Cancelled, InvalidParameter
from ..families import KLEIN, Family
from ..models import ModelSet, resolve_device
from ..schemas import ReferenceImage, ReferenceRecord, RenderParams, SpeedRecord, StyleHit
from .caches import Caches
from .fastpath import FastPath
from .gpu_memory import out_of_memory_as_error
from .ports import Generated, PreviewFn, ProgressFn, StyleImages, StyleReference

if TYPE_CHECKING:
    import torch
    from diffusers import DiffusionPipeline

STYLE_SIDE = 512  # a style reference's longest side: ~1024 tokens each, so four stay cheap
MIN_SIDE = 64  # the pipeline refuses a reference with a shorter side
OOM_HINT = "try a smaller size, fewer styles, or S2R_OFFLOAD=model"


def fit(image: Image.Image, longest: int) -> Image.Image:
    """An RGB copy no longer than `longest` on either side and no shorter than MIN_SIDE."""
    image = image.convert("RGB")
    scale = min(1.0, longest / max(image.size))
    scale = max(scale, MIN_SIDE / min(image.size))
    size = (max(MIN_SIDE, round(image.width * scale)), max(MIN_SIDE, round(image.height * scale)))
    return image if size == image.size else image.resize(size, Image.Resampling.LANCZOS)


def on_grid(width: int, height: int, multiple: int) -> tuple[int, int]:
    """The size on the model's grid at or below (width, height)."""
    return max(multiple, width // multiple * multiple), max(multiple, height // multiple * multiple)


class KleinGenerator:
    """One loaded Flux2KleinPipeline, reused for every render and edit. Thread-safe (one at a time)."""

    def __init__(
        self,
        pipe: DiffusionPipeline,
        *,
        device: str,
        dtype: torch.dtype,
        models: ModelSet | None = None,
        caches: Caches | None = None,
        offload: str = "off",
        preview_every: int = 0,
    ) -> None:
        self.pipe = pipe
        self.device = device
        self.dtype = dtype
        self.family: Family = models.spec if models is not None else KLEIN
        self.encoder_key = "reference-images"  # no style embeddings: nothing is cached under it
        self.caches = caches if caches is not None else Caches.on()
        self.fast = FastPath()  # no torch.compile warm-up on this family
        self.offload = offload
        self.preview_every = preview_every  # S2R_PREVIEW_EVERY: a reduced-size VAE decode every n steps
        self._lock = threading.Lock()
        self._inpaint: DiffusionPipeline | None = None

    @property
    def dtype_name(self) -> str:
        return str(self.dtype).replace("torch.", "")

    @classmethod
    def from_models(cls, models: ModelSet, settings: Settings, caches: Caches | None = None) -> KleinGenerator:
        """`Flux2KleinPipeline.from_pretrained` of the model set's folder or hub id: bf16 on CUDA (with
        S2R_OFFLOAD's CPU offload: model, sequential, or model when S2R_CPU_OFFLOAD is on), fp32 on the CPU."""
        import diffusers
        import torch

        device = resolve_device(settings)
        dtype = torch.bfloat16 if device == "cuda" else torch.float32
        pipe = getattr(diffusers, models.spec.pipeline).from_pretrained(
            models.base, dtype=dtype, local_files_only=models.local_files_only
        )
        offload = settings.offload or ("model" if settings.cpu_offload else "off")
        offload = offload if device == "cuda" else "off"
        if offload == "model":
            pipe.enable_model_cpu_offload()
        elif offload == "sequential":
            pipe.enable_sequential_cpu_offload()
        else:
            pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
        cache = caches if caches is not None else Caches.from_settings(settings)
        every = settings.preview_every
        return cls(pipe, device=device, dtype=dtype, models=models, caches=cache, offload=offload, preview_every=every)

    # --- styles: images, not embeddings ------------------------------------------------------
    def encode_style(self, image: Image.Image) -> torch.Tensor:
        raise TypeError(f"the {self.family.name} family takes style images, not IP-Adapter embeddings")

    def mix(self, embeds: Sequence[torch.Tensor], weights: Sequence[float]) -> torch.Tensor:
        raise TypeError(f"the {self.family.name} family takes style images, not IP-Adapter embeddings")

    def style_input(self, library: StyleImages, used: Sequence[StyleHit]) -> list[StyleReference]:
        """The used styles as reference images, highest fused weight first (named styles: in the order
        named), as many as fit after reference 1."""
        ordered = sorted(used, key=lambda hit: -(hit.weight or 0.0))[: self.family.reference_limit - 1]
        return [StyleReference(hit, fit(library.load_image(hit.id), STYLE_SIDE)) for hit in ordered]

    def style_sentence(self, styles: int) -> str:
        """What the style images are for ("" without styles); they follow reference 1."""
        if not styles:
            return ""
        images = "image 2" if styles == 1 else f"images 2 to {styles + 1}"
        return self.family.style_instruction.format(images=images)

    def instruction(self, prompt: str, styles: int) -> str:
        """The user's prompt wrapped in the family's instruction."""
        return self.family.instruction.format(prompt=prompt, styles=self.style_sentence(styles))

    def record(self, first: str, styles: Sequence[StyleReference], prompt: str) -> ReferenceRecord:
        images = [ReferenceImage(kind=first)]  # type: ignore[arg-type]
        images += [ReferenceImage(kind="style", style_id=s.hit.id, weight=s.hit.weight) for s in styles]
        template = self.family.instruction if first != "parent" else "{prompt} {styles}"
        return ReferenceRecord(reference_from=first, images=images, instruction=template, prompt=prompt)

    def speed_record(self, speed: str) -> SpeedRecord:
        """The preset, and the CPU offload when one is on (the recipe says how the model was run)."""
        gpu = {"offload": self.offload} if self.offload != "off" else None
        return SpeedRecord(preset=speed, scheduler=self.family.preset(speed).scheduler, decoder="vae", gpu=gpu)

    def preview_image(self, packed: torch.Tensor, width: int, height: int) -> Image.Image:
        """The first image of the pipeline's packed latents (tokens row by row on the 16 px grid), decoded
        by the VAE at half size (no tiny decoder for FLUX.2's VAE here): a picture of the render so far."""
        import torch

        vae = self.pipe.vae
        latents = packed[:1].reshape(1, height // 16, width // 16, -1).permute(0, 3, 1, 2)
        mean = vae.bn.running_mean.view(1, -1, 1, 1).to(latents)
        std = torch.sqrt(vae.bn.running_var.view(1, -1, 1, 1) + vae.config.batch_norm_eps).to(latents)
        latents = self.pipe._unpatchify_latents(latents * std + mean)
        small = torch.nn.functional.interpolate(latents, scale_factor=0.5, mode="bilinear", antialias=True)
        with torch.inference_mode():
            decoded = vae.decode(small.to(vae.dtype), return_dict=False)[0]
        return self.pipe.image_processor.postprocess(decoded, output_type="pil")[0]

    def _callback(
        self,
        total: int,
        progress: ProgressFn | None,
        cancel: threading.Event | None,
        preview: PreviewFn | None = None,
        size: tuple[int, int] = (0, 0),
    ):
        every = self.preview_every if preview is not None else 0

        def on_step_end(pipe, step, timestep, callback_kwargs):
            if progress is not None:
                progress(step + 1, total)
            if every and (step + 1) % every == 0 and step + 1 < total:
                preview(step + 1, self.preview_image(callback_kwargs["latents"], *size))
            if cancel is not None and cancel.is_set():
                raise Cancelled("the render was cancelled")
            return callback_kwargs

        return on_step_end

    # --- render ------------------------------------------------------------------------------
    def generate(
        self,
        control_image: Image.Image,
        params: RenderParams,
        *,
        seed: int,
        control_type: str = "canny",
        style_embeds: list[StyleReference] | None = None,
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
        preview: PreviewFn | None = None,
        ip_masks: object | None = None,
        sketch: Image.Image | None = None,
    ) -> Generated:
        """Render from reference 1 (the sketch or its control image) and the style references, in
        numbered stages: inputs, the call (latents out; previews decoded at half size), the VAE decode."""
        import torch

        # 1. Inputs: the references in order, the instruction, the size on the 16 px grid.
        if ip_masks is not None:
            raise InvalidParameter(f"regions: not available on the {self.family.name} family", field="regions")
        width, height = control_image.size
        grid_w, grid_h = on_grid(width, height, self.family.size_multiple)
        first = "sketch" if self.family.reference_from == "sketch" and sketch is not None else "control"
        geometry = sketch if first == "sketch" else control_image
        styles = list(style_embeds or [])
        prompt = self.instruction(params.prompt, len(styles))
        references = [fit(geometry, max(grid_w, grid_h)), *(s.image for s in styles)]
        total = params.steps
        with self._lock:
            if cancel is not None and cancel.is_set():
                raise Cancelled("the render was cancelled")
            generator = torch.Generator(device="cpu").manual_seed(seed)
            with out_of_memory_as_error(f"rendering {params.num_images} image(s) at {width}x{height}", OOM_HINT):
                # 2. The call: distilled, so guidance 1.0 whatever was asked (it is refused when given).
                t0 = time.perf_counter()
                with torch.inference_mode():
                    latents = self.pipe(
                        prompt=prompt,
                        image=references,
                        height=grid_h,
                        width=grid_w,
                        num_inference_steps=params.steps,
                        guidance_scale=1.0,
                        num_images_per_prompt=params.num_images,
                        generator=generator,
                        output_type="latent",
                        callback_on_step_end=self._callback(total, progress, cancel, preview, (grid_w, grid_h)),
                    ).images
                    if self.device == "cuda":
                        torch.cuda.synchronize()
                    t1 = time.perf_counter()
                    # 3. Decode with the full VAE (the pipeline's latents are already de-normalised).
                    decoded = self.pipe.vae.decode(latents.to(self.pipe.vae.dtype), return_dict=False)[0]
                    images = self.pipe.image_processor.postprocess(decoded, output_type="pil")
                    t2 = time.perf_counter()
        if (grid_w, grid_h) != (width, height):
            images = [image.resize((width, height), Image.Resampling.LANCZOS) for image in images]
        record = self.record(first, styles, prompt)
        return Generated(images, t1 - t0, t2 - t1, self.speed_record(params.speed), references=record)

    def warm_up(self, size: int = 512) -> dict[str, float]:
        return {}

    # --- edit --------------------------------------------------------------------------------
    def edit(
        self,
        parent: Image.Image,
        mask: Image.Image,
        params: RenderParams,
        styles: Sequence[StyleReference],
        *,
        seed: int,
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
        strength: float = 1.0,
    ) -> tuple[Image.Image, SpeedRecord, ReferenceRecord]:
        """Repaint the white part of `mask` (the parent's size) with `Flux2KleinInpaintPipeline`: the
        parent is reference 1, the styles follow. The caller pastes the parent back outside the band.
        With an all-white mask and `strength` < 1 this is img2img (the upscale's tiles: upscale.py)."""
        import diffusers
        import torch

        width, height = parent.size
        grid_w, grid_h = on_grid(width, height, self.family.size_multiple)
        prompt = f"{params.prompt} {self.style_sentence(len(styles))}".strip()
        with self._lock:
            if cancel is not None and cancel.is_set():
                raise Cancelled("the render was cancelled")
            if self._inpaint is None:
                self._inpaint = getattr(diffusers, self.family.inpaint_pipeline).from_pipe(self.pipe)
                self._inpaint.set_progress_bar_config(disable=True)
            with out_of_memory_as_error(f"editing a {width}x{height} render", OOM_HINT):
                with torch.inference_mode():
                    image = self._inpaint(
                        prompt=prompt,
                        image=parent.convert("RGB").resize((grid_w, grid_h), Image.Resampling.LANCZOS),
                        mask_image=mask.convert("L").resize((grid_w, grid_h), Image.Resampling.NEAREST),
                        image_reference=[s.image for s in styles] or None,
                        height=grid_h,
                        width=grid_w,
                        strength=strength,
                        num_inference_steps=params.steps,
                        guidance_scale=1.0,
                        generator=torch.Generator(device="cpu").manual_seed(seed),
                        callback_on_step_end=self._callback(params.steps, progress, cancel),
                    ).images[0]
        image = image.resize((width, height), Image.Resampling.LANCZOS) if image.size != parent.size else image
        return image, self.speed_record(params.speed), self.record("parent", styles, prompt)
