"""Retrieval that learns from corrections, on the bundled styles with the tiny CLIP (weight 0: it
means nothing) and the REAL sentence model: known answers for chosen, rejected, paraphrases that
share no word, per-principal scope, pooling, export/import and weight 0."""

from __future__ import annotations

import pytest
from builders import make_settings

from sketch2render.errors import InvalidParameter
from sketch2render.models import resolve_models
from sketch2render.retrieval import build_search
from sketch2render.styles import build_embeddings, build_library, import_defaults

CORRECTED = [
    "cosmic whirls over a village",
    "a village under cosmic whirls",
    "cosmic whirls over a small village at night",
]
SHARED_WORDS = "cosmic whirls over a village"
NO_SHARED_WORD = "spinning heavens above a sleepy hamlet"


@pytest.fixture(scope="module")
def make_search(tmp_path_factory, tiny_models_dir, real_sentence_dir):
    """`make_search(**settings)`: the bundled styles (imported once) under other learning settings."""
    home = tmp_path_factory.mktemp("home")
    searches = []

    def make(**overrides):
        settings = make_settings(
            home, tiny_models_dir, **{"bundled_styles": False, "sentence_model": real_sentence_dir, **overrides}
        )
        models = resolve_models(settings)
        for old in searches:  # one process owns a disk store at a time
            old.close()
            old.library.close()
        library = build_library(settings, build_embeddings(settings, models))
        if len(library) == 0:
            import_defaults(library)
        search = build_search(settings, library, models)
        searches.append(search)
        return search

    yield make
    searches[-1].close()
    searches[-1].library.close()


@pytest.fixture
def search(make_search):
    search = make_search()
    for who in ("alice", "bob", "carol"):
        search.learning.feedback.store.reset(who)
    return search


def style_id(search, title: str) -> str:
    return next(r.id for r in search.library.list(0, 100) if r.title == title)


def top(search, query: str, who: str = "alice", k: int = 3) -> list[str]:
    return [h.style.title for h in search.search(query, k, principal=who)]


def choose(search, style: str, who: str = "alice", prompts=CORRECTED) -> None:
    for prompt in prompts:
        search.learning.feedback.store.add(who, prompt, style, "chosen")


def test_three_corrections_rank_the_chosen_style_first_for_shared_words_and_a_paraphrase(search):
    starry = style_id(search, "The Starry Night")
    assert top(search, SHARED_WORDS)[0] != "The Starry Night"  # today: the Hubble deep field ("cosmic")
    assert "The Starry Night" not in top(search, NO_SHARED_WORD)
    choose(search, starry)
    assert top(search, SHARED_WORDS)[0] == "The Starry Night"
    hit = search.search(NO_SHARED_WORD, 1, principal="alice")[0]  # no word in common with any correction
    assert hit.style.title == "The Starry Night" and hit.feedback > 0
    assert hit.explain[0].startswith("feedback: +") and "chosen 3× for similar prompts" in hit.explain[0]
    assert top(search, "a bowl of lemons on a kitchen table")[0] != "The Starry Night"  # unrelated: no vote


def test_a_rejection_drops_the_style_below_the_others_for_similar_prompts(search):
    before = search.search("deep space galaxies", 5, principal="alice")
    assert before[0].style.title.startswith("Hubble")
    search.learning.feedback.store.add("alice", "galaxies in deep space", before[0].id, "rejected")
    after = search.search("deep space galaxies", 21, principal="alice")
    order = [h.id for h in after]
    assert all(order.index(before[0].id) > order.index(h.id) for h in before[1:])  # below the other four
    rejected = after[order.index(before[0].id)]
    assert rejected.feedback < 0 and rejected.explain[0].startswith("feedback: -0.9 (rejected 1×")


def test_a_correction_from_another_process_is_seen_by_the_next_search_of_a_kept_answer(search):
    """Search answers are kept for repeated questions (retrieval/answer_cache.py); a signal stored through
    another connection (a Ray replica, the CLI) changes the store's version, so it is not stale."""
    from sketch2render.retrieval.signals import SignalStore

    assert top(search, SHARED_WORDS)[0] != "The Starry Night"
    assert top(search, SHARED_WORDS)[0] != "The Starry Night"  # answered from memory
    elsewhere = SignalStore(search.learning.feedback.store.url)
    try:
        for prompt in CORRECTED:
            elsewhere.add("alice", prompt, style_id(search, "The Starry Night"), "chosen")
    finally:
        elsewhere.close()
    assert top(search, SHARED_WORDS)[0] == "The Starry Night"


def test_one_principals_corrections_do_not_change_anothers_results(search):
    bob_before = search.search(SHARED_WORDS, 5, principal="bob")
    choose(search, style_id(search, "The Starry Night"), who="alice")
    assert search.search(SHARED_WORDS, 5, principal="bob") == bob_before
    assert top(search, SHARED_WORDS, "alice")[0] == "The Starry Night"


