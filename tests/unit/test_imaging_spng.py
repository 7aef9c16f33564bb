"""`imaging.decode_image`'s libspng path: the PNGs it takes decode to exactly the pixels PIL gives,
the ones it leaves (16-bit, palette, interlace, transparency key, EXIF, metadata after the pixels,
animation, damaged chunks) go to PIL, and a damaged file is refused as before."""

from __future__ import annotations

import io
import struct

import cv2
import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from sketch2render.errors import InvalidImage, TooLarge
from sketch2render.sketch import imaging

try:
    from tests.corpus import png_chunk
except ModuleNotFoundError:
    from corpus import png_chunk

LIMITS = {"max_bytes": 10_000_000, "max_pixels": 40_000_000}
XMP_ROTATE_90 = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>'
)


def _noise(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _save(image: Image.Image, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **params)
    return buffer.getvalue()


def _before_iend(png: bytes, chunk: bytes) -> bytes:
    return png[:-12] + chunk + png[-12:]


def _with_pil_only(monkeypatch, data: bytes) -> np.ndarray:
    """What decode_image gave before libspng: PIL decodes every PNG."""
    with monkeypatch.context() as patch:
        patch.setattr(imaging, "_spng_decode", lambda *args: None)
        return np.asarray(imaging.decode_image(data, **LIMITS))


def _takes_spng(data: bytes) -> bool:
    return imaging._spng_decode(data, Image.open(io.BytesIO(data))) is not None


def _text(chunks: dict[str, str]) -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    for key, value in chunks.items():
        info.add_itxt(key, value)
    return info


TAKEN = {
    "grey": _save(Image.fromarray(_noise((37, 53)))),
    "rgb": _save(Image.fromarray(_noise((64, 48, 3)))),
    "rgba": _save(Image.fromarray(_noise((30, 40, 4)))),
    "rgb_with_text": _save(Image.fromarray(_noise((16, 16, 3))), pnginfo=_text({"Software": "a drawing app"})),
    "rgb_level_9_many_chunks": _save(Image.fromarray(_noise((200, 300, 3))), compress_level=9),
}


@pytest.mark.parametrize("name", sorted(TAKEN))
def test_libspng_gives_exactly_the_pixels_pil_gave(name, monkeypatch):
    data = TAKEN[name]
    assert _takes_spng(data)
    image = imaging.decode_image(data, **LIMITS)
    assert image.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(image), _with_pil_only(monkeypatch, data))


def test_a_sketch_at_full_size_is_the_same_with_libspng(monkeypatch):
    sketch = np.full((1024, 768, 3), 255, np.uint8)
    sketch[100:900:50, :, :] = 0  # lines every 50 rows
    sketch[:, 30:700:41, 1] = 90
    data = _save(Image.fromarray(sketch))
    assert _takes_spng(data)
    np.testing.assert_array_equal(np.asarray(imaging.decode_image(data, **LIMITS)), _with_pil_only(monkeypatch, data))


def test_xmp_orientation_before_the_pixels_is_applied_as_before(monkeypatch):
    stored = np.full((20, 40, 3), 255, np.uint8)
    stored[:10, :10] = (255, 0, 0)
    data = _save(Image.fromarray(stored), pnginfo=_text({"XML:com.adobe.xmp": XMP_ROTATE_90}))
    assert _takes_spng(data)
    image = imaging.decode_image(data, **LIMITS)
    assert image.size == (20, 40)  # rotated to display
    np.testing.assert_array_equal(np.asarray(image), _with_pil_only(monkeypatch, data))


def _interlaced_1x1() -> bytes:
    """A 1×1 Adam7 PNG: its only pixel is in the first pass, so the image data is the plain one."""
    plain = _save(Image.new("RGB", (1, 1), (10, 20, 30)))
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 1)
    return plain[:8] + png_chunk(b"IHDR", ihdr) + plain[33:]


LEFT_TO_PIL = {
    "sixteen_bit_grey": _save(Image.fromarray(np.arange(256 * 8, dtype=np.uint16).reshape(8, 256) * 32)),
    "palette": _save(Image.fromarray(_noise((16, 16, 3))).convert("P")),
    "transparency_key": _save(Image.fromarray(_noise((16, 16, 3))), transparency=(0, 0, 0)),
    "exif": _save(Image.fromarray(_noise((16, 16, 3))), exif=Image.Exif().tobytes()),
    "text_after_pixels": _before_iend(_save(Image.fromarray(_noise((16, 16, 3)))), png_chunk(b"tEXt", b"k\x00v")),
    "interlaced": _interlaced_1x1(),
    "animated": _save(
        Image.new("RGB", (16, 16), (0, 0, 0)), save_all=True, append_images=[Image.new("RGB", (16, 16), "white")]
    ),
    "one_bit": _save(Image.new("1", (16, 16), 1)),
    "grey_alpha": _save(Image.fromarray(_noise((40, 30, 2)), "LA")),  # libspng has no grey+alpha output
}


