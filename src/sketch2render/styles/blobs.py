"""Where the style library keeps its bytes: each style's image, its record (the commit point of
an add) and its cached IP-Adapter embeddings, by (style id, name).

`DiskBlobs` is the single-process default: files under the library root, in the layout that
`library.py` documents. `ChromaBlobs` keeps the same bytes in a collection of a shared Chroma
server (base64 in a metadata field: Chroma full-text-indexes documents, which makes megabyte
documents take seconds), so a render worker on another machine reads a style's image and its
embeddings without a shared disk. A shared store never deletes what another process may be
writing: half-finished adds are collected only once they are old (`partial_ids(min_age=...)`).
Left out: the vector index and the records cache (library.py).
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..errors import Conflict
from ..files import atomic_write
from ..schemas import is_style_id

if TYPE_CHECKING:
    from chromadb.api import ClientAPI

IMAGE = "image.png"
RECORD = "record.json"
EMBEDS_PREFIX = "embeds/"
BLOBS_COLLECTION = "s2r-style-blobs"
LIBRARY_KEY = "_library"  # not a style id (those are hex): holds the change marker


def embeds_name(encoder_key: str) -> str:
    """The blob name of a style's IP-Adapter embeddings for one image encoder."""
    return f"{EMBEDS_PREFIX}{hashlib.sha1(encoder_key.encode()).hexdigest()[:16]}.safetensors"


def _check(style_id: str, name: str) -> None:
    """Ids are hex hashes and names come from this module: never let other text reach a path."""
    if not is_style_id(style_id) or not (name in (IMAGE, RECORD) or name.startswith(EMBEDS_PREFIX)):
        raise ValueError(f"bad blob key {style_id!r}/{name!r}")
    if ".." in name or name.count("/") != (1 if name.startswith(EMBEDS_PREFIX) else 0):
        raise ValueError(f"bad blob name {name!r}")


class BlobStore(Protocol):
    shared: bool  # several processes write it: never delete what may be in flight

    def read(self, style_id: str, name: str) -> bytes | None: ...

    def write(self, style_id: str, name: str, data: bytes) -> None: ...

    def delete(self, style_id: str, name: str) -> None: ...

    def remove_style(self, style_id: str) -> None: ...

    def committed_ids(self) -> set[str]:
        """Styles whose record exists (the adds that committed)."""
        ...

    def partial_ids(self, committed: set[str], min_age: float) -> set[str]:
        """Styles with bytes but no record, untouched for `min_age` seconds (crashed adds/removes)."""
        ...

    def cleanup(self) -> None: ...

    def version(self) -> str:
        """Changes whenever a process commits an add or a remove (for cache refreshes)."""
        ...

    def touch(self) -> None: ...


