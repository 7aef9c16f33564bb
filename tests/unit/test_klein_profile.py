"""The klein profiles without rendering: the real 4B weights' assets and licence, a klein profile whose
weights are missing listed with how to get them, `doctor`'s memory and weights checks for klein."""

from __future__ import annotations

from pathlib import Path

import pytest

from sketch2render.cli import doctor
from sketch2render.config import Settings
from sketch2render.families import KLEIN, defaults
from sketch2render.models import family_of_profile, resolve_served
from sketch2render.models.cache import HUB_PROFILES, profile_assets
from sketch2render.models.download import select_assets


@pytest.fixture
def empty_hf_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "hf-cache"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    return cache


def test_the_klein_profile_is_the_apache_4b_repo_and_every_file_the_pipeline_reads(tmp_path: Path) -> None:
    assets = profile_assets(Settings(home=tmp_path), "klein")
    klein = assets.required[0]
    assert "klein" in HUB_PROFILES and [a.name for a in assets.required] == ["klein", "clip"]
    assert klein.repo == "black-forest-labs/FLUX.2-klein-4B" and klein.licence == "Apache-2.0"
    assert "model_index.json" in klein.files and "text_encoder/model-00002-of-00002.safetensors" in klein.files
    assert select_assets(Settings(home=tmp_path), [], True, "klein") == assets.required  # nothing optional


def test_klein_profiles_resolve_to_the_klein_family_and_missing_weights_say_how(
    tmp_path: Path, empty_hf_cache_dir: Path
) -> None:
    assert {family_of_profile(p) for p in ("klein", "tiny-klein", "klein-random")} == {"klein"}
    served = resolve_served(Settings(home=tmp_path, models="tiny,klein"), build=False)
    entry = served.get("klein")
    assert entry is not None and entry.models is None
    assert "models download --profile klein" in entry.problem
    assert defaults("klein", "live") == {"steps": 2, "guidance_scale": 1.0, "size": 512}
    assert KLEIN.reference_limit == 4 and KLEIN.size_multiple == 16


def test_doctor_gives_klein_its_memory_in_bf16_with_the_offload_figure(
    tmp_path: Path, empty_hf_cache_dir: Path
) -> None:
    small = doctor.check_family_memory("klein", 16.0)
    assert small.status == "warn" and "bf16" in small.detail and "13 GB with S2R_OFFLOAD=model" in small.detail
    assert doctor.check_family_memory("klein", 80.0).status == "ok"
    checks = {c.name: c for c in doctor.check_families(Settings(home=tmp_path, models="klein,tiny"))}
    weights = checks["klein weights"]
    assert weights.status == "warn" and "0 of 2 required" in weights.detail
    assert weights.fix == "sketch2render models download --profile klein"
    profile = doctor.check_profile(Settings(home=tmp_path, models="klein,tiny"))
    assert profile.status == "fail" and profile.fix == "sketch2render models download --profile klein"


def test_s2r_offload_picks_klein_cpu_offload_and_the_recipe_records_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from sketch2render.render.klein import KleinGenerator

    monkeypatch.setenv("S2R_OFFLOAD", "sequential")
    assert Settings().offload == "sequential"
    record = KleinGenerator(None, device="cuda", dtype=None, offload="model").speed_record("quality")
    assert record.gpu == {"offload": "model"} and record.scheduler == "FlowMatchEulerDiscreteScheduler"
    assert KleinGenerator(None, device="cpu", dtype=None).speed_record("live").gpu is None
