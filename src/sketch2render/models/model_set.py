"""`ModelSet`: where each model of a render comes from (folders or hub ids), its family, and its optional
parts. Made by the resolvers (profiles.py, profiles_sdxl.py); read by the renderer's loaders."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ModelsUnavailable
from ..families import Family, get_family
from .layout import COMPONENTS, EXTRA_CONTROLNETS, EXTRAS
from .layout_klein import KLEIN_FOLDERS
from .layout_sdxl import SDXL_EXTRAS

SMOKE_TEST_PROFILES = ("tiny", "sd15-random", "tiny-sdxl", "sdxl-random", "tiny-klein", "klein-random")


@dataclass(frozen=True)
class ModelSet:
    """Where each model of a render comes from. Paths or hub ids, ready for `from_pretrained`."""

    profile: str  # effective: "sd15" | "tiny" | "sd15-random" | "local"
    requested: str
    base: str
    controlnet: str
    ip_adapter: str  # for load_ip_adapter(ip_adapter, subfolder=..., weight_name=...)
    ip_adapter_subfolder: str
    ip_adapter_weight: str
    clip: str
    local_files_only: bool
    warning: str | None
    fingerprints: tuple[tuple[str, str], ...] = ()  # (component, sha256) of built folders
    variants: tuple[tuple[str, str], ...] = ()  # (component, "fp16") where the cache holds fp16 weights
    extras: tuple[tuple[str, str], ...] = ()  # (optional asset, folder or hub id) that are here
    missing_extras: tuple[tuple[str, str], ...] = ()  # (optional asset, why it cannot be used here)
    family: str = "sd15"  # the model family (families.py) these weights belong to
    vae: str | None = None  # a VAE replacing the base's own (SDXL: the fp16-fix VAE)
    image_encoder_folder: str | None = None  # load_ip_adapter's image_encoder_folder (None: <subfolder>/image_encoder)

    @property
    def spec(self) -> Family:
        return get_family(self.family)

    @property
    def control_types(self) -> tuple[str, ...]:
        """The control types this profile can render (canny always; every type with a union ControlNet)."""
        if self.spec.geometry != "controlnet":  # union: every type; reference: the control map is only scored
            return self.spec.control_types
        return ("canny", *(name for name, _ in self.extras if name in EXTRA_CONTROLNETS))

    def has(self, name: str) -> bool:
        return name in dict(self.extras)

    def speed_available(self, speed: str) -> bool:
        """The weights a speed preset needs are here (its few-step LoRA, and TAESD where it decodes with it)."""
        preset = self.spec.preset(speed)
        return preset.lora is None or (self.has(preset.lora) and (preset.decoder != "taesd" or self.has("taesd")))

    def extra(self, name: str, what: str, field: str) -> str:
        """An optional asset's folder or hub id, or a ModelsUnavailable saying why and how to get it."""
        found = dict(self.extras).get(name)
        if found is None:
            why = dict(self.missing_extras).get(name, "this profile has none")
            raise ModelsUnavailable(f"the {what} is not available: {why}", field=field)
        return found

    def controlnet_for(self, kind: str) -> str:
        """The ControlNet of a control type, or a ModelsUnavailable saying why and how to get it."""
        if kind == "canny" or self.spec.geometry == "union":
            return self.controlnet
        return self.extra(kind, f"{kind} ControlNet", "control")

    def controlnet_id(self, kind: str) -> str:
        """What a recipe names as the ControlNet of a render with this control type."""
        if self.spec.geometry == "reference":
            return "none (the sketch is reference image 1)"
        if kind == "canny" or self.spec.geometry == "union":
            return self.ids()["controlnet"]
        self.controlnet_for(kind)  # unavailable: the error says why
        return self.extra_id(kind)

    def extra_id(self, name: str) -> str:
        """What a recipe names an optional asset: hub id, "<profile>:<hash>" or "local:<path>"."""
        source = dict(self.extras)[name]
        folders = SDXL_EXTRAS if self.family == "sdxl" else EXTRAS
        digest = dict(self.fingerprints).get(folders[name][0])
        if digest:
            return f"{self.profile}:{digest[:12]}"
        return f"local:{source}" if self.profile == "local" else source

    def variant(self, component: str) -> str | None:
        """diffusers' `variant` for loading a component ("fp16"), or None for the full weights."""
        return dict(self.variants).get(component)

    @property
    def smoke_test(self) -> bool:
        return self.profile in SMOKE_TEST_PROFILES

    def sources(self) -> dict[str, str]:
        """Each component's folder or hub id (the IP-Adapter as repo/subfolder/weight file)."""
        if self.spec.geometry == "reference":  # one pipeline folder, no ControlNet, no IP-Adapter
            return {"pipeline": self.base, "clip": self.clip}
        sub = f"{self.ip_adapter}/{self.ip_adapter_subfolder}".rstrip("/")
        encoder = (
            f"{self.ip_adapter}/{self.image_encoder_folder}" if self.image_encoder_folder else f"{sub}/image_encoder"
        )
        return {
            "base": self.base,
            "controlnet": self.controlnet,
            "ip_adapter": f"{sub}/{self.ip_adapter_weight}",
            "image_encoder": encoder,
            "clip": self.clip,
            **({"vae": self.vae} if self.vae else {}),
        }

    def ids(self) -> dict[str, str]:
        """Names of each model for render recipes: hub ids, "<profile>:<hash>" or "local:<path>"."""
        if self.fingerprints:
            digests = dict(self.fingerprints)
            names = KLEIN_FOLDERS if self.family == "klein" else COMPONENTS
            return {name: f"{self.profile}:{digests[name][:12]}" for name in names if name in digests}
        if self.profile == "local":
            return {name: f"local:{value}" for name, value in self.sources().items()}
        return self.sources()
