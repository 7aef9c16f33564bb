"""`python -m benchmarks.api_before`: the API as it behaved before issue 17, for the baseline of
`overhead` in the same run. The same server, with two behaviours put back: the worker decodes the
stored sketch again (the POST's decoded sketch is not handed over), and the quality scores are
computed before the job is reported (not after the images). Benchmarks only."""

from __future__ import annotations

import sys


def patch_to_before() -> None:
    from PIL import Image

    from sketch2render.jobs import handoff
    from sketch2render.render import service

    def no_handoff(self: handoff.DecodedSketches, key: str, image: Image.Image) -> None:
        return None

    render = service.RenderService.render

    def scores_first(self: service.RenderService, sketch, params, **kwargs):  # type: ignore[no-untyped-def]
        return render(self, sketch, params, **{**kwargs, "defer_scores": False})

    handoff.DecodedSketches.put = no_handoff  # type: ignore[method-assign]
    service.RenderService.render = scores_first  # type: ignore[method-assign]


if __name__ == "__main__":
    patch_to_before()
    from sketch2render.api.__main__ import main

    sys.exit(main())
