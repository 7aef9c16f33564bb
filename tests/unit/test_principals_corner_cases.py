"""Auth and ownership at their edges (principals/, api/deps.py) with known answers: exact names,
roles, messages and fields, the key store's file, and which principal a header maps to - written
against the mutants that survived the API tests (docs/mutation.md)."""

from __future__ import annotations

import json
import os

import anyio
import pytest

from sketch2render.config import Settings
from sketch2render.errors import Conflict, Forbidden, InvalidParameter, NotFound
from sketch2render.principals import (
    ANONYMOUS,
    KEY_PREFIX,
    UI_PRINCIPAL,
    Authenticator,
    KeyStore,
    Principal,
    Role,
    check_name,
    env_principal,
    hash_key,
    new_key,
)

ABC_SHA256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_keys_hash_to_sha256_and_env_keys_are_admins_named_by_their_hash():
    assert hash_key("abc") == ABC_SHA256
    assert env_principal("abc") == Principal("key:ba7816bf8f01", Role.ADMIN)
    assert (ANONYMOUS, UI_PRINCIPAL) == (Principal("anonymous", Role.ADMIN), Principal("local", Role.ADMIN))
    assert Principal("x", Role.ADMIN).is_admin and not Principal("x", Role.USER).is_admin


def test_new_keys_are_prefixed_256_bit_tokens():
    keys = {new_key() for _ in range(20)}
    assert len(keys) == 20 and KEY_PREFIX == "s2r_"
    assert all(k.startswith("s2r_") and len(k) == 4 + 43 for k in keys)


@pytest.mark.parametrize("name", ["a", "0", "a" * 63, "a.b_c-d", "bob2"])
def test_good_names(name):
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "A", "-a", ".a", "_a", "a" * 64, "a b", "anonymous", "all", "local", "é"])
def test_bad_names_are_refused_naming_the_rules_and_the_reserved_names(name):
    with pytest.raises(InvalidParameter) as caught:
        check_name(name)
    assert caught.value.field == "name"
    assert caught.value.message == (
        f"bad principal name {name!r}: use 1-63 lowercase letters, digits, '.', '_' or '-' (not all, anonymous, local)"
    )


def test_the_key_store_file_holds_only_hashes_in_a_private_file(tmp_path):
    store = KeyStore(tmp_path / "sub" / "keys.json")
    assert store.records() == () and len(store) == 0 and store.get("alice") is None
    record, key = store.add("alice", "user")
    assert key.startswith("s2r_") and record.sha256 == hash_key(key) and record.role is Role.USER
    data = json.loads(store.path.read_text())
    assert data == {
        "version": 1,
        "keys": [{"name": "alice", "role": "user", "sha256": hash_key(key), "created_at": record.created_at}],
    }
    assert key not in store.path.read_text()
    assert os.stat(store.path).st_mode & 0o777 == 0o600
    assert sorted(p.name for p in store.path.parent.iterdir()) == ["keys.json", "keys.json.lock"]
    assert store.get("alice") == record and len(store) == 1


def test_adding_twice_is_a_conflict_unless_replaced(tmp_path):
    store = KeyStore(tmp_path / "keys.json")
    first, _ = store.add("bob", Role.ADMIN)
    with pytest.raises(Conflict) as caught:
        store.add("bob", "user")
    assert caught.value.message == "'bob' already has a key; revoke it first, or add it again with --replace"
    store.add("carol", "user")
    second, key = store.add("bob", "user", replace=True)
    assert [r.name for r in store.records()] == ["carol", "bob"]
    assert store.get("bob") == second and second.sha256 == hash_key(key) != first.sha256


def test_a_bad_role_and_an_unknown_revoke_say_which(tmp_path):
    store = KeyStore(tmp_path / "keys.json")
    with pytest.raises(InvalidParameter) as caught:
        store.add("bob", "root")
    assert (caught.value.field, caught.value.message) == ("role", "bad role 'root': use admin or user")
    assert not store.path.exists()
    with pytest.raises(NotFound) as caught:
        store.revoke("nobody")
    assert (caught.value.field, caught.value.message) == ("name", "no key named 'nobody'")


def test_revoking_removes_only_that_key_and_readers_see_it_at_once(tmp_path):
    store = KeyStore(tmp_path / "keys.json")
    reader = KeyStore(tmp_path / "keys.json")
    store.add("alice", "user")
    store.add("bob", "admin")
    assert [r.name for r in reader.records()] == ["alice", "bob"]
    assert store.revoke("alice").name == "alice"
    assert [r.name for r in reader.records()] == ["bob"]


