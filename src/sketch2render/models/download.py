"""`sketch2render models download`: fetch exactly the files a real-weights profile loads (sd15, sdxl:
`cache.profile_assets`) into the standard Hugging Face cache, so the profile (and `auto`, for sd15)
then resolves offline and other tools share the files.

1. Plan: `huggingface_hub.get_hf_file_metadata` (a HEAD per file) gives each file's size, etag and
   commit; files already in the cache are skipped. Only `.safetensors` weights are ever fetched;
   an asset setting that names a pickle (`.bin`, `.ckpt`, …) is refused before anything moves.
   With the fp16 variant, a repo that has no fp16 copy of a weight gets the full one instead.
2. Check: the disk holding the cache must have room for what is left to fetch.
3. Fetch: each file streams into `blobs/<etag>.incomplete`; a download that was interrupted
   (Ctrl-C, a killed process, a dropped connection) resumes from there with an HTTP Range
   request. A finished file is checked (size, and sha256 where the etag is one) and only then
   becomes `blobs/<etag>`, with the `snapshots/<commit>/<file>` link and `refs/main` — the
   cache layout huggingface_hub itself writes and reads (`try_to_load_from_cache`).
huggingface_hub's own `hf_hub_download` restarts an interrupted file from zero in a new process
(it writes to a process-unique temporary file), hence the transfer here. Offline, a missing file
on the hub, a gated repo or a full disk each end in one clear error.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib
import os
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Settings
from ..errors import DiskFull, HubUnavailable, InvalidParameter
from .assets import Asset, is_refused
from .cache import REPO_SETTINGS, cached_file, profile_assets
from .layout import hf_cache_dir

CHUNK = 1 << 20
DISK_MARGIN = 256 * 1024 * 1024  # keep this much free beyond the files
TIMEOUT_S = 30.0
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class RemoteFile:
    asset: str
    repo: str
    filename: str
    size: int
    etag: str
    commit: str
    url: str  # where the bytes are (after the hub's redirects)
    cached: bool


@dataclass
class DownloadPlan:
    cache_dir: Path
    files: list[RemoteFile] = field(default_factory=list)
    local: list[str] = field(default_factory=list)  # assets whose setting points at a local folder

    @property
    def to_fetch(self) -> list[RemoteFile]:
        return [f for f in self.files if not f.cached]

    @property
    def bytes_to_fetch(self) -> int:
        return sum(f.size for f in self.to_fetch)

    @property
    def bytes_cached(self) -> int:
        return sum(f.size for f in self.files if f.cached)


def endpoint() -> str:
    """The hub to talk to: `HF_ENDPOINT`, read now (huggingface_hub reads it once, at import)."""
    return (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def select_assets(settings: Settings, with_: list[str], everything: bool, profile: str = "sd15") -> list[Asset]:
    """The profile's required assets, plus the optional ones named (or all of them)."""
    assets = profile_assets(settings, profile)
    optional = {a.name: a for a in assets.optional}
    with_ = [name for given in with_ for name in assets.features.get(given, (given,))]  # features -> assets
    unknown = [name for name in with_ if name not in optional]
    if unknown:
        known = ", ".join([*sorted(optional), *assets.features]) or "none yet"
        raise InvalidParameter(
            f"unknown asset {unknown[0]!r} for --with on {profile}; optional assets: {known}", field="with"
        )
    extra = list(optional.values()) if everything else [optional[name] for name in dict.fromkeys(with_)]
    return [*assets.required, *extra]


# --------------------------------------------------------------------------- 1. plan
def _network_errors() -> tuple[type[BaseException], ...]:
    """Transport errors: httpx's, and httpx2's (the fork huggingface_hub 2 talks through)."""
    found: list[type[BaseException]] = [OSError]
    for name in ("httpx", "httpx2"):
        try:
            found.append(importlib.import_module(name).HTTPError)
        except ImportError:
            continue
    return tuple(found)


