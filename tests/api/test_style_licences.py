"""Licences that bind retrieval, and private styles, over HTTP (fake service, real library and search)."""

from __future__ import annotations

import io

from PIL import Image

from api.conftest import assert_error, submit, wait_for
from api.test_principals import Team
from api.test_styles import add
from sketch2render.render.outputs import CREDIT_KEY
from sketch2render.sketch import imaging


def test_a_style_carries_its_licence_class(client):
    record = add(client, "red", "Poppy", license="Creative Commons Attribution-NonCommercial 4.0").json()
    assert (record["license_id"], record["license_class"], record["commercial_use"]) == (
        "CC-BY-NC-4.0",
        "non-commercial",
        False,
    )
    assert record["attribution_required"] is True and record["visibility"] == "team"


def test_commercial_only_search_leaves_non_commercial_styles_out(client):
    nc = add(client, (220, 10, 10), "Poppy red", license="CC BY-NC 4.0").json()
    free = add(client, (200, 30, 30), "Brick red", license="CC0").json()
    every = client.get("/v1/styles/search", params={"q": "red", "k": 5}).json()["hits"]
    assert {h["style"]["id"] for h in every} == {nc["id"], free["id"]}
    kept = client.get("/v1/styles/search", params={"q": "red", "k": 5, "commercial_only": "true"}).json()["hits"]
    assert [h["style"]["id"] for h in kept] == [free["id"]]


def test_server_default_commercial_only_binds_search_and_renders(harness):
    client, _ = harness.client(commercial_only=True)
    nc = add(client, (220, 10, 10), "Poppy red", license="CC BY-NC-SA 4.0").json()
    free = add(client, (200, 30, 30), "Brick red", license="public domain").json()
    hits = client.get("/v1/styles/search", params={"q": "red", "k": 5}).json()["hits"]
    assert [h["style"]["id"] for h in hits] == [free["id"]]
    job = wait_for(client, submit(client, prompt="red poppy").json()["id"])
    assert job["params"]["commercial_only"] is True
    assert [s["style"]["id"] for s in job["result"]["styles"]] == [free["id"]]
    refused = submit(client, style_ids=nc["id"])
    error = assert_error(refused, 422, "invalid_parameter", "style_ids")
    assert nc["id"] in error["message"] and "CC-BY-NC-SA-4.0" in error["message"]


def test_a_named_non_commercial_style_is_a_422_naming_it(client):
    nc = add(client, "red", "Poppy", license="CC BY-NC 4.0").json()
    error = assert_error(submit(client, style_ids=nc["id"], commercial_only="true"), 422, "invalid_parameter")
    assert error["field"] == "style_ids" and nc["id"] in error["message"] and "Poppy" in error["message"]
    assert submit(client, style_ids=nc["id"]).status_code == 202  # without commercial_only it may be used


def test_recipe_attribution_and_the_png_credit(client):
    style = add(client, "red", "Poppy", license="CC BY 4.0", creator="Ann", source="example.org").json()
    job = wait_for(client, submit(client, style_ids=style["id"]).json()["id"])
    credit = "“Poppy” by Ann, example.org (CC BY 4.0)"
    assert job["result"]["attribution"] == [
        {
            "id": style["id"],
            "title": "Poppy",
            "creator": "Ann",
            "source": "example.org",
            "license": "CC BY 4.0",
            "license_id": "CC-BY-4.0",
            "attribution_required": True,
            "credit": credit,
        }
    ]
    png = client.get(f"/v1/renders/{job['id']}/image").content
    assert imaging.read_png_text(png)[CREDIT_KEY] == credit
    Image.open(io.BytesIO(png)).verify()


# --- private styles -------------------------------------------------------------------------------
def team_add(team: Team, who: str, colour, title: str, **fields):
    from api.conftest import colour_png

    files = {"image": (f"{title}.png", colour_png(colour), "image/png")}
    return team.client.post("/v1/styles", data={"title": title, **fields}, files=files, headers=team.auth(who))


def test_a_private_style_is_its_owners_only(harness):
    team = Team(harness, users_can_add_styles=True)
    mine = team_add(team, "alice", (220, 10, 10), "Poppy red", visibility="private").json()
    shared = team_add(team, "bob", (10, 10, 220), "Sea blue").json()
    assert (mine["visibility"], mine["owner"]) == ("private", "alice")
    # alice sees it everywhere; bob nowhere (the same 404 as a style that does not exist)
    assert team.get("alice", f"/v1/styles/{mine['id']}").status_code == 200
    assert_error(team.get("bob", f"/v1/styles/{mine['id']}"), 404, "not_found")
    assert_error(team.get("bob", f"/v1/styles/{mine['id']}/image"), 404, "not_found")
    assert [s["id"] for s in team.get("bob", "/v1/styles").json()["items"]] == [shared["id"]]
    assert {s["id"] for s in team.get("alice", "/v1/styles").json()["items"]} == {mine["id"], shared["id"]}
    bob_hits = team.get("bob", "/v1/styles/search", params={"q": "poppy red", "k": 5}).json()["hits"]
    assert mine["id"] not in {h["style"]["id"] for h in bob_hits}
    alice_hits = team.get("alice", "/v1/styles/search", params={"q": "poppy red", "k": 1}).json()["hits"]
    assert [h["style"]["id"] for h in alice_hits] == [mine["id"]]
    # never retrieved or named for bob; his correction on it is a 404
    job = team.wait("bob", team.submit("bob", prompt="poppy red").json()["id"])
    assert mine["id"] not in {s["style"]["id"] for s in job["result"]["styles"]}
    assert_error(team.submit("bob", style_ids=mine["id"]), 422, "invalid_parameter", "style_ids")
    body = {"prompt": "poppy", "style_id": mine["id"], "signal": "chosen"}
    assert_error(team.client.post("/v1/feedback", json=body, headers=team.auth("bob")), 404, "not_found")
    # the same pixels from bob: a conflict, never alice's record
    again = team_add(team, "bob", (220, 10, 10), "Copy")
    assert_error(again, 409)
    assert "alice" not in again.text
    # admins: all=true lists everything, users may not ask it
    assert_error(team.get("bob", "/v1/styles?all=true"), 403, "forbidden")
    assert team.get("root", "/v1/styles").json()["total"] == 1
    assert team.get("root", "/v1/styles?all=true").json()["total"] == 2
    assert team.get("root", f"/v1/styles/{mine['id']}").status_code == 200


def test_visibility_is_checked_and_survives_a_restart(harness):
    team = Team(harness, users_can_add_styles=True)
    assert_error(team_add(team, "alice", "red", "x", visibility="secret"), 422, "invalid_parameter", "visibility")
    mine = team_add(team, "alice", "red", "Poppy", visibility="private").json()
    harness.close(team.client)
    team.client, team.fake = harness.client(users_can_add_styles=True)
    assert_error(team.get("bob", f"/v1/styles/{mine['id']}"), 404, "not_found")
    assert team.get("alice", f"/v1/styles/{mine['id']}").json()["owner"] == "alice"
