"""Principals on the real app (fake service): named keys with roles, private jobs, admins, the key
store, per-principal queue cap and request rate, per-principal metrics, restart and migration.
The same rules over a real uvicorn process with kill -9: test_multiuser_process.py."""

from __future__ import annotations

import inspect
import logging
import sqlite3
import threading
import time

import pytest
from fastapi.routing import APIRoute
from jobsdb import SCHEMA_VERSION
from waiting import eventually

from api.conftest import assert_error, colour_png, submit, wait_for
from api.fakes import FakeRenderService
from sketch2render.api.deps import owned_job
from sketch2render.jobs import JobStatus, JobStore
from sketch2render.principals import Authenticator, KeyStore, Role, hash_key

JOB_ROUTES = [  # (method, path template): every route on one render
    ("GET", "/v1/renders/{id}"),
    ("GET", "/v1/renders/{id}/image"),
    ("GET", "/v1/renders/{id}/control"),
    ("GET", "/v1/renders/{id}/edges"),
    ("GET", "/v1/renders/{id}/sketch"),
    ("GET", "/v1/renders/{id}/events"),
    ("GET", "/v1/renders/{id}/preview"),
    ("DELETE", "/v1/renders/{id}"),
    ("POST", "/v1/renders/{id}/feedback"),
    ("POST", "/v1/renders/{id}/edit"),
    ("POST", "/v1/renders/{id}/upscale"),
    ("GET", "/v1/live/renders/{id}/events"),
    ("GET", "/v1/live/renders/{id}/image"),
]


class Team:
    """One app with alice and bob (users) and root (admin), each with a key from the key store."""

    def __init__(self, harness, **overrides) -> None:
        self.harness = harness
        self.store = KeyStore(harness.settings().keys_file)
        self.keys = {name: self.store.add(name, role)[1] for name, role in USERS.items()}
        self.client, self.fake = harness.client(**overrides)

    def auth(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[name]}"}

    def submit(self, name: str, **fields):
        return submit(self.client, headers=self.auth(name), **fields)

    def get(self, name: str, path: str, **kwargs):
        return self.client.get(path, headers=self.auth(name), **kwargs)

    def wait(self, name: str, job_id: str) -> dict:
        return wait_for(self.client, job_id, headers=self.auth(name))


USERS = {"alice": Role.USER, "bob": Role.USER, "root": Role.ADMIN}


@pytest.fixture
def team(harness) -> Team:
    return Team(harness)


# --- ownership ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "template"), JOB_ROUTES)
def test_another_users_job_is_a_404_on_every_job_route_and_the_admin_sees_it(team, method, template):
    job = team.wait("alice", team.submit("alice").json()["id"])
    assert job["status"] == "succeeded" and job["owner"] == "alice"
    path = template.format(id=job["id"])
    missing = template.format(id="0" * 32)
    bob = assert_error(team.client.request(method, path, headers=team.auth("bob")), 404, "not_found")
    # Exactly what an id that does not exist gets: nothing tells the two apart.
    nothing = assert_error(team.client.request(method, missing, headers=team.auth("bob")), 404, "not_found")
    assert {**bob, "message": bob["message"].replace(job["id"], "0" * 32)} == nothing
    # Cancelling a finished render is a 409, not a 404; a rating without its body and an edit
    # without its mask are 422s (past ownership); an upscale with its defaults is accepted.
    expected = {"DELETE": 409, "POST": 422 if template.endswith(("/edit", "/feedback")) else 202}.get(method, 200)
    for owner in ["alice", "root"]:
        assert team.client.request(method, path, headers=team.auth(owner)).status_code == expected


def test_bob_cannot_cancel_alices_queued_job_but_she_can(harness):
    gate = threading.Event()
    team = Team(harness, service=FakeRenderService(harness.settings(), gate=gate))
    running = team.submit("alice").json()["id"]
    queued = team.submit("alice").json()["id"]
    assert team.fake.started.wait(5)
    assert_error(team.client.delete(f"/v1/renders/{queued}", headers=team.auth("bob")), 404, "not_found")
    assert team.get("alice", f"/v1/renders/{queued}").json()["status"] == "queued"  # untouched
    assert team.client.delete(f"/v1/renders/{queued}", headers=team.auth("alice")).json()["status"] == "cancelled"
    assert team.client.delete(f"/v1/renders/{running}", headers=team.auth("root")).status_code == 202
    gate.set()
    assert team.wait("alice", running)["status"] == "cancelled"


