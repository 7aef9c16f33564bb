"""StyleLibrary with a deterministic fake embedder: add, dedup, list, remove, search, recovery."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap

import pytest
from fakes import FakeEmbeddings
from PIL import Image

from sketch2render.errors import InvalidImage, InvalidParameter, NotFound, UnsupportedFormat
from sketch2render.retrieval import HybridSearch
from sketch2render.schemas import StyleMeta
from sketch2render.styles import StyleLibrary, load_manifest


def png_bytes(colour, size=(64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def library(tmp_path):
    return StyleLibrary(tmp_path / "styles", FakeEmbeddings())


@pytest.fixture
def search(library):
    return HybridSearch(library)


def add(lib, colour, title, tags=(), description=""):
    record, _ = lib.add_bytes(png_bytes(colour), StyleMeta(title=title, tags=list(tags), description=description))
    return record


def test_add_stores_png_and_record(library):
    record = add(library, (200, 10, 10), "Red field", ["Bold", "warm "])
    assert record.tags == ["bold", "warm"]
    assert (library.images_dir / f"{record.id}.png").read_bytes().startswith(b"\x89PNG")
    assert library.get(record.id).title == "Red field"
    assert len(library) == 1


def test_same_content_twice_returns_existing_id(library):
    first, created1 = library.add_bytes(png_bytes((1, 2, 3)), StyleMeta(title="a"))
    second, created2 = library.add_bytes(png_bytes((1, 2, 3)), StyleMeta(title="b"))
    assert (created1, created2) == (True, False)
    assert first.id == second.id and second.title == "a"
    assert len(library) == 1


def test_dense_ordering_by_colour(library, search):
    red = add(library, (250, 0, 0), "one")
    green = add(library, (0, 250, 0), "two")
    blue = add(library, (0, 0, 250), "three")
    assert [h.id for h in search.search("something red", k=3)][0] == red.id
    assert search.search("green please", k=1)[0].id == green.id
    hits = search.search("blue", k=3)
    assert hits[0].id == blue.id
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(h.cosine is not None for h in hits)


def test_lexical_side_finds_words_and_fuses(library, search):
    add(library, (250, 0, 0), "Crimson poster")
    night = add(library, (90, 90, 90), "The Starry Night", ["night sky", "swirling"], "swirling stars")
    hits = search.search("swirling night sky", k=2)
    assert hits[0].id == night.id
    assert hits[0].lexical > 0 and hits[1].lexical == 0


def test_fused_scores_are_reciprocal_rank_fusion_of_both_lists(library):
    """Known answer: a style first for the words and second for CLIP scores (1/61 + 1/62) / (2/61)
    (RRF with k = 60, both weights 1: the "rrf" design); without the word side it would be only second."""
    search = HybridSearch(library, fusion="rrf")
    red = add(library, (250, 0, 0), "plain one")
    reddish = add(library, (200, 40, 40), "Crimson poster", ["crimson"])
    hits = search.search("red crimson", k=2)
    assert [h.id for h in hits] == [reddish.id, red.id]  # the word match lifts the second-reddest to first
    assert hits[0].lexical > 0 and hits[1].lexical == 0
    assert hits[0].score == pytest.approx((1 / 61 + 1 / 62) / (2 / 61), abs=1e-6)
    assert hits[1].score == pytest.approx((1 / 61) / (2 / 61), abs=1e-6)
    from sketch2render.retrieval.lexical import reciprocal_rank_fusion

    fused = reciprocal_rank_fusion({"a": 0.9, "b": 0.8}, {"b": 3.0}, dense_weight=1.0, lexical_weight=1.0, k=60)
    assert fused == pytest.approx({"a": (1 / 61) / (2 / 61), "b": (1 / 62 + 1 / 61) / (2 / 61)})
    words_off = reciprocal_rank_fusion({"a": 0.9, "b": 0.8}, {"b": 3.0}, dense_weight=1.0, lexical_weight=0.0, k=60)
    assert words_off["a"] > words_off["b"]  # the lexical weight is what lifts b


def test_tag_filter_and_min_score(library, search):
    add(library, (250, 0, 0), "red a", ["poster"])
    b = add(library, (240, 20, 0), "red b", ["painting"])
    assert [h.id for h in search.search("red", k=5, tags=["painting"])] == [b.id]
    assert search.search("red", k=5, tags=["nope"]) == []
    # an impossible minimum cosine keeps only hits with a lexical match
    kept = search.search("red b", k=5, min_score=1.01)
    assert kept and all(h.lexical > 0 for h in kept)


def test_remove_deletes_vector_image_and_caches(library, search):
    import torch

    record = add(library, (10, 200, 10), "green")
    library.save_ip_embeds(record.id, "encoder-x", torch.ones(1, 4))
    assert library.load_ip_embeds(record.id, "encoder-x") is not None
    library.remove(record.id)
    assert len(library) == 0
    assert not (library.images_dir / f"{record.id}.png").exists()
    assert not (library.embeds_dir / record.id).exists()
    with pytest.raises(NotFound):
        library.get(record.id)
    assert search.search("green", k=3) == []


def test_bad_files_refused_and_library_unchanged(library):
    add(library, (1, 1, 1), "keep me")
    before = sorted(p.name for p in library.images_dir.iterdir())
    with pytest.raises(InvalidImage):
        library.add_bytes(b"")
    with pytest.raises(UnsupportedFormat):
        library.add_bytes(b"<svg xmlns='http://www.w3.org/2000/svg'></svg>")
    with pytest.raises(InvalidImage):
        library.add_bytes(png_bytes((5, 5, 5))[:60])
    assert sorted(p.name for p in library.images_dir.iterdir()) == before
    assert len(library) == 1


def test_parameters_validated(library, search):
    with pytest.raises(InvalidParameter):
        search.search("   ")
    with pytest.raises(InvalidParameter):
        search.search("x", k=0)


def test_list_is_paged_in_insertion_order(library):
    ids = [add(library, (i * 20, 0, 0), f"s{i}").id for i in range(5)]
    assert [r.id for r in library.list(0, 2)] == ids[:2]
    assert [r.id for r in library.list(2, 10)] == ids[2:]


def test_search_by_image_excludes_itself(library, search):
    red = add(library, (250, 0, 0), "red")
    dark_red = add(library, (200, 0, 0), "dark red")
    add(library, (0, 0, 250), "blue")
    hits = search.search_by_image(red.id, k=2)
    assert red.id not in [h.id for h in hits]
    assert hits[0].id == dark_red.id


def test_recovers_from_half_finished_add_and_remove(tmp_path):
    lib = StyleLibrary(tmp_path / "s", FakeEmbeddings())
    kept = add(lib, (1, 100, 1), "kept")
    gone = add(lib, (100, 1, 1), "gone")
    # a remove that crashed after its commit point: record file gone, vector and image still there
    (lib.images_dir / f"{gone.id}.json").unlink()
    # an add that crashed before its commit point: image written, no record
    (lib.images_dir / "deadbeefdeadbeef.png").write_bytes(png_bytes((9, 9, 9)))
    reopened = StyleLibrary(tmp_path / "s", FakeEmbeddings())
    assert [r.id for r in reopened.list()] == [kept.id]
    assert not (lib.images_dir / "deadbeefdeadbeef.png").exists()
    assert not (reopened.images_dir / f"{gone.id}.png").exists()
    assert [h.id for h in HybridSearch(reopened).search("anything", k=5)] == [kept.id]


def test_reindexes_when_the_retrieval_model_changes(tmp_path):
    lib = StyleLibrary(tmp_path / "s", FakeEmbeddings())
    record = add(lib, (0, 0, 250), "blue")

    class OtherModel(FakeEmbeddings):
        model_name = "another-model"

    other = StyleLibrary(tmp_path / "s", OtherModel())
    assert HybridSearch(other).search("blue", k=1)[0].id == record.id


def test_persists_across_processes(tmp_path):
    lib = StyleLibrary(tmp_path / "s", FakeEmbeddings())
    record = add(lib, (0, 250, 0), "green thing", ["verdant"])
    lib.close()
    code = textwrap.dedent(
        f"""
        import sys; sys.path.insert(0, {str(__import__("pathlib").Path(__file__).parents[1])!r})
        from fakes import FakeEmbeddings
        from sketch2render.retrieval import HybridSearch
        from sketch2render.styles import StyleLibrary
        lib = StyleLibrary({str(tmp_path / "s")!r}, FakeEmbeddings())
        hit = HybridSearch(lib).search("verdant", k=1)[0]
        print(len(lib), hit.id, hit.style.title)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", record.id, "green", "thing"]


