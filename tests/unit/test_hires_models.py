"""The models of region edits and upscales: the tile ControlNet is a profile entry (stand-in in
`tiny`, a row in `models info`, a download line, a clear error when missing); edits need no
weights of their own (the base UNet with the render's ControlNet)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from builders import make_settings

from sketch2render.errors import ModelsUnavailable
from sketch2render.models import model_info, resolve_models
from sketch2render.models.assets import FEATURES, optional_assets


def test_tiny_has_a_tile_controlnet_with_the_controlnet_key_layout(tiny_models_dir: Path) -> None:
    from safetensors import safe_open

    tile, canny = tiny_models_dir / "controlnet-tile", tiny_models_dir / "controlnet"
    config = json.loads((tile / "config.json").read_text())
    assert config["_class_name"] == "ControlNetModel"
    with (
        safe_open(str(tile / "diffusion_pytorch_model.safetensors"), "pt") as t,
        safe_open(str(canny / "diffusion_pytorch_model.safetensors"), "pt") as c,
    ):
        assert set(t.keys()) == set(c.keys())  # the same layout as the real ControlNet 1.1 files
        key = "controlnet_mid_block.weight"
        assert not (t.get_tensor(key) == c.get_tensor(key)).all()  # a different network, not a copy


def test_tile_is_an_extra_but_not_a_control_type(tiny_models_dir: Path, tmp_path: Path) -> None:
    models = resolve_models(make_settings(tmp_path, tiny_models_dir))
    assert models.has("tile")
    assert "tile" not in models.control_types
    assert models.controlnet_for("tile").endswith("controlnet-tile")


def test_a_folder_without_the_tile_controlnet_says_how_to_get_it(tiny_models_dir: Path, tmp_path: Path) -> None:
    folder = shutil.copytree(tiny_models_dir, tmp_path / "models", ignore=shutil.ignore_patterns("controlnet-tile"))
    models = resolve_models(make_settings(tmp_path, folder))
    with pytest.raises(ModelsUnavailable, match="controlnet-tile") as caught:
        models.extra("tile", "tile ControlNet (for upscale)", "factor")
    assert caught.value.field == "factor"


def test_models_info_and_download_know_the_tile_controlnet(tiny_models_dir: Path, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, tiny_models_dir)
    tile = {a.name: a for a in optional_assets(settings)}["tile"]
    assert tile.repo == "lllyasviel/control_v11f1e_sd15_tile"
    assert FEATURES["upscale"] == ("tile",)  # `models download --with upscale`
    rows = {row["asset"]: row for row in model_info(settings)["assets"]}
    assert rows["tile"]["optional"] and "upscale" in rows["tile"]["needed_by"]
    assert "inpainting" in rows["base"]["needed_by"]  # edits need no extra weights
