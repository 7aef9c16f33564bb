"""The families a process serves: `S2R_MODELS` may name several profiles, one per family
(`S2R_MODELS=sdxl,sd15`); the first is the default family.

`resolve_served(settings)` resolves every profile (builds nothing it is not asked to build; loads
nothing): a profile whose weights are missing stays listed with the reason, so `/readyz` and
`/v1/families` can say why, and a render asking for it gets a 503 saying how to get them. Which
family a request may use is decided here too (`ServedFamilies.choose`): an unknown or unserved family
is a 422 naming `family`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..config import Settings
from ..errors import InvalidParameter, ModelsUnavailable, S2RError
from ..families import get_family, refuse_unsupported
from .model_set import ModelSet
from .profiles import family_of_profile, requested_profiles, resolve_models

if TYPE_CHECKING:
    from ..schemas import RenderParams


@dataclass(frozen=True)
class ServedFamily:
    """One family of the process: the profile that serves it and its model set, or why it cannot."""

    family: str
    profile: str  # as S2R_MODELS names it
    models: ModelSet | None
    problem: str | None = None

    def summary(self, default: str, loaded: bool) -> dict:
        spec = get_family(self.family)
        return {
            "family": self.family,
            "title": spec.title,
            "profile": self.models.profile if self.models is not None else self.profile,
            "default": self.family == default,
            "loaded": loaded,
            "available": self.models is not None,
            "problem": self.problem,
            "smoke_test": self.models.smoke_test if self.models is not None else None,
            "native_size": spec.native_size,
            "size_multiple": spec.size_multiple,
            "control_types": list(self.models.control_types if self.models is not None else spec.control_types),
            "speeds": {
                name: {"steps": p.steps, "guidance_scale": p.guidance_scale, "available": self.speed_available(name)}
                for name, p in spec.speeds.items()
            },
            "style_adapter": spec.style_adapter,
            "unsupported": dict(spec.unsupported),
        }

    def speed_available(self, speed: str) -> bool:
        return self.models is not None and self.models.speed_available(speed)


@dataclass(frozen=True)
class ServedFamilies:
    """Every family a process serves, the default first."""

    entries: tuple[ServedFamily, ...]

    @property
    def default(self) -> str:
        return self.entries[0].family

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(entry.family for entry in self.entries)

    def summaries(self, loaded: Collection[str] = ()) -> list[dict]:
        """What `GET /v1/families` and `/readyz` list: each served family, which is the default, which
        of them are `loaded` (in memory now)."""
        return [entry.summary(self.default, entry.family in loaded) for entry in self.entries]

    def get(self, family: str) -> ServedFamily | None:
        return next((entry for entry in self.entries if entry.family == family), None)

    def choose(self, family: str | None) -> ServedFamily:
        """The family a request asked for (None: the default): 422 naming `family` when it is unknown or
        not served here, 503 when its weights are missing."""
        name = get_family(family or self.default).name  # unknown: its 422
        entry = self.get(name)
        if entry is None:
            raise InvalidParameter(
                f"family: {name!r} is not served here (served: {', '.join(self.names)}); "
                f"the server's S2R_MODELS names the profiles it serves",
                field="family",
            )
        if entry.models is None:
            raise ModelsUnavailable(f"the {name} family cannot render here: {entry.problem}", field="family")
        return entry

    def for_request(self, params: RenderParams) -> tuple[ServedFamily, RenderParams]:
        """The family a request renders with (`choose`), a parameter it cannot honour refused (422 naming
        it), and the request's parameters with that family's defaults for what it left out."""
        entry = self.choose(params.family)
        refuse_unsupported(entry.models.spec, params)
        return entry, params.for_family(entry.family)

    @classmethod
    def single(cls, models: ModelSet) -> ServedFamilies:
        """One family served by an already resolved model set."""
        return cls((ServedFamily(models.family, models.requested, models),))


def resolve_served(settings: Settings, *, build: bool = True) -> ServedFamilies:
    """Every profile of S2R_MODELS resolved. The first must resolve (it is the default: its error is
    raised); a later one that does not is kept with its reason. Two profiles of one family: a 422."""
    entries: list[ServedFamily] = []
    for index, profile in enumerate(requested_profiles(settings)):
        family = family_of_profile(profile)
        if any(entry.family == family for entry in entries):
            raise InvalidParameter(
                f"S2R_MODELS names two profiles of the {family} family; name one profile per family", field="models"
            )
        try:
            entries.append(ServedFamily(family, profile, resolve_models(settings, build=build, profile=profile)))
        except S2RError as exc:
            if index == 0:
                raise
            entries.append(ServedFamily(family, profile, None, exc.message))
    return ServedFamilies(tuple(entries))
