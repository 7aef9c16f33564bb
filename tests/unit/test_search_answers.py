"""A repeated search is answered from memory (retrieval/answer_cache.py) until the question, the library or
the learned side changes: every change is seen by the very next search."""

from __future__ import annotations

import io
import time

import pytest
from fakes import FakeEmbeddings
from PIL import Image

from sketch2render.retrieval import HybridSearch
from sketch2render.retrieval.answer_cache import Answers
from sketch2render.schemas import StyleMeta
from sketch2render.styles import StyleLibrary


def add(library, colour, title, tags=()):
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buffer, format="PNG")
    return library.add_bytes(buffer.getvalue(), StyleMeta(title=title, tags=list(tags)))[0]


@pytest.fixture
def library(tmp_path):
    library = StyleLibrary(tmp_path / "styles", FakeEmbeddings())
    add(library, (250, 0, 0), "Red field", ["bold"])
    add(library, (0, 0, 250), "Blue hour", ["calm"])
    return library


@pytest.fixture
def search(library, monkeypatch):
    search = HybridSearch(library, answers=Answers())
    search.searched = []  # each question the full hybrid search ran for
    hybrid = search._hybrid
    monkeypatch.setattr(search, "_hybrid", lambda *a, **kw: search.searched.append(a[1]) or hybrid(*a, **kw))
    return search


def ids(hits) -> list[str]:
    return [h.id for h in hits]


def test_a_repeated_question_is_searched_once_and_answered_the_same(library, search):
    first = search.search("something red", k=2)
    again = search.search("something red", k=2)
    assert search.searched == ["something red"] and ids(again) == ids(first)
    assert [h.score for h in again] == [h.score for h in first]
    again.clear()  # a caller's list is its own
    assert ids(search.search("something red", k=2)) == ids(first)


def test_every_part_of_the_question_is_its_own_answer(library, search):
    search.search("red", k=2)
    search.search("red", k=1)
    search.search("red", k=2, tags=["bold"])
    search.search("red", k=2, min_score=0.5)
    search.search("red", k=2, principal="alice")
    assert len(search.searched) == 5
    search.search("red", k=2, tags=["bold"])
    assert len(search.searched) == 5


def test_an_added_or_removed_style_is_seen_by_the_next_search(library, search):
    assert search.search("green", k=1)[0].style.title != "Green leaf"
    green = add(library, (0, 250, 0), "Green leaf")
    assert search.search("green", k=1)[0].id == green.id  # the add cleared the kept answers
    library.remove(green.id)
    assert green.id not in ids(search.search("green", k=3))
    assert search.searched == ["green", "green", "green"]


def test_searches_by_image_are_not_kept(library, search):
    style = library.list()[0].id
    search.search_by_image(style, k=1)
    search.search_by_image(style, k=1)
    assert search.searched == ["", ""]


def test_a_kept_answer_is_refused_under_another_token_and_expires():
    answers = Answers(size=4, ttl_s=0.2)
    answers.put("q", ("weights", 1), ["hit"])
    assert answers.get("q", ("weights", 1)) == ["hit"] and answers.get("q", ("weights", 2)) is None
    time.sleep(0.3)
    assert answers.get("q", ("weights", 1)) is None and len(answers) == 0


def test_the_builder_gives_the_search_its_answers_only_while_caches_are_on(tmp_path):
    from sketch2render.config import Settings
    from sketch2render.retrieval import build_search
    from sketch2render.styles import build_library

    for caches, kept in (("on", True), ("off", False)):
        settings = Settings(home=tmp_path / caches, caches=caches)
        library = build_library(settings, FakeEmbeddings())
        try:
            assert (build_search(settings, library).answers is not None) is kept, caches
        finally:
            library.close()