def calls(dependant):
    """The callable of a route or dependency, and of everything it depends on."""
    yield dependant.call
    for sub in dependant.dependencies:
        yield from calls(sub)


def test_every_route_on_one_job_gets_it_through_owned_job(client):
    """The rule for routes added later: a `{job_id}` route must depend on `deps.owned_job`."""
    routes = client.app.state.route_table  # flat: FastAPI nests included routers
    job_routes = [r for r in routes if isinstance(r, APIRoute) and "{job_id}" in r.path]
    assert {(m, r.path.replace("{job_id}", "{id}")) for r in job_routes for m in r.methods} == set(JOB_ROUTES)
    for route in job_routes:
        assert owned_job in set(calls(route.dependant)), route.path


def test_no_route_pays_a_thread_hop_for_a_dependency(client):
    """FastAPI runs a plain `def` dependency in a worker thread: each one is a hop there and back
    per request. Dependencies only read what the app holds, so they are `async def` (the routes
    that decode or render stay plain `def`: their work belongs off the event loop)."""
    routes = [r for r in client.app.state.route_table if isinstance(r, APIRoute)]
    found = {call for route in routes for sub in route.dependant.dependencies for call in calls(sub)}
    assert owned_job in found and len(found) > 5
    for call in found:
        assert inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(type(call).__call__), call


def test_the_list_shows_only_your_jobs_and_admins_see_all_with_all_true(team):
    ids = {name: team.submit(name, prompt=f"by {name}").json()["id"] for name in ["alice", "bob", "root"]}
    for name in ["alice", "bob", "root"]:
        items = team.get(name, "/v1/renders").json()["items"]
        assert [(j["id"], j["owner"]) for j in items] == [(ids[name], name)]
    everyone = team.get("root", "/v1/renders", params={"all": "true"}).json()
    assert everyone["total"] == 3 and {j["owner"] for j in everyone["items"]} == {"alice", "bob", "root"}
    assert_error(team.get("alice", "/v1/renders", params={"all": "true"}), 403, "forbidden")


def test_idempotency_keys_are_per_principal(team):
    alice = submit(team.client, headers={**team.auth("alice"), "Idempotency-Key": "k1"})
    bob = submit(team.client, headers={**team.auth("bob"), "Idempotency-Key": "k1"})
    assert alice.status_code == bob.status_code == 202 and alice.json()["id"] != bob.json()["id"]
    replay = submit(team.client, headers={**team.auth("alice"), "Idempotency-Key": "k1"})
    assert replay.status_code == 200 and replay.json()["id"] == alice.json()["id"]


# --- roles --------------------------------------------------------------------------------------
def test_a_user_reads_the_library_but_style_writes_are_403(team):
    files = {"image": ("s.png", colour_png("red"), "image/png")}
    assert_error(team.client.post("/v1/styles", files=files, headers=team.auth("alice")), 403, "forbidden")
    added = team.client.post("/v1/styles", files=files, headers=team.auth("root"))
    assert added.status_code == 201
    style = added.json()["id"]
    assert team.get("alice", f"/v1/styles/{style}").status_code == 200
    assert team.get("alice", "/v1/styles/search", params={"q": "red"}).json()["hits"]
    assert_error(team.client.delete(f"/v1/styles/{style}", headers=team.auth("bob")), 403, "forbidden")
    assert team.client.delete(f"/v1/styles/{style}", headers=team.auth("root")).status_code == 200


def test_a_setting_lets_users_add_but_never_remove_styles(harness):
    team = Team(harness, users_can_add_styles=True)
    files = {"image": ("s.png", colour_png("blue"), "image/png")}
    added = team.client.post("/v1/styles", files=files, headers=team.auth("alice"))
    assert added.status_code == 201
    me = team.get("alice", "/v1/me").json()
    assert me["can_add_styles"] and not me["can_remove_styles"]
    assert_error(team.client.delete(f"/v1/styles/{added.json()['id']}", headers=team.auth("alice")), 403)