def test_an_unreadable_key_store_names_the_file(tmp_path):
    path = tmp_path / "keys.json"
    path.write_text("{not json")
    with pytest.raises(InvalidParameter) as caught:
        KeyStore(path).records()
    assert caught.value.message == f"the key store {path} is unreadable (JSONDecodeError)"
    path.write_text("{}")
    assert KeyStore(path).records() == ()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Bearer env-key", "key"),
        ("bearer env-key", "key"),
        ("BEARER   env-key  ", "key"),
        ("Bearer alice-key", "alice"),
        ("Bearer ui-key", "local"),
        ("Basic env-key", None),
        ("Bearer", None),
        ("Bearer    ", None),
        ("env-key", None),
        ("Bearer env-ke", None),
        ("Bearer env-key2", None),
        ("", None),
        (None, None),
    ],
)
def test_a_header_maps_to_exactly_one_principal_or_none(tmp_path, header, expected):
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"version": 1, "keys": [record("alice", "user", "alice-key")]}))
    auth = Authenticator(["env-key"], KeyStore(path), ui_key="ui-key")
    found = auth.authenticate(header)
    names = {"key": env_principal("env-key"), "alice": Principal("alice", Role.USER), "local": UI_PRINCIPAL}
    assert found == (names[expected] if expected else None)


def record(name: str, role: str, key: str) -> dict:
    return {"name": name, "role": role, "sha256": hash_key(key), "created_at": 1.0}


def test_the_first_principal_with_a_matching_hash_wins(tmp_path):
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"keys": [record("bob", "user", "same"), record("carol", "user", "same")]}))
    assert Authenticator(["same"], KeyStore(path)).authenticate("Bearer same") == env_principal("same")
    assert Authenticator([], KeyStore(path)).authenticate("Bearer same") == Principal("bob", Role.USER)


def test_without_any_key_everyone_is_anonymous_and_the_ui_key_alone_changes_nothing(tmp_path):
    auth = Authenticator([], KeyStore(tmp_path / "keys.json"), ui_key="ui-key")
    assert not auth.enabled and auth.principals() == []
    assert auth.authenticate(None) == auth.authenticate("Bearer ui-key") == ANONYMOUS
    KeyStore(tmp_path / "keys.json").add("alice", "user")
    assert auth.enabled and auth.principals() == [Principal("alice", Role.USER)]
    assert auth.authenticate(None) is None and auth.authenticate("Bearer ui-key") == UI_PRINCIPAL


def test_settings_give_env_keys_the_key_store_and_the_ui_key(tmp_path):
    settings = Settings(home=tmp_path, api_keys=["k1", "k2"], ui_key="ui")
    KeyStore(settings.keys_file).add("alice", "user")
    auth = Authenticator.from_settings(settings)
    assert auth.enabled and auth.store.path == settings.keys_file
    assert auth.principals() == [env_principal("k1"), env_principal("k2"), Principal("alice", Role.USER)]
    assert auth.authenticate("Bearer ui") == UI_PRINCIPAL and auth.authenticate("Bearer k2") == env_principal("k2")


# --- api/deps.py: admins only, and a job only for its owner ------------------------------------


def test_a_user_is_refused_admin_routes_by_name_and_role():
    from sketch2render.api.deps import require_admin

    root = Principal("root", Role.ADMIN)
    assert anyio.run(require_admin, root) is root
    with pytest.raises(Forbidden) as caught:
        anyio.run(require_admin, Principal("bob", Role.USER))
    assert caught.value.message == "'bob' has role user; this needs an admin key"


def test_owned_job_is_the_same_404_for_another_users_job_a_missing_id_and_a_bad_id(tmp_path):
    from sketch2render.api.deps import owned_job
    from sketch2render.jobs import JobStore

    store = JobStore(tmp_path / "j.sqlite3", tmp_path / "r", queue_max=5, max_history=10)
    job, _ = store.submit(b"x", {}, owner="alice")
    alice, bob, root = Principal("alice", Role.USER), Principal("bob", Role.USER), Principal("root", Role.ADMIN)

    def owned(job_id: str, caller: Principal):
        return anyio.run(owned_job, job_id, store, caller)

    assert owned(job.id, alice).id == job.id and owned(job.id, root).id == job.id
    missing = "0" * 32
    for job_id, caller in ((job.id, bob), (missing, alice), ("../etc", alice)):
        with pytest.raises(NotFound) as caught:
            owned(job_id, caller)
        assert (caught.value.field, caught.value.message) == ("id", f"no render with id {job_id!r}")
    store.close()


def test_the_key_store_file_is_indented_for_people(tmp_path):
    store = KeyStore(tmp_path / "keys.json")
    store.add("alice", "user")
    text = store.path.read_text()
    assert text == json.dumps(json.loads(text), indent=2) + "\n"


def test_the_caller_is_the_principal_the_middleware_left_or_anonymous():
    from types import SimpleNamespace

    from sketch2render.api.deps import get_caller

    bob = Principal("bob", Role.USER)
    assert anyio.run(get_caller, SimpleNamespace(state=SimpleNamespace(principal=bob)), None) is bob
    assert anyio.run(get_caller, SimpleNamespace(state=SimpleNamespace()), None) is ANONYMOUS
