"""`python -m benchmarks.api_before`: the API as it behaved before issue 17, for the baseline of
`overhead` in the same run. The same server, with these behaviours put back:
- the worker decodes the stored sketch again and finds its lines again (the POST's decoded sketch
  and control map are not handed over);
- the quality scores are computed before the job is reported (not after the images);
- prepare and retrieve run in two threads per render (LangChain's `RunnableParallel`);
- the IP-Adapter scale is set on every render, and diffusers looks for the pipeline's execution
  device by walking every module at every call (`render/pinned.py` not applied);
- nothing is kept between renders: the prompt is encoded, the style's IP-Adapter embedding read
  from disk and the library searched every time;
- PIL decodes every PNG (no libspng).
Benchmarks only."""

from __future__ import annotations

import sys


def patch_to_before() -> None:
    from dataclasses import replace
    from functools import partial

    from langchain_core.runnables import RunnableLambda, RunnableParallel
    from PIL import Image

    from sketch2render import imaging
    from sketch2render.jobs import handoff
    from sketch2render.render import pipeline, prompts, renderer, service
    from sketch2render.render.ports import NO_CONTROLS
    from sketch2render.styles import answers, library

    def no_handoff(self: handoff.DecodedSketches, key: str, image: Image.Image, control: object = None) -> None:
        return None

    render = service.RenderService.render

    def scores_first(self: service.RenderService, sketch, params, **kwargs):  # type: ignore[no-untyped-def]
        controls = replace(kwargs.get("controls", NO_CONTROLS), defer_scores=False)
        return render(self, sketch, params, **{**kwargs, "controls": controls})

    def parallel_plan(request: pipeline.RenderRequest, *, components: pipeline.RenderComponents) -> pipeline.Planned:
        both = RunnableParallel(
            prepared=RunnableLambda(partial(pipeline.prepare, settings=components.settings, models=components.models)),
            retrieved=RunnableLambda(partial(pipeline.retrieve, library=components.library)),
        )
        return pipeline.Planned(request=request, **both.invoke(request))

    set_scale = renderer.Renderer._set_style_scale

    def every_time(self: renderer.Renderer, mode: str, strength: float) -> None:
        self._style_scale = None
        set_scale(self, mode, strength)

    encode, read = prompts.PromptEmbeds.get, library.StyleLibrary.load_ip_embeds

    def encode_every_time(self: prompts.PromptEmbeds, *args, **kwargs):  # type: ignore[no-untyped-def]
        self._kept.clear()
        return encode(self, *args, **kwargs)

    def read_every_time(self: library.StyleLibrary, *args, **kwargs):  # type: ignore[no-untyped-def]
        self._ip_kept.clear()
        return read(self, *args, **kwargs)

    prompts.PromptEmbeds.get = encode_every_time  # type: ignore[method-assign]
    library.StyleLibrary.load_ip_embeds = read_every_time  # type: ignore[method-assign]
    answers.Answers.get = lambda self, key, token: None  # type: ignore[method-assign]
    handoff.DecodedSketches.put = no_handoff  # type: ignore[method-assign]
    service.RenderService.render = scores_first  # type: ignore[method-assign]
    pipeline.plan = parallel_plan  # build_chain reads it when the service is built
    renderer.Renderer._set_style_scale = every_time  # type: ignore[method-assign]
    renderer.pin = lambda pipe, device: None  # diffusers' own module walk at every call
    imaging._spng_decode = lambda *args: None  # every PNG decoded by PIL


if __name__ == "__main__":
    patch_to_before()
    from sketch2render.api.__main__ import main

    sys.exit(main())
