"""Two API processes on one PostgreSQL database act as one service (`cluster`: real uvicorn
processes "a" and "b", one data folder, one Chroma server): a job is served and streamed by the
process that does not run it, a cancel sent to the other process stops the render, an
Idempotency-Key and the per-user queue cap hold across both, keys and corrections made through
one take effect on both, another user's job is a 404 from both, and a process killed with
`kill -9` mid-render hands its job to the other, which finishes it exactly once."""

from __future__ import annotations

import json
import signal
import threading

import pytest
from api.conftest import assert_error, colour_png, sketch_png, wait_for
from waiting import eventually

from multi.conftest import LEASE_S, OWNER_MAX, Cluster, Node

pytestmark = pytest.mark.slow

TERMINAL = {"succeeded", "failed", "cancelled"}


def submit(node: Node, cluster: Cluster, who: str = "alice", headers: dict | None = None, **fields):
    data = {"prompt": "a red house", "steps": "3", "size": "64", "seed": "7", **fields}
    files = {"sketch": ("sketch.png", sketch_png(), "image/png")}
    return node.http.post("/v1/renders", data=data, files=files, headers={**cluster.auth(who), **(headers or {})})


def wait(node: Node, cluster: Cluster, job_id: str, until=TERMINAL, who: str = "alice", timeout: float = 30) -> dict:
    return wait_for(node.http, job_id, until, timeout, headers=cluster.auth(who), interval=0.05)


def stream(node: Node, cluster: Cluster, job_id: str, into: list) -> None:
    """The job's event stream from `node`, as (event, data) pairs, until it ends."""
    with node.http.stream("GET", f"/v1/renders/{job_id}/events", headers=cluster.auth("alice")) as response:
        assert response.status_code == 200
        event = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event:
                into.append((event, json.loads(line.removeprefix("data: "))))


def test_a_job_run_by_one_process_streams_and_is_served_from_both(fresh_jobs):
    cluster = fresh_jobs
    a, b = cluster.nodes["a"], cluster.nodes["b"]
    job_id = submit(a, cluster, steps="20").json()["id"]
    heard = {"a": [], "b": []}
    streams = [threading.Thread(target=stream, args=(n, cluster, job_id, heard[k])) for k, n in (("a", a), ("b", b))]
    for thread in streams:
        thread.start()
    for thread in streams:
        thread.join(60)
    job = wait(b, cluster, job_id)
    assert job["status"] == "succeeded"
    runner = cluster.node_running(job)
    # Both streams heard the steps as they happened: the one on the other process through PostgreSQL.
    for name, events in heard.items():
        steps = [data["step"] for event, data in events if event == "progress"]
        assert steps and steps == sorted(steps) and max(steps) <= 20, (name, events)
        assert [e for e, _ in events[-2:]] == ["status", "scores"] and events[-2][1]["status"] == "succeeded", name
    assert "progress" in {event for event, _ in heard[cluster.other(runner).name]}
    # Status and image from either process: the same bytes (one data folder).
    images = {n.name: n.http.get(job["urls"]["images"][0], headers=cluster.auth("alice")) for n in (a, b)}
    assert images["a"].status_code == images["b"].status_code == 200
    assert images["a"].content == images["b"].content and images["a"].content.startswith(b"\x89PNG")
    assert a.http.get(f"/v1/renders/{job_id}", headers=cluster.auth("alice")).json() == job


def test_a_cancel_sent_to_the_other_process_stops_the_render(fresh_jobs):
    cluster = fresh_jobs
    job_id = submit(cluster.nodes["a"], cluster, steps="150").json()["id"]  # fifteen seconds of steps
    job = wait(cluster.nodes["a"], cluster, job_id, lambda j: j["status"] == "running" and j["progress"]["step"] >= 1)
    runner = cluster.node_running(job)
    other = cluster.other(runner)
    asked = other.http.delete(f"/v1/renders/{job_id}", headers=cluster.auth("alice"))
    assert asked.status_code == 202 and asked.json()["cancel_requested"] is True
    ended = wait(runner, cluster, job_id, timeout=15)
    assert ended["status"] == "cancelled" and ended["progress"]["step"] < 150 and ended["error"] is None
    assert_error(runner.http.delete(f"/v1/renders/{job_id}", headers=cluster.auth("alice")), 409, "conflict")


def test_an_idempotency_key_sent_to_one_process_then_the_other_makes_one_job(fresh_jobs):
    cluster = fresh_jobs
    first = submit(cluster.nodes["a"], cluster, headers={"Idempotency-Key": "order-7"})
    again = submit(cluster.nodes["b"], cluster, headers={"Idempotency-Key": "order-7"})
    assert first.status_code == 202 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and again.headers["idempotent-replayed"] == "true"
    other_body = submit(cluster.nodes["b"], cluster, headers={"Idempotency-Key": "order-7"}, steps="4")
    assert_error(other_body, 422, "idempotency_conflict", "Idempotency-Key")
    for node in cluster.nodes.values():
        assert node.http.get("/v1/renders", headers=cluster.auth("alice")).json()["total"] == 1


