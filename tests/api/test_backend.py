"""The render backends the API is given are one `RenderBackend` (api/backend.py), and the runtime
holds its library, search and models as its own attributes once it is ready."""

from __future__ import annotations

from api.fakes import FakeRenderService
from sketch2render.api import create_app
from sketch2render.api.backend import RenderBackend
from sketch2render.scale.ray_backend import StylesService


def test_the_stand_ins_and_the_styles_only_service_are_render_backends(harness):
    settings = harness.settings()
    fake = FakeRenderService(settings)
    assert isinstance(fake, RenderBackend) and fake.models is None
    styles_only = StylesService(
        settings,
        models=None,  # type: ignore[arg-type]
        embeddings=None,  # type: ignore[arg-type]
        library=fake.library,
        search=fake.search,
    )
    assert isinstance(styles_only, RenderBackend)


def test_the_runtime_holds_the_backends_library_and_models(harness):
    settings = harness.settings()
    fake = FakeRenderService(settings)
    runtime = create_app(settings).state.runtime
    assert (runtime.service, runtime.library, runtime.models) == (None, None, None)
    runtime.use(fake)
    assert runtime.service is fake and runtime.library is fake.library and runtime.models is None
    assert runtime.require_library() is fake.library and runtime.require_search() is fake.search
