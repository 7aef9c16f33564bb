"""`python -m benchmarks.api_before`: the API without its request-overhead savings, for the baseline of
`overhead` in the same run. The same server, with:
- `S2R_CACHES=off` (render/caches.py): the worker decodes the stored sketch again and finds its lines
  again (no hand-over from the POST), the library is searched, the prompt encoded and each style's
  IP-Adapter embedding computed from its image at every render, the IP-Adapter scale is set on every
  render, and diffusers finds the pipeline's execution device by walking every module at every call.
  (The older server read a style's stored embedding from disk at every render; with the switch off it
  is computed from the image, a little more work on the "before" side.)
- and three older code paths that are no cache, put back by patching:
  - the quality scores are computed before the job is reported (not after the images);
  - prepare and retrieve run in two threads per render (LangChain's `RunnableParallel`);
  - PIL decodes every PNG (no libspng).
Benchmarks only."""

from __future__ import annotations

import os
import sys


def patch_to_before() -> None:
    """The older code paths that the caches switch does not cover."""
    from dataclasses import replace
    from functools import partial

    from langchain_core.runnables import RunnableLambda, RunnableParallel

    from sketch2render.render import pipeline, service
    from sketch2render.render.ports import NO_CONTROLS
    from sketch2render.sketch import imaging

    render = service.RenderService.render

    def scores_first(self: service.RenderService, sketch, params, **kwargs):  # type: ignore[no-untyped-def]
        controls = replace(kwargs.get("controls", NO_CONTROLS), defer_scores=False)
        return render(self, sketch, params, **{**kwargs, "controls": controls})

    def parallel_plan(request: pipeline.RenderRequest, *, components: pipeline.RenderComponents) -> pipeline.Planned:
        both = RunnableParallel(
            prepared=RunnableLambda(partial(pipeline.prepare, settings=components.settings, models=components.models)),
            retrieved=RunnableLambda(partial(pipeline.retrieve, library=components.library, search=components.search)),
        )
        return pipeline.Planned(request=request, **both.invoke(request))

    service.RenderService.render = scores_first  # type: ignore[method-assign]
    pipeline.plan = parallel_plan  # build_chain reads it when the service is built
    imaging._spng_decode = lambda *args: None  # every PNG decoded by PIL


if __name__ == "__main__":
    os.environ["S2R_CACHES"] = "off"  # read by the server's Settings
    patch_to_before()
    from sketch2render.api.__main__ import main

    sys.exit(main())