def test_manifest_of_bundled_styles_has_licenses():
    from sketch2render.styles import default_styles_dir

    items = load_manifest(default_styles_dir())
    assert len(items) == 21
    assert all(meta.license and meta.title and path.exists() for path, meta in items)


def test_index_is_read_in_pages(library):
    ids = {add(library, (i * 40, 10, 10), f"s{i}").id for i in range(5)}
    assert set(library._indexed(page=2)["ids"]) == ids


def test_lexical_side_keeps_only_the_best_matches():
    from sketch2render.retrieval.lexical import LexicalIndex

    index = LexicalIndex()
    for i in range(10):
        index.set(f"d{i}", "night " * (i + 1) + "filler words here")
    best = index.scores("night", limit=3)
    assert set(best) == {"d9", "d8", "d7"}
    assert set(index.scores("night", allowed={"d1", "d2"})) == {"d1", "d2"}


def test_one_process_owns_a_disk_library(tmp_path):
    lib = StyleLibrary(tmp_path / "s", FakeEmbeddings())
    code = textwrap.dedent(
        f"""
        import sys; sys.path.insert(0, {str(__import__("pathlib").Path(__file__).parents[1])!r})
        from fakes import FakeEmbeddings
        from sketch2render.errors import Conflict
        from sketch2render.styles import StyleLibrary
        try:
            StyleLibrary({str(tmp_path / "s")!r}, FakeEmbeddings())
        except Conflict as exc:
            print("refused:", exc.message)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("refused:") and "work through it" in out.stdout and "S2R_HOME" in out.stdout
    lib.close()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == ""  # free again once closed


def test_extreme_aspect_ratio_and_repeated_tags_are_refused_clearly(library, search):
    with pytest.raises(InvalidImage, match="elongated"):
        library.add_bytes(png_bytes((1, 2, 3), size=(2000, 20)))
    add(library, (250, 0, 0), "red", ["poster"])
    assert len(search.search("red", k=5, tags=["poster"] * 1200)) == 1  # duplicates collapse
    with pytest.raises(InvalidParameter):
        search.search("red", k=5, tags=[f"t{i}" for i in range(51)])
