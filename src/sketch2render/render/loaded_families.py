"""The renderers of the served families, loaded once each: the default family's at start, each other's on its
first render (`S2R_MODELS=sdxl,sd15`), and the render components over one of them with a given style library.

Shared by the render service (its library: the settings' one) and a Ray replica (the styles each request
brings: scale/shipped_styles.py), so a family loads the same way, and once, in both.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from ..config import Settings
from ..models import ModelSet, ServedFamilies
from .caches import Caches
from .ports import Scorer, StyleSearcher, StyleSource
from .renderer import Renderer, build_renderer
from .stages import RenderComponents

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedFamily:
    """One served family, loaded: its model set and its renderer."""

    models: ModelSet
    renderer: Renderer  # or a reference family's KleinGenerator (klein.py)

    def components(
        self, library: StyleSource, search: StyleSearcher, scorer: Scorer, settings: Settings
    ) -> RenderComponents:
        """What a render of this family runs with, over `library` and its `search`."""
        return RenderComponents(library, search, self.renderer, scorer, settings, self.models)


class LoadedFamilies:
    """The served families' renderers. Thread-safe: a family loads once, on first use."""

    def __init__(self, settings: Settings, served: ServedFamilies, caches: Caches, default: LoadedFamily) -> None:
        self.settings = settings
        self.served = served
        self.caches = caches
        self._loaded: dict[str, LoadedFamily] = {default.models.family: default}
        self._loading = threading.Lock()

    def names(self) -> frozenset[str]:
        """The families loaded so far."""
        return frozenset(self._loaded)

    def get(self, name: str | None) -> LoadedFamily:
        """A served family, loaded (the first use of a family other than the default loads it): 422
        naming `family` when it is not served, 503 when its weights are missing."""
        entry = self.served.choose(name)
        loaded = self._loaded.get(entry.family)
        if loaded is not None:
            return loaded
        with self._loading:
            if entry.family not in self._loaded:
                log.info("loading the %s family (%s) on its first render", entry.family, entry.profile)
                renderer = build_renderer(self.settings, entry.models, self.caches)
                self._loaded[entry.family] = LoadedFamily(entry.models, renderer)
            return self._loaded[entry.family]