def test_me_says_who_you_are(team):
    assert team.get("alice", "/v1/me").json() == {
        "name": "alice",
        "role": "user",
        "can_add_styles": False,
        "can_remove_styles": False,
        "can_see_all_jobs": False,
        "queued": 0,
        "queue_max": 16,
        "rate_limit": 20.0,
        "rate_burst": 120,
    }
    assert team.get("root", "/v1/me").json()["role"] == "admin"


def test_metrics_need_an_admin(team):
    assert_error(team.get("alice", "/metrics"), 403, "forbidden")
    assert team.get("root", "/metrics").status_code == 200


# --- keys ---------------------------------------------------------------------------------------
def test_a_revoked_key_is_refused_at_once_and_a_replaced_key_too(team):
    assert team.get("alice", "/v1/renders").status_code == 200
    team.store.revoke("alice")
    assert_error(team.get("alice", "/v1/renders"), 401, "unauthorized")
    old_bob = team.keys["bob"]
    _, team.keys["bob"] = team.store.add("bob", "user", replace=True)
    assert_error(team.client.get("/v1/renders", headers={"Authorization": f"Bearer {old_bob}"}), 401)
    assert team.get("bob", "/v1/renders").status_code == 200


def test_the_key_store_keeps_only_hashes_in_a_private_file(harness):
    store = KeyStore(harness.settings().keys_file)
    record, key = store.add("carol", "admin")
    text = store.path.read_text()
    assert key.startswith("s2r_") and len(key) >= 40 and key not in text and hash_key(key) in text
    assert store.path.stat().st_mode & 0o777 == 0o600
    assert record.role == Role.ADMIN and store.get("carol") == record


def test_s2r_api_keys_still_work_as_admins_next_to_named_keys(harness):
    KeyStore(harness.settings().keys_file).add("alice", "user")
    client, _ = harness.client(api_keys=["legacy-key"])
    me = client.get("/v1/me", headers={"Authorization": "Bearer legacy-key"}).json()
    assert me["role"] == "admin" and me["name"].startswith("key:") and "legacy" not in me["name"]
    assert_error(client.get("/v1/me"), 401, "unauthorized")


def test_without_any_key_everyone_is_the_anonymous_admin(client):
    assert client.get("/v1/me").json()["name"] == "anonymous"
    assert client.get("/v1/me").json()["role"] == "admin"


def test_authenticator_needs_the_whole_key():
    auth = Authenticator(["env-key"], KeyStore("/nonexistent/keys.json"), ui_key="ui-key")
    assert auth.authenticate("Bearer env-key").role == Role.ADMIN
    assert auth.authenticate("Bearer ui-key").name == "local"
    for bad in [None, "", "Bearer", "Bearer env-ke", "Bearer env-key2", "Basic env-key", "env-key"]:
        assert auth.authenticate(bad) is None, bad
    alone = Authenticator([], KeyStore("/nonexistent/keys.json"), ui_key="ui-key")
    assert not alone.enabled and alone.authenticate(None).name == "anonymous"  # a UI key alone opens nothing


# --- fair use -----------------------------------------------------------------------------------
def test_per_principal_queue_cap_is_429_while_another_principal_still_gets_202(harness):
    gate = threading.Event()
    team = Team(harness, service=FakeRenderService(harness.settings(), gate=gate), queue_max_per_principal=2)
    team.submit("alice")
    assert team.fake.started.wait(5)  # running: not counted as waiting
    assert [team.submit("alice").status_code for _ in range(2)] == [202, 202]
    refused = team.submit("alice")
    assert_error(refused, 429, "principal_queue_full")
    assert 1 <= int(refused.headers["retry-after"]) <= 600
    assert team.submit("bob").status_code == 202
    assert team.get("alice", "/v1/me").json()["queued"] == 2
    metrics = team.get("root", "/metrics").text
    assert 's2r_principal_refused_total{principal="alice",reason="queue"} 1.0' in metrics
    assert 's2r_principal_queued_jobs{principal="alice"} 2.0' in metrics
    gate.set()


