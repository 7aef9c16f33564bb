"""Perceptual fingerprints (styles/fingerprint.py): copies are near, different pictures are not."""

from __future__ import annotations

import io
import itertools

import pytest
from fakes import FakeEmbeddings
from PIL import Image

from sketch2render.schemas import StyleMeta
from sketch2render.styles import StyleLibrary, default_styles_dir, load_manifest
from sketch2render.styles.fingerprint import Fingerprint, fingerprint

BUNDLED = [path for path, _ in load_manifest(default_styles_dir())]
PICTURES = [p for p in BUNDLED if not p.stem.startswith("texture_")]  # a cropped repeating texture shifts its phase


def jpeg(image: Image.Image, quality: int = 60) -> Image.Image:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue()))


@pytest.mark.parametrize("path", PICTURES[::3], ids=lambda p: p.stem)
def test_a_resized_reencoded_or_cropped_copy_is_near(path):
    image = Image.open(path).convert("RGB")
    w, h = image.size
    original = fingerprint(image)
    assert original.near(fingerprint(jpeg(image.resize((w // 3, h // 3)))))
    assert original.near(fingerprint(image.crop((w // 40, h // 40, w - w // 40, h - h // 40))))
    assert Fingerprint.parse(original.text()) == Fingerprint(
        original.hash, tuple(round(c) for c in original.colour), False
    )


def test_no_two_bundled_styles_are_near_and_a_flat_image_matches_nothing():
    prints = [fingerprint(Image.open(p)) for p in BUNDLED]
    assert not [(a, b) for a, b in itertools.combinations(prints, 2) if a.near(b)]
    flat = fingerprint(Image.new("RGB", (64, 64), "red"))
    assert flat.flat and not flat.near(flat)


def test_a_style_stored_without_a_fingerprint_is_still_found(tmp_path):
    library = StyleLibrary(tmp_path / "styles", FakeEmbeddings())
    image = Image.open(BUNDLED[0]).convert("RGB")
    record, _ = library.add_image(image, StyleMeta(title="old"))
    library._records[record.id] = record.model_copy(update={"fingerprint": ""})  # as stored before fingerprints
    library.near.forget(None)
    added = library.add_checked(jpeg(image), allow_near_duplicate=False)
    assert (added.created, added.near_duplicate_of) == (False, record.id)
    # another principal's private style is never reported (nor added over: it is theirs)
    private, _ = library.add_image(Image.open(BUNDLED[1]).convert("RGB"), StyleMeta(visibility="private"), owner="ann")
    assert library.add_checked(jpeg(Image.open(BUNDLED[1])), owner="bob", allow_near_duplicate=False).created
