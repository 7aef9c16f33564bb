"""Behaviour of `sketch2render.sketch.imaging`: safe decoding, normalisation, sizing, edges, PNG I/O."""

from __future__ import annotations

import io
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFile

from sketch2render.errors import InvalidImage, InvalidParameter, NoEdges, TooLarge, UnsupportedFormat
from sketch2render.sketch import imaging

try:
    from tests.corpus import bad_inputs, good_inputs, png_header_only
except ModuleNotFoundError:
    from corpus import bad_inputs, good_inputs, png_header_only

LIMITS = {"max_bytes": 10_000_000, "max_pixels": 40_000_000}
SKETCHES = sorted((Path(imaging.__file__).parents[1] / "data" / "sketches").glob("*.png"))
GOOD = dict(good_inputs())


def _png(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def _sketch(size: int = 256, ink: int = 0, paper: int = 255) -> Image.Image:
    """A rectangle and a circle drawn with `ink` on `paper`."""
    canvas = np.full((size, size), paper, np.uint8)
    cv2.rectangle(canvas, (size // 6, size // 6), (size * 5 // 6, size * 5 // 6), ink, 2)
    cv2.circle(canvas, (size // 2, size // 2), size // 4, ink, 2)
    return Image.fromarray(canvas)


# --- decode_image: hostile input -------------------------------------------------------------


@pytest.mark.parametrize(("name", "data", "error"), bad_inputs(), ids=[b[0] for b in bad_inputs()])
def test_bad_input_is_refused_with_its_error_and_one_sentence(name, data, error):
    with pytest.raises(error) as caught:
        imaging.decode_image(data, **LIMITS)
    assert type(caught.value) is error
    message = caught.value.message
    assert message and "\n" not in message and len(message) < 200


def test_text_like_inputs_name_what_they_look_like():
    messages = {}
    for name, data, _ in bad_inputs():
        if name in ("notes.png", "drawing.svg", "page.html"):
            with pytest.raises(UnsupportedFormat) as caught:
                imaging.decode_image(data, **LIMITS)
            messages[name] = caught.value.message
    assert "text file" in messages["notes.png"]
    assert "SVG" in messages["drawing.svg"]
    assert "HTML" in messages["page.html"]
    with pytest.raises(UnsupportedFormat, match="PDF"):
        imaging.decode_image(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", **LIMITS)


def test_formats_outside_the_allowlist_are_refused_by_name():
    tiff = _png(Image.new("RGB", (8, 8)), "TIFF")
    with pytest.raises(UnsupportedFormat, match="TIFF"):
        imaging.decode_image(tiff, **LIMITS)


def test_huge_header_is_refused_before_any_pixel_is_decoded(monkeypatch):
    loads = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: loads.append(self))
    huge = png_header_only(30000, 30000)
    started = time.perf_counter()
    with pytest.raises(TooLarge, match="900 MP, over the 40 MP limit"):
        imaging.decode_image(huge, **LIMITS)
    # Under PIL's own bomb limit, our limit speaks first and names the size. The IDAT is tiny,
    # so had the pixels been decoded this would have been InvalidImage (truncated).
    with pytest.raises(TooLarge, match="5000×5000 = 25 MP, over the 1 MP limit"):
        imaging.decode_image(png_header_only(5000, 5000), max_bytes=10_000, max_pixels=1_000_000)
    assert time.perf_counter() - started < 1.0
    assert loads == []


def test_byte_and_side_limits():
    data = _png(Image.new("RGB", (300, 100), "white"))
    with pytest.raises(TooLarge, match="MB limit"):
        imaging.decode_image(data, max_bytes=len(data) - 1, max_pixels=10**6)
    with pytest.raises(TooLarge, match="200 px"):
        imaging.decode_image(data, max_bytes=10**6, max_pixels=10**6, max_side=200)
    assert imaging.decode_image(data, max_bytes=len(data), max_pixels=30_000, max_side=300).size == (300, 100)


# --- decode_image: odd but valid input -------------------------------------------------------


@pytest.mark.parametrize("name", sorted(GOOD))
def test_good_input_decodes_to_a_loaded_rgb_image(name):
    image = imaging.decode_image(GOOD[name], **LIMITS)
    assert image.mode == "RGB"
    assert np.asarray(image).shape == (image.height, image.width, 3)


def _decode(name: str) -> np.ndarray:
    return np.asarray(imaging.decode_image(GOOD[name], **LIMITS)).astype(int)


def test_16_bit_is_scaled_not_clipped():
    row = _decode("gray16.png")[0, :, 0]
    assert row[0] == 0 and row[-1] == 255
    assert np.all(np.diff(row) >= 0)
    assert abs(row[128] - 128) <= 1  # a clipping converter gives 255 here
    assert np.count_nonzero(row == 255) <= 2


def test_cmyk_becomes_the_same_colour_in_rgb():
    assert np.abs(_decode("cmyk.jpg")[8, 8] - [255, 0, 0]).max() <= 8


@pytest.mark.parametrize("name", ["palette_transparent.png", "rgba.webp"])
def test_transparency_is_flattened_onto_white(name):
    pixels = _decode(name)
    assert np.all(pixels[:, :16] == 255)  # transparent red / blue became white
    assert np.all(pixels[:, 16:] == 0)


def test_animation_keeps_its_first_frame():
    assert np.all(_decode("animated.gif") == 0)  # the second frame is white


def test_exif_orientation_is_applied():
    pixels = _decode("exif_rotated.jpg")
    assert pixels.shape[:2] == (40, 20)  # stored 40 wide × 20 high, rotated 90° clockwise
    assert np.abs(pixels[5, 15] - [255, 0, 0]).max() <= 16  # top-left block moved to the top-right
    assert np.all(pixels[5, 4] >= 240)


def test_grey_and_bilevel_become_neutral_rgb():
    assert np.all(_decode("grey.png") == 128)
    bilevel = _decode("bilevel.png")
    assert np.all(bilevel[:, :16] == 0) and np.all(bilevel[:, 16:] == 255)


# --- load_image_file -------------------------------------------------------------------------


def test_load_image_file_reads_a_file(tmp_path):
    path = tmp_path / "sketch.png"
    path.write_bytes(_png(Image.new("L", (24, 16), 0)))
    assert imaging.load_image_file(path, **LIMITS).size == (24, 16)


def test_load_image_file_missing_or_directory_names_the_path(tmp_path):
    with pytest.raises(InvalidImage, match="nowhere.png"):
        imaging.load_image_file(tmp_path / "nowhere.png", **LIMITS)
    with pytest.raises(InvalidImage, match="not a regular file"):
        imaging.load_image_file(tmp_path, **LIMITS)


def test_load_image_file_refuses_a_big_file_without_reading_it(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    path.write_bytes(b"\0" * 5000)
    monkeypatch.setattr(Path, "open", lambda *a, **k: pytest.fail("the file was opened"))
    with pytest.raises(TooLarge, match="big.png"):
        imaging.load_image_file(path, max_bytes=1000, max_pixels=10**6)


# --- fit_size / resize_for_generation --------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "longest", "expected"),
    [
        ((512, 512), 512, (512, 512)),
        ((1024, 768), 512, (512, 384)),
        ((768, 1024), 512, (384, 512)),
        ((100, 1000), 512, (48, 512)),  # tall
        ((4000, 10), 512, (512, 8)),  # very wide: the short side never drops below 8
        ((3, 5), 512, (304, 512)),  # tiny: scaled up
        ((333, 517), 768, (496, 768)),
    ],
)
def test_fit_size_keeps_aspect_and_multiples_of_8(size, longest, expected):
    width, height = imaging.fit_size(*size, longest=longest)
    assert (width, height) == expected
    assert width % 8 == 0 and height % 8 == 0 and max(width, height) == longest
    scale = longest / max(size)
    assert abs(width - size[0] * scale) <= 8 and abs(height - size[1] * scale) <= 8


def test_fit_size_rejects_non_positive_sizes():
    with pytest.raises(ValueError):
        imaging.fit_size(0, 10)


def test_resize_for_generation_gives_rgb_at_fit_size():
    image = Image.new("RGBA", (1000, 600), (0, 0, 0, 255))
    resized = imaging.resize_for_generation(image, longest=256)
    assert resized.mode == "RGB" and resized.size == imaging.fit_size(1000, 600, longest=256) == (256, 152)


# --- edges -----------------------------------------------------------------------------------


def test_auto_thresholds_follow_the_median_and_find_the_drawing():
    result = imaging.detect_edges(_sketch())
    assert (result.low, result.high, result.inverted) == (170, 255, False)  # median 255 ± 33 %
    assert result.edges.dtype == np.uint8 and set(np.unique(result.edges)) == {0, 255}
    assert 0.01 < result.edge_fraction < 0.1
    assert result.edges[40:44, 128].any()  # the top of the rectangle (y = 42)
    assert not result.edges[5:30, 5:30].any()  # empty paper


def test_explicit_thresholds_are_used_and_matter():
    image = np.asarray(_sketch()).copy()
    cv2.line(image, (60, 100), (190, 100), 225, 2)  # a faint pencil line
    image = Image.fromarray(image)
    auto = imaging.detect_edges(image)
    sensitive = imaging.detect_edges(image, low=10, high=30)
    assert (sensitive.low, sensitive.high) == (10, 30)
    assert not auto.edges[95:106, 128].any() and sensitive.edges[95:106, 128].any()
    assert sensitive.edge_fraction > auto.edge_fraction


def test_one_threshold_implies_the_other_at_1_to_2():
    assert (imaging.detect_edges(_sketch(), low=60).high, imaging.detect_edges(_sketch(), high=90).low) == (
        120,
        45,
    )


@pytest.mark.parametrize(
    ("low", "high", "field"),
    [(-1, 100, "canny_low"), (10, 256, "canny_high"), (200, 100, "canny_low"), (True, 100, "canny_low")],
)
def test_invalid_thresholds_name_the_field(low, high, field):
    with pytest.raises(InvalidParameter) as caught:
        imaging.detect_edges(_sketch(), low=low, high=high)
    assert caught.value.field == field


def test_blank_or_nearly_blank_sketch_has_no_edges():
    with pytest.raises(NoEdges, match="no edges found in the sketch; is it blank"):
        imaging.detect_edges(Image.new("RGB", (256, 256), "white"))
    speck = Image.new("L", (512, 512), 255)
    speck.paste(0, (100, 100, 103, 103))
    with pytest.raises(NoEdges):
        imaging.detect_edges(speck)
    assert imaging.detect_edges(speck, min_edge_fraction=0).edge_fraction > 0


def test_light_on_dark_is_detected_and_gives_the_same_edges():
    dark_on_light, chalk = _sketch(), _sketch(ink=235, paper=20)
    assert not imaging.is_light_on_dark(np.asarray(dark_on_light))
    assert imaging.is_light_on_dark(np.asarray(chalk))
    normal, inverted = imaging.detect_edges(dark_on_light), imaging.detect_edges(chalk)
    assert inverted.inverted and not normal.inverted
    agreement = np.count_nonzero(normal.edges == inverted.edges) / normal.edges.size
    overlap = np.count_nonzero(normal.edges & inverted.edges) / np.count_nonzero(normal.edges)
    assert agreement > 0.99 and overlap > 0.9


def test_a_dim_photo_of_dark_lines_is_not_light_on_dark():
    assert not imaging.is_light_on_dark(np.asarray(_sketch(ink=30, paper=110)))


def test_control_image_is_white_edges_on_black_rgb():
    result = imaging.detect_edges(_sketch())
    control = result.control_image()
    pixels = np.asarray(control)
    assert control.mode == "RGB" and pixels.shape == (256, 256, 3)
    assert np.array_equal(pixels[:, :, 0], result.edges) and np.array_equal(pixels[:, :, 2], result.edges)
    with pytest.raises(ValueError):
        result.edges[0, 0] = 1  # the frozen result's array is read-only too


@pytest.mark.parametrize("path", SKETCHES, ids=[p.stem for p in SKETCHES])
def test_real_sketches_give_sane_edges(path):
    image = imaging.resize_for_generation(imaging.load_image_file(path, **LIMITS))
    result = imaging.detect_edges(image)
    assert not result.inverted
    assert 0.01 < result.edge_fraction < 0.3


def test_sketch_corpus_is_present():
    assert len(SKETCHES) >= 5


# --- PNG output ------------------------------------------------------------------------------


def test_encode_png_is_deterministic_and_text_round_trips():
    image = _sketch().convert("RGB")
    text = {"prompt": "a teapot, café style ☕", "seed": "42"}
    first = imaging.encode_png(image, text)
    assert first == imaging.encode_png(image.copy(), dict(reversed(list(text.items()))))
    assert imaging.read_png_text(first) == text
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(first))), np.asarray(image))


def test_encode_png_drops_source_metadata():
    image = _sketch().convert("RGB")
    tagged = image.copy()
    tagged.info.update({"dpi": (300, 300), "comment": "from the upload", "exif": b"Exif\0\0junk"})
    assert imaging.encode_png(tagged) == imaging.encode_png(image)
    assert imaging.read_png_text(imaging.encode_png(tagged)) == {}


def test_read_png_text_refuses_non_png_and_huge_headers():
    with pytest.raises(UnsupportedFormat):
        imaging.read_png_text(_png(Image.new("RGB", (8, 8)), "JPEG"))
    with pytest.raises(TooLarge):
        imaging.read_png_text(png_header_only(5000, 5000), max_pixels=1_000_000)


def test_thumbnail_fits_the_box_and_keeps_aspect():
    thumb = Image.open(io.BytesIO(imaging.thumbnail_png(Image.new("L", (1000, 500), 0), size=128)))
    assert thumb.format == "PNG" and thumb.mode == "RGB" and thumb.size == (128, 64)
    small = Image.open(io.BytesIO(imaging.thumbnail_png(Image.new("RGB", (40, 20)), size=128)))
    assert small.size == (40, 20)


def test_big_jpeg_and_png_are_decoded_at_reduced_scale_when_asked_with_the_same_edges():

    lines = np.full((2048, 1536, 3), 255, np.uint8)
    for i in range(0, 1536, 64):
        cv2.line(lines, (i, 0), (1535 - i, 2047), (0, 0, 0), 3)
    buf = io.BytesIO()
    Image.fromarray(lines).save(buf, "JPEG", quality=90)
    limits = {"max_bytes": 10**8, "max_pixels": 10**8}
    full = imaging.decode_image(buf.getvalue(), **limits)
    reduced = imaging.decode_image(buf.getvalue(), **limits, at_least=512)
    assert full.size == (1536, 2048) and reduced.size == (384, 512)  # DCT-scaled to what is needed
    a = imaging.detect_edges(imaging.resize_for_generation(full, 512)).edges
    b = imaging.detect_edges(imaging.resize_for_generation(reduced, 512)).edges
    distance = cv2.distanceTransform((255 - a).astype(np.uint8), cv2.DIST_L2, 3)
    assert distance[b > 0].mean() < 1.0
    png = io.BytesIO()
    Image.fromarray(lines).save(png, "PNG")
    from_png = imaging.decode_image(png.getvalue(), **limits, at_least=512)  # box-averaged as libspng decodes
    assert from_png.size == (384, 512)
    c = imaging.detect_edges(imaging.resize_for_generation(from_png, 512)).edges
    assert distance[c > 0].mean() < 1.0
