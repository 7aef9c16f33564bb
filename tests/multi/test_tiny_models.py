"""The real server twice: two `python -m sketch2render.api` processes with the tiny models (the
real diffusers pipeline, random weights; 64 px, 2 steps) starting together on one PostgreSQL, one
data folder and one Chroma server. A render submitted to one streams step by step from the other
and its image is the same bytes from both; a render whose process is killed with `kill -9` is
finished by the other (attempt 2), once."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator

import pytest

from multi.conftest import LEASE_S, Cluster, running_cluster
from multi.test_two_processes import stream, submit, wait

pytestmark = pytest.mark.slow

READY_TIMEOUT_S = 300  # both processes import torch and diffusers and load the tiny models at once, on shared cores


@pytest.fixture(scope="module")
def tiny(postgres_server, tmp_path_factory, sentence_stand_in, tiny_models_dir) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("tiny-cluster")
    settings = {"S2R_MODELS": str(tiny_models_dir), "S2R_DEVICE": "cpu"}
    with running_cluster(
        postgres_server, root, sentence_stand_in, real=True, ready_s=READY_TIMEOUT_S, **settings
    ) as cluster:
        yield cluster


def test_a_tiny_render_submitted_to_one_process_streams_from_the_other(tiny):
    a, b = tiny.nodes["a"], tiny.nodes["b"]
    job_id = submit(a, tiny, steps="2", size="64", seed="1").json()["id"]
    heard: list = []
    listener = threading.Thread(target=stream, args=(b, tiny, job_id, heard))
    listener.start()
    listener.join(240)
    job = wait(b, tiny, job_id, timeout=240)
    assert job["status"] == "succeeded" and job["result"]["smoke_test"] is True, job
    assert [event for event, _ in heard[-2:]] == ["status", "scores"] and heard[-2][1]["status"] == "succeeded"
    images = [node.http.get(job["urls"]["images"][0], headers=tiny.auth("alice")).content for node in (a, b)]
    assert images[0] == images[1] and images[0].startswith(b"\x89PNG")


def test_a_tiny_render_whose_process_is_killed_is_finished_by_the_other(tiny):
    a = tiny.nodes["a"]
    job_id = submit(a, tiny, steps="12", size="64", seed="2").json()["id"]
    job = wait(a, tiny, job_id, lambda j: j["status"] == "running" and j["progress"]["step"] >= 1, timeout=240)
    victim = tiny.node_running(job)
    survivor = tiny.other(victim)
    victim.stop(signal.SIGKILL)
    done = wait(survivor, tiny, job_id, timeout=LEASE_S + 240)
    assert done["status"] == "succeeded" and done["attempts"] == 2, done
    assert tiny.node_running(done) is survivor
    assert survivor.log.read_text().count(f"render {job_id} succeeded") == 1
    assert survivor.http.get(done["urls"]["images"][0], headers=tiny.auth("alice")).status_code == 200