def test_pooled_feedback_is_shared_but_one_principal_is_bounded(make_search):
    search = make_search(feedback_scope="pooled")
    starry = style_id(search, "The Starry Night")
    choose(search, starry, who="alice", prompts=CORRECTED * 5)  # 15 corrections from one principal
    one = search.search(SHARED_WORDS, 3, principal="bob")
    votes = {h.style.title: h.feedback for h in one}
    assert 0 < votes["The Starry Night"] <= 1.0  # pooled: one principal says at most 1.0
    choose(search, starry, who="carol")
    two = {h.style.title: h.feedback for h in search.search(SHARED_WORDS, 3, principal="bob")}
    assert two["The Starry Night"] > votes["The Starry Night"]  # a second principal agreeing adds


def test_export_reset_import_restores_the_same_ranking(search, tmp_path):
    store = search.learning.feedback.store
    choose(search, style_id(search, "The Starry Night"))
    store.add("alice", "galaxies in deep space", style_id(search, "Hubble eXtreme Deep Field (XDF)"), "rejected")
    learned = search.search(SHARED_WORDS, 5, principal="alice")
    lines = list(store.export_lines("alice"))
    assert len(lines) == 4 and store.reset("alice") == 4
    assert search.search(SHARED_WORDS, 5, principal="alice") != learned
    assert store.import_lines("alice", lines) == 4
    assert search.search(SHARED_WORDS, 5, principal="alice") == learned


def test_a_bad_import_line_is_refused_by_number_and_nothing_is_stored(search):
    store = search.learning.feedback.store
    good = '{"prompt": "x", "style_id": "abc", "signal": "chosen", "created_at": 1}'
    with pytest.raises(InvalidParameter, match="line 2 is not a feedback signal") as err:
        store.import_lines("alice", [good, '{"prompt": "x", "style_id": "abc", "signal": "loved"}'])
    assert err.value.field == "file" and store.signals("alice") == []
    with pytest.raises(InvalidParameter) as err:
        store.add("alice", "  ", "abc", "chosen")
    assert err.value.field == "prompt"


def test_weight_zero_gives_exactly_todays_ranking(make_search):
    plain = make_search(feedback_weight=0.0, caption_weight=0.0, fusion="rrf")  # evidence: its own lines
    plain.learning.feedback.store.reset("alice")
    choose(plain, style_id(plain, "The Starry Night"))
    queries = [SHARED_WORDS, NO_SHARED_WORD, "gold ornament", "stormy sea"]
    learned_off = [plain.search(q, 5, principal="alice") for q in queries]
    plain.learning = None  # the search as it was before learning existed
    assert [plain.search(q, 5, principal="alice") for q in queries] == learned_off
    assert all(h.feedback is None and h.caption is None and h.explain == [] for hits in learned_off for h in hits)
    with_captions = make_search(feedback_weight=0.0)  # feedback off alone: signals change nothing
    before = [with_captions.search(q, 5, principal="alice") for q in queries]
    with_captions.learning.feedback.store.reset("alice")
    assert [with_captions.search(q, 5, principal="alice") for q in queries] == before


def test_learned_words_join_the_chosen_styles_lexical_field(search):
    """Starry Night's text holds no "whirl" nor "village": before the corrections BM25 gives it 0
    for "whirls village"; after them its learned words count (IDF each) and the hit says so."""
    starry = style_id(search, "The Starry Night")

    def starry_hit():
        return next(h for h in search.search("whirls village", 21, principal="alice") if h.id == starry)

    assert starry_hit().lexical == 0.0
    choose(search, starry)
    hit = starry_hit()
    assert hit.lexical > 0 and "learned words: village, whirl" in hit.explain
    words = search.learning.feedback.words("alice")[starry]
    assert words == {"cosmic", "whirl", "village", "small", "night"}  # every word of the three prompts
    assert next(h for h in search.search("whirls village", 21, principal="bob") if h.id == starry).lexical == 0.0


def test_learned_words_feedback_weight_zero_adds_no_word(make_search):
    search = make_search(feedback_weight=0.0)
    search.learning.feedback.store.reset("alice")
    starry = style_id(search, "The Starry Night")
    choose(search, starry)
    hit = next(h for h in search.search("whirls village", 21, principal="alice") if h.id == starry)
    assert hit.lexical == 0.0 and not any(line.startswith("learned words") for line in hit.explain)


def test_the_signal_stores_version_changes_with_every_write_from_any_connection(tmp_path, database_url):
    """`version()` is read several times per search: one row's counter, and it must notice a signal
    added or removed through another connection or process, on SQLite and on PostgreSQL."""
    from sketch2render.retrieval.signals import SignalStore

    where = database_url or tmp_path / "signals.sqlite3"  # both backends
    mine, other = SignalStore(where), SignalStore(where)
    try:
        seen = {mine.version()}
        assert mine.version() in seen  # nothing written: the same
        mine.add("alice", "a great wave", "0123456789abcdef", "chosen")
        assert mine.version() not in seen
        seen.add(mine.version())
        other.add("bob", "starry night", "0123456789abcdef", "rejected")  # another connection
        assert mine.version() not in seen and len(mine.signals()) == 2
        seen.add(mine.version())
        other.reset("bob")
        assert mine.version() not in seen and len(mine.signals()) == 1
        seen.add(mine.version())
        mine.reset("alice")
        assert mine.version() not in seen and mine.signals() == []
    finally:
        mine.close()
        other.close()
