"""`sketch2render doctor`: is this machine ready to render? One line per check, ✓ or ✗, and for
each ✗ the fix. Exits 1 when a check fails (warnings, `!`, do not fail it). For each family that
`S2R_MODELS` serves: whether the GPU's memory fits it (the family's `memory_gb`), and which of its
weights are here."""

from __future__ import annotations

import platform
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import typer

from ..config import Settings
from .common import JsonOpt, edge, print_json, settings

MIN_PYTHON = (3, 11)
MIN_VRAM_GB = 4.0  # SD 1.5 + ControlNet + IP-Adapter in fp16 at 512 px, with headroom
MIN_DISK_GB = 10.0  # the sd15 weights, full precision, plus renders
CUDA_TORCH_HINT = (
    ".venv/bin/pip install --force-reinstall torch==2.13.0 --index-url https://download.pytorch.org/whl/cuXYZ "
    "(XYZ: a CUDA version your driver supports, e.g. 126; `nvidia-smi` shows the driver's)"
)


@dataclass
class Check:
    name: str
    status: str  # "ok" | "warn" | "fail"
    detail: str
    fix: str = ""


def check_python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info[:2] >= MIN_PYTHON:
        return Check("python", "ok", f"Python {version} ({sys.executable})")
    return Check("python", "fail", f"Python {version}", f"use Python {'.'.join(map(str, MIN_PYTHON))} or newer")


def nvidia_gpu() -> str | None:
    """The GPU the driver reports (nvidia-smi), whatever torch says; None without an NVIDIA driver."""
    if not shutil.which("nvidia-smi"):
        return None
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None


def check_torch(gpu: str | None) -> list[Check]:
    try:
        import torch
    except ImportError:
        return [Check("torch", "fail", "torch is not installed", "make setup")]
    build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU-only"
    checks = [Check("torch", "ok", f"torch {torch.__version__} ({build} build)")]
    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        free, total = torch.cuda.mem_get_info(0)
        status = "ok" if free / 1e9 >= MIN_VRAM_GB else "warn"
        fix = "" if status == "ok" else "free the GPU or set S2R_CPU_OFFLOAD=true (slower)"
        checks.append(Check("gpu", "ok", f"{name}: torch renders on it"))
        checks.append(Check("vram", status, f"{free / 1e9:.1f} of {total / 1e9:.1f} GB free", fix))
    elif gpu and not torch.version.cuda:
        checks.append(Check("gpu", "fail", f"{gpu} present, but this torch is a CPU-only build", CUDA_TORCH_HINT))
    elif gpu:
        checks.append(
            Check(
                "gpu",
                "fail",
                f"{gpu} present, but torch (CUDA {torch.version.cuda}) cannot use it: driver too old for this build?",
                f"update the NVIDIA driver, or install a torch build for your driver: {CUDA_TORCH_HINT}",
            )
        )
    else:
        checks.append(Check("gpu", "warn", "no NVIDIA GPU: renders run on the CPU (minutes each at 512 px)"))
    return checks


def gpu_memory_gb() -> float | None:
    """The first CUDA GPU's total memory in GB (None: no GPU torch can use)."""
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_properties(0).total_memory / 1e9


def check_family_memory(family: str, total_gb: float | None) -> Check:
    """Does a quality render of the family at its native size fit the GPU (fp16; klein bf16)?"""
    from ..families import get_family

    spec = get_family(family)
    need = f"about {spec.memory_gb:.0f} GB of GPU memory in {spec.gpu_dtype} at {spec.native_size} px"
    if spec.offload_memory_gb is not None:
        need += f", about {spec.offload_memory_gb:.0f} GB with S2R_OFFLOAD=model (or S2R_CPU_OFFLOAD=true)"
    name = f"{family} memory"
    if total_gb is None:
        return Check(name, "warn", f"no GPU: {spec.title} needs {need}; on the CPU a render takes minutes")
    if total_gb >= spec.memory_gb:
        return Check(name, "ok", f"{total_gb:.0f} GB GPU fits {spec.title} ({need})")
    return Check(
        name,
        "warn",
        f"{total_gb:.0f} GB GPU is smaller than {spec.title} needs ({need})",
        "set S2R_CPU_OFFLOAD=true (slower), render smaller sizes, or use a GPU with more memory",
    )


