"""The history's word index on both backends (jobs/history.py): FTS5 on SQLite, a `tsvector` with
prefix queries on PostgreSQL, with the same answers: every word as a prefix, any case, no operator
of the user's reaching the database, and the style, collection and owner filters."""

from __future__ import annotations

import json
import sqlite3

import pytest
from jobsdb import SCHEMA

from sketch2render.jobs.history import HistoryIndex, HistoryQuery, lexemes, prefix_query
from sketch2render.jobs.store import JobStatus, JobStore


@pytest.fixture
def store(tmp_path, database_url):
    s = JobStore(database_url or tmp_path / "jobs.sqlite3", tmp_path / "renders", queue_max=50, max_history=4)
    yield s
    s.close()


def render(store: JobStore, prompt: str, *, owner: str = "alice", result: dict | None = None, **params) -> str:
    job, _ = store.submit(b"x", {"prompt": prompt, **params}, owner=owner)
    assert store.claim_next("w").id == job.id
    store.finish(job.id, JobStatus.SUCCEEDED, result=result or {}, images=1)
    return job.id


def found(index: HistoryIndex, **query) -> list[str]:
    jobs, total = index.search(HistoryQuery(**query))
    assert total == len(jobs)
    return [j.id for j in jobs]


def test_words_match_as_prefixes_all_of_them_in_any_case(store):
    index = HistoryIndex(store.database)
    house = render(store, "A red HOUSE by the sea")
    regions = [{"prompt": "Café tower", "mask_sha256": ""}]
    tower = render(store, "a castle", regions=regions)
    assert found(index, q="house") == [house]
    assert found(index, q="RED hou") == [house]
    assert found(index, q="house castle") == []  # every word must match
    assert found(index, q="tow") == [tower]  # a region's prompt is a render's words
    assert found(index, q="cafe") == found(index, q="CAFÉ") == [tower]  # accents do not matter
    assert found(index, q="a") == [tower, house]  # newest first
    assert found(index, q="ouse") == []  # a prefix, not any part of a word
    for hostile in ('") OR *', "red | castle", "!house", "'house':*", "house & castle", "a:* <-> b"):
        assert found(index, q=hostile) in ([], [house], [tower]), hostile  # words only: no error, no operator
    assert found(index, q="red | castle") == []  # "|" is not an "or": both words must match
    index.close()
    assert store.get(house).id == house  # the store's database stays open


def test_new_jobs_are_found_on_the_next_search_and_pruned_ones_never(store):
    index = HistoryIndex(store.database)
    first = render(store, "old lighthouse")
    assert found(index, q="lighthouse") == [first]
    later = [render(store, f"lighthouse {i}") for i in range(4)]  # the first is pruned (max_history 4)
    assert found(index, q="lighthouse") == later[::-1]


def test_style_collection_status_and_owner_filters(store):
    index = HistoryIndex(store.database)
    picked = render(store, "sea", style_ids=["s1", "s2"])
    weighted = render(store, "sky", result={"styles": [{"style": {"id": "s3"}, "weight": 0.5}]})
    unweighted = render(store, "sun", result={"styles": [{"style": {"id": "s4"}, "weight": None}]})
    bound = render(store, "field", owner="bob", collection="reds")
    assert found(index, style="s2") == [picked]
    assert found(index, style="s3") == [weighted]
    assert found(index, style="s4") == []  # retrieval offered it, the render did not use it
    assert found(index, collection="reds") == [bound]
    assert found(index, owner="bob") == [bound]
    assert found(index, owner="alice", q="s") == [unweighted, weighted, picked]
    assert found(index, status="failed") == []
    assert json.loads(json.dumps(store.get(unweighted).result)) == {"styles": [{"style": {"id": "s4"}, "weight": None}]}


def test_the_postgresql_query_is_quoted_words_only():
    assert prefix_query('Tower" OR NEAR(x') == "'tower':* & 'or':* & 'near':* & 'x':*"
    assert prefix_query("foo_bar Crème") == "'foo':* & 'bar':* & 'creme':*"
    assert prefix_query("  ") is None and prefix_query("'';:*") is None
    assert lexemes("A café, 2 TOWERS") == ["a", "cafe", "2", "towers"]


def test_a_sqlite_file_indexed_before_migrations_keeps_its_index(tmp_path):
    """The word index the history made itself before migrations (FTS5 and its state row) is adopted."""
    db = tmp_path / "jobs.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.executescript(SCHEMA)
        conn.execute(
            "INSERT INTO jobs (id, status, params, created_at) VALUES (?, 'succeeded', ?, 1.0)",
            ("a" * 32, '{"prompt": "old barn"}'),
        )
        conn.execute("CREATE VIRTUAL TABLE job_text USING fts5(text, job_seq UNINDEXED)")
        conn.execute("CREATE TABLE job_text_state (id INTEGER PRIMARY KEY CHECK (id = 1), last_seq INTEGER NOT NULL)")
        conn.execute("INSERT INTO job_text (text, job_seq) VALUES ('old barn', 1)")
        conn.execute("INSERT INTO job_text_state (id, last_seq) VALUES (1, 1)")
        conn.execute("PRAGMA user_version = 6")
    store = JobStore(db, tmp_path / "renders", queue_max=5, max_history=10)
    new = render(store, "new barn")
    index = HistoryIndex(store.database)
    assert found(index, q="barn") == [new, "a" * 32]  # the old row found once, the new one indexed
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM job_text").fetchone()[0] == 2
    store.close()
