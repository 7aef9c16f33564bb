"""The model family picker of the Render page: only the families the server serves (`/v1/families`),
the default first; what a render's settings default to follows the picked family (its native size,
steps and guidance), the control types offered are the ones it supports, and the settings it cannot
honour (`unsupported` of `/v1/families`) are disabled with the reason and not sent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from sketch2render.ui.client import ApiClient, ApiError

FAMILY_KEY = "family"


@dataclass(frozen=True)
class FamilyChoice:
    """The picked family and what the page's settings default to with it."""

    name: str | None  # None: the server did not say (an older server): send no family
    native_size: int = 512
    steps: int = 20
    guidance_scale: float = 7.5
    control_types: tuple[str, ...] = ("canny", "lineart", "scribble", "softedge")
    unsupported: Mapping[str, str] = field(default_factory=dict)  # parameter -> why the family refuses it

    def off(self, name: str) -> bool:
        """The family cannot honour this parameter: its control is disabled and not sent."""
        return name in self.unsupported

    def help(self, name: str, text: str) -> str:
        """The control's help, or why it is disabled on this family."""
        return f"Not available on {self.name}: {self.unsupported[name]}." if self.off(name) else text

    @classmethod
    def from_info(cls, info: dict[str, Any]) -> FamilyChoice:
        quality = info.get("speeds", {}).get("quality", {})
        return cls(
            name=info["family"],
            native_size=int(info.get("native_size", 512)),
            steps=int(quality.get("steps", 20)),
            guidance_scale=float(quality.get("guidance_scale", 7.5)),
            control_types=tuple(info.get("control_types") or cls.control_types),
            unsupported=dict(info.get("unsupported") or {}),
        )


def family_picker(client: ApiClient) -> FamilyChoice:
    """A selector of the served families (none shown when only one is served)."""
    try:
        served = [f for f in client.families() if f.get("available", True)]
    except ApiError:
        served = []
    if not served:
        return FamilyChoice(None)
    by_name = {f["family"]: f for f in served}
    names = list(by_name)
    if len(names) == 1:
        return FamilyChoice.from_info(served[0])
    name = st.radio(
        "Model family",
        names,
        format_func=lambda n: f"{by_name[n].get('title', n)} ({n})",
        horizontal=True,
        key=FAMILY_KEY,
        help="Which model renders: each family has its own native size, steps and speed presets.",
    )
    return FamilyChoice.from_info(by_name[name])