def test_per_principal_rate_is_429_with_retry_after_while_another_principal_goes_on(harness):
    team = Team(harness, rate_limit=0.5, rate_burst=3)
    assert [team.get("alice", "/v1/renders").status_code for _ in range(3)] == [200, 200, 200]
    refused = team.get("alice", "/v1/renders")
    assert_error(refused, 429, "rate_limited")
    assert refused.headers["retry-after"] == "2"
    assert team.get("bob", "/v1/renders").status_code == 200
    assert team.client.get("/livez").status_code == 200  # no principal, no bucket
    metrics = team.get("root", "/metrics").text
    assert 's2r_principal_refused_total{principal="alice",reason="rate"} 1.0' in metrics


def test_the_worker_takes_turns_between_principals(harness):
    """Alice queues a batch, then bob one render: bob's runs second, not after alice's batch."""
    gate = threading.Event()
    team = Team(harness, service=FakeRenderService(harness.settings(), gate=gate))
    first = team.submit("alice", prompt="alice 0").json()["id"]
    assert team.fake.started.wait(5)
    for i in range(1, 4):
        team.submit("alice", prompt=f"alice {i}")
    team.submit("bob", prompt="bob 0")
    team.submit("root", prompt="root 0")
    gate.set()
    team.wait("alice", first)
    eventually(lambda: len(team.fake.calls) >= 6, what=lambda: f"six renders: {team.fake.calls}")
    order = [p.prompt for p in team.fake.calls]
    assert order == ["alice 0", "bob 0", "root 0", "alice 1", "alice 2", "alice 3"]


def test_fair_claim_order_in_the_store(tmp_path, database_url):
    store = JobStore(
        database_url or tmp_path / "j.sqlite3", tmp_path / "r", queue_max=50, max_history=100, owner_max=50
    )
    for owner, n in [("a", 4), ("b", 2), ("c", 1)]:
        for i in range(n):
            store.submit(b"x", {"steps": 1, "prompt": f"{owner}{i}"}, owner=owner)
    order = []
    while job := store.claim_next("w"):
        order.append(job.params["prompt"])
        store.finish(job.id, JobStatus.SUCCEEDED)
        time.sleep(0.002)  # distinct start times
    assert order == ["a0", "b0", "c0", "a1", "b1", "a2", "a3"]
    store.close()


def test_owners_turns_survive_the_history_and_an_upgrade(tmp_path, database_url):
    """Each owner's last turn is kept apart from the jobs (a claim reads no finished history): pruned
    jobs keep their owner's place, and a database from before the turns table fills it from its jobs."""
    from jobsdb import execute

    where = database_url or tmp_path / "j.sqlite3"
    store = JobStore(where, tmp_path / "r", queue_max=50, max_history=100, owner_max=50)
    for owner in ("a", "b"):
        job = store.submit(b"x", {"steps": 1, "prompt": f"{owner}0"}, owner=owner)[0]
        assert store.claim_next("w").id == job.id
        store.finish(job.id, JobStatus.SUCCEEDED)
        time.sleep(0.002)
    execute(store, "DROP TABLE owner_turns")  # as before the table existed
    execute(store, "UPDATE alembic_version_jobs SET version_num = 'jobs_0002'")
    store.close()
    store = JobStore(where, tmp_path / "r", queue_max=50, max_history=100, owner_max=50)
    for owner in ("b", "a"):  # b's job first: a's turn is older, so a goes first
        store.submit(b"x", {"steps": 1, "prompt": f"{owner}1"}, owner=owner)
    assert store.claim_next("w").params["prompt"] == "a1"
    execute(store, "DELETE FROM jobs WHERE status = 'succeeded'")  # the history pruned
    store.submit(b"x", {"steps": 1, "prompt": "c1"}, owner="c")  # never started: goes before b
    assert [store.claim_next("w").params["prompt"] for _ in range(2)] == ["c1", "b1"]
    store.close()


