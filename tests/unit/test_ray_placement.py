"""`S2R_RAY_RESOURCES`: the custom Ray resources each render replica requires, so replicas go only to
the nodes that offer them (GPU boxes take renders, the API's node none). Checked on the deployment the
backend would run, without starting Ray."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sketch2render.config import Settings


def actor_options(**settings) -> dict:
    pytest.importorskip("ray.serve")
    from sketch2render.scale.ray_worker import build_app

    return build_app(Settings(**settings), gpus=False)._bound_deployment.ray_actor_options


def test_replicas_require_the_resources_the_setting_names(monkeypatch):
    monkeypatch.setenv("S2R_RAY_RESOURCES", '{"render": 1}')
    assert Settings().ray_resources == {"render": 1.0}
    assert actor_options(ray_resources={"render": 1}) == {"num_cpus": 1.0, "resources": {"render": 1.0}}
    monkeypatch.delenv("S2R_RAY_RESOURCES")
    assert "resources" not in actor_options()  # unset: anywhere, as before


@pytest.mark.parametrize("value", ['{"render": 0}', '{"": 1}', '["render"]', "render"])
def test_a_bad_value_is_refused_naming_the_setting(monkeypatch, value):
    monkeypatch.setenv("S2R_RAY_RESOURCES", value)
    with pytest.raises((ValidationError, ValueError)) as err:
        Settings()
    assert "ray_resources" in str(err.value).lower() or "S2R_RAY_RESOURCES" in str(err.value)


def test_a_private_local_instance_offers_enough_for_every_replica(tmp_path):
    pytest.importorskip("ray.serve")
    from sketch2render.scale.ray_backend import RayBackend

    settings = Settings(home=tmp_path, ray_resources={"render": 1}, ray_max_replicas=3)
    assert RayBackend(settings, store=None).local_resources() == {"render": 3.0}  # type: ignore[arg-type]
    assert RayBackend(Settings(home=tmp_path), store=None).local_resources() == {}  # type: ignore[arg-type]
