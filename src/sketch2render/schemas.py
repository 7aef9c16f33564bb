"""Typed records that cross module boundaries (library, renderer, API, CLI, UI)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class StyleMeta(BaseModel):
    """What a user says about a style image."""

    title: str = Field(default="", max_length=300)
    tags: list[str] = Field(default_factory=list, max_length=50)
    description: str = Field(default="", max_length=4000)
    license: str = Field(default="", max_length=1000)
    source: str = Field(default="", max_length=1000)
    creator: str = Field(default="", max_length=300)
    year: str = Field(default="", max_length=50)


class StyleRecord(StyleMeta):
    """A style in the library."""

    id: str
    width: int
    height: int
    added_at: float

    def search_text(self) -> str:
        """The words BM25 sees: the title twice (it matters most), tags, creator, description."""
        return " ".join([self.title, self.title, *self.tags, self.creator, self.description])


class StyleHit(BaseModel):
    """One retrieved style and why it was chosen."""

    style: StyleRecord
    score: float  # fused score in [0, 1]: what the ranking uses
    cosine: float | None = None  # CLIP text->image (or image->image) cosine
    lexical: float = 0.0  # BM25 score over title, tags and description (0 = no word matched)
    weight: float | None = None  # share of the IP-Adapter blend this style got, when rendered

    @property
    def id(self) -> str:
        return self.style.id

    def is_relevant(self, min_cosine: float) -> bool:
        """A hit counts when CLIP finds it similar enough or a word of the prompt matched."""
        return self.lexical > 0 or (self.cosine is not None and self.cosine >= min_cosine)