@pytest.mark.parametrize("name", sorted(LEFT_TO_PIL))
def test_pngs_libspng_would_not_match_are_left_to_pil(name, monkeypatch):
    data = LEFT_TO_PIL[name]
    assert not _takes_spng(data)
    np.testing.assert_array_equal(np.asarray(imaging.decode_image(data, **LIMITS)), _with_pil_only(monkeypatch, data))


def test_metadata_after_the_pixels_still_rotates_the_image():
    stored = _save(Image.fromarray(np.zeros((20, 40, 3), np.uint8)))
    xmp = b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + XMP_ROTATE_90.encode()
    data = _before_iend(stored, png_chunk(b"iTXt", xmp))
    assert not _takes_spng(data)
    assert imaging.decode_image(data, **LIMITS).size == (20, 40)


def test_a_damaged_pixel_chunk_is_refused_as_before(monkeypatch):
    data = bytearray(TAKEN["rgb"])
    data[len(data) // 2] ^= 0x5A  # inside the image data; its CRC no longer matches
    assert not _takes_spng(bytes(data))
    with pytest.raises(InvalidImage, match="truncated or corrupt"):
        imaging.decode_image(bytes(data), **LIMITS)


@pytest.mark.parametrize("cut", [60, 200, 5000, 100_000])
def test_a_png_cut_inside_its_pixels_is_refused(cut):
    with pytest.raises(InvalidImage, match="truncated or corrupt"):
        imaging.decode_image(TAKEN["rgb_level_9_many_chunks"][:cut], **LIMITS)


def test_a_png_missing_only_its_end_marker_decodes_as_before(monkeypatch):
    data = TAKEN["rgb"][:-1]  # PIL never needed IEND once the pixels are complete
    assert not _takes_spng(data)
    np.testing.assert_array_equal(np.asarray(imaging.decode_image(data, **LIMITS)), _with_pil_only(monkeypatch, data))


def test_an_opaque_png_is_box_averaged_to_what_the_caller_needs(monkeypatch):
    data = _save(Image.fromarray(_noise((300, 410, 3))))
    reduced = imaging.decode_image(data, **LIMITS, at_least=100)
    assert reduced.size == (103, 75)  # by 410 // 100 = 4, rounded up: never under what was asked
    expected = cv2.resize(_with_pil_only(monkeypatch, data), (103, 75), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(np.asarray(reduced), expected)
    assert imaging.decode_image(data, **LIMITS, at_least=206).size == (410, 300)  # under 2x: full size


@pytest.mark.parametrize("name", ["rgba", "palette"])
def test_transparent_or_pil_decoded_pngs_keep_their_full_size(name):
    data = TAKEN.get(name) or LEFT_TO_PIL[name]
    assert imaging.decode_image(data, **LIMITS, at_least=8).size == Image.open(io.BytesIO(data)).size


def _chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    found, i = [], 8
    while i + 8 <= len(png):
        n = int.from_bytes(png[i : i + 4], "big")
        found.append((png[i + 4 : i + 8], png[i + 8 : i + 8 + n]))
        i += 12 + n
    return found


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # a damaged header claiming 100+ MP
def test_damaged_pixels_behind_valid_crcs_are_refused_or_decoded_never_anything_else():
    """What reaches libspng: image data (or a header) damaged before its CRC was computed."""
    rng = np.random.default_rng(7)
    bases = [TAKEN["rgb"], TAKEN["grey"], TAKEN["rgba"]]
    outcomes = set()
    for i in range(300):
        chunks = _chunks(bases[i % 3])
        j = int(rng.choice([n for n, (kind, _) in enumerate(chunks) if kind in (b"IHDR", b"IDAT")]))
        body = bytearray(chunks[j][1])
        if i % 2 and body:
            body[int(rng.integers(0, len(body)))] ^= int(rng.integers(1, 256))
        else:
            body = body[: int(rng.integers(0, len(body) + 1))]
        chunks[j] = (chunks[j][0], bytes(body))
        data = b"\x89PNG\r\n\x1a\n" + b"".join(png_chunk(kind, b) for kind, b in chunks)
        try:
            image = imaging.decode_image(data, **LIMITS)
        except (InvalidImage, TooLarge) as exc:
            outcomes.add(type(exc).__name__)
        else:
            assert image.mode == "RGB" and image.width * image.height > 0
            outcomes.add("decoded")
    assert {"InvalidImage", "decoded"} <= outcomes
