"""`python -m benchmarks.png_decoders [--repeats N]`: decoding the 2048×2048 PNG sketch of
`overhead` with each PNG decoder at hand, interleaved, against Pillow (what `imaging.decode_image`
used before libspng, and still uses for the PNGs libspng is not used for) in the same run; and the
floor under all of them: zlib inflating the image data alone (a PNG has no reduced-scale decode, so
every decoder inflates every row). Decoders that are not installed are reported as such
(`pip install imagecodecs` to measure it; pyspng is a dependency)."""

from __future__ import annotations

import argparse
import io
import json
import time
import zlib

import numpy as np

from .common import stats_ms
from .overhead import encoded, make_sketch


def _idat(png: bytes) -> bytes:
    chunks, i = [], 8
    while i < len(png):
        n = int.from_bytes(png[i : i + 4], "big")
        if png[i + 4 : i + 8] == b"IDAT":
            chunks.append(png[i + 8 : i + 8 + n])
        i += 12 + n
    return b"".join(chunks)


def decoders(png: bytes) -> dict:
    import cv2
    from PIL import Image

    def pillow():
        with Image.open(io.BytesIO(png)) as im:
            return np.asarray(im.convert("RGB"))

    found = {
        "pillow": pillow,
        "opencv_imdecode": lambda: cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR),
        "opencv_reduced_2": lambda: cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_REDUCED_COLOR_2),
    }
    try:
        import pyspng

        found["pyspng"] = lambda: pyspng.load(png)
    except ImportError:
        pass
    try:
        import imagecodecs

        found["imagecodecs_png"] = lambda: imagecodecs.png_decode(png)
        if hasattr(imagecodecs, "spng_decode"):
            found["imagecodecs_spng"] = lambda: imagecodecs.spng_decode(png)
    except ImportError:
        pass
    idat = _idat(png)
    found["zlib_inflate_only"] = lambda: zlib.decompress(idat)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.png_decoders", description=__doc__)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    png = encoded(make_sketch(2048, seed=0), "PNG")
    fns = decoders(png)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        fn()  # warm-up
    for r in range(args.repeats):
        names = list(fns)[r % len(fns) :] + list(fns)[: r % len(fns)]
        for name in names:
            t = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - t)
    stats = {name: stats_ms(v) for name, v in times.items()}
    base = stats["pillow"]["p50_ms"]
    ratios = {name: round(s["p50_ms"] / base, 3) for name, s in stats.items()}
    print(json.dumps({"png_bytes": len(png), "side": 2048, "latency": stats, "ratio_to_pillow_p50": ratios}, indent=1))


if __name__ == "__main__":
    main()
