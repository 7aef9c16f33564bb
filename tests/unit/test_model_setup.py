"""The pieces of a GPU box's first hour that need no hub: the download's disk check, the bundled
styles on a new data folder (once), and `doctor`'s checks. The download itself: e2e/test_models_download.py."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from fakes import FakeEmbeddings

from sketch2render.cli import doctor
from sketch2render.config import Settings
from sketch2render.errors import DiskFull
from sketch2render.models.download import DownloadPlan, RemoteFile, check_disk
from sketch2render.styles import StyleLibrary
from sketch2render.styles.defaults import BUNDLED_MARKER, import_bundled_once


def remote(size: int) -> RemoteFile:
    return RemoteFile("base", "org/repo", "unet/x.safetensors", size, "e" * 64, "c" * 40, "http://x", cached=False)


def test_a_download_that_does_not_fit_is_refused_before_it_starts(tmp_path: Path) -> None:
    check_disk(DownloadPlan(tmp_path, [remote(1_000)]))  # fits
    with pytest.raises(DiskFull, match="GB more but"):
        check_disk(DownloadPlan(tmp_path, [remote(10**15)]))


def test_a_partial_file_counts_towards_what_is_already_there(tmp_path: Path) -> None:
    big = remote(10**15)
    partial = tmp_path / "models--org--repo" / "blobs" / f"{big.etag}.incomplete"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"x" * 1000)
    with pytest.raises(DiskFull) as raised:
        check_disk(DownloadPlan(tmp_path, [big]))
    assert f"{(10**15 - 1000) / 1e9:.1f} GB more" in raised.value.message


def test_the_bundled_styles_arrive_once_and_an_emptied_library_stays_empty(tmp_path: Path) -> None:
    library = StyleLibrary(tmp_path / "styles", FakeEmbeddings())
    assert import_bundled_once(library, tmp_path / "styles") == 21 and len(library) == 21
    assert (tmp_path / "styles" / BUNDLED_MARKER).exists()
    for record in library.list(0, 100):
        library.remove(record.id)
    assert import_bundled_once(library, tmp_path / "styles") == 0 and len(library) == 0


def test_a_library_with_styles_is_left_alone(tmp_path: Path) -> None:
    library = StyleLibrary(tmp_path / "styles", FakeEmbeddings())
    from PIL import Image

    library.add_image(Image.new("RGB", (64, 64), "red"))
    assert import_bundled_once(library, tmp_path / "styles") == 0 and len(library) == 1


def test_doctor_flags_a_busy_port_and_an_unwritable_data_folder(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        check = doctor.check_port("127.0.0.1", port, "API")
    assert check.status == "warn" and "in use" in check.detail and "S2R_PORT" in check.fix
    assert doctor.check_port("127.0.0.1", port, "API").status == "ok"  # free again

    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    check = doctor.check_home(Settings(home=blocked / "home"))
    assert check.status == "fail" and "S2R_HOME" in check.fix
    assert doctor.check_home(Settings(home=tmp_path / "home")).status == "ok"


def test_doctor_says_which_profile_auto_picks_and_the_fix(tmp_path: Path, empty_hf_cache_dir: Path) -> None:
    check = doctor.check_profile(Settings(home=tmp_path, models="auto"))
    assert check.status == "warn" and "auto → tiny" in check.detail and check.fix == "sketch2render models download"
    check = doctor.check_profile(Settings(home=tmp_path, models="sd15"))
    assert check.status == "fail" and check.fix == "sketch2render models download"


@pytest.fixture
def empty_hf_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "hf-cache"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    return cache


def test_doctor_says_whether_the_gpu_memory_fits_each_family() -> None:
    from sketch2render.families import SD15, SDXL

    small = doctor.check_family_memory("sdxl", 8.0)
    assert small.status == "warn" and f"{SDXL.memory_gb:.0f} GB" in small.detail and "S2R_CPU_OFFLOAD" in small.fix
    assert doctor.check_family_memory("sd15", 8.0).status == "ok"  # the same GPU fits SD 1.5
    assert doctor.check_family_memory("sdxl", 80.0).status == "ok"
    cpu = doctor.check_family_memory("sdxl", None)
    assert cpu.status == "warn" and "no GPU" in cpu.detail and f"{SDXL.memory_gb:.0f} GB" in cpu.detail
    assert f"{SD15.memory_gb:.0f} GB" in doctor.check_family_memory("sd15", None).detail


def test_doctor_covers_every_served_family_and_says_which_weights_are_missing(
    tmp_path: Path, empty_hf_cache_dir: Path
) -> None:
    checks = {c.name: c for c in doctor.check_families(Settings(home=tmp_path, models="sdxl,tiny"))}
    assert list(checks) == ["sdxl memory", "sdxl weights", "sd15 memory", "sd15 weights"]
    weights = checks["sdxl weights"]
    assert weights.status == "warn" and "0 of 5 required" in weights.detail and "taesdxl ✗" in weights.detail
    assert weights.fix == "sketch2render models download --profile sdxl"
    assert checks["sd15 weights"].status == "ok" and "random weights" in checks["sd15 weights"].detail
    profile = doctor.check_profile(Settings(home=tmp_path, models="sdxl,tiny"))
    assert profile.status == "fail" and profile.fix == "sketch2render models download --profile sdxl"
