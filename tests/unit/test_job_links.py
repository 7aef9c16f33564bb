"""Jobs record their kind and the job they were made from (schema version 4), and an older
database is migrated in place: its rows become plain renders with no parent."""

from __future__ import annotations

import sqlite3

from jobsdb import SCHEMA, SCHEMA_VERSION

from sketch2render.jobs.job import JobInputs
from sketch2render.jobs.store import INPUT_NAME, JobStore


def test_an_edit_job_keeps_its_kind_parent_and_input_files(tmp_path, database_url):
    store = JobStore(database_url or tmp_path / "jobs.sqlite3", tmp_path / "renders", queue_max=5, max_history=10)
    parent, _ = store.submit(b"sketch", {"steps": 2})
    inputs = JobInputs(kind="edit", parent=parent.id, files={"edit.mask": b"mask", "parent.png": b"png"})
    child, _ = store.submit(b"sketch", {"steps": 2}, inputs=inputs)
    assert (parent.kind, parent.parent) == ("render", None)
    assert (child.kind, child.parent) == ("edit", parent.id)
    directory = store.job_dir(child.id)
    assert {p.name for p in directory.iterdir()} == {INPUT_NAME, "edit.mask", "parent.png"}
    assert (directory / "edit.mask").read_bytes() == b"mask"
    store.close()


def test_a_version_3_database_is_migrated_and_its_rows_are_renders(tmp_path):
    db = tmp_path / "jobs.sqlite3"
    old_schema = (
        SCHEMA.replace("    live_session     TEXT,", "    live_session     TEXT").split("    kind ")[0].rstrip()
        + "\n);"
    )
    with sqlite3.connect(db) as conn:
        conn.executescript(old_schema)
        conn.execute(
            "INSERT INTO jobs (id, status, params, created_at) VALUES (?, 'succeeded', '{}', 1.0)", ("a" * 32,)
        )
        conn.execute("PRAGMA user_version = 3")
    store = JobStore(db, tmp_path / "renders", queue_max=5, max_history=10)
    old = store.get("a" * 32)
    assert (old.kind, old.parent) == ("render", None)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 6
    store.close()
