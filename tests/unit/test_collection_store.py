"""The collections store on both backends: SQLite (a file in the style library's folder, the
default) and PostgreSQL (what `S2R_DATABASE_URL` names, shared by several API processes)."""

from __future__ import annotations

import sqlite3

import pytest

from sketch2render.errors import Conflict, Forbidden, InvalidParameter, NotFound
from sketch2render.styles.collections import COLLECTIONS_FILE, CollectionStore

RED, BLUE, GREEN = "a" * 16, "b" * 16, "c" * 16


@pytest.fixture
def where(tmp_path, database_url):
    return database_url or tmp_path / COLLECTIONS_FILE


@pytest.fixture
def store(where):
    opened = CollectionStore(where)
    yield opened
    opened.close()


def test_create_add_remove_delete_keep_order_and_ignore_repeats(store):
    created = store.create("Warm board", "alice", style_ids=[RED, BLUE, RED], description="reds")
    assert created.style_ids == (RED, BLUE) and created.owner == "alice" and created.description == "reds"
    assert store.add("Warm board", [GREEN, RED], "alice").style_ids == (RED, BLUE, GREEN)  # RED keeps its place
    assert store.remove("Warm board", [RED, "nope"], "alice").style_ids == (BLUE, GREEN)
    assert [c.name for c in store.list()] == ["Warm board"]
    assert store.delete("Warm board", "alice").name == "Warm board"
    with pytest.raises(NotFound):
        store.get("Warm board", "alice")
    store.create("Warm board", "bob")  # the members went with it (cascade): a new one starts empty
    assert store.get("Warm board", "bob").style_ids == ()


def test_names_are_one_namespace_and_bad_input_stores_nothing(store):
    store.create("board", "alice", visibility="private")
    with pytest.raises(Conflict):
        store.create("board", "bob", style_ids=[RED])
    with pytest.raises(InvalidParameter) as bad:
        store.create("../x", "bob")
    assert bad.value.field == "collection"
    with pytest.raises(InvalidParameter):
        store.create("other", "bob", visibility="public")
    with pytest.raises(InvalidParameter) as bad_id:
        store.create("other", "bob", style_ids=[RED, "not-an-id"])
    assert bad_id.value.field == "style_ids"
    assert [c.name for c in store.list()] == ["board"] and store.get("board", "alice").style_ids == ()


def test_private_collections_are_their_owners_and_changes_need_the_owner_or_an_admin(store):
    store.create("mine", "alice", visibility="private", style_ids=[RED])
    store.create("ours", "alice", style_ids=[BLUE])
    with pytest.raises(NotFound):
        store.get("mine", "bob")
    assert store.get("mine", "bob", admin=True).style_ids == (RED,)
    assert [c.name for c in store.list("bob")] == ["ours"]
    assert [c.name for c in store.list("alice")] == ["mine", "ours"]
    assert [c.name for c in store.list()] == ["mine", "ours"]
    with pytest.raises(Forbidden):
        store.add("ours", [GREEN], "bob")
    with pytest.raises(NotFound):
        store.delete("mine", "bob")
    assert store.add("ours", [GREEN], "bob", admin=True).style_ids == (BLUE, GREEN)
    assert store.list("alice")[1].style_ids == (BLUE, GREEN)


def test_two_stores_on_one_database_see_each_others_changes(where):
    """Two API processes (here two engines) on one database act as one store."""
    first, second = CollectionStore(where), CollectionStore(where)
    try:
        first.create("board", "alice", style_ids=[RED])
        assert second.add("board", [BLUE], "alice").style_ids == (RED, BLUE)
        assert first.get("board", "alice").style_ids == (RED, BLUE)
        with pytest.raises(Conflict):
            second.create("board", "bob")
        second.delete("board", "alice")
        assert first.list() == []
    finally:
        first.close()
        second.close()


def test_a_collections_file_from_before_migrations_is_adopted_with_its_rows(tmp_path):
    path = tmp_path / COLLECTIONS_FILE
    with sqlite3.connect(path) as old:  # the hand-written schema the store used to create
        old.executescript(
            """
            CREATE TABLE collections (name TEXT PRIMARY KEY, owner TEXT NOT NULL, visibility TEXT NOT NULL,
                description TEXT NOT NULL DEFAULT '', created_at REAL NOT NULL);
            CREATE TABLE members (collection TEXT NOT NULL REFERENCES collections(name) ON DELETE CASCADE,
                style_id TEXT NOT NULL, added_at REAL NOT NULL, PRIMARY KEY (collection, style_id));
            """
        )
        old.execute("INSERT INTO collections VALUES ('kept', 'alice', 'team', '', 1.0)")
        old.execute(f"INSERT INTO members VALUES ('kept', '{BLUE}', 2.0), ('kept', '{RED}', 1.5)")
    old.close()
    store = CollectionStore(path)
    try:
        assert store.get("kept", "bob").style_ids == (RED, BLUE)
        assert store.add("kept", [GREEN], "alice").style_ids == (RED, BLUE, GREEN)
        store.delete("kept", "alice")
        assert store.list() == []
    finally:
        store.close()


def test_the_library_built_from_settings_keeps_its_collections_where_the_database_url_says(tmp_path, database_url):
    from builders import make_settings
    from fakes import FakeEmbeddings

    from sketch2render.styles import build_library

    settings = make_settings(tmp_path / "home", database_url=database_url)
    library = build_library(settings, FakeEmbeddings())
    try:
        library.collections.create("board", "alice")
    finally:
        library.close()
    shared = CollectionStore(settings.store_url(settings.styles_dir / COLLECTIONS_FILE))
    try:
        assert [c.name for c in shared.list()] == ["board"]
    finally:
        shared.close()
    in_folder = (settings.styles_dir / COLLECTIONS_FILE).exists()
    assert in_folder == (database_url is None)  # on PostgreSQL no SQLite file is made
