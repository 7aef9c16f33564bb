"""Pure image functions: safe decoding of untrusted uploads, normalisation to RGB, resizing for
generation, Canny edge maps for ControlNet, and deterministic PNG encoding with text metadata.

Decoding is defensive: size limits are checked on the compressed bytes and on the header before
any pixel is decoded, only raster formats on an allowlist are accepted, and every failure becomes
a domain error (`errors.py`) with one human sentence. Left out on purpose: colour management (ICC
profiles are ignored), multi-frame output (animations keep their first frame), vector formats,
and anything that needs torch. Only PIL, numpy, OpenCV and libspng (`pyspng`, for the common PNGs)
are used here.
"""

from __future__ import annotations

import codecs
import io
import re
import zlib
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import cv2
import numpy as np
import pyspng
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from ..config import UploadLimits
from ..errors import InvalidImage, InvalidParameter, NoEdges, TooLarge, UnsupportedFormat

ALLOWED_FORMATS: frozenset[str] = frozenset({"PNG", "JPEG", "WEBP", "GIF", "BMP"})
_FORMAT_ALIASES = {"MPO": "JPEG"}  # multi-picture JPEGs from phones and cameras
_ALLOWED_TEXT = "upload a PNG, JPEG, WEBP, GIF or BMP image"
_SIGNATURES = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG", b"GIF8": "GIF", b"BM": "BMP"}
_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I"}
# PNGs that libspng decodes to exactly PIL's pixels: 8-bit grey / RGB / RGBA, not interlaced, with
# only these chunks (no tRNS, palette, eXIf or APNG frames), CRCs intact - PIL decodes the rest.
_SPNG_MODES = {0: "L", 2: "RGB", 6: "RGBA"}
_SPNG_CHUNKS = frozenset(b"IHDR IDAT IEND gAMA cHRM sRGB iCCP pHYs tIME sBIT bKGD tEXt zTXt iTXt".split())
_SPNG_MAX_CHUNKS = 10_000


def _mp(pixels: float) -> str:
    mp = pixels / 1e6
    return f"{mp:.0f} MP" if mp >= 10 else f"{mp:.2g} MP"


def _bomb_size(exc: Exception) -> str:
    """The pixel count PIL states in its DecompressionBombError, as 'N MP'."""
    found = re.search(r"\((\d+) pixels\)", str(exc))
    return _mp(int(found.group(1))) if found else f"over {_mp(2 * (Image.MAX_IMAGE_PIXELS or 0))}"


def _claimed_format(data: bytes) -> str | None:
    """The allowed format whose signature the bytes start with, if any."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return next((fmt for magic, fmt in _SIGNATURES.items() if data.startswith(magic)), None)


def _looks_like(data: bytes) -> str | None:
    """Name what non-image bytes look like (text, SVG, HTML, XML, PDF), or None."""
    head = data[:2048]
    if head.startswith(b"%PDF"):
        return "a PDF document"
    if b"\x00" in head:
        return None
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return None
    if any(ch < " " and ch not in "\t\n\r\f" for ch in text):
        return None
    lower = text.lstrip("\ufeff \t\r\n").lower()
    if "<svg" in lower:
        return "an SVG drawing"
    if lower.startswith(("<!doctype html", "<html")) or "<html" in lower[:512]:
        return "an HTML page"
    if lower.startswith("<?xml"):
        return "an XML document"
    return "a text file"


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode -> RGB; 16-bit scaled (not clipped); transparency flattened onto white."""
    if image.mode in _SIXTEEN_BIT_MODES:
        values = np.asarray(image).astype(np.float64) / 257.0
        image = Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, image.convert("RGBA")).convert("RGB")
    if image.mode == "RGB" and type(image) is Image.Image:  # libspng's pixels: already our own copy
        return image
    return image.convert("RGB")  # (copies the pixels out of the opened file)


