"""The bundled labelled queries (data/retrieval/queries.tsv) are what they claim: at least 200, over
every bundled style, each kind checked mechanically against the styles' text (evaluation/
query_kinds.py), the folds dealt by the documented procedure, disjoint from test.tsv and train.tsv."""

from __future__ import annotations

from collections import Counter

from sketch2render.evaluation.query_kinds import (
    DECOY,
    KINDS,
    NO_SHARED,
    SHARES,
    content_words,
    fold_of,
    kind_of,
    style_words,
)
from sketch2render.evaluation.retrieval import BUNDLED
from sketch2render.styles import default_styles_dir, load_manifest


def rows(name: str) -> list[list[str]]:
    lines = (BUNDLED / name).read_text().splitlines()
    return [line.split("\t") for line in lines if line.strip() and not line.startswith("#")]


def test_every_labelled_query_has_the_kind_its_words_give_it():
    words = {meta.title: style_words(meta) for _path, meta in load_manifest(default_styles_dir())}
    queries = rows("queries.tsv")
    assert len(queries) >= 200 and all(len(r) == 4 for r in queries)
    assert {r[1] for r in queries} == set(words)  # every bundled style, and only those
    for query, title, kind, _fold in queries:
        assert kind_of(query, title, words) == kind, (query, kind)
    counts = Counter(r[2] for r in queries)
    assert set(counts) == set(KINDS) and min(counts.values()) >= 60
    others = {r[0] for name in ("test.tsv", "train.tsv") for r in rows(name)}
    assert len({r[0] for r in queries}) == len(queries) and not {r[0] for r in queries} & others


def test_the_kinds_follow_the_content_words_known_answers():
    words = {"a": {"river", "valley"}, "b": {"gold", "leaf"}}
    assert content_words("After the Rivers, with some Gold") == {"river", "gold"}  # English stop words out
    assert kind_of("a river at dusk", "a", words) == SHARES
    assert kind_of("a stream at dusk", "a", words) == NO_SHARED
    assert kind_of("a stream of gold at dusk", "a", words) == DECOY


def test_the_folds_are_dealt_round_robin_by_kind_style_and_hash():
    queries = rows("queries.tsv")
    assert {q: int(f) for q, _t, _k, f in queries} == fold_of((q, t, k) for q, t, k, _f in queries)
    per_fold = Counter((r[2], r[3]) for r in queries)
    for kind in KINDS:  # every kind spread evenly over the five folds
        sizes = [per_fold[kind, str(f)] for f in range(5)]
        assert max(sizes) - min(sizes) <= 1, (kind, sizes)
    moved = fold_of([("x", "s", SHARES), ("y", "s", SHARES), ("z", "t", DECOY)])
    assert moved == fold_of([("z", "t", DECOY), ("y", "s", SHARES), ("x", "s", SHARES)])  # order-free
