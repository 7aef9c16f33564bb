"""The two key stores behind `KeyRecords`: `keys.json` in the data folder (the default) and the
`keys` table of a database (`S2R_DATABASE_URL`; here on SQLite and on PostgreSQL). Each test opens
two stores on one place, as two API processes would, and checks that what one changes counts in
the other from its next call on."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from builders import make_settings

from sketch2render.errors import Conflict, InvalidParameter, NotFound
from sketch2render.principals import Authenticator, KeyRecords, KeyStore, Role, open_key_store
from sketch2render.principals.shared import DatabaseKeyStore

Opener = Callable[[], KeyRecords]


@pytest.fixture(params=["keys.json", "sqlite", "postgresql"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """Opens a store on one shared place each time it is called (a fresh place per test)."""
    if request.param == "keys.json":
        return lambda: KeyStore(tmp_path / "keys.json")
    where = request.getfixturevalue("postgres_url") if request.param == "postgresql" else tmp_path / "keys.sqlite3"
    opened: list[DatabaseKeyStore] = []

    def opener() -> KeyRecords:
        opened.append(DatabaseKeyStore(where))
        return opened[-1]

    request.addfinalizer(lambda: [store.close() for store in opened])
    return opener


def test_add_get_replace_and_revoke(open_store: Opener):
    store = open_store()
    assert store.records() == () and store.get("alice") is None
    alice, key = store.add("alice", "user")
    assert key.startswith("s2r_") and key not in repr(alice) and alice.role is Role.USER
    assert store.get("alice") == alice
    with pytest.raises(Conflict):
        store.add("alice", "admin")
    bob, _ = store.add("bob", Role.ADMIN)
    renewed, new_key = store.add("alice", "admin", replace=True)
    assert new_key != key and [r.name for r in store.records()] == ["bob", "alice"]  # the renewed one is newest
    assert store.get("alice") == renewed and store.get("bob") == bob
    assert store.revoke("alice") == renewed and [r.name for r in store.records()] == ["bob"]
    with pytest.raises(NotFound):
        store.revoke("alice")
    with pytest.raises(InvalidParameter):
        store.add("Not A Name", "user")
    with pytest.raises(InvalidParameter) as bad_role:
        store.add("carol", "owner")
    assert bad_role.value.field == "role" and store.get("carol") is None


def test_a_key_added_or_revoked_through_one_store_counts_in_the_other_from_its_next_call(open_store: Opener):
    """Two API processes (two stores on one place): the authenticator of one accepts a key the
    other added, and refuses it once the other revoked it, with no restart."""
    serving, cli = open_store(), open_store()
    auth = Authenticator([], serving)
    assert auth.authenticate(None).name == "anonymous"  # no key anywhere yet
    _, key = cli.add("alice", "user")
    assert auth.enabled and auth.authenticate(f"Bearer {key}").name == "alice"
    assert auth.authenticate("Bearer s2r_not-a-key") is None
    _, other = cli.add("alice", "user", replace=True)
    assert auth.authenticate(f"Bearer {key}") is None and auth.authenticate(f"Bearer {other}").name == "alice"
    cli.add("bob", "admin")
    cli.revoke("alice")
    assert auth.authenticate(f"Bearer {other}") is None
    assert [p.name for p in auth.principals()] == ["bob"]


def test_the_live_token_secret_is_the_services_on_a_database_and_each_processs_with_keys_json(open_store: Opener):
    first, second = open_store(), open_store()
    if isinstance(first, KeyStore):
        assert first.token_secret() is None  # the process makes its own, as before
        return
    secret = first.token_secret()
    assert len(secret) == 32 and second.token_secret() == secret == first.token_secret()


def test_a_recheck_interval_serves_the_kept_keys_until_it_passes(tmp_path):
    now = [0.0]
    serving = DatabaseKeyStore(tmp_path / "keys.sqlite3", recheck_s=1.0, clock=lambda: now[0])
    cli = DatabaseKeyStore(tmp_path / "keys.sqlite3")
    try:
        assert serving.records() == ()
        cli.add("alice", "user")
        assert serving.records() == ()  # within the interval: what it read last
        now[0] = 1.0
        assert [r.name for r in serving.records()] == ["alice"]
    finally:
        serving.close()
        cli.close()


def test_the_database_takes_in_a_data_folders_keys_json_once(tmp_path, database_url):
    """Moving a service onto a database keeps its keys; a key revoked there stays revoked."""
    settings = make_settings(tmp_path, database_url=database_url or f"sqlite:///{tmp_path / 'keys.sqlite3'}")
    _, alice_key = KeyStore(settings.keys_file).add("alice", "user")
    KeyStore(settings.keys_file).add("bob", "admin")
    store = open_key_store(settings)
    try:
        assert isinstance(store, DatabaseKeyStore) and [r.name for r in store.records()] == ["alice", "bob"]
        assert Authenticator.from_settings(settings).authenticate(f"Bearer {alice_key}").name == "alice"
        store.revoke("alice")
        KeyStore(settings.keys_file).add("carol", "user")  # written to the file after the move: not taken
        again = open_key_store(settings)
        assert [r.name for r in again.records()] == ["bob"]
        assert Authenticator.from_settings(settings).authenticate(f"Bearer {alice_key}") is None
    finally:
        store.close()


def test_without_a_database_url_the_keys_stay_in_keys_json(tmp_path):
    settings = make_settings(tmp_path)
    store = open_key_store(settings)
    assert isinstance(store, KeyStore) and store.path == settings.keys_file