# --- secrets stay secret --------------------------------------------------------------------------
def test_keys_never_reach_logs_job_records_or_metrics(team, caplog):
    caplog.set_level(logging.DEBUG)
    job = team.wait("alice", team.submit("alice").json()["id"])
    team.get("bob", f"/v1/renders/{job['id']}")
    team.client.get("/v1/renders", headers={"Authorization": "Bearer s2r_not-a-real-key"})
    metrics = team.get("root", "/metrics").text
    assert 's2r_principal_requests_total{principal="alice"}' in metrics
    with sqlite3.connect(team.harness.home / "jobs.sqlite3") as conn:
        rows = repr(conn.execute("SELECT * FROM jobs").fetchall())
    assert "alice" in rows
    for key in team.keys.values():
        for text in (metrics, rows, caplog.text, repr(team.get("root", f"/v1/renders/{job['id']}").json())):
            assert key not in text and hash_key(key) not in text


# --- restart and migration ----------------------------------------------------------------------
def test_ownership_survives_a_restart(harness):
    team = Team(harness)
    job_id = team.wait("alice", team.submit("alice").json()["id"])["id"]
    harness.close(team.client)
    client, _ = harness.client()
    alice, bob = ({"Authorization": f"Bearer {team.keys[n]}"} for n in ["alice", "bob"])
    assert client.get(f"/v1/renders/{job_id}", headers=alice).json()["owner"] == "alice"
    assert_error(client.get(f"/v1/renders/{job_id}", headers=bob), 404)
    assert client.get("/v1/renders", headers=bob).json()["total"] == 0


V1_SCHEMA = """
CREATE TABLE jobs (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, status TEXT NOT NULL,
    params TEXT NOT NULL, created_at REAL NOT NULL, started_at REAL, finished_at REAL,
    step INTEGER NOT NULL DEFAULT 0, total INTEGER NOT NULL DEFAULT 0, error_code TEXT, error_message TEXT,
    result TEXT, images INTEGER NOT NULL DEFAULT 0, idempotency_key TEXT, request_hash TEXT,
    attempts INTEGER NOT NULL DEFAULT 0, worker_id TEXT, cancel_requested INTEGER NOT NULL DEFAULT 0);
CREATE UNIQUE INDEX jobs_idempotency ON jobs (idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_status ON jobs (status, seq);
PRAGMA user_version = 1;
INSERT INTO jobs (id, status, params, created_at) VALUES ('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'queued',
    '{"prompt": "from before", "steps": 2, "size": 64, "seed": 1}', 1.0);
"""


def test_a_database_from_before_principals_is_migrated_and_its_jobs_stay_with_the_admins(harness):
    harness.home.mkdir(parents=True)
    with sqlite3.connect(harness.home / "jobs.sqlite3") as conn:
        conn.executescript(V1_SCHEMA)
    team = Team(harness)
    with sqlite3.connect(harness.home / "jobs.sqlite3") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    old = "a" * 32
    assert [j["id"] for j in team.get("root", "/v1/renders").json()["items"]] == [old]
    assert team.get("root", f"/v1/renders/{old}").json()["owner"] is None
    assert_error(team.get("alice", f"/v1/renders/{old}"), 404)
    assert team.get("alice", "/v1/renders").json()["total"] == 0


def test_unknown_form_fields_are_422_naming_them(client):
    error = assert_error(submit(client, guidance="3"), 422, "invalid_parameter", "guidance")
    assert "'guidance' (did you mean 'guidance_scale'?)" in error["message"]
    styles = client.post("/v1/styles", files={"image": ("s.png", colour_png("red"), "image/png")}, data={"tag": "x"})
    assert "did you mean 'tags'" in assert_error(styles, 422, "invalid_parameter", "tag")["message"]
    assert client.get("/v1/renders").json()["total"] == 0
    job = wait_for(client, submit(client, guidance_scale="3").json()["id"])
    assert job["params"]["guidance_scale"] == 3


def test_a_keyless_server_has_one_person_and_no_rate_limit(harness):
    client, _ = harness.client(rate_limit=0.5, rate_burst=1)
    assert [client.get("/v1/renders").status_code for _ in range(5)] == [200] * 5
