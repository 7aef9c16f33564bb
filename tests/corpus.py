"""Hostile and odd-but-valid image uploads, generated in memory (nothing committed to disk).

Shared by the unit tests of `imaging` and the API tests. Names double as upload file names.
Only PIL and numpy: importable as `tests.corpus` or `corpus`.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

from sketch2render.errors import InvalidImage, S2RError, TooLarge, UnsupportedFormat

HUGE_SIDE = 30000


def _save(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def _noise(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def png_chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk: length, type, body and its CRC."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width×height (8-bit RGB) with valid CRCs but a tiny IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def bad_inputs() -> list[tuple[str, bytes, type[S2RError]]]:
    """(file name, bytes, the error class decoding must raise)."""
    png = _save(_noise(64, 64), "PNG")
    jpeg = _save(_noise(64, 64), "JPEG", quality=90)
    svg = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
        b'<circle cx="50" cy="50" r="40" stroke="black" fill="none"/></svg>\n'
    )
    html = b"<!DOCTYPE html>\n<html><head><title>Not an image</title></head><body><p>hi</p></body></html>\n"
    return [
        (f"huge_{HUGE_SIDE}x{HUGE_SIDE}.png", png_header_only(HUGE_SIDE, HUGE_SIDE), TooLarge),
        ("truncated.png", png[: len(png) // 2], InvalidImage),
        ("truncated.jpg", jpeg[: len(jpeg) // 2], InvalidImage),
        ("corrupt_header.png", png[:16] + bytes([png[16] ^ 0xFF]) + png[17:], InvalidImage),  # IHDR CRC fails
        ("empty.png", b"", InvalidImage),
        ("notes.png", b"These are my notes, saved with the wrong extension.\nLine two.\n", UnsupportedFormat),
        ("drawing.svg", svg, UnsupportedFormat),
        ("page.html", html, UnsupportedFormat),
        ("random.bin", np.random.default_rng(1).bytes(4096), UnsupportedFormat),
    ]


def good_inputs() -> list[tuple[str, bytes]]:
    """Odd but valid images; `tests/unit/test_imaging.py` knows what each must decode to."""
    # 16-bit grey ramp over the full 0..65535 range (a clipping converter turns it all white).
    ramp16 = np.tile(np.linspace(0, 65535, 256).round().astype(np.uint16), (16, 1))
    # Palette image: index 0 (red) is transparent on the left half, index 1 (black) on the right.
    palette = Image.new("P", (32, 16), 0)
    palette.putpalette([255, 0, 0, 0, 0, 0] + [0, 0, 0] * 254)
    palette.paste(1, (16, 0, 32, 16))
    # Animated GIF: a black first frame, a white second frame.
    frames = [Image.new("L", (16, 16), 0), Image.new("L", (16, 16), 255)]
    # Landscape JPEG stored 40×20 with a red block at the top-left and EXIF orientation 6
    # ("rotate 90° clockwise to display"): it decodes to 20×40 with the block at the top-right.
    stored = Image.new("RGB", (40, 20), (255, 255, 255))
    stored.paste((255, 0, 0), (0, 0, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6
    # RGBA: transparent left half (colour underneath is blue), opaque black right half.
    rgba = Image.new("RGBA", (32, 16), (0, 0, 255, 0))
    rgba.paste((0, 0, 0, 255), (16, 0, 32, 16))
    bilevel = Image.new("1", (32, 16), 1)
    bilevel.paste(0, (0, 0, 16, 16))
    return [
        ("gray16.png", _save(Image.fromarray(ramp16), "PNG")),
        ("cmyk.jpg", _save(Image.new("CMYK", (32, 16), (0, 255, 255, 0)), "JPEG", quality=95)),
        ("palette_transparent.png", _save(palette, "PNG", transparency=0)),
        ("animated.gif", _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)),
        ("exif_rotated.jpg", _save(stored, "JPEG", quality=95, exif=exif.tobytes())),
        ("grey.png", _save(Image.new("L", (32, 16), 128), "PNG")),
        ("bilevel.png", _save(bilevel, "PNG")),
        ("rgba.webp", _save(rgba, "WEBP", lossless=True)),
    ]