class DiskBlobs:
    """Files under the library root: images/<id>.png, images/<id>.json, ip_embeds/<id>/<hash>.safetensors."""

    shared = False

    def __init__(self, images_dir: Path, embeds_dir: Path) -> None:
        self.images_dir = Path(images_dir)
        self.embeds_dir = Path(embeds_dir)
        self.images_dir.mkdir(parents=True, exist_ok=True)
        self.embeds_dir.mkdir(parents=True, exist_ok=True)
        self._owner = self._take_ownership(self.images_dir.parent / ".owner.lock")

    @staticmethod
    def _take_ownership(path: Path):
        """One process owns a disk store (Chroma is not process-safe): hold a lock on it while open.
        POSIX record locks: the same process may open the store twice; another process may not."""
        import fcntl

        handle = open(path, "a+")  # noqa: SIM115 (held for the library's lifetime)
        try:
            fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise Conflict(
                f"the style library in {path.parent} is in use by another sketch2render process (a server started "
                "with make run, up or serve?): work through it (web UI, or the API's /docs), stop it, "
                "or run this with another S2R_HOME"
            ) from None
        return handle

    def close(self) -> None:
        if self._owner is not None:
            self._owner.close()  # releases the lock
            self._owner = None

    def path(self, style_id: str, name: str) -> Path:
        _check(style_id, name)
        if name == IMAGE:
            return self.images_dir / f"{style_id}.png"
        if name == RECORD:
            return self.images_dir / f"{style_id}.json"
        return self.embeds_dir / style_id / name.removeprefix(EMBEDS_PREFIX)

    def read(self, style_id: str, name: str) -> bytes | None:
        try:
            return self.path(style_id, name).read_bytes()
        except FileNotFoundError:
            return None

    def write(self, style_id: str, name: str, data: bytes) -> None:
        path = self.path(style_id, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, data)

    def delete(self, style_id: str, name: str) -> None:
        self.path(style_id, name).unlink(missing_ok=True)

    def remove_style(self, style_id: str) -> None:
        self.delete(style_id, IMAGE)
        shutil.rmtree(self.embeds_dir / style_id, ignore_errors=True)

    def committed_ids(self) -> set[str]:
        return {p.stem for p in self.images_dir.glob("*.json")}

    def partial_ids(self, committed: set[str], min_age: float) -> set[str]:
        # One process owns a disk store, so nothing is in flight while it opens: min_age is moot.
        return {p.stem for p in self.images_dir.glob("*.png") if p.stem.isalnum()} - committed

    def cleanup(self) -> None:
        for tmp in [*self.images_dir.glob(".*.tmp"), *self.embeds_dir.glob("*/.*.tmp")]:
            tmp.unlink(missing_ok=True)

    def version(self) -> str:
        return ""

    def touch(self) -> None:
        pass


class ChromaBlobs:
    """Style bytes in one collection of a shared Chroma server, keyed "<style id>/<name>"."""

    shared = True

    def __init__(self, client: ClientAPI, collection: str = BLOBS_COLLECTION) -> None:
        self.collection = client.get_or_create_collection(collection, embedding_function=None)

    @staticmethod
    def _vector(key: str) -> list[float]:
        # Chroma wants a vector per entry; a 1-d one spread by hash keeps its HNSW graph sane.
        return [int.from_bytes(hashlib.sha1(key.encode()).digest()[:4], "big") / 2**32]

    def _put(self, key: str, style: str, name: str, data: bytes) -> None:
        meta = {"style": style, "name": name, "written_at": time.time(), "data": base64.b64encode(data).decode()}
        self.collection.upsert(ids=[key], embeddings=[self._vector(key)], metadatas=[meta])

    def read(self, style_id: str, name: str) -> bytes | None:
        _check(style_id, name)
        found = self.collection.get(ids=[f"{style_id}/{name}"], include=["metadatas"])
        if not found["ids"]:
            return None
        return base64.b64decode(found["metadatas"][0]["data"])

    def write(self, style_id: str, name: str, data: bytes) -> None:
        _check(style_id, name)
        self._put(f"{style_id}/{name}", style_id, name, data)

    def delete(self, style_id: str, name: str) -> None:
        _check(style_id, name)
        self.collection.delete(ids=[f"{style_id}/{name}"])

    def remove_style(self, style_id: str) -> None:
        self.collection.delete(where={"style": style_id})

    def committed_ids(self) -> set[str]:
        ids = self.collection.get(where={"name": RECORD}, include=[])["ids"]
        return {i.split("/", 1)[0] for i in ids}

    def partial_ids(self, committed: set[str], min_age: float) -> set[str]:
        every = {i.split("/", 1)[0] for i in self.collection.get(include=[])["ids"]}
        candidates = every - committed - {LIBRARY_KEY}
        if not candidates:
            return set()
        recent = self.collection.get(
            where={"$and": [{"style": {"$in": sorted(candidates)}}, {"written_at": {"$gt": time.time() - min_age}}]},
            include=[],
        )["ids"]
        return candidates - {i.split("/", 1)[0] for i in recent}

    def cleanup(self) -> None:
        pass

    def version(self) -> str:
        found = self.collection.get(ids=[f"{LIBRARY_KEY}/version"], include=["metadatas"])
        return base64.b64decode(found["metadatas"][0]["data"]).decode() if found["ids"] else ""

    def touch(self) -> None:
        self._put(f"{LIBRARY_KEY}/version", LIBRARY_KEY, "version", uuid.uuid4().hex.encode())
