"""The style library on a Chroma server: two library instances (as two processes would) share
styles, images and cached IP-Adapter embeddings; reconcile leaves in-flight adds alone."""

from __future__ import annotations

import io

import pytest
import torch
from fakes import FakeEmbeddings
from PIL import Image

from sketch2render.errors import NotFound
from sketch2render.retrieval import HybridSearch
from sketch2render.schemas import StyleMeta
from sketch2render.styles import StyleLibrary, build_chroma_client
from sketch2render.styles import library as styles_module
from sketch2render.styles.blobs import BLOBS_COLLECTION, IMAGE, ChromaBlobs


def png_bytes(colour, size=(64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


def open_library(url: str, root) -> StyleLibrary:
    """A library as one process opens it: its own HTTP client, its own (unused) local root."""
    client = build_chroma_client(url)
    return StyleLibrary(root, FakeEmbeddings(), client=client, blobs=ChromaBlobs(client))


def test_two_processes_share_styles_images_and_embeds(chroma_url, tmp_path):
    a = open_library(chroma_url, tmp_path / "a")
    b = open_library(chroma_url, tmp_path / "b")
    record, created = a.add_bytes(png_bytes((250, 0, 0)), StyleMeta(title="Crimson field", tags=["poster"]))
    assert created
    # b learns about it on its next read, without re-opening
    assert record.id in b and b.get(record.id).title == "Crimson field"
    assert [h.id for h in HybridSearch(b).search("crimson", k=3)] == [record.id]
    assert b.image_bytes(record.id) == a.image_bytes(record.id)
    assert b.load_image(record.id).size == (64, 48)
    # the same image added through b is the existing style
    again, created_again = b.add_bytes(png_bytes((250, 0, 0)), StyleMeta(title="other title"))
    assert (again.id, created_again, again.title) == (record.id, False, "Crimson field")
    # embeddings cached by one process are read by the other
    b.save_ip_embeds(record.id, "encoder-x", torch.arange(6.0).reshape(2, 1, 3))
    assert torch.equal(a.load_ip_embeds(record.id, "encoder-x"), torch.arange(6.0).reshape(2, 1, 3))
    assert a.load_ip_embeds(record.id, "encoder-y") is None
    # nothing was written to either local root
    assert not any((tmp_path / "a").rglob("*.png")) and not any((tmp_path / "b").rglob("*.png"))


def test_remove_is_seen_by_the_other_process(chroma_url, tmp_path):
    a = open_library(chroma_url, tmp_path / "a")
    b = open_library(chroma_url, tmp_path / "b")
    keep = a.add_bytes(png_bytes((0, 250, 0)), StyleMeta(title="green"))[0]
    gone = a.add_bytes(png_bytes((0, 0, 250)), StyleMeta(title="blue"))[0]
    assert len(b) == 2
    b.save_ip_embeds(gone.id, "enc", torch.ones(2, 1, 3))
    b.remove(gone.id)
    assert [r.id for r in a.list()] == [keep.id]
    with pytest.raises(NotFound):
        a.get(gone.id)
    assert HybridSearch(a).search("blue", k=5)[0].id == keep.id
    leftovers = build_chroma_client(chroma_url).get_collection(BLOBS_COLLECTION).get(include=[])["ids"]
    assert not [i for i in leftovers if i.startswith(gone.id)]


def test_reconcile_leaves_a_fresh_partial_add_and_collects_an_old_one(chroma_url, tmp_path, monkeypatch):
    a = open_library(chroma_url, tmp_path / "a")
    kept = a.add_bytes(png_bytes((1, 100, 1)), StyleMeta(title="kept"))[0]
    in_flight = "cafebabecafebabe"
    a.blobs.write(in_flight, IMAGE, png_bytes((9, 9, 9)))  # another process, between image and record
    open_library(chroma_url, tmp_path / "b")  # opening reconciles
    assert a.blobs.read(in_flight, IMAGE) is not None
    monkeypatch.setattr(styles_module, "PARTIAL_GRACE_S", 0.0)  # now it counts as a crashed add
    c = open_library(chroma_url, tmp_path / "c")
    assert a.blobs.read(in_flight, IMAGE) is None
    assert [r.id for r in c.list()] == [kept.id]


def test_switching_retrieval_model_reindexes_from_the_server(chroma_url, tmp_path):
    a = open_library(chroma_url, tmp_path / "a")
    record = a.add_bytes(png_bytes((0, 0, 250)), StyleMeta(title="blue"))[0]

    class OtherModel(FakeEmbeddings):
        model_name = "another-model"

    client = build_chroma_client(chroma_url)
    other = StyleLibrary(tmp_path / "o", OtherModel(), client=client, blobs=ChromaBlobs(client))
    assert HybridSearch(other).search("blue", k=1)[0].id == record.id


def test_build_library_uses_the_server_when_chroma_url_is_set(chroma_url, tmp_path):
    from sketch2render.config import Settings
    from sketch2render.styles import build_library

    library = build_library(Settings(home=tmp_path, chroma_url=chroma_url), FakeEmbeddings())
    assert library.blobs.shared
    record = library.add_bytes(png_bytes((5, 5, 200)))[0]
    assert not (library.images_dir / f"{record.id}.png").exists()  # the bytes are on the server
    collection = build_chroma_client(chroma_url).get_collection(BLOBS_COLLECTION)
    assert f"{record.id}/{IMAGE}" in collection.get(include=[])["ids"]