def test_the_per_user_queue_cap_counts_the_jobs_of_both_processes(fresh_jobs):
    cluster = fresh_jobs
    a, b = cluster.nodes["a"], cluster.nodes["b"]
    # Two long renders, one running in each process; then the cap's worth waiting, sent to both in turn.
    running = [submit(n, cluster, steps="150", seed=str(i)).json()["id"] for i, n in enumerate((a, b))]
    for job_id in running:
        wait(a, cluster, job_id, {"running"})
    waiting = [submit((a, b)[i % 2], cluster, prompt=f"wait {i}") for i in range(OWNER_MAX)]
    assert [r.status_code for r in waiting] == [202] * OWNER_MAX
    for node in (a, b):
        capped = submit(node, cluster, prompt="one too many")
        assert_error(capped, 429, "principal_queue_full")
        assert int(capped.headers["retry-after"]) >= 1
    assert submit(b, cluster, who="bob").status_code == 202  # another user is not held back
    me = a.http.get("/v1/me", headers=cluster.auth("alice")).json()
    assert me["queued"] == OWNER_MAX


def test_keys_added_and_revoked_with_the_cli_take_effect_on_both_processes(fresh_jobs):
    cluster = fresh_jobs
    key = cluster.add_key("dave", "user")
    assert not (cluster.home / "keys.json").exists()  # the keys live in the shared database
    for node in cluster.nodes.values():
        assert node.http.get("/v1/me", headers=cluster.auth("dave")).json()["name"] == "dave"
    assert cluster.keys_cli("revoke", "dave").returncode == 0
    for node in cluster.nodes.values():
        assert_error(node.http.get("/v1/me", headers={"Authorization": f"Bearer {key}"}), 401, "unauthorized")


def test_corrections_sent_to_one_process_change_retrieval_in_the_other(fresh_jobs):
    cluster = fresh_jobs
    a, b = cluster.nodes["a"], cluster.nodes["b"]
    styles = {}
    for title, colour, tags in [("Red brick", (200, 30, 30), "brick,wall"), ("Blue sea", (20, 40, 220), "sea,waves")]:
        files = {"image": ("s.png", colour_png(colour), "image/png")}
        added = a.http.post(
            "/v1/styles", files=files, data={"title": title, "tags": tags}, headers=cluster.auth("root")
        )
        assert added.status_code in (200, 201), added.text
        styles[title] = added.json()["id"]
    query = {"q": "red brick wall by the sea", "k": 2}

    def top(node: Node) -> str:
        hits = node.http.get("/v1/styles/search", params=query, headers=cluster.auth("alice")).json()["hits"]
        return hits[0]["style"]["id"]

    eventually(lambda: top(b) == styles["Red brick"], 10, what="B to see the styles A added")
    for prompt in ["red brick wall by the sea", "a brick wall near the sea", "old brick wall at the seaside"]:
        body = {"prompt": prompt, "style_id": styles["Blue sea"], "signal": "chosen"}
        assert a.http.post("/v1/feedback", json=body, headers=cluster.auth("alice")).status_code == 201
    assert top(b) == styles["Blue sea"]  # learnt from what A recorded, at B's next search
    assert [i["style_id"] for i in b.http.get("/v1/feedback", headers=cluster.auth("alice")).json()["items"]] == [
        styles["Blue sea"]
    ] * 3


def test_another_users_job_is_a_404_from_both_processes(fresh_jobs):
    cluster = fresh_jobs
    job_id = submit(cluster.nodes["a"], cluster).json()["id"]
    wait(cluster.nodes["b"], cluster, job_id)
    for node in cluster.nodes.values():
        for suffix in ("", "/image", "/events"):
            assert_error(node.http.get(f"/v1/renders/{job_id}{suffix}", headers=cluster.auth("bob")), 404, "not_found")
            assert node.http.get(f"/v1/renders/{job_id}{suffix}", headers=cluster.auth("root")).status_code == 200
        assert_error(node.http.delete(f"/v1/renders/{job_id}", headers=cluster.auth("bob")), 404, "not_found")


def test_a_process_killed_mid_render_hands_its_job_to_the_other_which_finishes_it_once(fresh_jobs):
    cluster = fresh_jobs
    a = cluster.nodes["a"]
    job_id = submit(a, cluster, steps="30").json()["id"]
    job = wait(a, cluster, job_id, lambda j: j["status"] == "running" and j["progress"]["step"] >= 2)
    victim = cluster.node_running(job)
    survivor = cluster.other(victim)
    behind = submit(survivor, cluster, prompt="queued behind it").json()["id"]
    victim.stop(signal.SIGKILL)
    # Its lease lapses (S2R_JOB_LEASE_S) and the survivor's worker re-queues the job, then runs it again.
    done = wait(survivor, cluster, job_id, timeout=LEASE_S + 60)
    assert done["status"] == "succeeded" and done["attempts"] == 2, done
    assert cluster.node_running(done) is survivor
    assert wait(survivor, cluster, behind)["status"] == "succeeded"
    image = survivor.http.get(done["urls"]["images"][0], headers=cluster.auth("alice"))
    assert image.status_code == 200 and len(done["urls"]["images"]) == 1
    # Exactly once: one end recorded, by the survivor; the killed process never reported one.
    assert f"render {job_id} succeeded" not in victim.log.read_text()
    assert survivor.log.read_text().count(f"render {job_id} succeeded") == 1
    assert cluster.sql(f"SELECT count(*) FROM jobs WHERE id = '{job_id}'")[0][0] == 1