def check_family_weights(cfg: Settings, profile: str) -> Check:
    """Which of a served profile's weights are here: the hub assets of a real-weights profile
    (required ones, then the optional ones), or the stand-in / folder it resolves to."""
    from ..errors import S2RError
    from ..models import family_of_profile, resolve_models
    from ..models.info import HUB_PROFILE, asset_rows

    family = family_of_profile(profile)
    name = f"{family} weights"
    hub = HUB_PROFILE.get(family, "sd15")
    if profile in ("auto", hub) and not (hub == "sd15" and cfg.model_dir is not None):
        try:
            rows = asset_rows(cfg, hub)
        except S2RError as exc:
            return Check(name, "fail", exc.message.splitlines()[0], "check the S2R_* model settings")
        required = [r for r in rows if not r["optional"]]
        here = [r["asset"] for r in required if r["present"]]
        optional = ", ".join(f"{r['asset']} {'✓' if r['present'] else '✗'}" for r in rows if r["optional"]) or "none"
        detail = f"{profile}: {len(here)} of {len(required)} required assets in the cache; optional: {optional}"
        flag = "" if hub == "sd15" else f" --profile {hub}"
        if len(here) == len(required):
            return Check(name, "ok", detail)
        return Check(name, "warn", detail, f"sketch2render models download{flag}")
    try:
        models = resolve_models(cfg, build=False, profile=profile)
    except S2RError as exc:
        return Check(name, "warn", f"{profile}: {exc.message.splitlines()[0]}", "check S2R_MODELS")
    if models.smoke_test:
        built = "built" if Path(models.base).exists() else "built here on first use"
        return Check(name, "ok", f"{profile}: stand-in with random weights, {built} (images are noise)")
    return Check(name, "ok", f"{profile}: {models.profile} weights ({models.base})")


def check_families(cfg: Settings) -> list[Check]:
    """For each profile S2R_MODELS serves (one per family): GPU memory, and weights."""
    from ..errors import S2RError
    from ..models import family_of_profile, requested_profiles

    try:
        profiles = requested_profiles(cfg)
    except S2RError:
        return []  # check_profile says what is wrong with S2R_MODELS
    total = gpu_memory_gb()
    checks = []
    for profile in profiles:
        checks.append(check_family_memory(family_of_profile(profile), total))
        checks.append(check_family_weights(cfg, profile))
    return checks


def check_disk(path: Path, what: str) -> Check:
    probe = path
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free / 1e9
    if free >= MIN_DISK_GB:
        return Check(f"disk ({what})", "ok", f"{free:.0f} GB free at {path}")
    return Check(f"disk ({what})", "warn", f"{free:.1f} GB free at {path}", f"keep {MIN_DISK_GB:.0f} GB free there")


def check_profile(cfg: Settings) -> Check:
    from ..errors import S2RError
    from ..models import family_of_profile, requested_profiles, resolve_models

    try:
        models = resolve_models(cfg, build=False)
    except S2RError as exc:
        try:
            family = family_of_profile(requested_profiles(cfg)[0])
        except S2RError:
            family = "sd15"
        fix = "sketch2render models download" + (f" --profile {family}" if family in ("sdxl", "klein") else "")
        return Check("models", "fail", exc.message.splitlines()[0], fix)
    detail = f"S2R_MODELS={cfg.models} → {models.profile}"
    if models.smoke_test:
        why = "no real weights in the cache" if cfg.models == "auto" else "random weights"
        return Check("models", "warn", f"{detail}: smoke-test models ({why})", "sketch2render models download")
    return Check("models", "ok", f"{detail} (real weights)")


def check_port(host: str, port: int, what: str) -> Check:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            fix = f"stop what uses it, or choose another (S2R_{'UI_PORT' if what == 'web UI' else 'PORT'})"
            return Check(f"port {port}", "warn", f"{host}:{port} ({what}) is in use", fix)
    return Check(f"port {port}", "ok", f"{host}:{port} ({what}) is free")


def check_home(cfg: Settings) -> Check:
    try:
        cfg.home.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=cfg.home):
            pass
    except OSError as exc:
        detail = f"{cfg.home} is not writable ({exc.strerror})"
        return Check("data folder", "fail", detail, "set S2R_HOME to a writable folder")
    return Check("data folder", "ok", f"{cfg.home} is writable")


def run_checks(cfg: Settings) -> list[Check]:
    from ..models.layout import hf_cache_dir

    gpu = nvidia_gpu()
    return [
        check_python(),
        *check_torch(gpu),
        check_disk(hf_cache_dir(), "model cache"),
        check_disk(cfg.home, "data folder"),
        check_home(cfg),
        check_profile(cfg),
        *check_families(cfg),
        check_port(cfg.host, cfg.port, "API"),
        check_port("127.0.0.1", cfg.ui_port, "web UI"),
    ]


MARKS = {"ok": typer.style("✓", fg="green"), "warn": typer.style("!", fg="yellow"), "fail": typer.style("✗", fg="red")}


@edge
def doctor(as_json: JsonOpt = False) -> None:
    """Check Python, torch (CUDA or CPU build) against the GPU, VRAM, disk, the model profile,
    ports and the data folder; each problem with its fix."""
    cfg = settings()
    checks = run_checks(cfg)
    failed = [c for c in checks if c.status == "fail"]
    if as_json:
        print_json({"ok": not failed, "platform": platform.platform(), "checks": [asdict(c) for c in checks]})
    else:
        for c in checks:
            typer.echo(f"{MARKS[c.status]} {c.name:<20} {c.detail}")
            if c.fix and c.status != "ok":
                typer.echo(f"  {'':<20} fix: {c.fix}")
        typer.echo("all good" if not failed else f"{len(failed)} problem(s) to fix")
    if failed:
        raise typer.Exit(1)
