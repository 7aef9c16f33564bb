"""`POST /v1/styles/import`: a zip as a job with progress and a per-file report; bad input is a 4xx
naming the field with nothing stored; a re-run reports what was there; another key's import is a 404."""

from __future__ import annotations

import io
import zipfile

import numpy as np
from PIL import Image
from waiting import eventually

from api.conftest import assert_error, colour_png
from api.test_principals import Team


def picture_png(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    image = Image.fromarray(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)).resize(
        (64, 48), Image.Resampling.NEAREST
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buffer.getvalue()


def start(client, archive: bytes, headers=None, metadata: tuple[str, bytes] | None = None, **fields):
    files = {"archive": ("refs.zip", archive, "application/zip")}
    if metadata:
        files["metadata"] = (metadata[0], metadata[1], "text/plain")
    return client.post("/v1/styles/import", data=fields, files=files, headers=headers or {})


def finished(client, url: str, headers=None) -> dict:
    def done():
        body = client.get(url, headers=headers or {}).json()
        return body if body["status"] != "running" else None

    return eventually(done, 30, what=f"{url} to finish")


def test_a_zip_is_imported_as_a_job_with_a_per_file_report(client):
    archive = zipped({"a/one.png": picture_png(1), "a/two.png": picture_png(2), "a/bad.png": b"not an image"})
    meta = b'{"file": "one.png", "title": "One", "license": "CC BY 4.0", "tags": ["x", "y"]}\n'
    client.post("/v1/collections", json={"name": "refs"})
    accepted = start(client, archive, metadata=("m.jsonl", meta), license="CC0", collection="refs")
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["total"] == 3 and accepted.headers["location"] == accepted.json()["url"]
    report = finished(client, accepted.json()["url"])
    assert (report["status"], report["done"], report["added"], report["refused"]) == ("finished", 3, 2, 1)
    by_file = {f["file"]: f for f in report["files"]}
    assert "not a raster image" in by_file["a/bad.png"]["reason"]
    one = client.get(f"/v1/styles/{by_file['a/one.png']['id']}").json()
    assert (one["title"], one["tags"], one["license_id"]) == ("One", ["x", "y"], "CC-BY-4.0")
    assert client.get(f"/v1/styles/{by_file['a/two.png']['id']}").json()["license_id"] == "CC0-1.0"
    assert client.get("/v1/collections/refs").json()["count"] == 2
    again = finished(client, start(client, archive).json()["url"])
    assert (again["added"], again["existed"]) == (0, 2)


def test_bad_input_is_a_4xx_naming_the_field_and_nothing_is_stored(client):
    assert_error(start(client, b"not a zip"), 422, "invalid_parameter", "archive")
    assert_error(start(client, zipped({"readme.txt": b"hi"})), 422, "invalid_parameter", "archive")
    good = zipped({"one.png": picture_png(1)})
    assert_error(start(client, good, collection="nope"), 404, "not_found", "collection")
    assert_error(start(client, good, metadata=("m.csv", b"name,title\nx,y\n")), 422, "invalid_parameter", "metadata")
    assert_error(start(client, good, visibility="secret"), 422, "invalid_parameter", "visibility")
    assert_error(start(client, good, colour="red"), 422, "invalid_parameter", "colour")
    assert client.get("/v1/styles").json()["total"] == 0
    assert_error(client.get("/v1/styles/import/abc123"), 404, "not_found")


def test_imports_belong_to_their_key_and_users_need_the_right_to_add(harness):
    team = Team(harness)
    archive = zipped({"one.png": picture_png(1), "red.png": colour_png("red")})
    assert_error(start(team.client, archive, headers=team.auth("alice")), 403, "forbidden")
    accepted = start(team.client, archive, headers=team.auth("root"), visibility="private")
    report = finished(team.client, accepted.json()["url"], team.auth("root"))
    assert report["added"] == 2 and report["owner"] == "root"
    assert_error(team.get("alice", accepted.json()["url"]), 404, "not_found")
    assert team.get("alice", "/v1/styles").json()["total"] == 0  # private to root
