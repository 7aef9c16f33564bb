"""The on-disk layout of a FLUX.2 [klein] model folder: the real hub repository's layout (so that
`Flux2KleinPipeline.from_pretrained(folder)` loads ours and the real weights with the same call),
plus our retrieval CLIP and the marker.

    model_index.json  transformer/  vae/  text_encoder/  tokenizer/  scheduler/
    clip/  s2r-models.json (the marker, written last by our builds)

Nothing here loads a model or touches the network.
"""

from __future__ import annotations

from pathlib import Path

KLEIN_FAMILY = "klein"
PIPELINE = "Flux2KleinPipeline"  # model_index.json's class; edits: Flux2KleinInpaintPipeline.from_pipe
# The networks of the pipeline folder (model_index.json's components) and the retrieval CLIP.
PIPELINE_FOLDERS = ("transformer", "vae", "text_encoder", "tokenizer", "scheduler")
KLEIN_FOLDERS = (*PIPELINE_FOLDERS, "clip")
KLEIN_SCHEDULER = "FlowMatchEulerDiscreteScheduler"
# The scheduler of the real repo (the same for every FLUX.2 model): the pipeline passes `mu`, so
# dynamic shifting must be on; it also passes its own sigmas (1 -> 1/steps).
SCHEDULER_CONFIG = {
    "num_train_timesteps": 1000,
    "shift": 3.0,
    "use_dynamic_shifting": True,
    "base_shift": 0.5,
    "max_shift": 1.15,
    "base_image_seq_len": 256,
    "max_image_seq_len": 4096,
    "invert_sigmas": False,
    "shift_terminal": None,
    "use_karras_sigmas": False,
    "use_exponential_sigmas": False,
    "use_beta_sigmas": False,
    "time_shift_type": "exponential",
    "stochastic_sampling": False,
}
# The published model is step-distilled (4 steps, no classifier-free guidance): model_index.json
# says so, and the pipeline then ignores guidance_scale.
IS_DISTILLED = True

TOKENIZER_FILES = (
    "added_tokens.json",
    "chat_template.jinja",
    "merges.txt",
    "special_tokens_map.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.json",
)
DIFFUSERS_WEIGHTS = ("config.json", "diffusion_pytorch_model.safetensors")


def text_encoder_files(shards: int) -> tuple[str, ...]:
    """transformers' names: one model.safetensors, or numbered shards with their index."""
    if shards <= 1:
        return ("config.json", "generation_config.json", "model.safetensors")
    names = tuple(f"model-{i:05d}-of-{shards:05d}.safetensors" for i in range(1, shards + 1))
    return ("config.json", "generation_config.json", *names, "model.safetensors.index.json")


def pipeline_files(text_shards: int) -> tuple[str, ...]:
    """Every file `Flux2KleinPipeline.from_pretrained` reads from a klein folder or hub repo."""
    return (
        "model_index.json",
        "scheduler/scheduler_config.json",
        *(f"text_encoder/{f}" for f in text_encoder_files(text_shards)),
        *(f"tokenizer/{f}" for f in TOKENIZER_FILES),
        *(f"transformer/{f}" for f in DIFFUSERS_WEIGHTS),
        *(f"vae/{f}" for f in DIFFUSERS_WEIGHTS),
    )


def missing_in_klein_folder(root: Path, text_shards: int = 1) -> list[str]:
    """What a klein folder lacks (the pipeline's files; the retrieval CLIP is checked elsewhere)."""
    return [f for f in pipeline_files(text_shards) if not (root / f).is_file()]


def klein_folder_paths(root: Path) -> dict[str, str]:
    """The pipeline folder (loaded whole) and the retrieval CLIP."""
    return {"pipeline": str(root), "clip": str(root / "clip")}
