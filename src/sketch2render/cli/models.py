"""`sketch2render models …`: the model profiles — what a render would use (`info`), fetching the real
weights (`download`), and building the tiny stand-ins (`build-tiny`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ..errors import InvalidParameter
from .common import JsonOpt, console_progress, edge, fail, print_json, settings

app = typer.Typer(no_args_is_help=True, help="Model profiles: info, download, build-tiny.")
YES, NO = "✓", "✗"
# The stand-in profiles: built on this machine, nothing to download.
BUILT_LOCALLY = {
    "tiny": "sketch2render models build-tiny",
    "sd15-random": "on first use of S2R_MODELS=sd15-random",
    "tiny-sdxl": "on first use of S2R_MODELS=tiny-sdxl",
    "sdxl-random": "on first use of S2R_MODELS=sdxl-random; full size, several GB",
    "tiny-klein": "on first use of S2R_MODELS=tiny-klein",
    "klein-random": "on first use of S2R_MODELS=klein-random; full size, ~16 GB",
}


def gigabytes(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


@app.command("build-tiny")
@edge
def models_build_tiny(
    directory: Annotated[Path | None, typer.Argument(help="Default: $S2R_HOME/models/tiny")] = None,
    force: bool = False,
) -> None:
    """Build the tiny random smoke-test models (seconds, ~20 MB)."""
    from ..models import build_tiny

    path = build_tiny(directory or settings().models_dir / "tiny", force=force)
    typer.echo(str(path))


def _assets_table(rows: list[dict], family: str) -> Table:
    profile = family if family in ("sdxl", "klein") else "sd15"
    table = Table(title=f"Real-weights assets ({profile}) in the Hugging Face cache", title_justify="left")
    for column in ("asset", "repo", "files", "licence", "needed by", "present", "size on disk"):
        table.add_column(column, justify="right" if column == "size on disk" else "left", overflow="fold")
    for row in rows:
        present = f"[green]{YES}[/]" if row["present"] else f"[red]{NO}[/] ({len(row['missing'])} missing)"
        size = gigabytes(row["bytes"]) if row["bytes"] else "-"
        files = str(len(row["files"]))
        table.add_row(row["asset"], row["repo"], files, row["licence"] or "-", row["needed_by"], present, size)
    return table


def _print_profile(console: Console, entry: dict, device: str) -> None:
    console.print(f"requested [bold]{entry['requested']}[/] → profile [bold]{entry.get('profile') or '-'}[/] "
                  f"({entry['family']}) on {device}")  # fmt: skip
    if entry.get("warning"):
        console.print(f"[yellow]{entry['warning']}[/]")
    if entry.get("error"):
        console.print(f"[red]{entry['error']['message'].splitlines()[0]}[/]")
    console.print(_assets_table(entry.get("assets", []), entry["family"]))
    missing = [row for row in entry.get("assets", []) if not row["present"] and not row["optional"]]
    if missing:
        flag = f" --profile {entry['family']}" if entry["family"] in ("sdxl", "klein") else ""
        console.print(f"Fetch what is missing with: [bold]sketch2render models download{flag}[/]")


@app.command("info")
@edge
def models_info(
    profile: Annotated[
        str | None, typer.Option(help="A profile (e.g. sdxl) instead of every profile of S2R_MODELS.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Which models a render would use, where they come from, and which real weights are cached
    (repo, files, licence, what needs each, present or not, size), for each profile of S2R_MODELS.
    Exits 1 when the first (or the named) profile cannot be used."""
    from ..models import model_info

    info = model_info(settings(), profile)
    if as_json:
        print_json(info)
    else:
        console = Console()
        for entry in info["families"]:
            _print_profile(console, entry, info["device"])
        console.print(f"Hugging Face cache: {info['hf_cache']}")
        sentence = info["sentence_model"]
        where = sentence["path"] or f"[red]{sentence.get('error')}[/]"
        console.print(f"sentence model ({sentence['id']}, {sentence['license']}, S2R_SENTENCE_MODEL): {where}")
    if info.get("error"):
        raise fail(info["error"]["message"].splitlines()[0])


@app.command("download")
@edge
def models_download(
    profile: Annotated[
        str, typer.Option(help="The profile to fetch: sd15, sdxl or klein (the others are built locally).")
    ] = "sd15",
    with_: Annotated[
        str, typer.Option("--with", help="Optional assets too, comma-separated (see `models info`).")
    ] = "",
    everything: Annotated[bool, typer.Option("--all", help="Every optional asset too.")] = False,
    variant: Annotated[
        str, typer.Option(help="auto (fp16 on a CUDA GPU, else full) | fp16 | full: which weight files to fetch.")
    ] = "auto",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be fetched, fetch nothing.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Fetch exactly the files the real models need (safetensors only) into the Hugging Face cache,
    with the total size first, a progress bar, and resume after an interruption."""
    from ..models import resolve_device
    from ..models.cache import HUB_PROFILES
    from ..models.download import fetch, plan_download, select_assets

    if profile in BUILT_LOCALLY:
        raise fail(f"{profile} has no weights to download: it is built locally ({BUILT_LOCALLY[profile]})")
    if profile not in HUB_PROFILES:
        raise InvalidParameter(f"--profile must be one of {', '.join(HUB_PROFILES)}, got {profile!r}", field="profile")
    if variant not in ("auto", "fp16", "full"):
        raise InvalidParameter(f"--variant must be auto, fp16 or full, got {variant!r}", field="variant")
    cfg = settings()
    chosen = ("fp16" if resolve_device(cfg) == "cuda" else None) if variant == "auto" else variant
    chosen = None if chosen == "full" else chosen
    # 1. Plan (sizes from the hub), 2. say what it costs, 3. fetch with progress.
    wanted = [w.strip() for w in with_.split(",") if w.strip()]
    plan = plan_download(select_assets(cfg, wanted, everything, profile), chosen)
    summary = {
        "profile": profile,
        "variant": chosen or "full",
        "cache": str(plan.cache_dir),
        "files": len(plan.files),
        "to_fetch": len(plan.to_fetch),
        "bytes_to_fetch": plan.bytes_to_fetch,
        "bytes_cached": plan.bytes_cached,
        "local_assets": plan.local,
        "items": [
            {"asset": f.asset, "repo": f.repo, "file": f.filename, "bytes": f.size, "cached": f.cached}
            for f in plan.files
        ],
    }
    if not as_json:
        typer.echo(
            f"{profile} ({chosen or 'full'} weights): {len(plan.to_fetch)} of {len(plan.files)} files to fetch, "
            f"{gigabytes(plan.bytes_to_fetch)} ({gigabytes(plan.bytes_cached)} already in {plan.cache_dir})"
        )
    if not dry_run and plan.to_fetch:
        with console_progress("downloading", plan.bytes_to_fetch, as_bytes=True) as advance:
            fetch(plan, lambda _file, n: advance(n))
    summary["fetched"] = not dry_run
    if as_json:
        print_json(summary)
    elif not dry_run:
        uses = "`auto` now uses these weights" if profile == "sd15" else f"S2R_MODELS={profile} now uses these weights"
        typer.echo(f"done: `sketch2render doctor` checks the setup; {uses}")
