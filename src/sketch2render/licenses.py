"""What a style's licence allows: its free text normalised to an SPDX id where one fits, and classified.

`classify(text)` reads the licence a user wrote ("CC BY-NC 4.0", "Creative Commons Attribution
4.0 International", a creativecommons.org URL, "public domain (artist died 1890…)") and answers a
`LicenseInfo`: the id (`CC0-1.0`, `CC-BY-4.0`, `CC-BY-NC-SA-4.0`, …, or `public-domain`,
`proprietary`, `unknown`, and two `LicenseRef-` ids for studio wording), whether the image may be
used commercially in a render, and whether the licence asks for a credit. The leading phrase of
the text decides (a licence followed by notes that name another); otherwise the first licence
named anywhere in it. A Creative Commons licence without a version is taken as 4.0.

`commercial_use` is what `commercial_only` keeps: commercial use allowed *and* derivatives allowed
(a render made with a style image is an adaptation of it, so ND licences are left out too).
`credit_line` is the TASL credit (title, author, source, licence) a render carries per style.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

LicenseClass = Literal["commercial", "commercial-credit", "non-commercial", "no-derivatives", "restricted", "unknown"]
UNKNOWN = "unknown"
PUBLIC_DOMAIN = "public-domain"
PROPRIETARY = "proprietary"


@dataclass(frozen=True)
class LicenseInfo:
    """One licence id and what it allows."""

    id: str
    label: str  # how a credit names it ("CC BY 4.0", "public domain")
    commercial: bool  # the licence allows commercial use
    attribution: bool  # the licence asks for a credit
    derivatives: bool = True  # adaptations (a render in the style) are allowed

    @property
    def commercial_use(self) -> bool:
        """May a render made with this style be used commercially (what `commercial_only` keeps)."""
        return self.commercial and self.derivatives

    @property
    def license_class(self) -> LicenseClass:
        if self.id == UNKNOWN:
            return "unknown"
        if self.id == PROPRIETARY:
            return "restricted"
        if not self.commercial:
            return "non-commercial"
        if not self.derivatives:
            return "no-derivatives"
        return "commercial-credit" if self.attribution else "commercial"


# The ids that are not Creative Commons ones: id -> (label, commercial, attribution).
_FIXED: dict[str, tuple[str, bool, bool]] = {
    "CC0-1.0": ("CC0 1.0", True, False),
    PUBLIC_DOMAIN: ("public domain", True, False),
    "MIT": ("MIT", True, True),
    "Apache-2.0": ("Apache 2.0", True, True),
    "BSD-3-Clause": ("BSD 3-Clause", True, True),
    "FAL-1.3": ("Free Art License 1.3", True, True),
    "GFDL-1.3": ("GFDL 1.3", True, True),
    "LicenseRef-Unsplash": ("Unsplash License", True, False),
    "LicenseRef-Pexels": ("Pexels License", True, False),
    "LicenseRef-commercial": ("licensed for commercial use", True, False),
    "LicenseRef-non-commercial": ("non-commercial use only", False, False),
    PROPRIETARY: ("all rights reserved", False, True),
    UNKNOWN: ("licence not stated", False, True),
}

# Words rewritten before matching (lower-case text, in order): long forms to the short ones of the ids.
_REWRITES: tuple[tuple[str, str], ...] = (
    (r"licence", "license"),
    (r"creativecommons\.org/publicdomain/zero/?", " cc0 "),
    (r"creativecommons\.org/publicdomain/mark/?", " public domain "),
    (r"creativecommons\.org/licenses/", " cc-"),
    (r"creative\s*commons", " cc "),
    (r"\bzero\b", "0"),
    (r"non[\s_-]*commercial", "nc"),
    (r"share[\s_-]*alike", "sa"),
    (r"no[\s_-]*deriv(?:ative)?s?(?:[\s_-]*works)?", "nd"),
    (r"\battribution\b", "by"),
    (r"\b(?:international|unported|generic|license|deed|legalcode|public)\b(?!\s*domain)", " "),
)
_CC = re.compile(r"\bcc[\s_/-]*(0|by(?:[\s_/-]*(?:nc|sa|nd))*)(?:[\s_/-]*v?(\d(?:\.\d)?))?\b")
# "Attribution-NoDerivatives 4.0" (the licence's own title, no "CC"): only at the start, with a version.
_CC_TITLE = re.compile(r"^\s*(by(?:[\s_/-]*(?:nc|sa|nd))*)[\s_/-]*v?(\d(?:\.\d)?)\b")
# Other licences, by a pattern over the rewritten text; the first that matches wins.
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), i)
    for p, i in (
        (r"\bcc[\s_-]*0\b|\bcc[\s_-]*zero\b", "CC0-1.0"),
        (r"\bpublic[\s_-]*domain\b|\bpd(?:m|-?mark)?\b|\bno known copyright\b", PUBLIC_DOMAIN),
        (r"\bunsplash\b", "LicenseRef-Unsplash"),
        (r"\bpexels\b", "LicenseRef-Pexels"),
        (r"\bmit\b", "MIT"),
        (r"\bapache\b", "Apache-2.0"),
        (r"\bbsd\b", "BSD-3-Clause"),
        (r"\bfree art\b|\bart libre\b|\bfal\b", "FAL-1.3"),
        (r"\bgfdl\b|\bgnu free documentation\b", "GFDL-1.3"),
        (
            r"\bnc\b|\bno commercial\b|\bcommercial use (?:is )?(?:not|prohibited|forbidden)\b|\bpersonal use\b"
            r"|\beditorial\b|\bnot for commercial\b",
            "LicenseRef-non-commercial",
        ),  # fmt: skip
        (
            r"\broyalty[\s_-]*free\b|\bcommercial use (?:allowed|permitted|ok)\b|\bin[\s_-]*house\b"
            r"|\bstudio[\s_-]*owned\b|\blicensed for commercial\b|\bcommercial\b",
            "LicenseRef-commercial",
        ),  # fmt: skip
        (r"\ball rights reserved\b|\bproprietary\b|\bcopyright\b|©|\(c\)", PROPRIETARY),
    )
)


def _rewrite(text: str) -> str:
    text = text.lower()
    for pattern, replacement in _REWRITES:
        text = re.sub(pattern, replacement, text)
    return text


def _creative_commons(text: str) -> str | None:
    """The SPDX id of the first Creative Commons licence named in rewritten `text`."""
    found = _CC.search(text) or _CC_TITLE.search(text)
    if found is None:
        return None
    if found.group(1) == "0":
        return "CC0-1.0"
    parts = set(re.split(r"[\s_/-]+", found.group(1))) - {"by", ""}
    if "sa" in parts and "nd" in parts:  # no such licence: the stricter reading
        parts.discard("sa")
    version = found.group(2) or "4.0"
    version = version if "." in version else f"{version}.0"
    name = "-".join(["CC", "BY", *[p.upper() for p in ("nc", "nd", "sa") if p in parts]])
    return f"{name}-{version}"


def _normalise(text: str) -> str:
    for part in (re.split(r"[(;:\n]", text, maxsplit=1)[0], text):  # the leading phrase, then all of it
        rewritten = _rewrite(part)
        cc = _creative_commons(rewritten)
        if cc is not None:
            return cc
        for pattern, spdx in _PATTERNS:
            if pattern.search(rewritten):
                return spdx
    return UNKNOWN


def spdx_id(text: str) -> str:
    """The licence id of a licence text (`unknown` when none is recognised or the text is blank)."""
    return _normalise(text) if text and text.strip() else UNKNOWN


def info(license_id: str) -> LicenseInfo:
    """What a licence id allows (an id this table does not know: as `unknown`)."""
    if license_id in _FIXED:
        label, commercial, attribution = _FIXED[license_id]
        return LicenseInfo(license_id, label, commercial, attribution)
    if license_id.startswith("CC-BY"):
        kinds = license_id.split("-")[2:-1]
        version = license_id.rsplit("-", 1)[1]
        label = "CC " + "-".join(["BY", *kinds]) + " " + version
        return LicenseInfo(license_id, label, "NC" not in kinds, True, "ND" not in kinds)
    return LicenseInfo(UNKNOWN, *_FIXED[UNKNOWN])


def classify(text: str) -> LicenseInfo:
    """A licence text, normalised and classified."""
    return info(spdx_id(text))


def credit_line(title: str, creator: str, source: str, license_id: str) -> str:
    """The credit a licence asks for (title, author, source, licence), without the parts not known."""
    what = f"“{title}”" if title else "Untitled"
    who = f" by {creator}" if creator else ""
    where = f", {source}" if source else ""
    return f"{what}{who}{where} ({info(license_id).label})"
