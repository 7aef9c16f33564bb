"""Two API apps on one PostgreSQL (`S2R_DATABASE_URL`), as two API processes behind a load
balancer: a key added or revoked through the CLI's store counts in both from their next request,
one rate-limit bucket per principal across both, a live token minted by one is accepted by the
other, and a collection made through one is seen by the other. (Each app has its own data folder
here; the job store is not what this checks.)"""

from __future__ import annotations

import pytest

from api.conftest import Harness, assert_error
from sketch2render.principals.shared import DatabaseKeyStore


@pytest.fixture
def service(tmp_path, postgres_url):
    """Two apps on one database, and the key store the CLI would open on it."""
    keys = DatabaseKeyStore(postgres_url)
    issued = {name: keys.add(name, role)[1] for name, role in {"alice": "user", "bob": "user", "root": "admin"}.items()}
    harnesses = [Harness(tmp_path / "one"), Harness(tmp_path / "two")]
    clients = [h.client(database_url=postgres_url, rate_limit=0.5, rate_burst=3)[0] for h in harnesses]
    yield clients, keys, issued
    for harness in harnesses:
        harness.close_all()
    keys.close()


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def test_keys_added_and_revoked_in_the_database_count_in_every_process(service):
    (one, two), keys, issued = service
    carol = keys.add("carol", "user")[1]
    assert one.get("/v1/renders", headers=bearer(carol)).status_code == 200
    assert two.get("/v1/renders", headers=bearer(carol)).status_code == 200
    keys.revoke("carol")
    assert_error(one.get("/v1/renders", headers=bearer(carol)), 401)
    assert_error(two.get("/v1/renders", headers=bearer(carol)), 401)
    assert two.get("/v1/renders", headers=bearer(issued["bob"])).status_code == 200


def test_the_rate_limits_burst_is_shared_not_doubled(service):
    (one, two), _, issued = service
    alice = bearer(issued["alice"])
    answers = [c.get("/v1/renders", headers=alice).status_code for c in (one, two, one)]
    assert answers == [200, 200, 200]
    refused = two.get("/v1/renders", headers=alice)
    assert_error(refused, 429, "rate_limited")
    assert refused.headers["retry-after"] == "2"
    assert_error(one.get("/v1/renders", headers=alice), 429, "rate_limited")
    assert one.get("/v1/renders", headers=bearer(issued["bob"])).status_code == 200  # bob's own bucket


def test_a_live_token_from_one_process_is_accepted_by_the_other_until_its_key_goes(service):
    (one, two), keys, issued = service
    token = one.post("/v1/live/tokens", headers=bearer(issued["bob"])).json()["token"]
    renewed = two.post("/v1/live/tokens", headers=bearer(token))  # a valid token mints its successor
    assert renewed.status_code == 200 and renewed.json()["principal"] == "bob"
    assert_error(two.get(f"/v1/live/renders/{'0' * 32}/image", headers=bearer(token)), 404)  # let in: no such job
    keys.revoke("bob")
    assert_error(two.get(f"/v1/live/renders/{'0' * 32}/image", headers=bearer(token)), 401)


def test_a_collection_made_through_one_process_is_seen_by_the_other(service):
    (one, two), _, issued = service
    root = bearer(issued["root"])
    assert one.post("/v1/collections", json={"name": "board"}, headers=root).status_code == 201
    assert two.get("/v1/collections/board", headers=root).json()["name"] == "board"
    assert_error(two.post("/v1/collections", json={"name": "board"}, headers=root), 409)


def test_a_database_that_goes_away_is_a_503_with_retry_after_not_a_500(service, postgres_server, postgres_url):
    (one, _), _, issued = service
    assert one.get("/v1/renders", headers=bearer(issued["alice"])).status_code == 200
    postgres_server.drop_database(postgres_url)  # every connection to it ends; it cannot be reached again
    gone = one.get("/v1/renders", headers=bearer(issued["alice"]))
    assert_error(gone, 503, "database_unavailable")
    assert gone.headers["retry-after"] == "5"