def _spng_decode(data: bytes, header: Image.Image, at_least: int | None = None) -> Image.Image | None:
    """libspng's decode of a PNG PIL has opened lazily (header read, limits checked): 1.5x (512²)
    to 3x (2048²) faster than PIL's. None when the file is not one `_SPNG_MODES`/`_SPNG_CHUNKS`
    allow, or when a chunk after the pixels could carry metadata PIL only reads while decoding (EXIF
    orientation). With `at_least`, an opaque image is box-averaged by an integer factor to no less
    than that before it becomes a PIL image (the full-size copy would cost more than the decode's rest)."""
    if (
        data[12:16] != b"IHDR"
        or data[24] != 8
        or data[28] != 0
        or _SPNG_MODES.get(data[25]) != header.mode
        or "transparency" in header.info
    ):
        return None
    view, position, pixels_seen = memoryview(data), 8, False
    for _ in range(_SPNG_MAX_CHUNKS):
        kind, end = data[position + 4 : position + 8], position + 8 + int.from_bytes(data[position : position + 4])
        if kind not in _SPNG_CHUNKS or (pixels_seen and kind not in (b"IDAT", b"IEND")):
            return None
        if zlib.crc32(view[position + 4 : end]) != int.from_bytes(data[end : end + 4]):
            return None  # a damaged chunk (libspng would use it): PIL's decode decides, and refuses most
        if kind == b"IEND":
            break
        pixels_seen = pixels_seen or kind == b"IDAT"
        position = end + 4
    else:
        return None
    pixels = pyspng.load(data)
    factor = max(pixels.shape[:2]) // at_least if at_least and header.mode != "RGBA" else 1
    if factor >= 2:  # (what resize_for_generation's integer reduction would do next)
        height, width = pixels.shape[:2]
        pixels = cv2.resize(pixels, (-(-width // factor), -(-height // factor)), interpolation=cv2.INTER_AREA)
    image = Image.fromarray(pixels)
    image.info = dict(header.info)  # text chunks before the pixels (XMP orientation) as PIL read them
    return image


def decode_image(
    data: bytes, *, max_bytes: int, max_pixels: int, max_side: int | None = None, at_least: int | None = None
) -> Image.Image:
    """Decode untrusted bytes into a fully loaded RGB image, or raise a domain error.

    `at_least`: the caller only needs a longest side of this many pixels; a JPEG is then decoded
    at a reduced scale (DCT scaling to no less than that size; what is left is the entropy decoding)
    and an opaque PNG taken by libspng is box-averaged to no less than that as it is decoded. Edges
    found at the render's size match those of a full decode within a pixel (docs/facts.md)."""
    # 1. Cheap checks on the raw bytes.
    if not data:
        raise InvalidImage("file is empty")
    if len(data) > max_bytes:
        raise TooLarge(f"file is {len(data) / 1e6:.1f} MB, over the {max_bytes / 1e6:.1f} MB limit")
    looks_like = _looks_like(data)
    if looks_like:
        raise UnsupportedFormat(f"the file looks like {looks_like}, not a raster image; {_ALLOWED_TEXT}")
    # 2. Header only (Image.open is lazy): format and size before any pixel is decoded.
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:  # PIL's own guard, at 2 × MAX_IMAGE_PIXELS
        raise TooLarge(f"image is {_bomb_size(exc)}, over the {_mp(max_pixels)} limit") from None
    except UnidentifiedImageError:
        if claimed := _claimed_format(data):
            raise InvalidImage(f"the file starts like a {claimed} image but its header is corrupt") from None
        raise UnsupportedFormat(f"the file is not a recognised image format; {_ALLOWED_TEXT}") from None
    except Exception as exc:  # PIL raises many types on a corrupt header
        raise InvalidImage(f"the image header is corrupt ({type(exc).__name__})") from None
    fmt = _FORMAT_ALIASES.get(image.format or "", image.format)
    if fmt not in ALLOWED_FORMATS:
        raise UnsupportedFormat(f"{image.format} images are not supported; {_ALLOWED_TEXT}")
    width, height = image.size
    if width * height > max_pixels:
        raise TooLarge(f"image is {width}×{height} = {_mp(width * height)}, over the {_mp(max_pixels)} limit")
    if max_side is not None and max(width, height) > max_side:
        raise TooLarge(f"image is {width}×{height}, its longest side is over the {max_side} px limit")
    if width < 1 or height < 1:
        raise InvalidImage(f"image has no pixels ({width}×{height})")
    # 3. Decode the first frame, apply EXIF orientation, normalise to RGB.
    try:
        if at_least and fmt == "JPEG" and max(width, height) >= 2 * at_least:
            scale = at_least / max(width, height)
            image.draft("RGB", (max(1, int(width * scale)), max(1, int(height * scale))))
        if fmt != "PNG" or (decoded := _spng_decode(data, image, at_least)) is None:
            image.load()
        else:
            image = decoded
        ImageOps.exif_transpose(image, in_place=True)  # (not a copy: _to_rgb makes the one copy)
        return _to_rgb(image)
    except Image.DecompressionBombError:
        raise TooLarge(f"image is over the {_mp(max_pixels)} limit") from None
    except MemoryError:
        raise
    except Exception as exc:  # truncated or corrupt data: OSError, SyntaxError, ValueError, ...
        raise InvalidImage(f"the {fmt} image is truncated or corrupt ({type(exc).__name__})") from None


def load_image_file(
    path: str | PathLike, *, max_bytes: int, max_pixels: int, max_side: int | None = None
) -> Image.Image:
    """`decode_image` for a file on disk; the size is checked before the file is read."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise InvalidImage(f"cannot read image file {path}: it is not a regular file")
        if size > max_bytes:
            raise TooLarge(f"file {path.name} is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.1f} MB limit")
        with path.open("rb") as f:
            data = f.read(max_bytes + 1)  # the file may have grown since stat()
    except FileNotFoundError:
        raise InvalidImage(f"cannot read image file {path}: it does not exist") from None
    except OSError as exc:
        raise InvalidImage(f"cannot read image file {path}: {exc.strerror or exc}") from None
    return decode_image(data, max_bytes=max_bytes, max_pixels=max_pixels, max_side=max_side)


def decode_upload(data: bytes, limits: UploadLimits, *, at_least: int | None = None) -> Image.Image:
    """`decode_image` under the configured limits (`Settings.limits`): the one call every upload,
    import and job input goes through."""
    return decode_image(
        data, max_bytes=limits.max_bytes, max_pixels=limits.max_pixels, max_side=limits.max_side, at_least=at_least
    )


def load_upload_file(path: str | PathLike, limits: UploadLimits) -> Image.Image:
    """`load_image_file` under the configured limits."""
    return load_image_file(path, max_bytes=limits.max_bytes, max_pixels=limits.max_pixels, max_side=limits.max_side)


def fit_size(width: int, height: int, longest: int = 512, multiple: int = 8) -> tuple[int, int]:
    """Aspect-preserving size whose longest side is `longest` and both sides multiples of `multiple`."""
    if width < 1 or height < 1 or longest < 1 or multiple < 1:
        raise ValueError(f"fit_size needs positive sizes, got {width}×{height}, {longest=}, {multiple=}")
    target = max(multiple, round(longest / multiple) * multiple)
    scale = target / max(width, height)

    def snap(side: int) -> int:
        return max(multiple, round(side * scale / multiple) * multiple)

    return (target, snap(height)) if width >= height else (snap(width), target)


def resize_for_generation(image: Image.Image, longest: int = 512) -> Image.Image:
    """RGB copy resized to `fit_size` (the latent grid needs multiples of 8): area averaging when
    shrinking (an integer box reduction, then OpenCV's INTER_AREA for the rest; keeps thin lines
    and is several times faster than LANCZOS on big sketches), LANCZOS when enlarging."""
    size = fit_size(*image.size, longest=longest)
    rgb = image if image.mode == "RGB" else image.convert("RGB")  # (convert would copy an RGB image)
    if rgb.size == size:
        return rgb.copy() if rgb is image else rgb
    if size[0] <= rgb.width and size[1] <= rgb.height:
        factor = min(rgb.width // size[0], rgb.height // size[1])
        if factor >= 2:  # integer box reduction first: the same averaging, several times faster
            rgb = rgb.reduce(factor)
        if rgb.size == size:
            return rgb
        return Image.fromarray(cv2.resize(np.asarray(rgb), size, interpolation=cv2.INTER_AREA))
    return rgb.resize(size, Image.Resampling.LANCZOS)


def is_light_on_dark(gray: np.ndarray) -> bool:
    """True when a dark background (median < 128) carries mostly lighter strokes (chalk, negatives)."""
    gray = np.asarray(gray)
    background = float(np.median(gray))
    if background >= 128:
        return False
    ink = gray[np.abs(gray.astype(np.int16) - background) > 32]
    return bool(ink.size) and bool(np.count_nonzero(ink > background) * 2 > ink.size)


@dataclass(frozen=True, eq=False)
class EdgeMap:
    edges: np.ndarray  # HxW uint8, 255 = edge, 0 = background (read-only)
    low: int
    high: int
    inverted: bool  # the input was light-on-dark and was inverted before Canny
    edge_fraction: float

    def summary(self) -> dict:
        """What a render recipe records of its edge map."""
        return {
            "low": self.low,
            "high": self.high,
            "inverted": self.inverted,
            "edge_fraction": round(self.edge_fraction, 6),
        }

    def control_image(self) -> Image.Image:
        """3-channel RGB, white edges on black: the input ControlNet canny expects."""
        return gray_to_rgb(self.edges)


def gray_to_rgb(gray: np.ndarray) -> Image.Image:
    """An 8-bit grey map as a 3-channel RGB image (PIL's own conversion: 3x faster than np.repeat)."""
    return Image.fromarray(gray).convert("RGB")


def auto_thresholds(blurred: np.ndarray, floor_low: int = 0, floor_high: int = 0) -> tuple[int, int]:
    """Canny thresholds at the median grey ± 33 % (the usual automatic rule), with optional floors
    (quality scoring uses floors so that a flat render does not turn noise into edges)."""
    median = float(np.median(blurred))
    low = max(floor_low, int(max(0.0, 0.67 * median)))
    high = max(floor_high, int(min(255.0, 1.33 * median)), low)
    return low, high


def blurred_gray(image: Image.Image) -> np.ndarray:
    """The grey image Canny runs on, lightly blurred (3×3 Gaussian)."""
    return cv2.GaussianBlur(cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2GRAY), (3, 3), 0)


def _check_threshold(value: int, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not 0 <= value <= 255:
        raise InvalidParameter(f"{field} must be an integer from 0 to 255, got {value!r}", field=field)
    return int(value)


def detect_edges(
    image: Image.Image,
    *,
    low: int | None = None,
    high: int | None = None,
    min_edge_fraction: float = 0.0005,
) -> EdgeMap:
    """Canny edges of a sketch. Thresholds default to median ± 33 % of the blurred grey image;
    when only one is given the other follows the usual 1:2 ratio."""
    # 1. Check the thresholds the caller gave.
    if low is not None:
        low = _check_threshold(low, "canny_low")
    if high is not None:
        high = _check_threshold(high, "canny_high")
    if low is not None and high is not None and low > high:
        raise InvalidParameter(f"canny_low ({low}) must not exceed canny_high ({high})", field="canny_low")
    # 2. Grey, dark lines on a light background, lightly blurred.
    gray = cv2.cvtColor(np.asarray(image if image.mode == "RGB" else image.convert("RGB")), cv2.COLOR_RGB2GRAY)
    inverted = is_light_on_dark(gray)
    if inverted:
        gray = 255 - gray
    blurred = cv2.GaussianBlur(gray, (3, 3), 0)
    # 3. Thresholds: automatic, derived from the one given, or both given.
    if low is None and high is None:
        low, high = auto_thresholds(blurred)
    elif low is None:
        low = high // 2
    elif high is None:
        high = min(255, low * 2)
    # 4. Canny, and refuse a sketch with (almost) nothing on it.
    edges = cv2.Canny(blurred, low, high)
    edges.flags.writeable = False
    fraction = float(np.count_nonzero(edges)) / edges.size
    if fraction < min_edge_fraction:
        raise NoEdges("no edges found in the sketch; is it blank?")
    return EdgeMap(edges=edges, low=low, high=high, inverted=inverted, edge_fraction=fraction)


def encode_png(image: Image.Image, text: dict[str, str] | None = None, *, compress_level: int = 6) -> bytes:
    """Deterministic PNG bytes: no metadata from the source image, text chunks in sorted key order
    (tEXt when Latin-1, else iTXt). Renders use compress_level=1 (2.5x faster, ~5% larger)."""
    clean = image.copy()
    clean.info = {k: v for k, v in image.info.items() if k == "transparency"}
    info = PngImagePlugin.PngInfo()
    for key in sorted(text or {}):
        info.add_text(key, str(text[key]))
    buffer = io.BytesIO()
    clean.save(buffer, format="PNG", pnginfo=info, compress_level=compress_level, optimize=False)
    return buffer.getvalue()


def read_png_text(data: bytes, *, max_pixels: int = 64_000_000) -> dict[str, str]:
    """Text chunks of a PNG (all of them: PIL decodes the pixels to reach chunks after the image data)."""
    try:
        image = Image.open(io.BytesIO(data), formats=["PNG"])
    except Image.DecompressionBombError as exc:
        raise TooLarge(f"image is {_bomb_size(exc)}, over the {_mp(max_pixels)} limit") from None
    except Exception:
        raise UnsupportedFormat("the file is not a PNG image") from None
    if image.width * image.height > max_pixels:
        raise TooLarge(f"image is {image.width}×{image.height}, over the {_mp(max_pixels)} limit")
    try:
        return {key: str(value) for key, value in image.text.items()}
    except Exception as exc:
        raise InvalidImage(f"the PNG is truncated or corrupt ({type(exc).__name__})") from None


def thumbnail_png(image: Image.Image, size: int = 256) -> bytes:
    """A PNG no larger than size×size (aspect kept, never upscaled), RGB."""
    thumb = image.convert("RGB")
    thumb.thumbnail((size, size), Image.Resampling.LANCZOS)
    return encode_png(thumb)
