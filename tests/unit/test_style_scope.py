"""StyleScope inside HybridSearch: every candidate list keeps to the scope before fusion, however
many styles it leaves out, and kept answers are per scope."""

from __future__ import annotations

import io

import pytest
from fakes import FakeEmbeddings
from PIL import Image

from sketch2render.retrieval import HybridSearch
from sketch2render.retrieval.answer_cache import Answers
from sketch2render.schemas import StyleMeta
from sketch2render.styles import StyleLibrary
from sketch2render.styles.scope import StyleScope


def png(colour) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), colour).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def library(tmp_path):
    return StyleLibrary(tmp_path / "styles", FakeEmbeddings())


def test_many_left_out_styles_do_not_crowd_out_the_allowed_one(library):
    # 60 non-commercial reds nearer the query than the one commercial style: it is still found
    for i in range(60):
        library.add_bytes(png((250 - i, 0, 0)), StyleMeta(title=f"nc {i}", license="CC BY-NC 4.0"))
    free, _ = library.add_bytes(png((120, 60, 60)), StyleMeta(title="free", license="CC0"))
    search = HybridSearch(library, answers=Answers(16))
    assert free.id not in {h.id for h in search.search("red", k=3)}
    hits = search.search("red", k=3, scope=StyleScope(commercial_only=True))
    assert [h.id for h in hits] == [free.id]
    assert search.search("red", k=3)[0].id != free.id  # the kept answer of one scope is not another's


def test_private_styles_count_only_for_their_owner_and_collections_restrict(library):
    mine, _ = library.add_bytes(png((250, 0, 0)), StyleMeta(title="mine", visibility="private"), owner="ann")
    team, _ = library.add_bytes(png((0, 0, 250)), StyleMeta(title="team"))
    search = HybridSearch(library)
    assert [h.id for h in search.search("mine", k=5, principal="bob")] == [team.id]
    assert mine.id in {h.id for h in search.search("mine", k=5, principal="ann")}
    only = StyleScope("ann", style_ids=frozenset({team.id}), collection="c")
    assert [h.id for h in search.search("mine", k=5, principal="ann", scope=only)] == [team.id]
    assert "not in collection 'c'" in (only.refusal(mine) or "")
    assert only.refusal(team) is None and StyleScope("bob").refusal(mine) == f"no style with id {mine.id!r}"


def test_a_style_added_or_removed_after_a_search_is_scoped_as_the_ones_before(library):
    """The ids a scope leaves out are kept per scope between searches and recomputed on a change."""
    team, _ = library.add_bytes(png((0, 0, 250)), StyleMeta(title="team"))
    search = HybridSearch(library)
    assert [h.id for h in search.search("red", k=5, principal="bob")] == [team.id]
    mine, _ = library.add_bytes(png((250, 0, 0)), StyleMeta(title="red", visibility="private"), owner="ann")
    assert [h.id for h in search.search("red", k=5, principal="bob")] == [team.id]
    assert search.search("red", k=5, principal="ann")[0].id == mine.id
    library.remove(mine.id)
    assert [h.id for h in search.search("red", k=5, principal="ann")] == [team.id]
