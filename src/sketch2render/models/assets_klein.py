"""The model assets of the FLUX.2 [klein] profile (`klein`): the hub repository, exactly the files
`Flux2KleinPipeline.from_pretrained` reads from it, its licence, and what it needs on disk and on
a GPU as published (not measured here), plus the retrieval CLIP that every family shares.

The default is the 4B distilled model, Apache-2.0. The 9B models (and the undistilled "base"
variants of 9B) are under the FLUX Non-Commercial License and must never be a default; they are
listed so that a setting pointing at one can be refused or warned about by name.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import Settings
from .assets import Asset, hub_ids
from .layout import required_files
from .layout_klein import pipeline_files

KLEIN_REPO = "black-forest-labs/FLUX.2-klein-4B"
KLEIN_TEXT_SHARDS = 2  # text_encoder/model-0000{1,2}-of-00002.safetensors, as published


@dataclass(frozen=True)
class Licence:
    name: str  # SPDX id where there is one
    url: str
    commercial_use: bool


APACHE = Licence("Apache-2.0", "https://www.apache.org/licenses/LICENSE-2.0", commercial_use=True)
FLUX_NON_COMMERCIAL = Licence(
    "FLUX Non-Commercial License",
    "https://huggingface.co/black-forest-labs/FLUX.2-klein-9B",
    commercial_use=False,
)
# As each model card states it (re-check before relying on it).
LICENCES = {
    "black-forest-labs/FLUX.2-klein-4B": APACHE,
    "black-forest-labs/FLUX.2-klein-base-4B": APACHE,
    "black-forest-labs/FLUX.2-klein-9B": FLUX_NON_COMMERCIAL,
    "black-forest-labs/FLUX.2-klein-base-9B": FLUX_NON_COMMERCIAL,
}
# Published sizes of the bf16 files (the hub's file listing): what `models download` fetches.
DOWNLOAD_BYTES = {
    "transformer": 7_750_000_000,
    "text_encoder": 8_050_000_000,
    "vae": 168_000_000,
}
# GPU memory as published for 1024x1024 in bf16: ~13 GB with model CPU offload (BFL's model card:
# "fits in ~13GB VRAM", RTX 3090/4070 and up); about 20 GB with everything resident (a third-party
# measurement on an RTX 4090). Measure on a lent GPU before quoting either as ours.
VRAM_GB = {"model_offload": 13.0, "resident": 20.0}

NEEDED_BY = {
    "klein": "every klein render, edit and reference (transformer, VAE, Qwen3 text encoder, tokenizer)",
    "clip": "retrieval, scores",
}


def licence_of(repo: str) -> Licence | None:
    """The licence of a known klein repository (None: unknown, check its model card)."""
    return LICENCES.get(repo)


def _licence_name(repo: str) -> str:
    licence = licence_of(repo)
    return licence.name if licence is not None else "unknown: check the model card"


def klein_assets(settings: Settings, repo: str = KLEIN_REPO) -> list[Asset]:
    """The assets of the klein profile, in the order a render needs them."""
    return [
        Asset("klein", repo, pipeline_files(KLEIN_TEXT_SHARDS), NEEDED_BY["klein"], licence=_licence_name(repo)),
        Asset("clip", hub_ids(settings)["clip"], required_files(settings)["clip"], NEEDED_BY["clip"]),
    ]