def _hub_error(exc: Exception, repo: str, filename: str) -> Exception:
    """One clear domain error for what the hub (or the network) answered."""
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
    )

    if isinstance(exc, OfflineModeIsEnabled):
        return HubUnavailable("HF_HUB_OFFLINE is set: unset it to download models")
    if isinstance(exc, GatedRepoError):
        return HubUnavailable(f"{repo} is gated: accept its terms on the hub and log in (`hf auth login`)")
    if isinstance(exc, EntryNotFoundError):
        return HubUnavailable(f"{repo} has no file {filename!r} on the hub; check the repo id and file settings")
    if isinstance(exc, RepositoryNotFoundError):
        return HubUnavailable(f"no repository {repo!r} on the hub (or it needs a login: `hf auth login`)")
    if isinstance(exc, _network_errors()):
        return HubUnavailable(f"cannot reach the Hugging Face hub at {endpoint()} ({type(exc).__name__}); offline?")
    return exc


def _metadata(repo: str, filename: str):
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    return get_hf_file_metadata(hf_hub_url(repo, filename, endpoint=endpoint()), endpoint=endpoint())


def _remote(asset: Asset, filename: str, variant: str | None) -> RemoteFile:
    from huggingface_hub.errors import EntryNotFoundError

    try:
        meta = _metadata(asset.repo, filename)
    except EntryNotFoundError:
        full = {half: whole for whole, half in asset.fp16_swaps().items()}.get(filename)
        if variant != "fp16" or full is None:
            raise
        filename, meta = full, _metadata(asset.repo, full)  # this repo has no fp16 copy: the full weights
    if not meta.etag or not meta.commit_hash or meta.size is None:
        raise HubUnavailable(f"the hub did not describe {asset.repo}/{filename} (no etag, commit or size)")
    return RemoteFile(
        asset=asset.name,
        repo=asset.repo,
        filename=filename,
        size=int(meta.size),
        etag=meta.etag,
        commit=meta.commit_hash,
        url=meta.location,
        cached=cached_file(asset.repo, filename) is not None,
    )


def plan_download(assets: list[Asset], variant: str | None) -> DownloadPlan:
    """What to fetch (sizes from the hub; nothing is downloaded yet)."""
    for asset in assets:  # every file name is checked before the first request
        refused = [f for f in asset.files_for(variant) if is_refused(f)]
        if refused:
            setting = REPO_SETTINGS.get(asset.name, asset.name)
            raise InvalidParameter(
                f"{asset.repo}/{refused[0]} is not a .safetensors file: only safetensors weights are downloaded "
                f"and loaded (pickle files can run code); check {setting} and the file settings",
                field=asset.name,
            )
    plan = DownloadPlan(cache_dir=hf_cache_dir())
    for asset in assets:
        if Path(asset.repo).expanduser().is_dir():
            plan.local.append(asset.name)
            continue
        for filename in asset.files_for(variant):
            try:
                plan.files.append(_remote(asset, filename, variant))
            except Exception as exc:
                raise _hub_error(exc, asset.repo, filename) from None
    return plan


# --------------------------------------------------------------------------- 2. check
def _free_bytes(path: Path) -> int:
    while not path.exists():
        path = path.parent
    return shutil.disk_usage(path).free


def check_disk(plan: DownloadPlan) -> None:
    partials = [_partial_path(plan.cache_dir, f) for f in plan.to_fetch]
    partial = sum(p.stat().st_size for p in partials if p.exists())
    needed = plan.bytes_to_fetch - partial
    free = _free_bytes(plan.cache_dir)
    if needed + DISK_MARGIN > free:
        raise DiskFull(
            f"the models need {needed / 1e9:.1f} GB more but {plan.cache_dir} has {free / 1e9:.1f} GB free; "
            "free some space or point HF_HUB_CACHE at a bigger disk"
        )


