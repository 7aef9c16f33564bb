"""The fuzz harness in the test suite: every seed and every kept regression replayed in process,
then a bounded coverage-guided run (atheris, `S2R_FUZZ_SECONDS`, default 15) in a subprocess that
must end without a crash or a hang. Long runs: `python tests/fuzz/harness.py -max_total_time=N`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fuzz.harness import HERE, one_input, seeds, write_seeds

REGRESSIONS = sorted((HERE / "regressions").glob("*"))
FUZZ_SECONDS = int(os.environ.get("S2R_FUZZ_SECONDS", "15"))


@pytest.mark.parametrize("data", seeds(), ids=lambda d: f"seed-{d[0]}-{len(d)}")
def test_seeds_are_refused_cleanly_or_decoded(data):
    one_input(data)


def test_regressions_stay_fixed():
    for path in REGRESSIONS:  # inputs that once crashed the harness (each fixed), kept for good
        one_input(path.read_bytes())


@pytest.mark.slow
def test_a_bounded_fuzzing_run_finds_no_crash_or_hang(tmp_path):
    pytest.importorskip("atheris", reason="atheris is in requirements-dev.txt")
    corpus = tmp_path / "corpus"
    write_seeds(corpus)
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    run = subprocess.run(
        [
            sys.executable,
            str(HERE / "harness.py"),
            f"-max_total_time={FUZZ_SECONDS}",
            "-timeout=10",
            "-rss_limit_mb=4096",
            f"-artifact_prefix={artifacts}/",
            str(corpus),
        ],
        capture_output=True,
        text=True,
        timeout=FUZZ_SECONDS + 120,
        cwd=Path(__file__).resolve().parents[2],
    )
    found = sorted(p.name for p in artifacts.iterdir())
    assert run.returncode == 0 and not found, f"fuzzing found {found}:\n{run.stderr[-4000:]}"
    assert "Done" in run.stderr and "runs in" in run.stderr
