"""The style library over HTTP: list, add, dedup, get, image, search, delete, and their errors."""

from __future__ import annotations

import io

import pytest
from corpus import bad_inputs
from PIL import Image

from api.conftest import assert_error, colour_png


def add(client, colour, title="", **fields):
    files = {"image": (f"{title or 'style'}.png", colour_png(colour), "image/png")}
    return client.post("/v1/styles", data={"title": title, **fields}, files=files)


def test_add_then_get_list_and_dedup(client):
    response = add(client, "red", "Red field", tags="Warm, bold", license="CC0", creator="Anon", year="1900")
    assert response.status_code == 201, response.text
    record = response.json()
    assert response.headers["location"] == f"/v1/styles/{record['id']}"
    assert record["tags"] == ["bold", "warm"] and record["license"] == "CC0" and record["width"] == 48
    again = add(client, "red", "Another title")
    assert again.status_code == 200 and again.json()["id"] == record["id"]
    assert client.get(f"/v1/styles/{record['id']}").json() == record
    listing = client.get("/v1/styles").json()
    assert listing["total"] == 1 and listing["items"] == [record]


def test_tags_repeated_fields(client):
    files = {"image": ("s.png", colour_png("green"), "image/png")}
    record = client.post("/v1/styles", data={"tags": ["Moss", "leaf,forest"]}, files=files).json()
    assert record["tags"] == ["forest", "leaf", "moss"]


def test_list_paging_and_tag_filter(client):
    ids = [add(client, c, c, tags=t).json()["id"] for c, t in [("red", "warm"), ("blue", "cold"), ("orange", "warm")]]
    assert [s["id"] for s in client.get("/v1/styles?offset=1&limit=1").json()["items"]] == [ids[1]]
    warm = client.get("/v1/styles?tag=WARM").json()
    assert warm["total"] == 2 and [s["id"] for s in warm["items"]] == [ids[0], ids[2]]
    assert_error(client.get("/v1/styles?limit=501"), 422, "invalid_parameter", "limit")
    assert_error(client.get("/v1/styles?offset=-1"), 422, "invalid_parameter", "offset")


def test_metadata_too_long_is_422_naming_the_field(client):
    assert_error(add(client, "red", "t" * 301), 422, "invalid_parameter", "title")
    assert_error(add(client, "red", year="y" * 51), 422, "invalid_parameter", "year")
    assert_error(add(client, "red", tags=",".join(f"t{i}" for i in range(51))), 422, "invalid_parameter", "tags")
    assert_error(client.post("/v1/styles", data={"title": "no image"}), 422, "invalid_parameter", "image")
    assert client.get("/v1/styles").json()["total"] == 0


@pytest.mark.parametrize(("name", "data", "error"), bad_inputs(), ids=[b[0] for b in bad_inputs()])
def test_bad_images_get_their_4xx(client, name, data, error):
    response = client.post("/v1/styles", data={"title": name}, files={"image": (name, data, "image/png")})
    assert_error(response, error.http_status, error.code)
    assert client.get("/v1/styles").json()["total"] == 0


def test_image_and_thumbnail(client):
    record = add(client, "blue", "Blue").json()
    full = client.get(f"/v1/styles/{record['id']}/image")
    assert full.status_code == 200 and full.headers["content-type"] == "image/png"
    assert full.headers["x-content-type-options"] == "nosniff"
    assert Image.open(io.BytesIO(full.content)).size == (48, 32)
    thumb = client.get(f"/v1/styles/{record['id']}/image?size=16")
    assert thumb.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(thumb.content)).size == (16, 11)
    assert_error(client.get(f"/v1/styles/{record['id']}/image?size=4"), 422, "invalid_parameter", "size")