# --------------------------------------------------------------------------- 3. fetch
def _repo_dir(cache_dir: Path, repo: str) -> Path:
    return cache_dir / ("models--" + repo.replace("/", "--"))


def _partial_path(cache_dir: Path, f: RemoteFile) -> Path:
    return _repo_dir(cache_dir, f.repo) / "blobs" / f"{f.etag}.incomplete"


@contextmanager
def _locked(cache_dir: Path, f: RemoteFile) -> Iterator[None]:
    """The lock file huggingface_hub uses for the same blob (`.locks/<repo>/<etag>.lock`, flock)."""
    path = cache_dir / ".locks" / _repo_dir(cache_dir, f.repo).name / f"{f.etag}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _stream(f: RemoteFile, partial: Path, progress: Callable[[int], None]) -> None:
    """Append the rest of the file to `partial` (a Range request when part of it is there)."""
    import httpx
    from huggingface_hub.utils import build_hf_headers

    start = partial.stat().st_size if partial.exists() else 0
    if start >= f.size:
        return
    headers = build_hf_headers()
    if start:
        headers["Range"] = f"bytes={start}-"
    with httpx.stream("GET", f.url, headers=headers, follow_redirects=True, timeout=TIMEOUT_S) as response:
        if response.status_code == 200 and start:  # the server ignored the Range: start over
            start = 0
        elif response.status_code not in (200, 206):
            raise HubUnavailable(f"the hub answered {response.status_code} for {f.repo}/{f.filename}")
        if start:
            progress(start)
        with partial.open("ab" if start else "wb") as out:
            for chunk in response.iter_bytes(CHUNK):
                out.write(chunk)
                progress(len(chunk))


def _verify(f: RemoteFile, path: Path) -> None:
    size = path.stat().st_size
    problem = None
    if size != f.size:
        problem = f"{size} bytes instead of {f.size}"
    elif _SHA256.match(f.etag):  # large (LFS) files: the etag is the content's sha256
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(CHUNK), b""):
                digest.update(chunk)
        if digest.hexdigest() != f.etag:
            problem = "its sha256 does not match the hub's"
    if problem:
        path.unlink(missing_ok=True)
        raise HubUnavailable(f"the download of {f.repo}/{f.filename} is corrupt ({problem}); run the command again")


def _link(cache_dir: Path, f: RemoteFile, blob: Path) -> None:
    """snapshots/<commit>/<file> -> ../../blobs/<etag>, and refs/main -> commit (the hub cache layout)."""
    repo_dir = _repo_dir(cache_dir, f.repo)
    pointer = repo_dir / "snapshots" / f.commit / f.filename
    pointer.parent.mkdir(parents=True, exist_ok=True)
    if pointer.is_symlink() or pointer.exists():
        pointer.unlink()
    os.symlink(os.path.relpath(blob, pointer.parent), pointer)
    (repo_dir / "refs").mkdir(exist_ok=True)
    (repo_dir / "refs" / "main").write_text(f.commit)


def fetch_file(cache_dir: Path, f: RemoteFile, progress: Callable[[int], None]) -> None:
    blob = _repo_dir(cache_dir, f.repo) / "blobs" / f.etag
    blob.parent.mkdir(parents=True, exist_ok=True)
    with _locked(cache_dir, f):
        if not blob.exists():
            partial = _partial_path(cache_dir, f)
            try:
                _stream(f, partial, progress)
            except Exception as exc:
                raise _hub_error(exc, f.repo, f.filename) from None
            _verify(f, partial)
            os.replace(partial, blob)
        else:
            progress(f.size)
        _link(cache_dir, f, blob)


def fetch(plan: DownloadPlan, progress: Callable[[RemoteFile, int], None]) -> None:
    """Download what the plan lacks; `progress(file, bytes)` as bytes arrive (for a bar)."""
    check_disk(plan)
    for f in plan.to_fetch:
        fetch_file(plan.cache_dir, f, lambda n, f=f: progress(f, n))
        f.cached = True
