"""Style records: what a user says about a style, what the library stores, a search hit, and the
credit a render owes a style."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    BaseModel,
    Field,
    model_validator,
)

from .. import licenses


def is_style_id(value: object) -> bool:
    """The one rule for style ids (content hashes, hex): 1-64 letters and digits. Anything else
    is refused before it reaches a path, a query or a store."""
    return isinstance(value, str) and 1 <= len(value) <= 64 and value.isalnum()


Visibility = Literal["team", "private"]


class StyleMeta(BaseModel):
    """What a user says about a style image."""

    title: str = Field(default="", max_length=300)
    tags: list[str] = Field(default_factory=list, max_length=50)
    description: str = Field(default="", max_length=4000)
    license: str = Field(default="", max_length=1000)
    source: str = Field(default="", max_length=1000)
    creator: str = Field(default="", max_length=300)
    year: str = Field(default="", max_length=50)
    visibility: Visibility = "team"  # private: only its owner sees, retrieves and blends it


class StyleRecord(StyleMeta):
    """A style in the library. Its licence's id and class are stored with it; a record stored
    before they existed gets them from its licence text when read (licenses.py)."""

    id: str
    width: int
    height: int
    added_at: float
    license_id: str = ""  # SPDX id (or public-domain, proprietary, unknown): licenses.spdx_id
    license_class: licenses.LicenseClass = "unknown"
    commercial_use: bool = False  # a render with it may be used commercially (what commercial_only keeps)
    attribution_required: bool = True
    owner: str = ""  # the principal that added it ("": added before owners were kept)
    fingerprint: str = ""  # perceptual hash and mean colour (styles/fingerprint.py; "": computed when needed)

    @model_validator(mode="after")
    def _licensed(self) -> StyleRecord:
        if not self.license_id:
            found = licenses.classify(self.license)
            self.license_id, self.license_class = found.id, found.license_class
            self.commercial_use, self.attribution_required = found.commercial_use, found.attribution
        return self

    def visible_to(self, principal: str) -> bool:
        """Team styles are everyone's; a private one only its owner's."""
        return self.visibility == "team" or (bool(self.owner) and self.owner == principal)

    def credit(self) -> str:
        return licenses.credit_line(self.title, self.creator, self.source, self.license_id)

    def search_text(self) -> str:
        """The words BM25 sees: the title twice (it matters most), tags, creator, description."""
        return " ".join([self.title, self.title, *self.tags, self.creator, self.description])


CAPTION_RELEVANT = 0.3  # sentence cosine at which a caption means the prompt (unrelated: ~0-0.15)


class StyleHit(BaseModel):
    """One retrieved style and why it was chosen."""

    style: StyleRecord
    score: float  # fused score in [0, 1]: what the ranking uses
    cosine: float | None = None  # CLIP text->image (or image->image) cosine
    lexical: float = 0.0  # BM25 score over title, tags and description (0 = no word matched)
    weight: float | None = None  # share of the IP-Adapter blend this style got, when rendered
    caption: float | None = None  # sentence-model cosine prompt <-> title, tags, description
    feedback: float | None = None  # what similar past prompts' corrections said, in [-3, 3]
    explain: list[str] = Field(default_factory=list)  # e.g. "feedback: +2.3 (chosen 3× for similar prompts)"

    @property
    def id(self) -> str:
        return self.style.id

    def is_relevant(self, min_cosine: float) -> bool:
        """A hit counts when CLIP finds it similar enough, a word of the prompt matched, its
        caption means the same (sentence model) or corrections for similar prompts chose it."""
        if self.lexical > 0 or (self.feedback or 0.0) > 0 or (self.caption or 0.0) >= CAPTION_RELEVANT:
            return True
        return self.cosine is not None and self.cosine >= min_cosine


class StyleCredit(BaseModel):
    """What a render owes one style it used: who made it, where it is from, its licence, the credit line."""

    id: str
    title: str
    creator: str = ""
    source: str = ""
    license: str = ""  # the licence text as given
    license_id: str = "unknown"
    attribution_required: bool = True
    credit: str  # the line to print beside the image

    @classmethod
    def of(cls, style: StyleRecord) -> StyleCredit:
        return cls(
            id=style.id,
            title=style.title,
            creator=style.creator,
            source=style.source,
            license=style.license,
            license_id=style.license_id,
            attribution_required=style.attribution_required,
            credit=style.credit(),
        )


def credit_text(attribution: list[StyleCredit]) -> str:
    """The credits of a render, one line per style (what its PNG carries)."""
    return "\n".join(c.credit for c in attribution)
