"""Feedback over HTTP on the real app (fake service, real library and signal store): explicit
corrections, ratings of a render (another user's render is a 404), the implicit signal of a render
with picked styles, export/reset, and bad input named by field."""

from __future__ import annotations

import pytest
from waiting import eventually

from api.conftest import assert_error, colour_png
from api.test_principals import Team
from sketch2render.retrieval.learning import build_learning


@pytest.fixture
def team(harness, sentence_stand_in) -> Team:
    team = Team(harness)
    team.fake.search.learning = build_learning(harness.settings(sentence_model=sentence_stand_in))
    team.styles = {}
    for title, colour, tags in [
        ("Red brick", (200, 30, 30), "brick,wall"),
        ("Blue sea", (20, 40, 220), "sea,waves"),
        ("Green lawn", (30, 200, 40), "grass,lawn"),
    ]:
        files = {"image": ("s.png", colour_png(colour), "image/png")}
        added = team.client.post(
            "/v1/styles", files=files, data={"title": title, "tags": tags}, headers=team.auth("root")
        )
        team.styles[title] = added.json()["id"]
    return team


def search(team: Team, who: str, q: str) -> list[dict]:
    response = team.get(who, "/v1/styles/search", params={"q": q, "k": 3})
    assert response.status_code == 200, response.text
    return response.json()["hits"]


def signals(team: Team, who: str) -> list[dict]:
    return team.get(who, "/v1/feedback").json()["items"]


def feedback(team: Team, who: str, **body):
    return team.client.post("/v1/feedback", json=body, headers=team.auth(who))


def test_chosen_corrections_move_a_style_for_their_principal_only_and_say_why(team):
    sea = team.styles["Blue sea"]
    assert search(team, "alice", "red brick wall by the sea")[0]["style"]["title"] == "Red brick"
    for prompt in ["red brick wall by the sea", "a brick wall near the sea", "old brick wall at the seaside"]:
        made = feedback(team, "alice", prompt=prompt, style_id=sea, signal="chosen")
        assert made.status_code == 201 and made.json()["principal"] == "alice"
    alice = search(team, "alice", "red brick wall by the sea")
    assert alice[0]["style"]["id"] == sea and alice[0]["explain"][0].startswith("feedback: +")
    assert "chosen 3× for similar prompts" in alice[0]["explain"][0]
    bob = search(team, "bob", "red brick wall by the sea")
    assert bob[0]["style"]["title"] == "Red brick" and all(h["feedback"] is None for h in bob)


def test_bad_feedback_is_refused_naming_the_field(team):
    red = team.styles["Red brick"]
    assert_error(feedback(team, "alice", prompt="x", style_id=red, signal="loved"), 422, field="signal")
    assert_error(feedback(team, "alice", prompt="", style_id=red, signal="chosen"), 422, field="prompt")
    assert_error(feedback(team, "alice", prompt="x", style_id="0" * 16, signal="chosen"), 404, field="style_id")
    assert signals(team, "alice") == []  # nothing was stored


def test_rating_a_render_applies_to_its_styles_and_another_users_render_is_a_404(team):
    job = team.submit("alice", prompt="green lawn").json()["id"]
    assert team.wait("alice", job)["status"] == "succeeded"
    rated = team.client.post(f"/v1/renders/{job}/feedback", json={"rating": "down"}, headers=team.auth("alice"))
    assert rated.status_code == 201 and rated.json()["style_ids"] == [team.styles["Green lawn"]]
    assert_error(
        team.client.post(f"/v1/renders/{job}/feedback", json={"rating": "down"}, headers=team.auth("bob")), 404
    )
    bad = team.client.post(f"/v1/renders/{job}/feedback", json={"rating": "meh"}, headers=team.auth("alice"))
    assert_error(bad, 422, field="rating")
    lawn = next(h for h in search(team, "alice", "green lawn") if h["style"]["id"] == team.styles["Green lawn"])
    assert lawn["feedback"] < 0 and "down 1×" in lawn["explain"][0]


def test_a_render_with_picked_styles_records_the_implicit_signal(team):
    sea, red = team.styles["Blue sea"], team.styles["Red brick"]
    suggested = [h["style"]["id"] for h in search(team, "alice", "red brick wall")]
    assert suggested[0] == red
    job = team.submit("alice", prompt="red brick wall", style_ids=sea).json()["id"]
    assert team.wait("alice", job)["status"] == "succeeded"
    above = suggested[: suggested.index(sea)] if sea in suggested else suggested  # ranked above the pick
    expected = {(sea, "chosen", "render")} | {(i, "passed_over", "render") for i in above}

    def recorded() -> list[dict]:  # by the worker's hook just after the job finished
        lines = signals(team, "alice")
        return lines if len(lines) >= len(expected) else []

    lines = eventually(recorded, 10, 0.05, what=f"alice's {len(expected)} signals")
    assert {(row["style_id"], row["signal"], row["source"]) for row in lines} == expected
    assert signals(team, "bob") == []


def test_reset_removes_only_your_own_signals(team):
    red = team.styles["Red brick"]
    feedback(team, "alice", prompt="brick", style_id=red, signal="rejected")
    feedback(team, "bob", prompt="brick", style_id=red, signal="chosen")
    reset = team.client.delete("/v1/feedback", headers=team.auth("alice"))
    assert reset.json() == {"removed": 1}
    assert signals(team, "alice") == [] and [s["signal"] for s in signals(team, "bob")] == ["chosen"]
