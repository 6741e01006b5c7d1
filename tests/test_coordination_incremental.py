"""Incremental coordination: posts delivered in parts, the state brought up to date after each,
give the edges and co-similar clusters that a batch run over the same posts gives."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fimiwatch.config import Settings
from fimiwatch.detect.coordination import similar_state
from fimiwatch.detect.coordination.edges import compute_edges
from fimiwatch.detect.coordination.incremental import rebuild_edges, update_edges
from fimiwatch.detect.coordination.similar import similar_keys
from fimiwatch.detect.state import latest_ingest
from fimiwatch.store import Store
from tests.test_coordination import PERMISSIVE, ingest, item

TEXTS = [
    "the candidate is a cia trojan horse sent to destroy our country",
    "our candidate is a cia trojan horse sent to destroy the country",
    "brussels hides the truth about the election and the cia money trail",
    "brussels hides the truth about the vote and the cia money trail today",
    "a short one",
]
"""Near-duplicates in pairs (Jaccard of word bigrams 0.57 and 0.64), and a post too short for
co-similar."""
LINKS = [
    "https://ac24.cz/zpravy/1?utm_source=x",
    "https://AC24.cz/zpravy/1/",
    "https://example.org/a#top",
]

posts = st.lists(
    st.fixed_dictionaries(
        {
            "account": st.integers(0, 6),
            "seconds": st.integers(0, 240),
            "text": st.sampled_from(TEXTS),
            "link": st.none() | st.sampled_from(LINKS),
            "tags": st.sampled_from([None, ["eu", "cia"], ["CIA", "EU"], ["eu"]]),
            "repost": st.none() | st.sampled_from(["r1", "r2"]),
        }
    ),
    min_size=2,
    max_size=40,
)


def _record(number: int, post: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {"text": post["text"]}
    if post["link"]:
        fields["links"] = [post["link"]]
    if post["tags"]:
        fields["hashtags"] = post["tags"]
    if post["repost"]:
        fields["repost_of"] = post["repost"]
    return item(f"x{number}", f"a{post['account']}", post["seconds"], **fields)


def _sorted(table: Any) -> list[dict[str, Any]]:
    return sorted(table.to_pylist(), key=lambda row: (row["view"], row["source"], row["target"]))


def _keys(table: Any) -> set[tuple[str, str]]:
    return set(zip(table["item"].to_pylist(), table["key"].to_pylist(), strict=True))


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(posts=posts, cuts=st.lists(st.integers(1, 39), max_size=3))
def test_incremental_edges_equal_batch_edges(tmp_path: Path, posts: list, cuts: list) -> None:
    folder = tmp_path / uuid.uuid4().hex
    folder.mkdir()
    records = [_record(number, post) for number, post in enumerate(posts)]
    bounds = sorted({0, len(records), *(c for c in cuts if c < len(records))})
    # one minimum per band: posts that are not near-duplicates often share a bucket, and
    # which of them is a bucket's first decides what is compared
    params = replace(PERMISSIVE, similar_bands=2, similar_rows=1, similar_threshold=0.6)
    with Store(folder / "s.duckdb", Settings(db=folder / "s.duckdb")) as store:
        for part, (start, end) in enumerate(itertools.pairwise(bounds)):
            ingest(store, folder, records[start:end])
            if part == 0:
                edges = rebuild_edges(store, params, latest_ingest(store))
            else:
                edges = update_edges(store, params, latest_ingest(store))
            assert edges is not None
            assert _sorted(edges) == _sorted(compute_edges(store, params))
            stored = store.arrow(f"SELECT item, key FROM {similar_state.KEYS}")
            assert _keys(stored) == _keys(similar_keys(store, params))


def test_the_state_is_brought_up_from_its_own_mark(store: Store, tmp_path: Path) -> None:
    """Rounds that bring nothing coordination reads leave its state behind, and a run that dies
    before saving its findings leaves it ahead of them: either way the state's own mark says
    which posts it still lacks. A state ahead of the store, or built with other parameters,
    means a full run."""
    ingest(store, tmp_path, [item("a", "u1", 0, text="same words"), item("b", "u2", 5)])
    rebuild_edges(store, PERMISSIVE, latest_ingest(store))
    assert update_edges(store, PERMISSIVE, 0) is None
    assert update_edges(store, replace(PERMISSIVE, min_weight=2), latest_ingest(store)) is None
    ingest(store, tmp_path, [item("c", "u3", 9, text="same words")])
    ingest(store, tmp_path, [item("d", "u4", 30)])
    for _ in range(2):  # the second time there is nothing new: the same edges
        edges = update_edges(store, PERMISSIVE, latest_ingest(store))
        assert edges is not None
        assert [(e["view"], e["source"], e["target"]) for e in edges.to_pylist()] == [
            ("co-post", "u1", "u3")
        ]
    assert _sorted(edges) == _sorted(compute_edges(store, PERMISSIVE))


def test_a_new_post_that_renames_a_cluster_moves_its_old_posts(
    store: Store, tmp_path: Path
) -> None:
    """A new post ranked below a cluster's first post gives the cluster a new key: the old
    posts' co-similar actions move from the old key to the new one, and the old key's meetings
    are gone (a stale key would count the old meetings twice)."""
    rank = {f"y{i}": store.scalar("SELECT hash(?)", [f"y{i}"]) for i in range(100)}
    lowest, *others = sorted(rank, key=rank.__getitem__)
    text = TEXTS[0]
    ingest(store, tmp_path, [item(name, f"a{n}", n * 10, text=text)
                             for n, name in enumerate(others[:3])])  # fmt: skip
    rebuild_edges(store, PERMISSIVE, latest_ingest(store))
    ingest(store, tmp_path, [item(lowest, "a9", 15, text=text)])
    edges = update_edges(store, PERMISSIVE, latest_ingest(store))
    assert edges is not None
    assert _sorted(edges) == _sorted(compute_edges(store, PERMISSIVE))
    similar = [e for e in edges.to_pylist() if e["view"] == "co-similar"]
    assert len(similar) == 6 and {e["weight"] for e in similar} == {1}
    keys = store.arrow(f"SELECT DISTINCT key FROM {similar_state.KEYS}")["key"].to_pylist()
    assert keys == [lowest]


def test_a_new_first_post_that_matches_nobody_splits_its_bucket(
    store: Store, tmp_path: Path
) -> None:
    """A bucket's pairs are each post with its first post: when a new, dissimilar post becomes
    the first, the old pair of the bucket is no longer compared, and its cluster goes."""
    params = replace(PERMISSIVE, similar_bands=1, similar_rows=1, similar_threshold=0.6, seed=2)
    rank = {f"y{i}": store.scalar("SELECT hash(?)", [f"y{i}"]) for i in range(100)}
    lowest, second, third = sorted(rank, key=rank.__getitem__)[:3]
    ingest(store, tmp_path, [item(third, "a1", 0, text=TEXTS[0]),
                             item(second, "a2", 5, text=TEXTS[0])])  # fmt: skip
    rebuild_edges(store, params, latest_ingest(store))
    assert store.scalar(f"SELECT count(*) FROM {similar_state.KEYS}") == 2
    ingest(store, tmp_path, [item(lowest, "a3", 9, text=TEXTS[1])])  # Jaccard 0.57 with both
    buckets = store.scalar(f"SELECT count(DISTINCT band_0) FROM {similar_state.POSTS}")
    edges = update_edges(store, params, latest_ingest(store))
    assert buckets == 1, "seed 2 no longer puts the two texts in one bucket: pick another"
    assert edges is not None
    assert _sorted(edges) == _sorted(compute_edges(store, params))
    assert store.scalar(f"SELECT count(*) FROM {similar_state.KEYS}") == 0


def test_a_round_without_posts_leaves_coordination_incremental(
    store: Store, tmp_path: Path
) -> None:
    from fimiwatch.runner import run_pipeline

    text = TEXTS[2]
    ingest(store, tmp_path, [item("a", "u1", 0, text=text), item("b", "u2", 5, text=text)])
    assert run_pipeline(store, ["coordination"], incremental=True).modes == {"coordination": "full"}
    article = {"id": "art", "platform": "web", "published_at": "2024-05-01T12:00:00Z",
               "url": "https://ac24.cz/a", "title": "A", "text": "An article."}  # fmt: skip
    ingest(store, tmp_path, [article])
    assert run_pipeline(store, ["coordination"], incremental=True).modes == {
        "coordination": "unchanged"
    }
    ingest(store, tmp_path, [item("c", "u3", 9, text=text)])
    assert run_pipeline(store, ["coordination"], incremental=True).modes == {
        "coordination": "incremental"
    }


@pytest.mark.parametrize("views", [("co-similar",), ("co-post", "co-link")])
def test_incremental_edges_with_some_views_only(
    store: Store, tmp_path: Path, views: tuple[str, ...]
) -> None:
    params = replace(PERMISSIVE, views=views)
    records = [_record(n, {"account": n % 4, "seconds": n * 7, "text": TEXTS[n % 2],
                           "link": LINKS[n % 2], "tags": None, "repost": None})
               for n in range(12)]  # fmt: skip
    ingest(store, tmp_path, records[:6])
    rebuild_edges(store, params, latest_ingest(store))
    ingest(store, tmp_path, records[6:])
    edges = update_edges(store, params, latest_ingest(store))
    assert edges is not None and edges.num_rows > 0
    assert _sorted(edges) == _sorted(compute_edges(store, params))
