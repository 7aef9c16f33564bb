"""The renderer: a family's diffusion model + ControlNet (the geometry) + IP-Adapter (the look).

`Renderer.from_models` loads the family's pipeline once (loading.py: SD 1.5's
`StableDiffusionControlNetPipeline`, SDXL's `StableDiffusionXLControlNetUnionPipeline`; fp16 + SDPA on CUDA,
else fp32) and `generate` runs it under a lock: a seeded generator, a per-step progress callback, cancellation
between steps, denoising and VAE decode timed apart, GPU out-of-memory reported as a domain error. Style
images arrive as IP-Adapter image embeddings (computed by `encode_style`, kept by `Caches`: caches.py). No
safety checker (see README). Not here: retrieval and style selection (pipeline.py), decoding and edges
(sketch/imaging.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from PIL import Image

from ..config import Settings
from ..errors import Cancelled, InvalidParameter
from ..families import SD15, Family, style_only_scales
from ..models import ModelSet, resolve_device
from ..models.library_logs import quiet_libraries
from ..schemas import RenderParams, StyleHit
from .caches import Caches
from .device_pinning import pin, pinned
from .fastpath import FastPath
from .gpu_memory import out_of_memory_as_error
from .loading import ControlNets, controlnet_loader, load_pipeline
from .ports import Generated, PreviewFn, ProgressFn, StyleSource
from .speed import Speeds

if TYPE_CHECKING:
    import torch
    from diffusers import ControlNetModel, DiffusionPipeline, StableDiffusionControlNetPipeline

    from .klein import KleinGenerator


def style_only_layers(strength: float, family: Family = SD15) -> dict:
    """InstantStyle: the reference goes only into the family's style block (SD 1.5: up_blocks.1.attentions.1,
    SDXL: up_blocks.0.attentions.1). SDXL's map, {"up": {"block_0": ...}}, silently turns every layer
    off on SD 1.5: the family says which block (families.py)."""
    return style_only_scales(family, strength)


def enable_attention_slicing(pipe: StableDiffusionControlNetPipeline) -> None:
    """Attention slicing that keeps the IP-Adapter working (diffusers 0.42).

    diffusers' own enable-attention-slicing after `load_ip_adapter` replaces the IP-Adapter's processors
    (renders then fail), and before it makes `load_ip_adapter` fail. So slice ("auto": half the
    heads at a time) every attention layer except the IP-Adapter's cross-attention processors.
    """
    from diffusers.models.attention_processor import Attention

    pipe.controlnet.set_attention_slice("auto")
    for module in pipe.unet.modules():
        if isinstance(module, Attention) and not type(module.processor).__name__.startswith("IPAdapter"):
            module.set_attention_slice(module.sliceable_head_dim // 2)


class Renderer:
    """One loaded pipeline, reused for every render. Thread-safe (one render at a time)."""

    def __init__(
        self,
        pipe: StableDiffusionControlNetPipeline,
        *,
        device: str,
        dtype: torch.dtype,
        encoder_key: str,
        controlnets: ControlNets | None = None,
        offload: bool = False,
        models: ModelSet | None = None,
        preview_every: int = 0,
        fast: FastPath | None = None,
        fast_scheduler: str = "lcm",
        caches: Caches | None = None,
    ) -> None:
        self.pipe = pipe
        self.device = device
        self.dtype = dtype
        self.encoder_key = encoder_key  # cache key for style embeddings from this image encoder
        self.family = models.spec if models is not None else SD15
        self.controlnets = controlnets or ControlNets(None, 1, current=("canny", pipe.controlnet))
        self.offload = offload
        self.speeds = Speeds(pipe, models, device=device, dtype=dtype, scheduler=fast_scheduler, family=self.family)
        self.preview_every = preview_every
        self.fast = fast or FastPath()
        self._lock = threading.Lock()
        self._derived: dict[str, DiffusionPipeline] = {}  # inpaint / img2img pipelines on the same modules
        self._style_scale: tuple[str, float] | None = None  # the IP-Adapter scale set last (caches on)
        self.caches = caches if caches is not None else Caches.on()  # prompts, styles' embeddings (caches.py)
        pin(pipe, device if self.caches.enabled and not offload else None)  # None: diffusers finds the device

    def _use_control(self, kind: str) -> None:
        """Put the control type's ControlNet into the one pipeline (called under the lock): the base
        pipeline is never reloaded, a ControlNet only the first time its type is used. A union ControlNet
        serves every type: nothing to swap."""
        if self.family.geometry == "union":
            return
        net = self.controlnets.get(kind)
        if self.pipe.controlnet is not net:
            self.pipe.controlnet = net
            if self.offload:  # the offload hooks belong to the modules they were set on
                self.pipe.enable_model_cpu_offload()

    @property
    def dtype_name(self) -> str:
        return str(self.dtype).replace("torch.", "")

    @classmethod
    def from_models(cls, models: ModelSet, settings: Settings, caches: Caches | None = None) -> Renderer:
        import torch

        device = resolve_device(settings)
        dtype = torch.float16 if device == "cuda" else torch.float32
        pipe = load_pipeline(models, settings, dtype)
        controlnet = pipe.controlnet
        if settings.cpu_offload and device == "cuda":
            pipe.enable_model_cpu_offload()
        else:
            pipe.to(device)
        if settings.attention_slicing:  # memory option only: slows modern GPUs (docs/facts.md)
            enable_attention_slicing(pipe)
        offload = settings.cpu_offload and device == "cuda"
        fast = FastPath() if offload else FastPath.for_device(settings, device)  # CUDA only
        fast.prepare(pipe.unet, lora_target=True)
        fast.prepare(pipe.controlnet)
        pipe.set_progress_bar_config(disable=True)
        ids = models.ids()
        key = f"{ids.get('ip_adapter', models.ip_adapter)}|{ids.get('image_encoder', '')}"

        load = controlnet_loader(models, dtype)

        def load_controlnet(kind: str) -> ControlNetModel:
            net = load(kind)
            if not (settings.cpu_offload and device == "cuda"):
                net = net.to(device)
            if settings.attention_slicing:
                net.set_attention_slice("auto")
            return fast.prepare(net)

        nets = ControlNets(load_controlnet, settings.controlnet_cache, current=("canny", controlnet))
        return cls(
            pipe,
            device=device,
            dtype=dtype,
            encoder_key=key,
            controlnets=nets,
            offload=offload,
            models=models,
            preview_every=settings.preview_every,
            fast=fast,
            fast_scheduler=settings.fast_scheduler,
            caches=caches if caches is not None else Caches.from_settings(settings),
        )

    # --- style embeddings ------------------------------------------------------------------
    def encode_style(self, image: Image.Image):
        """IP-Adapter image embedding of one style image: a [2 (negative, positive), 1, D] CPU tensor."""
        import torch

        with self._lock, torch.inference_mode():
            (embeds,) = self.pipe.prepare_ip_adapter_image_embeds(
                ip_adapter_image=[image.convert("RGB")],
                ip_adapter_image_embeds=None,
                device=self.device,
                num_images_per_prompt=1,
                do_classifier_free_guidance=True,
            )
        return embeds.float().cpu()

    def zero_style(self):
        """An all-zero style embedding (used with scale 0 when no style applies): [2, 1, D], or with an
        adapter that reads the encoder's patch tokens (IP-Adapter Plus) [2, 1, tokens, hidden]."""
        import torch

        if self.family.patch_embeds:
            vision = self.pipe.image_encoder.config
            tokens = (vision.image_size // vision.patch_size) ** 2 + 1  # the patches and the class token
            return torch.zeros(2, 1, tokens, vision.hidden_size)
        proj = self.pipe.unet.encoder_hid_proj.image_projection_layers[0]
        return torch.zeros(2, 1, proj.image_embeds.in_features)

    @staticmethod
    def mix(embeds: Sequence[torch.Tensor], weights: Sequence[float]) -> torch.Tensor:
        """Weighted average of style embeddings (the blend). One style comes back as it is: no torch
        call, and each torch call hands the GIL to whichever thread is waiting (the event loop)."""
        total = sum(weights)
        if not embeds or total <= 0:
            raise InvalidParameter("a blend needs at least one style with a positive weight")
        return embeds[0] if len(embeds) == 1 else sum(e * (w / total) for e, w in zip(embeds, weights, strict=True))

    def style_input(self, library: StyleSource, used: Sequence[StyleHit]) -> torch.Tensor:
        """The used styles' blended IP-Adapter embedding (each style encoded once: caches.py)."""
        return self.mix(
            [self.caches.style_embed(hit.id, library, self) for hit in used], [h.weight or 0.0 for h in used]
        )

    # --- warm-up -------------------------------------------------------------------------
    def warm_up(self, size: int = 512) -> dict[str, float]:
        """Render once per available preset (2 steps, blank sketch, no style) so torch.compile
        compiles the default shapes before the first user's render; seconds per preset."""
        wanted = {speed: self.speeds.available(speed) for speed in ("quality", "fast", "live")}
        control = Image.new("RGB", (size, size))
        seconds: dict[str, float] = {}
        for speed in (name for name, ok in wanted.items() if ok):
            params = RenderParams(prompt="warm-up", speed=speed, steps=2, size=size)
            start = time.perf_counter()
            self.generate(control, params, seed=0)
            seconds[speed] = round(time.perf_counter() - start, 2)
        return seconds

    # --- other pipelines on the same components (edits: inpaint.py, upscales: upscale.py) -----
    @contextmanager
    def session(self, control_type: str, speed: str, style_mode: str, strength: float, cancel=None):
        """Hold the lock with the control type's ControlNet in place, the speed preset and the style
        scale set; yields what the recipe records of the preset."""
        with self._lock:
            if cancel is not None and cancel.is_set():
                raise Cancelled("the render was cancelled")
            self._use_control(control_type)
            record = self.speeds.apply(self.pipe, speed)
            self.fast.select(speed)  # as in generate: fused self-attention for quality only
            self._set_style_scale(style_mode, strength)
            yield record

    def derived(self, name: str, controlnet: ControlNetModel | None = None) -> DiffusionPipeline:
        """A diffusers pipeline of another kind (e.g. "StableDiffusionControlNetInpaintPipeline") built
        with `from_pipe` from the loaded one: it shares the UNet, VAE, text and image encoders and
        the IP-Adapter (no second copy in memory). Call inside `session`."""
        import diffusers

        pipe = self._derived.get(name)
        if pipe is None:
            pipe = self._derived[name] = pinned(getattr(diffusers, name)).from_pipe(self.pipe)
            pin(pipe, self.device if self.caches.enabled and not self.offload else None)
            pipe.set_progress_bar_config(disable=True)
        pipe.controlnet = controlnet if controlnet is not None else self.pipe.controlnet
        pipe.scheduler = self.pipe.scheduler
        return pipe

    # --- generation ----------------------------------------------------------------------
    def control_inputs(self, control_image: Image.Image, control_type: str, name: str = "control_image") -> dict:
        """The pipeline's control arguments: the image under `name` (the render pipeline of SD 1.5 calls it
        `image`, its inpaint and img2img pipelines `control_image`); with a union ControlNet a list of one
        image and its control mode (families.py)."""
        mode = self.family.control_mode(control_type)
        if mode is None:
            return {name: control_image}
        return {"control_image": [control_image], "control_mode": [mode]}

    def _check_mask_grid(self, width: int, height: int) -> None:
        """diffusers scales each IP-Adapter mask down to every attention layer's grid and divides by
        zero when the coarsest grid has fewer cells than the image's width/height ratio: refuse that
        size with a clear message instead (a tall image at a small size, on a deep UNet)."""
        rows, cols = height // self.pipe.vae_scale_factor, width // self.pipe.vae_scale_factor
        for _ in range(len(self.pipe.unet.config.down_block_types) - 1):  # each Downsample2D: ceil(n / 2)
            rows, cols = (rows + 1) // 2, (cols + 1) // 2
        if rows * cols * height < width:
            raise InvalidParameter(
                f"size: a {width}x{height} render is too small for regions (the model's coarsest attention "
                f"grid is {cols}x{rows}); use a larger size",
                field="size",
            )

    def _set_style_scale(self, mode: str, strength: float) -> None:
        """The IP-Adapter's scale (the derived pipelines share it); caches on: set only when it changes."""
        wanted = ("none", 0.0) if mode == "none" or strength == 0 else (mode, float(strength))
        if self.caches.enabled and wanted == self._style_scale:
            return
        layers = style_only_layers(strength, self.family) if mode == "style-only" else strength
        self.pipe.set_ip_adapter_scale(0.0 if wanted[0] == "none" else layers)
        self._style_scale = wanted

    def generate(
        self,
        control_image: Image.Image,
        params: RenderParams,
        *,
        seed: int,
        control_type: str = "canny",
        style_embeds: torch.Tensor | None = None,
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
        preview: PreviewFn | None = None,
        ip_masks: torch.Tensor | None = None,
        sketch: Image.Image | None = None,
    ) -> Generated:
        """Denoise `params.steps` steps guided by the edge map and the style embedding (with `ip_masks`
        [1, N, H, W]: N style images in `style_embeds` [2, N, D], each only inside its mask; regions.py).
        `sketch` is for reference families (klein.py): geometry here comes from the control image.
        Its stages are numbered as in diffusers: inputs, callbacks, denoising, VAE."""
        import torch

        # 1. Inputs
        width, height = control_image.size
        if width % 8 or height % 8:
            raise InvalidParameter(f"image sides must be multiples of 8, got {width}x{height}")
        if ip_masks is not None:
            self._check_mask_grid(width, height)
        cfg = params.guidance_scale > 1.0
        scale = params.style_strength if style_embeds is not None else 0.0
        embeds = style_embeds if style_embeds is not None else self.zero_style()
        embeds = embeds.to(self.device, self.dtype)
        if not cfg:
            embeds = embeds[1:]  # positive half only
        total = params.steps

        # 2. Progress, previews (TAESD, every `preview_every` steps) and cancellation between steps
        every = self.preview_every if preview is not None else 0

        def on_step_end(pipe, step, timestep, callback_kwargs):
            if progress is not None:
                progress(step + 1, total)
            if every and (step + 1) % every == 0 and step + 1 < total and self.speeds.can_preview:
                preview(step + 1, self.speeds.preview(pipe, callback_kwargs["latents"]))
            if cancel is not None and cancel.is_set():
                raise Cancelled("the render was cancelled")
            return callback_kwargs

        with self._lock:
            if cancel is not None and cancel.is_set():
                raise Cancelled("the render was cancelled")
            self._use_control(control_type)
            speed = self.speeds.apply(self.pipe, params.speed)  # scheduler, LoRA on/off, decoder
            self.fast.select(params.speed)  # fused self-attention for quality only (the LoRA is on q/k/v)
            if self.fast.active:
                speed.gpu = self.fast.describe()
            self._set_style_scale(params.style_mode, scale)
            generator = torch.Generator(device="cpu").manual_seed(seed)
            memory = f"rendering {params.num_images} image(s) at {width}x{height}"
            with out_of_memory_as_error(memory, "try a smaller size, fewer images, or S2R_CPU_OFFLOAD=true"):
                # 3. Denoising loop (latents out, so the VAE decode is timed on its own)
                t0 = time.perf_counter()
                with torch.inference_mode():
                    text = self.caches.prompt_inputs(
                        self.pipe, params.prompt, params.negative_prompt, cfg=cfg, lora=self.speeds.lora_on
                    )
                    latents = self.pipe(
                        **text,
                        **self.control_inputs(control_image, control_type, "image"),
                        width=width,
                        height=height,
                        num_inference_steps=params.steps,
                        guidance_scale=params.guidance_scale,
                        eta=speed.eta or 0.0,  # TCD only; the other schedulers take none
                        controlnet_conditioning_scale=params.control_strength,
                        control_guidance_start=params.control_start,
                        control_guidance_end=params.control_end,
                        ip_adapter_image_embeds=[embeds],
                        cross_attention_kwargs={"ip_adapter_masks": [ip_masks]} if ip_masks is not None else None,
                        num_images_per_prompt=params.num_images,
                        generator=generator,
                        output_type="latent",
                        callback_on_step_end=on_step_end,
                        callback_on_step_end_tensor_inputs=["latents"],
                    ).images
                    if self.device == "cuda":
                        torch.cuda.synchronize()
                    t1 = time.perf_counter()
                    # 4. Decode: the full VAE, or TAESD for live
                    decoded = self.speeds.decode(self.pipe, latents, speed.decoder)
                    images = self.pipe.image_processor.postprocess(decoded, output_type="pil")
                    t2 = time.perf_counter()
        return Generated(images=images, denoise_s=t1 - t0, vae_decode_s=t2 - t1, speed=speed)


def build_renderer(settings: Settings, models: ModelSet, caches: Caches | None = None) -> Renderer | KleinGenerator:
    """Load the diffusion pipeline for these models (a reference family's: klein.py); `caches`: the
    service's (None: from the settings)."""
    quiet_libraries()
    if models.spec.geometry == "reference":
        from .klein import KleinGenerator

        return KleinGenerator.from_models(models, settings, caches)
    return Renderer.from_models(models, settings, caches)
