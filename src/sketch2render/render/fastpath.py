"""The GPU fast path: memory format, fused projections and torch.compile, each a setting.

- `S2R_CHANNELS_LAST` (default on): the UNet and every ControlNet in `channels_last` memory
  format, which NVIDIA's tensor-core convolutions prefer. Same arithmetic, other strides.
- `S2R_FUSE_QKV` (default on): each *self*-attention layer's query, key and value projections
  become one matmul (`Attention.fuse_projections`, `FusedAttnProcessor2_0`). diffusers'
  `unet.fuse_qkv_projections()` would also replace the IP-Adapter's cross-attention processors
  (the style would silently stop applying), so only self-attention is fused here and the
  cross-attention processors are left alone. The LCM-LoRA of `fast`/`live` sits on `to_q/k/v`,
  which a fused layer no longer calls, so those presets switch back to the unfused processors
  (`select`); `quality` runs fused. Cost: the fused copy of the self-attention weights (~20 M
  parameters in SD 1.5's UNet + ControlNet, ~40 MB in fp16). Results differ from unfused only by
  fp16 rounding (one matmul instead of three).
- `S2R_COMPILE` (default `off`): `torch.compile` of the UNet and the ControlNets, in place
  (`Module.compile`, so `load_lora_weights` and the IP-Adapter still see the real modules), in
  the given mode (`default`, `reduce-overhead`, `max-autotune`). The first call of each shape
  and preset compiles (tens of seconds), so the service warms up at start
  (`Renderer.warm_up`); off by default because that start-up cost and each new size's
  recompile only pay off on a long-running server.

All of this is CUDA-only: on the CPU `FastPath.for_device` returns a path that does nothing, so
CPU renders stay byte-identical. Tests apply the pieces directly on the tiny models on the CPU
(compile with the `eager` backend) to check that results and the IP-Adapter survive them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from ..config import Settings

if TYPE_CHECKING:
    from torch import nn

CompileMode = Literal["off", "default", "reduce-overhead", "max-autotune"]


def _self_attentions(model: nn.Module) -> list:
    from diffusers.models.attention_processor import Attention

    return [m for m in model.modules() if isinstance(m, Attention) and not m.is_cross_attention]


@dataclass
class FastPath:
    """Which optimisations are on, and the state needed to switch fused projections per preset."""

    channels_last: bool = False
    fuse_qkv: bool = False
    compile_mode: CompileMode = "off"
    compile_backend: str = "inductor"  # tests use "eager": dynamo's tracing without code generation
    _unfused: dict = field(default_factory=dict, repr=False)  # module -> its own processor
    _fused: object = field(default=None, repr=False)
    _state: str = field(default="", repr=False)

    @classmethod
    def for_device(cls, settings: Settings, device: str) -> FastPath:
        if device != "cuda":
            return cls()
        return cls(settings.channels_last, settings.fuse_qkv, settings.compile)

    @property
    def active(self) -> bool:
        return self.channels_last or self.fuse_qkv or self.compile_mode != "off"

    def describe(self) -> dict:
        """What the recipe and `models info` say about the fast path."""
        return {"channels_last": self.channels_last, "fuse_qkv": self.fuse_qkv, "compile": self.compile_mode}

    def prepare(self, model: nn.Module, *, lora_target: bool = False) -> nn.Module:
        """Apply the memory format, self-attention fusion and compile to a UNet or a ControlNet
        (call after `load_ip_adapter`, so its processors exist; the LoRA may load later). Only the
        `lora_target` (the UNet) switches back to unfused processors for the LoRA presets."""
        import torch

        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        if self.fuse_qkv:
            from diffusers.models.attention_processor import FusedAttnProcessor2_0

            self._fused = self._fused or FusedAttnProcessor2_0()
            with torch.no_grad():
                for module in _self_attentions(model):
                    if lora_target:
                        self._unfused[module] = module.processor
                    module.fuse_projections(fuse=True)
                    module.set_processor(self._fused)
            self._state = "fused"
        if self.compile_mode != "off":
            mode = None if self.compile_mode == "default" else self.compile_mode
            model.compile(mode=mode, backend=self.compile_backend)
        return model

    def select(self, speed: str) -> None:
        """Fused self-attention for `quality`; the plain processors (which call the LoRA-wrapped
        `to_q/k/v`) for `fast` and `live`. Called under the renderer's lock before each render."""
        if not self._unfused:
            return
        wanted = "fused" if speed == "quality" else "unfused"
        if wanted == self._state:
            return
        for module, processor in self._unfused.items():
            module.set_processor(self._fused if wanted == "fused" else processor)
        self._state = wanted
