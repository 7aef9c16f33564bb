"""Two API processes pass the single-process API tests: the same test bodies (imported from
tests/api, not copied) run with their `client`, `team` and `harness` made of the two processes of
`cluster` behind a round-robin client, so a job submitted to one is waited for, listed, streamed,
fetched and cancelled through the other: ownership (another user's job is a 404 on every route),
idempotency, history, images and the event stream."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api import test_principals, test_renders
from builders import make_settings

pytestmark = pytest.mark.slow


class PairTeam(test_principals.Team):
    """`Team` (alice, bob and root) on the two processes; the keys come from `sketch2render keys`."""

    def __init__(self, cluster) -> None:
        self.keys = dict(cluster.keys)
        self.client = cluster.client()


class PairHarness:
    """What the single-process tests ask of `harness`, answered by the two processes: `client()`
    is the round-robin client as root (the processes' fake service steps slowly already)."""

    def __init__(self, cluster, scratch) -> None:
        self.cluster, self.scratch = cluster, scratch
        self.clients = []

    def settings(self, **overrides):
        return make_settings(self.scratch, **overrides)

    def client(self, **_ignored):
        client = self.cluster.client()
        client.headers.update(self.cluster.auth("root"))
        self.clients.append(client)
        return client, None


@pytest.fixture
def team(fresh_jobs) -> Iterator[PairTeam]:
    team = PairTeam(fresh_jobs)
    yield team
    team.client.close()


@pytest.fixture
def harness(fresh_jobs, tmp_path) -> Iterator[PairHarness]:
    harness = PairHarness(fresh_jobs, tmp_path / "scratch")
    yield harness
    for client in harness.clients:
        client.close()


@pytest.fixture
def client(harness):
    return harness.client()[0]


# --- several users ------------------------------------------------------------------------------
test_another_users_job_is_a_404_on_every_job_route_and_the_admin_sees_it = (
    test_principals.test_another_users_job_is_a_404_on_every_job_route_and_the_admin_sees_it
)
test_the_list_shows_only_your_jobs_and_admins_see_all_with_all_true = (
    test_principals.test_the_list_shows_only_your_jobs_and_admins_see_all_with_all_true
)
test_metrics_need_an_admin = test_principals.test_metrics_need_an_admin

# --- idempotency --------------------------------------------------------------------------------
test_idempotency_keys_are_per_principal = test_principals.test_idempotency_keys_are_per_principal
test_same_key_same_body_returns_the_same_job = test_renders.test_same_key_same_body_returns_the_same_job
test_same_key_different_body_is_422 = test_renders.test_same_key_different_body_is_422
test_bad_idempotency_key_is_422 = test_renders.test_bad_idempotency_key_is_422

# --- jobs, images, history, cancel, events ------------------------------------------------------
test_several_images_by_index = test_renders.test_several_images_by_index
test_same_seed_same_image = test_renders.test_same_seed_same_image
test_unknown_and_malformed_ids_are_404 = test_renders.test_unknown_and_malformed_ids_are_404
test_history_is_paged_newest_first_and_filtered = test_renders.test_history_is_paged_newest_first_and_filtered
test_cancel_finished_is_409 = test_renders.test_cancel_finished_is_409
test_event_stream_reports_progress_and_ends_with_a_terminal_status = (
    test_renders.test_event_stream_reports_progress_and_ends_with_a_terminal_status
)
