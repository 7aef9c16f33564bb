"""A user's request rate is one budget over both API processes (one bucket per principal in the
shared database): requests sent to the two processes in turn get no more than the burst plus what
the rate refills meanwhile, each process refuses with 429 and Retry-After once it is spent, and
another user is not held back."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from multi.conftest import Cluster, running_cluster

pytestmark = pytest.mark.slow

RATE, BURST = 1, 10  # requests per second and burst, per principal


@pytest.fixture(scope="module")
def limited(postgres_server, tmp_path_factory, sentence_stand_in) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("limited")
    env = {"S2R_RATE_LIMIT": str(RATE), "S2R_RATE_BURST": str(BURST)}
    with running_cluster(postgres_server, root, sentence_stand_in, **env) as cluster:
        yield cluster


def test_one_users_rate_is_one_budget_over_both_processes(limited):
    nodes = list(limited.nodes.values())
    started = time.monotonic()
    answers = [nodes[i % 2].http.get("/v1/me", headers=limited.auth("alice")) for i in range(3 * BURST)]
    elapsed = time.monotonic() - started
    served = [r for r in answers if r.status_code == 200]
    # One bucket: the burst, plus what refilled while the requests went out (two buckets would allow twice the burst).
    assert BURST <= len(served) <= BURST + RATE * elapsed + 1, (len(served), elapsed)
    refused = [(i % 2, r) for i, r in enumerate(answers) if r.status_code == 429]
    assert {node for node, _ in refused} == {0, 1}  # both processes say no once the budget is spent
    assert all(int(r.headers["retry-after"]) >= 1 for _, r in refused)
    assert all(node.http.get("/v1/me", headers=limited.auth("bob")).status_code == 200 for node in nodes)
