"""Which styles one render, search or eval may use: a `StyleScope`.

A scope is the caller (private styles are only their owner's), whether only commercially usable
styles count (`commercial_only`: licenses.py), and optionally a collection's styles. Retrieval
filters its candidates with `allows` before fusing them; a style the caller named outright is
checked with `refusal`, which says why it may not be used (None: it may).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..schemas import StyleRecord


@dataclass(frozen=True)
class StyleScope:
    principal: str = ""  # whose private styles count ("": nobody's)
    commercial_only: bool = False
    style_ids: frozenset[str] | None = None  # a collection's styles (None: the whole library)
    collection: str = ""  # the collection's name, for messages

    @property
    def restricts(self) -> bool:
        """Whether anything but other principals' private styles is left out."""
        return self.commercial_only or self.style_ids is not None

    def allows(self, record: StyleRecord) -> bool:
        return self.refusal(record) is None

    def refusal(self, record: StyleRecord) -> str | None:
        """Why `record` is out of this scope (None: it is in). A private style of someone else reads as missing."""
        if not record.visible_to(self.principal):
            return f"no style with id {record.id!r}"
        if self.commercial_only and not record.commercial_use:
            return (
                f"style {record.id} ({record.title!r}) is licensed {record.license_id} ({record.license_class}): "
                "not usable with commercial_only"
            )
        if self.style_ids is not None and record.id not in self.style_ids:
            return f"style {record.id} ({record.title!r}) is not in collection {self.collection!r}"
        return None