def test_search_by_meaning_words_tags_and_score(client):
    red = add(client, (220, 10, 10), "Poppy", tags="flower").json()
    blue = add(client, (10, 10, 220), "Sea", tags="water").json()
    hits = client.get("/v1/styles/search", params={"q": "something red", "k": 1}).json()
    assert hits["query"] == "something red" and [h["style"]["id"] for h in hits["hits"]] == [red["id"]]
    assert 0 <= hits["hits"][0]["score"] <= 1
    by_tag = client.get("/v1/styles/search", params={"q": "red", "tags": "water"}).json()["hits"]
    assert [h["style"]["id"] for h in by_tag] == [blue["id"]]
    strict = client.get("/v1/styles/search", params={"q": "red", "min_score": 0.99}).json()["hits"]
    assert all(h["cosine"] >= 0.99 or h["lexical"] > 0 for h in strict)
    assert_error(client.get("/v1/styles/search?q="), 422, "invalid_parameter", "q")
    assert_error(client.get("/v1/styles/search"), 422, "invalid_parameter", "q")
    assert_error(client.get("/v1/styles/search?q=x&k=0"), 422, "invalid_parameter", "k")
    assert_error(client.get("/v1/styles/search?q=x&min_score=2"), 422, "invalid_parameter", "min_score")
    assert_error(client.get("/v1/styles/search?q=%20%20"), 422, "invalid_parameter", "q")


def test_delete_then_404(client):
    record = add(client, "red", "Gone").json()
    deleted = client.delete(f"/v1/styles/{record['id']}")
    assert deleted.status_code == 200 and deleted.json()["id"] == record["id"]
    assert_error(client.get(f"/v1/styles/{record['id']}"), 404, "not_found")
    assert_error(client.get(f"/v1/styles/{record['id']}/image"), 404, "not_found")
    assert_error(client.delete(f"/v1/styles/{record['id']}"), 404, "not_found")


@pytest.mark.parametrize("style_id", ["nope", "..%2F..%2Fjobs", "a" * 65, "a.b", "%00"])
def test_unknown_or_malformed_ids_are_404(client, style_id):
    for path in [f"/v1/styles/{style_id}", f"/v1/styles/{style_id}/image"]:
        assert_error(client.get(path), 404, "not_found")
    assert_error(client.delete(f"/v1/styles/{style_id}"), 404, "not_found")


def painting(size=(96, 64), shift=0) -> Image.Image:
    """A picture with structure: gradients and a few blocks (a flat colour has nothing to compare)."""
    import numpy as np

    y, x = np.mgrid[0 : size[1], 0 : size[0]]
    pixels = np.stack([x * 255 // size[0], y * 255 // size[1], (x + y + shift) % 64 * 4], axis=-1).astype("uint8")
    pixels[10:30, 20:50] = (240, 200, 40)
    return Image.fromarray(pixels)


def encoded(image: Image.Image, fmt="PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def test_a_near_duplicate_returns_the_existing_style_unless_allowed(client):
    original = painting()
    first = client.post("/v1/styles", data={"title": "Original"}, files={"image": ("a.png", encoded(original))})
    assert first.status_code == 201 and "near_duplicate_of" not in first.json()
    copies = {
        "resized and re-encoded": encoded(original.resize((72, 48)), "JPEG", quality=70),
        "slightly cropped": encoded(original.crop((2, 1, 94, 63))),
    }
    for name, data in copies.items():
        again = client.post("/v1/styles", data={"title": name}, files={"image": ("b.jpg", data)})
        assert again.status_code == 200, name
        assert again.json()["id"] == again.json()["near_duplicate_of"] == first.json()["id"], name
    assert client.get("/v1/styles").json()["total"] == 1  # nothing added
    exact = client.post("/v1/styles", files={"image": ("a.png", encoded(original))})
    assert (
        exact.status_code == 200
        and exact.json()["id"] == first.json()["id"]
        and "near_duplicate_of" not in exact.json()
    )
    forced = client.post(
        "/v1/styles", data={"allow_near_duplicate": "true"}, files={"image": ("c.png", copies["slightly cropped"])}
    )
    assert forced.status_code == 201 and forced.json()["id"] != first.json()["id"]
    other = client.post("/v1/styles", files={"image": ("d.png", encoded(painting().rotate(90, expand=True)))})
    assert other.status_code == 201  # a different picture is not a near duplicate
