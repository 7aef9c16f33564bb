"""The style library: style images on disk, their CLIP vectors in ChromaDB (its own collection API).

On disk, under `root` (the default, one process owns the store):
  images/<id>.png    the image, re-encoded (longest side at most `store_side`)
  images/<id>.json   its record (title, tags, license, ...); writing it commits an add
  ip_embeds/<id>/    stored IP-Adapter image embeddings, one file per image-encoder model
  chroma/            the vector index, one collection per retrieval model
  collections.sqlite3  the collections (moodboards) of styles: collections.py (in PostgreSQL instead
                     when `S2R_DATABASE_URL` names a database: `collections_url`)

The bytes (image, record, embeddings) live in a `BlobStore` (blobs.py): these files, or, with a
shared Chroma server (`S2R_CHROMA_URL`), a collection on that server beside the index, so that
render workers on other machines share one library. The blobs are the source of truth and the
index follows them: opening the library reconciles the two, so a crash half-way through an add
or a remove leaves no dangling entry, and switching retrieval models re-indexes the same images.
With a shared store each process caches the records and refreshes them when another process
changed the library. Ids are content hashes, so adding the same image twice returns the
existing id.

Searching is not done here: `retrieval.StyleSearch` ranks the library's styles (the vector index
answers `nearest`; a search watches the library's changes to keep its word index and its kept
answers current).
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from ..config import UploadLimits
from ..errors import Conflict, InvalidImage, NotFound
from ..schemas import StyleMeta, StyleRecord
from ..sketch import imaging
from .blobs import IMAGE, RECORD, BlobStore, DiskBlobs, embeds_name
from .collections import COLLECTIONS_FILE, CollectionStore, StyleCollections
from .embeddings import ImageTextEmbeddings
from .fingerprint import NearDuplicates, fingerprint
from .ids import collection_name, content_id, tag_key

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.types import QueryResult

# Told of every change under the library's lock: the records now, and the ids that changed (None:
# everything was reloaded). A search keeps its word index and its kept answers current with it.
ChangeListener = Callable[[Mapping[str, StyleRecord], Sequence[str] | None], None]


@dataclass(frozen=True)
class Added:
    """What an add did: the style (new, or the one already there) and whether it was created."""

    record: StyleRecord
    created: bool
    near_duplicate_of: str | None = None  # the add matched this style's fingerprint: nothing was added


MAX_ASPECT = 20  # longest side over shortest, for style images
PARTIAL_GRACE_S = 3600.0  # a shared store collects a half-finished add only once it is this old


class StyleLibrary(StyleCollections):
    """Add, list, get and remove style images; the index of their CLIP vectors; their collections
    (`StyleCollections`). Thread-safe; one process owns a disk store, any number share a Chroma server
    (`client` an HttpClient, `blobs` a `ChromaBlobs` on it). The collections are in `collections_url`
    (a database URL), else in `collections.sqlite3` under `root`."""

    def __init__(
        self,
        root: Path,
        embeddings: ImageTextEmbeddings,
        *,
        client: ClientAPI | None = None,
        blobs: BlobStore | None = None,
        limits: UploadLimits = UploadLimits(),
        store_side: int = 1024,
        collections_url: str | None = None,
    ) -> None:
        import chromadb

        self.root = Path(root)
        self.images_dir = self.root / "images"
        self.embeds_dir = self.root / "ip_embeds"
        self.blobs: BlobStore = blobs if blobs is not None else DiskBlobs(self.images_dir, self.embeds_dir)
        if client is None:
            client = chromadb.PersistentClient(
                path=str(self.root / "chroma"),
                settings=chromadb.config.Settings(anonymized_telemetry=False, allow_reset=False),
            )
        self.embeddings = embeddings
        self.client = client
        # chromadb's own API: we bring our own vectors, and only ids and distances come back.
        self.collection = client.get_or_create_collection(
            collection_name(getattr(embeddings, "model_name", type(embeddings).__name__)),
            metadata={"hnsw:space": "cosine"},
            embedding_function=None,
        )
        self.limits = limits
        self.store_side = store_side
        self._records: dict[str, StyleRecord] = {}
        self._listeners: list[ChangeListener] = []
        self._version: str | None = None  # the shared store's change marker when last loaded
        self.collections = CollectionStore(collections_url or self.root / COLLECTIONS_FILE)
        self.near = NearDuplicates(lambda style_id: self.blobs.read(style_id, IMAGE))
        self.lock = threading.RLock()  # held by a search over the records, so no change slips in
        self.reconcile()

    # --- consistency ---------------------------------------------------------------------
    def reconcile(self) -> dict[str, int]:
        """Make the index agree with the blobs (after a crash or a change of retrieval model).
        On a shared store nothing another process may be writing is removed: the index is read
        before the records (an add commits its record first), and half-finished adds are
        collected only when older than `PARTIAL_GRACE_S`."""
        with self.lock:
            version = self.blobs.version()
            indexed = self._indexed()
            committed = self.blobs.committed_ids()
            min_age = PARTIAL_GRACE_S if self.blobs.shared else 0.0
            for style_id in self.blobs.partial_ids(committed, min_age):  # adds that never committed
                self.blobs.remove_style(style_id)
            self.blobs.cleanup()
            stale = [i for i in indexed["ids"] if i not in committed]
            if stale:  # a remove that did not finish
                self.collection.delete(ids=stale)
            self._load_records(indexed, committed)
            missing = sorted(committed - set(self._records))
            for style_id in missing:
                record_bytes, png = self.blobs.read(style_id, RECORD), self.blobs.read(style_id, IMAGE)
                if record_bytes is None or png is None:  # removed meanwhile (shared store)
                    continue
                record = StyleRecord.model_validate_json(record_bytes)
                with Image.open(io.BytesIO(png)) as im:
                    vector = self.embeddings.embed_pil([im.convert("RGB")])[0]
                self._index([record], [vector])
            self._version = version
            return {"stale_removed": len(stale), "reindexed": len(missing)}

    def _indexed(self, page: int = 5000) -> dict[str, list]:
        """Every id and metadata in the index, read in pages (one read of more than ~32K rows
        overflows SQLite's variable limit inside Chroma)."""
        ids: list[str] = []
        metadatas: list[dict] = []
        while True:
            chunk = self.collection.get(include=["metadatas"], limit=page, offset=len(ids))
            ids += chunk["ids"]
            metadatas += chunk["metadatas"]
            if len(chunk["ids"]) < page:
                return {"ids": ids, "metadatas": metadatas}

    def _load_records(self, indexed: dict, committed: set[str]) -> None:
        """The records cache: committed styles that are in the index. Built aside and swapped in,
        so a reader without the lock sees the old set or the new one."""
        records: dict[str, StyleRecord] = {}
        for doc_id, meta in zip(indexed["ids"], indexed["metadatas"], strict=True):
            if doc_id in committed:
                records[doc_id] = StyleRecord.model_validate_json(meta["record"])
        self._records = records
        self._changed(None)

    def watch(self, listener: ChangeListener) -> None:
        """Call `listener` now with every record, then on every change (under `lock`)."""
        with self.lock:
            self._listeners.append(listener)
            listener(self._records, None)

    def _changed(self, ids: Sequence[str] | None) -> None:
        self.near.forget(ids)
        for listener in self._listeners:
            listener(self._records, ids)

    def sync(self) -> None:
        """Shared store: reload the records when another process added or removed a style (one
        small read per call when nothing changed). A disk store has one owner: nothing to do."""
        if not self.blobs.shared:
            return
        with self.lock:
            version = self.blobs.version()
            if version == self._version:
                return
            indexed = self._indexed()
            self._load_records(indexed, self.blobs.committed_ids())
            self._version = version

    def _remember(self, record: StyleRecord) -> None:
        self._records[record.id] = record
        self._changed([record.id])

    def _index(self, records: Sequence[StyleRecord], vectors: Sequence[Sequence[float]]) -> None:
        batch = max(1, min(5000, self.client.get_max_batch_size()))
        for start in range(0, len(records), batch):
            chunk = records[start : start + batch]
            metadatas = []
            for r in chunk:
                meta: dict[str, Any] = {"title": r.title, "record": r.model_dump_json()}
                meta.update({tag_key(t): True for t in r.tags if t.strip()})
                metadatas.append(meta)
            self.collection.upsert(
                ids=[r.id for r in chunk],
                embeddings=[list(v) for v in vectors[start : start + batch]],
                metadatas=metadatas,
                documents=[r.search_text() for r in chunk],
            )
        for record in records:
            self._remember(record)

    # --- adding and removing -------------------------------------------------------------
    def add_bytes(self, data: bytes, meta: StyleMeta | None = None, *, owner: str = "") -> tuple[StyleRecord, bool]:
        """Add one image; returns (record, created). Bad files raise before anything is stored.
        `owner`: the principal adding it (a private style is only theirs)."""
        image = imaging.decode_upload(data, self.limits)
        return self.add_image(image, meta, owner=owner)

    def add_file(self, path: Path, meta: StyleMeta | None = None, *, owner: str = "") -> tuple[StyleRecord, bool]:
        image = imaging.load_upload_file(Path(path), self.limits)
        if meta is None or not meta.title:
            meta = (meta or StyleMeta()).model_copy(update={"title": Path(path).stem.replace("_", " ")})
        return self.add_image(image, meta, owner=owner)

    def add_image(
        self, image: Image.Image, meta: StyleMeta | None = None, *, owner: str = ""
    ) -> tuple[StyleRecord, bool]:
        added = self.add_checked(image, meta, owner=owner)
        return added.record, added.created

    def add_checked(
        self, image: Image.Image, meta: StyleMeta | None = None, *, owner: str = "", allow_near_duplicate: bool = True
    ) -> Added:
        """Add one image: the same pixels again return the existing style; without `allow_near_duplicate`
        a near duplicate (resized, re-encoded, slightly cropped) of a style `owner` may see returns that
        style, with `near_duplicate_of` set, and nothing is added."""
        if max(image.size) > MAX_ASPECT * min(image.size):  # CLIP would blow its short side up to 224
            raise InvalidImage(
                f"a style image must not be more elongated than {MAX_ASPECT}:1 "
                f"(this one is {image.width}×{image.height})"
            )
        image = image.convert("RGB")
        if max(image.size) > self.store_side:
            image = image.copy()
            image.thumbnail((self.store_side, self.store_side), Image.Resampling.LANCZOS)
        style_id = content_id(image)
        with self.lock:
            if style_id in self:
                existing = self._records[style_id]
                if not existing.visible_to(owner):  # the same pixels as another principal's private style
                    raise Conflict("this image is already in the library as another principal's private style")
                return Added(existing, False)
            found = fingerprint(image)
            visible = (r for r in self._records.values() if r.visible_to(owner))
            if not allow_near_duplicate and (near := self.near.find(found, visible)) is not None:
                return Added(near, False, near.id)
            meta = meta or StyleMeta()
            tags = sorted({t.strip().lower() for t in meta.tags if t.strip()})
            record = StyleRecord(
                **meta.model_dump(exclude={"tags"}),
                tags=tags,
                id=style_id,
                width=image.width,
                height=image.height,
                added_at=time.time(),
                owner=owner,
                fingerprint=found.text(),
            )
            vector = self.embeddings.embed_pil([image])[0]  # before storing anything: may fail
            self.blobs.write(style_id, IMAGE, imaging.encode_png(image))
            self.blobs.write(style_id, RECORD, record.model_dump_json(indent=1).encode())  # commit point
            self._index([record], [vector])
            self.blobs.touch()
            return Added(record, True)

    def remove(self, style_id: str) -> StyleRecord:
        with self.lock:
            record = self.get(style_id)
            self.blobs.delete(style_id, RECORD)  # commit point
            self.collection.delete(ids=[style_id])
            self.blobs.remove_style(style_id)
            self._records.pop(style_id, None)
            self._changed([style_id])
            self.blobs.touch()
            return record

    # --- reading -------------------------------------------------------------------------
    def records(self) -> Mapping[str, StyleRecord]:
        """Every committed style by id (read-only; a reload swaps in a new mapping)."""
        self.sync()
        return self._records

    def __len__(self) -> int:
        self.sync()
        return len(self._records)

    def __contains__(self, style_id: object) -> bool:
        if style_id not in self._records:
            self.sync()  # added by another process?
        return style_id in self._records

    def get(self, style_id: str) -> StyleRecord:
        record = self._records.get(style_id)
        if record is None:
            self.sync()
            record = self._records.get(style_id)
        if record is None:
            raise NotFound(f"no style with id {style_id!r}", field="style_id")
        return record

    def get_for(self, style_id: str, principal: str, *, admin: bool = False) -> StyleRecord:
        """A style as `principal` sees it: another principal's private style is the same 404 as none
        (admins see every style)."""
        record = self.get(style_id)
        if not (admin or record.visible_to(principal)):
            raise NotFound(f"no style with id {style_id!r}", field="style_id")
        return record

    def image_bytes(self, style_id: str) -> bytes:
        """The stored PNG of a style (from the disk or the shared server)."""
        self.get(style_id)
        data = self.blobs.read(style_id, IMAGE)
        if data is None:
            raise NotFound(f"the image of style {style_id!r} is missing", field="style_id")
        return data

    def load_image(self, style_id: str) -> Image.Image:
        with Image.open(io.BytesIO(self.image_bytes(style_id))) as im:
            return im.convert("RGB")

    def list(
        self, offset: int = 0, limit: int = 100, tag: str | None = None, *, principal: str | None = None
    ) -> list[StyleRecord]:
        """Oldest first, with `tag`; `principal`: only the styles they may see (None: every style)."""
        self.sync()
        records = sorted(self._records.values(), key=lambda r: (r.added_at, r.id))
        if tag:
            records = [r for r in records if tag.strip().lower() in r.tags]
        if principal is not None:
            records = [r for r in records if r.visible_to(principal)]
        return records[offset : offset + limit]

    # --- the vector index ---------------------------------------------------------------
    def nearest(self, vector: Sequence[float], n: int, tags: Sequence[str] = ()) -> QueryResult:
        """Chroma's `n` nearest styles to `vector` (ids and cosine distances), with every tag in
        `tags` (normalised by the caller). The caller holds `lock` and has synced."""
        where = None
        if len(tags) == 1:
            where = {tag_key(tags[0]): True}
        elif tags:
            where = {"$and": [{tag_key(t): True} for t in tags]}
        return self.collection.query(query_embeddings=[list(vector)], n_results=n, where=where, include=["distances"])

    # --- stored IP-Adapter image embeddings -----------------------------------------------
    def load_ip_embeds(self, style_id: str, encoder_key: str):
        """The stored IP-Adapter embedding tensor for this style and image encoder, or None. Read from
        the blobs at every call: the tensors kept in memory are render/caches.py's."""
        with self.lock:
            data = self.blobs.read(style_id, embeds_name(encoder_key))
        if data is None:
            return None
        from safetensors.torch import load

        return load(data)["embeds"]

    def save_ip_embeds(self, style_id: str, encoder_key: str, embeds) -> None:
        from safetensors.torch import save

        data = save({"embeds": embeds.detach().cpu().contiguous()}, metadata={"encoder": encoder_key})
        with self.lock:  # a remove cannot slip in between the check and the write
            self.get(style_id)
            self.blobs.write(style_id, embeds_name(encoder_key), data)

    def close(self) -> None:
        """Release the store (a disk store's ownership lock, the collections' database)."""
        self.collections.close()
        close = getattr(self.blobs, "close", None)
        if close is not None:
            close()

    # --- bulk ------------------------------------------------------------------------------
    def add_files(
        self,
        items: Sequence[tuple[Path, StyleMeta | None]],
        progress: Callable[[int, int, Path], None] | None = None,
        *,
        owner: str = "",
    ) -> list[tuple[StyleRecord, bool]]:
        """Add many files, calling `progress(done, total, path)` after each (for a progress bar)."""
        results = []
        for done, (path, meta) in enumerate(items, start=1):
            results.append(self.add_file(path, meta, owner=owner))
            if progress:
                progress(done, len(items), path)
        return results
