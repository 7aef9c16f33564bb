"""`GET /v1/renders?q=…`: full-text over prompts and region prompts, `style=` and `collection=`
filters, each principal's own history as the list is."""

from __future__ import annotations

import json

from api.conftest import assert_error, submit, wait_for
from api.test_principals import Team
from api.test_styles import add
from sketch2render.jobs.history import job_text, match_expression


def ids(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [j["id"] for j in response.json()["items"]]


def test_words_style_and_collection_find_renders(client):
    red = add(client, (220, 10, 10), "Poppy red").json()
    blue = add(client, (10, 10, 220), "Sea blue").json()
    client.post("/v1/collections", json={"name": "reds", "style_ids": [red["id"]]})
    house = wait_for(client, submit(client, prompt="a red house by the sea").json()["id"])
    boat = wait_for(client, submit(client, prompt="a blue boat", style_ids=red["id"]).json()["id"])
    bound = wait_for(client, submit(client, prompt="poppy field", collection="reds").json()["id"])
    sea = wait_for(client, submit(client, prompt="open sea", style_ids=blue["id"]).json()["id"])
    assert ids(client.get("/v1/renders", params={"q": "house"})) == [house["id"]]
    assert ids(client.get("/v1/renders", params={"q": "RED hou"})) == [house["id"]]  # prefixes, any case
    assert ids(client.get("/v1/renders", params={"q": "boat blue"})) == [boat["id"]]
    assert ids(client.get("/v1/renders", params={"q": "house boat"})) == []  # every word must match
    assert ids(client.get("/v1/renders", params={"q": '") OR *'})) == []  # no FTS5 syntax reaches SQLite
    assert ids(client.get("/v1/renders", params={"style": blue["id"]})) == [sea["id"]]
    assert sea["id"] not in ids(client.get("/v1/renders", params={"style": red["id"]}))
    assert ids(client.get("/v1/renders", params={"collection": "reds"})) == [bound["id"]]
    page = client.get("/v1/renders", params={"q": "a", "limit": 1}).json()
    assert page["total"] == 2 and len(page["items"]) == 1
    assert_error(client.get("/v1/renders", params={"q": "x" * 1001}), 422, "invalid_parameter", "q")


def test_region_prompts_are_words_of_a_render_and_no_operator_reaches_fts5():
    params = {"prompt": "a house", "regions": [{"prompt": "stone tower", "mask_sha256": ""}]}
    assert job_text(json.dumps(params)) == "a house stone tower"
    assert match_expression('tower" OR NEAR(x') == '"tower"* "or"* "near"* "x"*'
    assert match_expression("  ") is None


def test_each_key_finds_only_its_own(harness):
    team = Team(harness)
    mine = team.wait("alice", team.submit("alice", prompt="a lighthouse at dusk").json()["id"])
    team.wait("bob", team.submit("bob", prompt="a lighthouse at dawn").json()["id"])
    assert ids(team.get("alice", "/v1/renders", params={"q": "lighthouse"})) == [mine["id"]]
    assert len(ids(team.get("root", "/v1/renders", params={"q": "lighthouse", "all": "true"}))) == 2
    assert_error(team.get("bob", "/v1/renders", params={"q": "lighthouse", "all": "true"}), 403, "forbidden")


def test_the_history_command_searches_the_same_database(harness):
    from typer.testing import CliRunner

    from sketch2render.cli import app

    client, _ = harness.client()
    house = wait_for(client, submit(client, prompt="a red house").json()["id"])
    wait_for(client, submit(client, prompt="a blue boat").json()["id"])
    env = {"S2R_HOME": str(harness.home)}
    found = CliRunner().invoke(app, ["history", "--q", "house", "--json"], env=env)
    assert found.exit_code == 0, found.output
    body = json.loads(found.stdout)
    assert body["total"] == 1 and [j["id"] for j in body["items"]] == [house["id"]]
    table = CliRunner().invoke(app, ["history"], env=env).stdout
    assert "a red house" in table and "a blue boat" in table and "2 of 2 render(s)" in table
