"""An atheris (libFuzzer) harness over the code that touches untrusted image bytes: the decoding of
sketches and style images (`imaging.decode_upload`), the preprocessing of a sketch for a render
(resize + Canny, as `POST /v1/renders` and the pipeline do), style thumbnails and the PNG-text
reader (recipes). A refusal is one of the project's errors (`S2RError`); anything else that
escapes, or a hang, is a finding.

    python tests/fuzz/harness.py [-max_total_time=N] [-runs=N] [CORPUS_DIR ...]   # plain libFuzzer flags
    python tests/fuzz/harness.py --seeds DIR     # write the seed corpus (tests/corpus.py + bundled sketches)

The first input byte picks the render size and Canny thresholds; the rest are the file's bytes.
Limits are small (1 MB, 4 MP, 4096 px) so that executions stay fast; the code paths are the same.
Crashes found are fixed and kept as `regressions/<name>` (replayed by test_fuzz.py).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SKETCHES = ROOT / "src" / "sketch2render" / "data" / "sketches"
SIZES = (64, 128, 256, 512)


def _imports():
    from sketch2render.config import UploadLimits
    from sketch2render.errors import S2RError
    from sketch2render.sketch import imaging

    return imaging, UploadLimits(max_bytes=1024 * 1024, max_pixels=4_000_000, max_side=4096), S2RError


def one_input(data: bytes) -> None:
    """Run every untrusted-bytes path on one input; only the project's errors may escape."""
    imaging, limits, s2r_error = _MODULES or _load()
    if not data:
        return
    selector, body = data[0], data[1:]
    size = SIZES[selector & 3]
    canny = None if selector & 4 == 0 else (selector >> 3) * 8  # 0..248, or automatic
    try:
        image = imaging.decode_upload(body, limits, at_least=size)
    except s2r_error:
        image = None
    if image is not None:
        imaging.thumbnail_png(image, 32)
        try:
            imaging.detect_edges(imaging.resize_for_generation(image, size), low=canny)
        except s2r_error:
            pass
    try:
        imaging.read_png_text(body, max_pixels=limits.max_pixels)
    except s2r_error:
        pass


_MODULES: tuple = ()


def _load() -> tuple:
    global _MODULES
    _MODULES = _imports()
    return _MODULES


def seeds() -> list[bytes]:
    """The project's bad-file corpus and odd-but-valid images, and the bundled sketches, each with
    a selector byte in front."""
    sys.path.insert(0, str(ROOT / "tests"))
    from corpus import bad_inputs, good_inputs

    files = [data for _, data, _ in bad_inputs() if len(data) < 200_000] + [data for _, data in good_inputs()]
    files += [path.read_bytes() for path in sorted(SKETCHES.glob("*.png"))[:3]]
    return [bytes([selector]) + data for data in files for selector in (0, 5)]


def write_seeds(directory: Path) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    items = seeds()
    for data in items:
        (directory / hashlib.sha1(data).hexdigest()).write_bytes(data)
    return len(items)


def main(argv: list[str]) -> None:
    if argv[1:2] == ["--seeds"]:
        print(write_seeds(Path(argv[2])), "seed files")
        return
    import atheris

    with atheris.instrument_imports(include=["sketch2render", "PIL"]):
        _load()
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
