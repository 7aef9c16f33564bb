"""Collections (moodboards) over HTTP: create, show, add, remove, delete; owner and visibility like
styles; a render or a search bound to one retrieves only from it."""

from __future__ import annotations

from api.conftest import assert_error, submit, wait_for
from api.test_principals import Team
from api.test_style_licences import team_add
from api.test_styles import add


def test_create_show_add_remove_delete(client):
    red = add(client, (220, 10, 10), "Poppy red").json()
    blue = add(client, (10, 10, 220), "Sea blue").json()
    created = client.post("/v1/collections", json={"name": "Warm board", "style_ids": [red["id"]]})
    assert created.status_code == 201, created.text
    assert created.headers["location"] == "/v1/collections/Warm board"
    assert [s["id"] for s in created.json()["styles"]] == [red["id"]] and created.json()["count"] == 1
    added = client.post("/v1/collections/Warm board/styles", json={"style_ids": [blue["id"], red["id"]]}).json()
    assert [s["id"] for s in added["styles"]] == [red["id"], blue["id"]]
    listing = client.get("/v1/collections").json()
    assert listing["total"] == 1 and listing["items"][0]["count"] == 2 and listing["items"][0]["styles"] == []
    removed = client.delete(f"/v1/collections/Warm board/styles/{red['id']}").json()
    assert [s["id"] for s in removed["styles"]] == [blue["id"]]
    assert client.get(f"/v1/styles/{red['id']}").status_code == 200  # still in the library
    assert client.delete("/v1/collections/Warm board").status_code == 200
    assert_error(client.get("/v1/collections/Warm board"), 404, "not_found", "collection")


def test_bad_input_is_a_4xx_naming_the_field_and_stores_nothing(client):
    red = add(client, "red", "Poppy").json()
    assert_error(client.post("/v1/collections", json={"name": "../x"}), 422, "invalid_parameter", "name")
    assert_error(client.post("/v1/collections", json={"name": "a", "visibility": "x"}), 422, "invalid_parameter")
    missing = client.post("/v1/collections", json={"name": "a", "style_ids": [red["id"], "ab12"]})
    assert_error(missing, 404, "not_found", "style_id")
    assert client.get("/v1/collections").json()["total"] == 0  # nothing half-created
    assert client.post("/v1/collections", json={"name": "a"}).status_code == 201
    assert_error(client.post("/v1/collections", json={"name": "a"}), 409)
    assert_error(client.post("/v1/collections/a/styles", json={"style_ids": []}), 422, "invalid_parameter")
    assert_error(client.post("/v1/collections/nope/styles", json={"style_ids": [red["id"]]}), 404, "not_found")


def test_a_render_and_a_search_bound_to_a_collection_retrieve_only_from_it(client):
    red = add(client, (220, 10, 10), "Poppy red").json()
    dark = add(client, (160, 20, 20), "Dark red").json()
    client.post("/v1/collections", json={"name": "board", "style_ids": [dark["id"]]})
    free = client.get("/v1/styles/search", params={"q": "poppy red", "k": 1}).json()["hits"]
    assert [h["style"]["id"] for h in free] == [red["id"]]
    bound = client.get("/v1/styles/search", params={"q": "poppy red", "k": 5, "collection": "board"}).json()["hits"]
    assert [h["style"]["id"] for h in bound] == [dark["id"]]
    job = wait_for(client, submit(client, prompt="poppy red", collection="board").json()["id"])
    assert job["params"]["collection"] == "board"
    assert [s["style"]["id"] for s in job["result"]["styles"]] == [dark["id"]]
    assert_error(submit(client, collection="nope"), 404, "not_found", "collection")
    assert_error(submit(client, collection="../x"), 422, "invalid_parameter", "collection")
    outside = submit(client, collection="board", style_ids=red["id"])
    assert "not in collection 'board'" in assert_error(outside, 422, "invalid_parameter", "style_ids")["message"]
    assert_error(client.get("/v1/styles/search", params={"q": "x", "collection": "nope"}), 404, "not_found")


def test_a_private_collection_is_its_owners_and_only_they_change_it(harness):
    team = Team(harness, users_can_add_styles=True)
    style = team_add(team, "alice", "red", "Poppy").json()
    secret = team_add(team, "alice", "blue", "Mine", visibility="private").json()
    body = {"name": "alice board", "visibility": "private", "style_ids": [style["id"], secret["id"]]}
    assert team.client.post("/v1/collections", json=body, headers=team.auth("alice")).status_code == 201
    shared = {"name": "shared", "style_ids": [style["id"], secret["id"]]}
    assert team.client.post("/v1/collections", json=shared, headers=team.auth("alice")).status_code == 201
    assert_error(team.get("bob", "/v1/collections/alice board"), 404, "not_found")
    assert [c["name"] for c in team.get("bob", "/v1/collections").json()["items"]] == ["shared"]
    # bob sees the team collection without alice's private style in it, and may not change it
    assert [s["id"] for s in team.get("bob", "/v1/collections/shared").json()["styles"]] == [style["id"]]
    change = team.client.delete(f"/v1/collections/shared/styles/{style['id']}", headers=team.auth("bob"))
    assert_error(change, 403, "forbidden")
    assert_error(team.client.delete("/v1/collections/shared", headers=team.auth("bob")), 403, "forbidden")
    own = {"name": "bob board", "style_ids": [secret["id"]]}
    assert_error(team.client.post("/v1/collections", json=own, headers=team.auth("bob")), 404, "not_found")
    assert_error(team.submit("bob", collection="alice board"), 404, "not_found", "collection")
    # admins see and change every collection
    assert team.get("root", "/v1/collections?all=true").json()["total"] == 2
    assert_error(team.get("bob", "/v1/collections?all=true"), 403, "forbidden")
    assert team.client.delete("/v1/collections/alice board", headers=team.auth("root")).status_code == 200


def test_collections_survive_a_restart(harness):
    client, _ = harness.client()
    red = add(client, "red", "Poppy").json()
    client.post("/v1/collections", json={"name": "kept", "style_ids": [red["id"]]})
    harness.close(client)
    client, _ = harness.client()
    assert [s["id"] for s in client.get("/v1/collections/kept").json()["styles"]] == [red["id"]]
