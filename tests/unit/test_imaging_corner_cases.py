"""Known answers at the edges of sketch/imaging.py (sniffing, limits, exact refusals), written against the
mutants that survived the older tests (docs/mutation.md): each asserts a behaviour a user sees."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from sketch2render.errors import InvalidImage, TooLarge, UnsupportedFormat
from sketch2render.sketch import imaging

try:
    from tests.corpus import png_header_only as header_png
except ModuleNotFoundError:
    from corpus import png_header_only as header_png

LIMITS = {"max_bytes": 10_000_000, "max_pixels": 40_000_000}
ALLOWED = "upload a PNG, JPEG, WEBP, GIF or BMP image"


def encoded(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def refusal(data: bytes, **limits) -> tuple[type, str]:
    with pytest.raises((InvalidImage, TooLarge, UnsupportedFormat)) as caught:
        imaging.decode_image(data, **(limits or LIMITS))
    return type(caught.value), caught.value.message


def looks_like(what: str) -> tuple[type, str]:
    return UnsupportedFormat, f"the file looks like {what}, not a raster image; {ALLOWED}"


CORRUPT_WEBP = "the file starts like a WEBP image but its header is corrupt"
NOT_RECOGNISED = (UnsupportedFormat, f"the file is not a recognised image format; {ALLOWED}")


# --- what non-image bytes look like ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", looks_like("a PDF document")),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", looks_like("an SVG drawing")),
        (b"<!DOCTYPE html><p>no html tag</p>", looks_like("an HTML page")),
        (b"<p>first</p><html><body/></html>", looks_like("an HTML page")),  # <html> within 512 chars
        (b"a" * 507 + b"<html>", looks_like("an HTML page")),  # the whole tag starts within 512
        (b"a" * 508 + b"<html>", looks_like("a text file")),  # ... and one later it does not
        (b"\xef\xbb\xbf<!DOCTYPE html><p/>", looks_like("an HTML page")),  # a byte-order mark first
        (b"\xef\xbb\xbf<?xml version='1.0'?><a/>", looks_like("an XML document")),
        (b" \r\n\t<?xml version='1.0'?><a/>", looks_like("an XML document")),  # leading blanks
        (b"X<?xml version='1.0'?><a/>", looks_like("a text file")),
        (b"just some notes\n\ttabbed\f", looks_like("a text file")),
        (b"a" * 2048 + b"\x01", looks_like("a text file")),  # only the first 2048 bytes are sniffed
        (b"a" * 2047 + "é".encode(), looks_like("a text file")),  # a character cut at 2048 is fine
        (b"a" * 100 + b"\x01", NOT_RECOGNISED),  # a control character: not text
        (b"RIFF\x10\x00\x00\x00WEBPJUNKJUNK\x00", (InvalidImage, CORRUPT_WEBP)),
        (b"RIFF\x10\x00\x00\x00AVI LIST\x00\x00\x00\x00", NOT_RECOGNISED),  # RIFF but not WEBP
        (b"\x00\x00\x00\x00\x00\x00\x00\x00WEBP\x00", NOT_RECOGNISED),  # WEBP but not RIFF
    ],
)
def test_non_images_are_refused_with_exactly_what_they_look_like(data, expected):
    assert refusal(data) == expected


def test_an_empty_file_says_so():
    assert refusal(b"") == (InvalidImage, "file is empty")


# --- limits and their messages ---------------------------------------------------------------------


def test_the_byte_limit_message_gives_both_sizes_in_mb():
    data = b"\x89PNG" + b"\x00" * 2_049_997  # 2_050_001 bytes
    assert refusal(data, max_bytes=1_050_001, max_pixels=10**6) == (
        TooLarge,
        "file is 2.1 MB, over the 1.1 MB limit",
    )


@pytest.mark.parametrize(
    ("size", "max_pixels", "message"),
    [
        ((2000, 1000), 1_250_001, "image is 2000×1000 = 2 MP, over the 1.3 MP limit"),
        ((5000, 3000), 12_000_000, "image is 5000×3000 = 15 MP, over the 12 MP limit"),
        ((3000, 3000), 8_999_999, "image is 3000×3000 = 9 MP, over the 9 MP limit"),
    ],
)
def test_the_pixel_limit_message_gives_megapixels(size, max_pixels, message):
    assert refusal(header_png(*size), max_bytes=10**6, max_pixels=max_pixels) == (TooLarge, message)


def test_a_bomb_error_without_a_pixel_count_falls_back_to_twice_the_pil_limit(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 3_000_000)
    assert imaging._bomb_size(ValueError("no count here")) == "over 6 MP"
    assert imaging._bomb_size(ValueError("Image size (12345678 pixels) exceeds")) == "12 MP"


def test_one_pixel_wide_or_high_images_decode():
    for size in ((1, 1), (1, 5), (5, 1)):
        assert imaging.decode_image(encoded(Image.new("RGB", size, "red")), **LIMITS).size == size


def test_a_truncated_image_names_its_format_and_the_error():
    data = encoded(Image.effect_noise((64, 64), 50).convert("RGB"))
    with pytest.raises(InvalidImage) as caught:
        imaging.decode_image(data[: len(data) // 2], **LIMITS)
    assert caught.value.message == "the PNG image is truncated or corrupt (OSError)"


def test_a_multi_picture_jpeg_from_a_camera_is_a_jpeg():
    frames = [Image.new("RGB", (16, 8), "red"), Image.new("RGB", (16, 8), "blue")]
    data = encoded(frames[0], "MPO", save_all=True, append_images=frames[1:])
    assert Image.open(io.BytesIO(data)).format == "MPO"
    image = imaging.decode_image(data, **LIMITS)
    assert image.size == (16, 8) and image.getpixel((8, 4))[0] > 200  # the first frame, red


# --- colour and transparency -----------------------------------------------------------------------


def test_sixteen_bit_grey_is_divided_by_257_and_rounded():
    values = np.array([[0, 257, 32896, 33024, 65535]], dtype=np.uint16)  # 32896/257 = 128.0, 33024: 128.5
    image = imaging.decode_image(encoded(Image.fromarray(values)), **LIMITS)
    assert [image.getpixel((x, 0)) for x in range(5)] == [(0,) * 3, (1,) * 3, (128,) * 3, (128,) * 3, (255,) * 3]


@pytest.mark.parametrize("mode", ["LA", "RGBA"])
def test_see_through_pixels_become_white_and_half_through_mix(mode):
    dark = (0, 0) if mode == "LA" else (0, 0, 0, 0)
    half = (0, 128) if mode == "LA" else (0, 0, 0, 128)
    image = Image.new(mode, (2, 1), dark)
    image.putpixel((1, 0), half)
    decoded = imaging.decode_image(encoded(image), **LIMITS)
    assert decoded.getpixel((0, 0)) == (255, 255, 255)
    assert decoded.getpixel((1, 0)) == (127, 127, 127)


# --- load_image_file -------------------------------------------------------------------------------


def test_a_file_of_exactly_the_byte_limit_is_read_whole(tmp_path):
    data = encoded(Image.effect_noise((32, 32), 60).convert("RGB"))
    path = tmp_path / "exact.png"
    path.write_bytes(data)
    assert imaging.load_image_file(path, max_bytes=len(data), max_pixels=10**6).size == (32, 32)


def test_a_big_file_is_refused_with_both_sizes_and_its_name(tmp_path):
    path = tmp_path / "big.png"
    with path.open("wb") as f:
        f.truncate(2_050_001)
    with pytest.raises(TooLarge) as caught:
        imaging.load_image_file(path, max_bytes=1_050_001, max_pixels=10**6)
    assert caught.value.message == "file big.png is 2.1 MB, over the 1.1 MB limit"


def test_a_file_keeps_the_side_limit(tmp_path):
    path = tmp_path / "wide.png"
    path.write_bytes(encoded(Image.new("RGB", (40, 10))))
    with pytest.raises(TooLarge) as caught:
        imaging.load_image_file(path, max_bytes=10**6, max_pixels=10**6, max_side=32)
    assert caught.value.message == "image is 40×10, its longest side is over the 32 px limit"


# --- fit_size and resizing -------------------------------------------------------------------------


def test_fit_size_accepts_the_smallest_sizes_and_defaults_to_512():
    assert imaging.fit_size(1, 1) == (512, 512)
    assert imaging.fit_size(1, 1, longest=1, multiple=1) == (1, 1)
    assert imaging.fit_size(1024, 768) == (512, 384)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 5, 512, 8), "fit_size needs positive sizes, got 0×5, longest=512, multiple=8"),
        ((5, 0, 512, 8), "fit_size needs positive sizes, got 5×0, longest=512, multiple=8"),
        ((5, 5, 0, 8), "fit_size needs positive sizes, got 5×5, longest=0, multiple=8"),
        ((5, 5, 512, 0), "fit_size needs positive sizes, got 5×5, longest=512, multiple=0"),
    ],
)
def test_fit_size_refuses_each_non_positive_argument_by_value(args, message):
    with pytest.raises(ValueError) as caught:
        imaging.fit_size(*args)
    assert str(caught.value) == message


def gradient(width: int, height: int) -> Image.Image:
    x = np.linspace(0, 255, width)[None, :] * np.ones((height, 1))
    y = np.linspace(0, 255, height)[:, None] * np.ones((1, width))
    return Image.fromarray(np.dstack([x, y, (x + y) / 2]).astype(np.uint8))


def area(image: Image.Image, size: tuple[int, int]) -> np.ndarray:
    return cv2.resize(np.asarray(image), size, interpolation=cv2.INTER_AREA)


def test_shrinking_is_area_averaging_after_an_integer_box_reduction():
    tall = gradient(100, 1000)  # (48, 512): a factor of 1 across, so OpenCV's area average alone
    assert np.array_equal(np.asarray(imaging.resize_for_generation(tall)), area(tall, (48, 512)))
    big = gradient(1600, 1200)  # (512, 384): a box reduction by 3, then area averaging
    assert np.array_equal(np.asarray(imaging.resize_for_generation(big)), area(big.reduce(3), (512, 384)))
    twice = gradient(1040, 784)  # a box reduction by 2 (not 3)
    assert np.array_equal(np.asarray(imaging.resize_for_generation(twice)), area(twice.reduce(2), (512, 384)))
    exact = gradient(1024, 1024)  # the box reduction alone lands on the size
    assert np.array_equal(np.asarray(imaging.resize_for_generation(exact)), np.asarray(exact.reduce(2)))


def test_enlarging_either_side_is_lanczos():
    thin = gradient(1000, 7)  # wider than 512 but 7 high: the height grows to 8
    expected = thin.resize((512, 8), Image.Resampling.LANCZOS)
    assert np.array_equal(np.asarray(imaging.resize_for_generation(thin)), np.asarray(expected))
    small = gradient(30, 20)
    expected = small.resize((512, 344), Image.Resampling.LANCZOS)
    assert np.array_equal(np.asarray(imaging.resize_for_generation(small)), np.asarray(expected))


# --- light-on-dark, thresholds and Canny -----------------------------------------------------------


def grey(*runs: tuple[int, int]) -> np.ndarray:
    """A one-row grey image: (value, count) runs."""
    return np.array([[v for v, n in runs for _ in range(n)]], dtype=np.uint8)


@pytest.mark.parametrize(
    ("gray", "expected"),
    [
        (grey((128, 6), (200, 5)), False),  # a background of exactly 128 is light
        (grey((127, 6), (200, 5)), True),
        (grey((0, 6), (32, 5)), False),  # 32 grey levels from the background is not ink
        (grey((0, 6), (33, 5)), True),
        (grey((100, 7), (200, 2), (50, 3)), False),  # 2 of 5 ink pixels lighter: not mostly
        (grey((100, 7), (200, 2), (50, 2)), False),  # half of them: not mostly
        (grey((100, 7), (200, 3), (50, 2)), True),
        (grey((20, 9)), False),  # dark and no ink at all
    ],
)
def test_light_on_dark_needs_a_dark_median_and_mostly_lighter_ink(gray, expected):
    assert imaging.is_light_on_dark(gray) is expected


@pytest.mark.parametrize(
    ("median", "floors", "expected"),
    [
        (0, {}, (0, 0)),
        (100, {}, (67, 133)),
        (200, {}, (134, 255)),
        (10, {"floor_high": 50}, (6, 50)),
        (0, {"floor_low": 40}, (40, 40)),  # high never below low
    ],
)
def test_auto_thresholds_are_the_median_plus_minus_a_third_with_floors(median, floors, expected):
    assert imaging.auto_thresholds(np.full((4, 4), median, np.uint8), **floors) == expected


def drawing(ink: int = 40, paper: int = 230) -> Image.Image:
    """Soft, noisy strokes: weak and strong gradients, so each threshold changes the edges."""
    rng = np.random.default_rng(3)
    canvas = np.full((128, 128), paper, np.uint8)
    cv2.circle(canvas, (64, 64), 40, ink, 3)
    cv2.line(canvas, (10, 110), (118, 20), (ink + paper) // 2, 2)
    canvas = cv2.GaussianBlur(canvas, (5, 5), 1.5).astype(np.int16) + rng.integers(-12, 12, canvas.shape)
    return Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8)).convert("RGB")


def reference_edges(image: Image.Image, low: int, high: int) -> np.ndarray:
    gray = cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2GRAY)
    return cv2.Canny(cv2.GaussianBlur(gray, (3, 3), 0), low, high)


@pytest.mark.parametrize(("low", "high"), [(None, None), (20, 60), (5, 120), (60, None), (None, 101)])
def test_edges_are_canny_on_the_lightly_blurred_grey_at_the_stated_thresholds(low, high):
    image = drawing()
    result = imaging.detect_edges(image, low=low, high=high)
    assert np.array_equal(result.edges, reference_edges(image, result.low, result.high))
    assert type(result.low) is int and type(result.high) is int
    if (low, high) == (60, None):
        assert (result.low, result.high) == (60, 120)
    if (low, high) == (None, 101):
        assert (result.low, result.high) == (50, 101)


def test_one_threshold_never_implies_more_than_255():
    assert imaging.detect_edges(drawing(), low=128).high == 255


def test_chalk_on_a_board_is_inverted_before_the_automatic_thresholds():
    chalk = Image.fromarray(255 - np.asarray(drawing(ink=40, paper=230)))  # light strokes on 25
    result = imaging.detect_edges(chalk)
    assert result.inverted is True
    assert (result.low, result.high) == imaging.auto_thresholds(
        cv2.GaussianBlur(255 - cv2.cvtColor(np.asarray(chalk), cv2.COLOR_RGB2GRAY), (3, 3), 0)
    )
    assert result.low > 100  # thresholds of the light paper it became, not of the dark board


def test_threshold_bounds_are_inclusive_and_equal_thresholds_are_fine():
    assert imaging.detect_edges(drawing(), low=0, high=255).low == 0
    assert imaging.detect_edges(drawing(), low=40, high=40).high == 40


@pytest.mark.parametrize(
    ("low", "high", "field", "message"),
    [
        (256, None, "canny_low", "canny_low must be an integer from 0 to 255, got 256"),
        (None, -1, "canny_high", "canny_high must be an integer from 0 to 255, got -1"),
        (None, True, "canny_high", "canny_high must be an integer from 0 to 255, got True"),
        (200, 100, "canny_low", "canny_low (200) must not exceed canny_high (100)"),
    ],
)
def test_bad_thresholds_are_refused_with_the_field_and_the_value(low, high, field, message):
    from sketch2render.errors import InvalidParameter

    with pytest.raises(InvalidParameter) as caught:
        imaging.detect_edges(drawing(), low=low, high=high)
    assert (caught.value.field, caught.value.message) == (field, message)


def test_an_edge_fraction_exactly_at_the_minimum_is_enough():
    from sketch2render.errors import NoEdges

    found = imaging.detect_edges(drawing())
    again = imaging.detect_edges(drawing(), min_edge_fraction=found.edge_fraction)
    assert again.edge_fraction == found.edge_fraction
    assert not again.edges.flags.writeable
    with pytest.raises(NoEdges) as caught:
        imaging.detect_edges(Image.new("RGB", (64, 64), "white"))
    assert caught.value.message == "no edges found in the sketch; is it blank?"


# --- PNG encoding and reading ----------------------------------------------------------------------


def reference_png(image: Image.Image, level: int) -> bytes:
    return encoded(image, "PNG", compress_level=level, optimize=False)


def test_encode_png_is_plain_pil_at_level_6_by_default_and_at_the_level_asked():
    image = drawing()
    assert imaging.encode_png(image) == reference_png(image, 6) != reference_png(image, 7)
    assert imaging.encode_png(image, compress_level=1) == reference_png(image, 1) != reference_png(image, 6)
    assert imaging.encode_png(image, compress_level=9) == reference_png(image, 9)


def test_encode_png_keeps_transparency_and_drops_a_colour_profile():
    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    palette.info["transparency"] = 1
    assert Image.open(io.BytesIO(imaging.encode_png(palette))).info.get("transparency") == 1
    profiled = drawing()
    profiled.info["icc_profile"] = b"not a real profile"
    assert b"iCCP" not in imaging.encode_png(profiled)


def test_read_png_text_refusals_are_exact():
    with pytest.raises(UnsupportedFormat) as caught:
        imaging.read_png_text(encoded(drawing(), "JPEG"))
    assert caught.value.message == "the file is not a PNG image"
    data = imaging.encode_png(Image.new("RGB", (100, 50)), {"k": "v"})
    assert imaging.read_png_text(data, max_pixels=5000) == {"k": "v"}  # exactly at the limit
    with pytest.raises(TooLarge) as caught:
        imaging.read_png_text(data, max_pixels=4999)
    assert caught.value.message == "image is 100×50, over the 0.005 MP limit"


def test_thumbnail_is_a_lanczos_reduction_into_256_by_default():
    image = drawing().resize((600, 300))
    thumb = Image.open(io.BytesIO(imaging.thumbnail_png(image)))
    assert thumb.size == (256, 128)
    expected = image.copy()
    expected.thumbnail((256, 256), Image.Resampling.LANCZOS)
    assert np.array_equal(np.asarray(thumb.convert("RGB")), np.asarray(expected))


def test_a_bomb_error_without_a_pixel_count_or_a_pil_limit_says_over_0_mp(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    assert imaging._bomb_size(ValueError("no count here")) == "over 0 MP"


def test_decode_upload_applies_every_configured_limit():
    from sketch2render.config import UploadLimits

    data = encoded(drawing().resize((300, 100)), "JPEG")
    image = imaging.decode_upload(data, UploadLimits(max_bytes=len(data), max_pixels=30_000, max_side=300))
    assert image.size == (300, 100)
    assert imaging.decode_upload(data, UploadLimits(), at_least=200).size == (300, 100)  # under 2x: full size
    big = encoded(drawing().resize((800, 400)), "JPEG")
    assert imaging.decode_upload(big, UploadLimits(), at_least=100).size == (100, 50)  # DCT-scaled to 100
    for limits, message in [
        (UploadLimits(max_bytes=len(data) - 1), f"file is 0.0 MB, over the {(len(data) - 1) / 1e6:.1f} MB limit"),
        (UploadLimits(max_pixels=29_999), "image is 300×100 = 0.03 MP, over the 0.03 MP limit"),
        (UploadLimits(max_side=299), "image is 300×100, its longest side is over the 299 px limit"),
    ]:
        with pytest.raises(TooLarge) as caught:
            imaging.decode_upload(data, limits)
        assert caught.value.message == message
    with pytest.raises(InvalidImage, match="^file is empty$"):
        imaging.decode_upload(b"", UploadLimits())


def test_a_file_is_read_to_its_last_byte(tmp_path):
    image = Image.fromarray((np.random.default_rng(2).random((4, 4, 3)) * 255).astype(np.uint8))
    data = encoded(image, "BMP")  # a BMP ends with pixels: one byte short is truncated
    path = tmp_path / "exact.bmp"
    path.write_bytes(data)
    loaded = imaging.load_image_file(path, max_bytes=len(data), max_pixels=10**6)
    assert np.array_equal(np.asarray(loaded), np.asarray(image))
    with pytest.raises(InvalidImage, match="^the BMP image is truncated or corrupt"):
        imaging.decode_image(data[:-1], **LIMITS)


def test_the_blurred_grey_of_any_mode_is_the_same():
    rgb = drawing()
    expected = cv2.GaussianBlur(cv2.cvtColor(np.asarray(rgb), cv2.COLOR_RGB2GRAY), (3, 3), 0)
    for image in (rgb, rgb.convert("L"), rgb.convert("RGBA")):
        assert np.array_equal(imaging.blurred_gray(image), expected)


def test_the_recipe_summary_of_an_edge_map_names_its_thresholds_and_a_rounded_fraction():
    found = imaging.detect_edges(drawing(), low=20, high=60)
    assert found.summary() == {
        "low": 20,
        "high": 60,
        "inverted": False,
        "edge_fraction": round(found.edge_fraction, 6),
    }
    assert found.edge_fraction != round(found.edge_fraction, 5)  # six digits are kept
