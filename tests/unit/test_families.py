"""Model families as data: the defaults a request gets from its family, the profiles S2R_MODELS
serves, and the refusals (an unknown or unserved family, two profiles of one family)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from builders import make_settings

from sketch2render.errors import InvalidParameter, ModelsUnavailable
from sketch2render.families import FAMILIES, SD15, SDXL, defaults, get_family, refuse_unsupported, style_only_scales
from sketch2render.models import family_of_profile, requested_profiles, resolve_served
from sketch2render.schemas import RenderParams


def test_sd15_defaults_are_the_ones_every_render_had_before_families():
    for speed, expected in {
        "quality": {"steps": 20, "guidance_scale": 7.5, "size": 512},
        "fast": {"steps": 6, "guidance_scale": 1.0, "size": 512},
        "live": {"steps": 3, "guidance_scale": 1.0, "size": 512},
    }.items():
        params = RenderParams(prompt="x", speed=speed)
        assert {k: getattr(params, k) for k in expected} == expected
        assert params.family is None  # the server's default family, resolved where it is known


def test_a_family_fills_in_what_the_request_left_out_and_keeps_what_it_gave():
    sdxl = RenderParams(prompt="x", family="sdxl")
    assert (sdxl.size, sdxl.steps, sdxl.guidance_scale) == (1024, 30, 5.0)
    live = RenderParams(prompt="x", family="sdxl", speed="live")
    assert (live.size, live.steps, live.guidance_scale) == (768, 4, 1.0)
    given = RenderParams(prompt="x", family="sdxl", size=640, steps=12)
    assert (given.size, given.steps, given.guidance_scale) == (640, 12, 5.0)


def test_for_family_recomputes_only_the_defaults():
    params = RenderParams(prompt="x", steps=9, speed="fast")
    moved = params.for_family("sdxl")
    assert (moved.family, moved.steps, moved.size, moved.guidance_scale) == ("sdxl", 9, 1024, 1.0)
    assert moved.for_family("sdxl") is moved
    stored = RenderParams.model_validate_json(moved.model_dump_json())  # a stored job keeps its values
    assert stored == moved


def test_an_unknown_family_is_refused_naming_family():
    with pytest.raises(ValueError, match="family"):
        RenderParams(prompt="x", family="sd3")
    with pytest.raises(InvalidParameter) as err:
        get_family("sd3")
    assert err.value.field == "family"


def test_style_only_targets_each_familys_own_style_block():
    assert style_only_scales(SD15, 0.8) == {"up": {"block_1": [0.0, 0.8, 0.0]}}  # the map SD 1.5 always had
    assert style_only_scales(SDXL, 0.8) == {"up": {"block_0": [0.0, 0.8, 0.0]}}  # InstantStyle's SDXL block


def test_union_control_modes_cover_every_control_type_and_the_tile():
    for kind in (*SDXL.control_types, "tile", "inpaint"):
        assert SDXL.control_mode(kind) is not None
    assert SD15.control_mode("canny") is None  # a ControlNet per type


def test_a_parameter_a_family_cannot_honour_is_a_422_naming_it_and_the_family():
    family = replace(SD15, unsupported={"control_end": "no reason"})
    refuse_unsupported(family, RenderParams(prompt="x"))
    with pytest.raises(InvalidParameter) as err:
        refuse_unsupported(family, RenderParams(prompt="x", control_end=0.5))
    assert err.value.field == "control_end" and "sd15" in err.value.message


def test_every_family_has_every_speed_preset():
    for family in FAMILIES.values():
        for speed in ("quality", "fast", "live"):
            assert defaults(family.name, speed)["steps"] >= 1


# ---------------------------------------------------------------------------- S2R_MODELS
def test_s2r_models_is_a_comma_list_first_is_the_default(tmp_path):
    settings = make_settings(tmp_path, models="tiny-sdxl, tiny,tiny")
    assert requested_profiles(settings) == ["tiny-sdxl", "tiny"]
    served = resolve_served(settings, build=False)  # nothing built: listed, not loaded
    assert served.default == "sdxl" and served.names == ("sdxl", "sd15")
    assert served.choose(None).family == "sdxl"
    assert served.choose("sd15").models.family == "sd15"


def test_an_unserved_family_is_a_422_naming_family(tmp_path):
    served = resolve_served(make_settings(tmp_path, models="tiny"), build=False)
    with pytest.raises(InvalidParameter) as err:
        served.choose("sdxl")
    assert err.value.field == "family" and "not served" in err.value.message


def test_two_profiles_of_one_family_are_refused(tmp_path):
    with pytest.raises(InvalidParameter, match="two profiles of the sd15 family"):
        resolve_served(make_settings(tmp_path, models="tiny,sd15-random"), build=False)


def test_a_later_profile_without_its_weights_is_listed_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    served = resolve_served(make_settings(tmp_path, models="tiny,sdxl"), build=False)
    entry = served.get("sdxl")
    assert entry is not None and entry.models is None and entry.problem
    with pytest.raises(ModelsUnavailable) as err:
        served.choose("sdxl")
    assert err.value.field == "family"


def test_profile_families():
    assert family_of_profile("auto") == "sd15"
    assert family_of_profile("sdxl-random") == "sdxl"
