"""The coordination detector: co-action views, the sliding window, weights, rarity, hot keys,
groups and findings, and the ``fimiwatch network`` export."""

from __future__ import annotations

import csv
import itertools
import math
import random
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fimiwatch.config import Settings
from fimiwatch.detect.coordination.detector import CoordinationDetector
from fimiwatch.detect.coordination.edges import compute_edges, view_sql
from fimiwatch.detect.coordination.params import VIEWS, CoordinationParams
from fimiwatch.detect.coordination.plan import DUCKDB, model_steps, plan_values, render
from fimiwatch.ingest.pipeline import choose_reader, ingest_document, open_document
from fimiwatch.store import Store
from tests.conftest import write_jsonl
from tests.test_cli import fimiwatch

T0 = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)
PERMISSIVE = CoordinationParams(
    min_weight=1,
    min_rarity=0.0,
    min_significance=0.0,
    family_error=None,
    min_supported_significance=0.0,
)
"""Every co-action pair is an edge: for checking the views and the window on small sets."""


def item(id: str, account: str, seconds: float, **fields: Any) -> dict[str, Any]:
    """A post by ``account`` at T0 + ``seconds``, with unique text unless ``text`` is given."""
    record = {
        "id": id,
        "published_at": (T0 + timedelta(seconds=seconds)).isoformat(),
        "text": f"unique text of {id}",
        "platform": "twitter",
        "account_id": account,
    }
    record.update(fields)
    return record


def ingest(store: Store, folder: Path, records: list[dict[str, Any]]) -> None:
    path = write_jsonl(folder / f"items-{len(list(folder.glob('items-*')))}.jsonl", records)
    document = open_document(str(path), store.settings)
    summary = ingest_document(store, document, choose_reader(document, "items-jsonl"), None)
    assert summary.rejected == 0


def edges(store: Store, params: CoordinationParams = PERMISSIVE, **changes: Any) -> list[tuple]:
    table = compute_edges(store, replace(params, **changes))
    return [(r["view"], r["source"], r["target"], r["weight"]) for r in table.to_pylist()]


def keys(store: Store, view: str, min_hashtags: int = 2) -> dict[str, str]:
    """Item id → the key the view gives it (items the view ignores are absent)."""
    rows = store.con.execute(
        f"SELECT id, key FROM ({view_sql(view)}) WHERE key <> '' ORDER BY id",
        {"min_hashtags": min_hashtags} if view == "co-hashtag" else {},
    ).fetchall()
    return dict(rows)


# --- the views ----------------------------------------------------------------------------


def test_co_post_normalises_text_and_ignores_reposts(store: Store, tmp_path: Path) -> None:
    ingest(store, tmp_path, [
        item("p1", "alice", 0, text="Hello @bob   WORLD\n"),
        item("p2", "bruno", 5, text="  hello world @carla_2"),
        item("p3", "carla", 6, text="Hello world", repost_of="orig"),
        item("p4", "dora", 7, text="hello  worlds"),
    ])  # fmt: skip
    # the key is the hash of the normalised text, stored at ingest as items.text_key
    normalised = {"p1": "hello world", "p2": "hello world", "p4": "hello worlds"}
    hashed = {k: str(store.scalar("SELECT hash(?)", [v])) for k, v in normalised.items()}
    assert keys(store, "co-post") == hashed
    assert edges(store, views=("co-post",)) == [("co-post", "alice", "bruno", 1)]


def test_co_link_normalises_urls(store: Store, tmp_path: Path) -> None:
    links = {
        "l1": "https://EX.example/a/?utm_source=x#f",
        "l2": "https://ex.example/a",
        "l3": "HTTPS://ex.example/a?fbclid=1&gclid=2",
        "l4": "https://ex.example/a?c=3&utm_medium=y&d=4#top",
        "l5": " https://ex.example/a/?c=3&d=4 ",
        "l6": "https://ex.example/b",
        "l7": "https://ex.example/A",
        "l8": r"https://H\9st.example/x",
    }
    ingest(store, tmp_path, [
        item(i, f"acct-{i}", n, links=[url]) for n, (i, url) in enumerate(links.items())
    ])  # fmt: skip
    assert keys(store, "co-link") == {
        "l1": "https://ex.example/a",
        "l2": "https://ex.example/a",
        "l3": "https://ex.example/a",
        "l4": "https://ex.example/a?c=3&d=4",
        "l5": "https://ex.example/a?c=3&d=4",
        "l6": "https://ex.example/b",
        "l7": "https://ex.example/A",  # the path keeps its case
        "l8": r"https://h\9st.example/x",  # a hostile host is a key, not a query error
    }
    assert edges(store, views=("co-link",)) == [
        ("co-link", "acct-l1", "acct-l2", 1),
        ("co-link", "acct-l1", "acct-l3", 1),
        ("co-link", "acct-l2", "acct-l3", 1),
        ("co-link", "acct-l4", "acct-l5", 1),
    ]


def test_co_repost_and_co_reply(store: Store, tmp_path: Path) -> None:
    ingest(store, tmp_path, [
        item("r1", "alice", 0, text="RT same words", repost_of="orig-1"),
        item("r2", "bruno", 3, text="RT same words", repost_of="orig-1"),
        item("r3", "carla", 4, text="RT other", repost_of="orig-2"),
        item("q1", "dora", 5, reply_to="orig-1"),
        item("q2", "emil", 9, reply_to="orig-1"),
        item("q3", "alice", 10, reply_to="orig-3"),
    ])  # fmt: skip
    assert keys(store, "co-repost") == {"r1": "orig-1", "r2": "orig-1", "r3": "orig-2"}
    assert keys(store, "co-reply") == {"q1": "orig-1", "q2": "orig-1", "q3": "orig-3"}
    # the reposts share their text, but a repost is not a co-post
    assert edges(store) == [
        ("co-reply", "dora", "emil", 1),
        ("co-repost", "alice", "bruno", 1),
    ]


def test_co_hashtag_keys_are_sets_of_at_least_two(store: Store, tmp_path: Path) -> None:
    ingest(store, tmp_path, [
        item("h1", "alice", 0, hashtags=["EU", "Vote"]),
        item("h2", "bruno", 2, hashtags=["#vote", "eu", "EU"]),
        item("h3", "carla", 3, hashtags=["eu"]),
        item("h4", "dora", 4, hashtags=["EU", "#eu"]),
        item("h5", "emil", 5, hashtags=["eu", "vote", "nato"]),
        item("h6", "fritz", 6, hashtags=["eu"]),
    ])  # fmt: skip
    assert keys(store, "co-hashtag") == {"h1": "eu vote", "h2": "eu vote", "h5": "eu nato vote"}
    assert edges(store, views=("co-hashtag",)) == [("co-hashtag", "alice", "bruno", 1)]
    # with min_hashtags=1 a single hashtag is a key: carla, dora and fritz share "eu"
    assert keys(store, "co-hashtag", min_hashtags=1)["h4"] == "eu"
    assert len(edges(store, views=("co-hashtag",), min_hashtags=1)) == 4


def _similar_posts(store: Store, tmp_path: Path) -> None:
    base = [
        "the", "minister", "secretly", "sold", "our", "ports", "to", "foreign", "agents", "and",
        "the", "media", "keeps", "silent", "about", "it", "while", "families", "pay", "the",
        "price",
    ]  # fmt: skip
    edits = {  # a word replaced, inserted or dropped: near-duplicates of the base
        "s1": base,
        "s2": [*base[:3], "quietly", *base[4:]],
        "s3": [*base[:10], "really", *base[10:]],
        "s4": base[:-1],
    }
    ingest(store, tmp_path, [
        *(item(i, f"acct-{i}", n * 5, text=" ".join(words))
          for n, (i, words) in enumerate(edits.items())),
        item("u1", "acct-u1", 30, text="the minister opened a new bridge over the river "
             "today and the media covered it while families watched"),  # shares words only
        item("u2", "acct-u2", 35, text="so true"),  # too short for co-similar
        item("u3", "acct-u3", 36, text="so true"),
    ])  # fmt: skip


def test_co_similar_links_near_duplicates_only(store: Store, tmp_path: Path) -> None:
    _similar_posts(store, tmp_path)
    params = replace(PERMISSIVE, views=("co-similar",))
    found = edges(store, params)
    accounts = {f"acct-s{k}" for k in range(1, 5)}
    assert {(s, t) for _, s, t, _ in found} == {(a, b) for a in accounts for b in accounts if a < b}
    # a stricter threshold drops the pairs whose bigram Jaccard falls below it
    strict = {(s, t) for _, s, t, _ in edges(store, replace(params, similar_threshold=0.95))}
    assert strict < {(s, t) for _, s, t, _ in found}


def test_co_similar_threshold_is_exact_jaccard(store: Store, tmp_path: Path) -> None:
    from fimiwatch.detect.coordination.similar import similar_keys

    words = [f"w{i}" for i in range(21)]  # 20 bigrams
    ingest(store, tmp_path, [
        item("a", "acct-a", 0, text=" ".join(words)),
        item("b", "acct-b", 1, text=" ".join([*words[:10], "x", *words[11:]])),
    ])  # fmt: skip
    jaccard = 18 / 22  # one word replaced: 2 of 20 bigrams differ on each side
    at = replace(CoordinationParams(), similar_bands=40, similar_rows=1)  # always a candidate
    keys_at = similar_keys(store, replace(at, similar_threshold=jaccard))
    assert sorted(keys_at["item"].to_pylist()) == ["a", "b"]
    above = similar_keys(store, replace(at, similar_threshold=jaccard + 1e-9))
    assert above.num_rows == 0


def test_co_similar_without_near_duplicates_has_no_keys(store: Store, tmp_path: Path) -> None:
    from fimiwatch.detect.coordination.similar import similar_keys

    ingest(store, tmp_path, [
        item("a", "acct-a", 0, text="one two three four five six seven eight nine ten"),
        item("b", "acct-b", 1, text="alpha beta gamma delta epsilon zeta eta theta iota kappa"),
    ])  # fmt: skip
    assert similar_keys(store, CoordinationParams()).num_rows == 0


def test_co_similar_hot_bucket_is_linear(store: Store, tmp_path: Path) -> None:
    """5,000 copies of one slogan: one cluster, compared post by post with its first post."""
    slogan = "wake up europe the truth about the ports deal they hide from you"
    ingest(store, tmp_path, [item(f"h{i}", f"acct-{i:04d}", i, text=slogan)
                             for i in range(5000)])  # fmt: skip
    from fimiwatch.detect.coordination.similar import similar_keys

    started = time.perf_counter()
    keys = similar_keys(store, CoordinationParams())
    assert time.perf_counter() - started < 20
    assert keys.num_rows == 5000 and len(set(keys["key"].to_pylist())) == 1


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 60).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=120),
        )
    )
)
def test_similar_components_match_networkx(graph: tuple[int, list[tuple[int, int]]]) -> None:
    """Posts fall in one co-similar cluster exactly when they are connected by matched pairs."""
    import numpy as np

    from fimiwatch.detect.coordination.similar import _components

    nodes, pairs = graph
    labels = _components(nodes, np.array(pairs, dtype=np.int64).reshape(-1, 2)).tolist()
    reference = nx.Graph()
    reference.add_nodes_from(range(nodes))
    reference.add_edges_from(pairs)
    components = {frozenset(c) for c in nx.connected_components(reference)}
    by_label: dict[int, set[int]] = {}
    for node, label in enumerate(labels):
        by_label.setdefault(label, set()).add(node)
    assert {frozenset(c) for c in by_label.values()} == components


# --- the window ---------------------------------------------------------------------------


@pytest.mark.parametrize("window", [1, 60, 3600])
def test_window_limit_is_inclusive(store: Store, tmp_path: Path, window: int) -> None:
    ingest(store, tmp_path, [
        item("a1", "at-limit-a", 0, text="key one"),
        item("a2", "at-limit-b", window, text="key one"),
        item("b1", "past-limit-a", 0, text="key two"),
        item("b2", "past-limit-b", window + 1, text="key two"),
    ])  # fmt: skip
    assert edges(store, window_seconds=window) == [("co-post", "at-limit-a", "at-limit-b", 1)]


def test_window_slides_across_minute_boundaries(store: Store, tmp_path: Path) -> None:
    ingest(store, tmp_path, [
        item("a1", "alice", 59, text="straddles the minute"),   # 10:00:59
        item("a2", "bruno", 61, text="straddles the minute"),   # 10:01:01
        item("b1", "carla", 30, text="same minute, too far"),   # 10:00:30
        item("b2", "dora", 91, text="same minute, too far"),    # 10:01:31, 61 s later
    ])  # fmt: skip
    assert edges(store, window_seconds=60) == [("co-post", "alice", "bruno", 1)]


def test_window_is_estimated_from_fast_repeats(store: Store, tmp_path: Path) -> None:
    """Organic shares of ten links are minutes apart; bursts of copies come half a second
    apart. The fastest tenth of the gaps (rounded up to a second) sets the window, and the
    bursts' accounts are linked in it."""
    from fimiwatch.detect.coordination.edges import resolve_params

    rng = random.Random(5)
    records = [
        item(f"o{k}-{i}", f"organic-{rng.randrange(200)}", k * 100_000 + i * rng.uniform(300, 900),
             links=[f"https://news.example/{k}"])
        for k in range(10) for i in range(20)
    ]  # fmt: skip
    for e in range(5):
        records += [item(f"b{e}-{k}", f"burst-{k:02d}", 5_000_000 + e * 9000 + k * 0.5,
                         text=f"the same slogan {e}") for k in range(12)]  # fmt: skip
    ingest(store, tmp_path, records)
    params = replace(CoordinationParams(), estimate_window=True)
    resolved = resolve_params(store, params)
    assert resolved.window_seconds == 1 and not resolved.estimate_window
    pairs = {(r["source"], r["target"]) for r in compute_edges(store, params).to_pylist()}
    assert pairs and all(s.startswith("burst") and t.startswith("burst") for s, t in pairs)
    finding = CoordinationDetector(estimate_window=True).run(store)[0]
    assert finding.evidence["window_seconds"] == 1 and "within 1 s" in finding.summary


def test_window_estimate_without_shared_keys_keeps_the_window(store: Store, tmp_path: Path) -> None:
    from fimiwatch.detect.coordination.edges import resolve_params

    ingest(store, tmp_path, [item(f"u{i}", f"acct-{i}", i) for i in range(5)])
    params = replace(CoordinationParams(), estimate_window=True, window_seconds=77)
    assert resolve_params(store, params).window_seconds == 77


# --- weight and rarity --------------------------------------------------------------------


def test_weight_counts_shared_actions_and_repeats_within_the_window_once(
    store: Store, tmp_path: Path
) -> None:
    ingest(store, tmp_path, [
        item("a1", "one-a", 0, text="only once"),
        item("a2", "one-b", 5, text="only once"),
        item("b1", "two-a", 0, text="first shared"),
        item("b2", "two-b", 5, text="first shared"),
        item("b3", "two-a", 600, text="second shared"),
        item("b4", "two-b", 610, text="second shared"),
        item("c1", "again-a", 0, text="shared twice"),    # the same text, hours apart:
        item("c2", "again-b", 5, text="shared twice"),    # two shared actions
        item("c3", "again-a", 9000, text="shared twice"),
        item("c4", "again-b", 9005, text="shared twice"),
        item("d1", "burst-a", 0, text="said in a burst"),  # a repeat inside the window
        item("d2", "burst-b", 5, text="said in a burst"),  # is the same action
        item("d3", "burst-a", 20, text="said in a burst"),
    ])  # fmt: skip
    weights = edges(store, replace(PERMISSIVE, min_weight=2))
    assert weights == [("co-post", "again-a", "again-b", 2), ("co-post", "two-a", "two-b", 2)]
    assert ("co-post", "burst-a", "burst-b", 1) in edges(store)


def test_rarity_filters_keys_most_accounts_use(store: Store, tmp_path: Path) -> None:
    crowd = 300
    records = []
    for i in range(crowd):  # a popular text and a popular link, five minutes apart each
        records.append(item(f"v{i}", f"crowd-{i}", i * 300, text="Everyone shares this"))
        records.append(item(f"w{i}", f"crowd-{i}", i * 300 + 7, text="And this too"))
    records += [
        item("x1", "fan-a", 10**6, text="Everyone shares this"),
        item("x2", "fan-b", 10**6 + 4, text="Everyone shares this"),
        item("x3", "fan-a", 10**6 + 100, text="And this too"),
        item("x4", "fan-b", 10**6 + 104, text="And this too"),
        item("y1", "troll-a", 10**6, text="a fresh slogan"),
        item("y2", "troll-b", 10**6 + 4, text="a fresh slogan"),
        item("y3", "troll-a", 10**6 + 100, text="another fresh slogan"),
        item("y4", "troll-b", 10**6 + 104, text="another fresh slogan"),
    ]
    ingest(store, tmp_path, records)
    default = replace(CoordinationParams(), min_significance=0.0, family_error=None)
    table = compute_edges(store, default).to_pylist()
    assert [(r["source"], r["target"], r["weight"]) for r in table] == [("troll-a", "troll-b", 2)]
    accounts_in_view = crowd + 4
    assert table[0]["rarity"] == pytest.approx(math.log(accounts_in_view / 2))
    # the fans meet as often and as fast, but only on keys nearly everyone uses
    fans = compute_edges(store, replace(default, min_rarity=0.0)).to_pylist()
    fan = next(r for r in fans if r["source"] == "fan-a")
    assert fan["weight"] == 2
    assert fan["rarity"] == pytest.approx(math.log(accounts_in_view / (crowd + 2)))


def test_significance_separates_busy_crowds_from_planted_pairs(
    store: Store, tmp_path: Path
) -> None:
    """100 busy accounts share 40 links, each link all over one crowded hour, so two of them
    meet inside a minute several times by chance; two trolls meet 5 times on fresh links.
    Only the trolls' weight is far beyond what the crowding predicts."""
    rng = random.Random(11)
    busy = [f"busy-{i:03d}" for i in range(100)]
    records = [
        item(f"b{k}-{j}", rng.choice(busy), k * 7200 + rng.uniform(0, 3600),
             links=[f"https://popular.example/{k}"])
        for k in range(40) for j in range(150)
    ]  # fmt: skip
    records += [
        item(f"t{e}-{k}", f"troll-{k}", 400_000 + e * 5000 + k * 5,
             links=[f"https://fresh.example/{e}"])
        for e in range(5) for k in range(2)
    ]  # fmt: skip
    ingest(store, tmp_path, records)
    params = replace(CoordinationParams(), min_rarity=0.0)
    every = compute_edges(
        store,
        replace(params, min_significance=0.0, family_error=None, min_supported_significance=0.0),
    ).to_pylist()
    chance = [r for r in every if r["source"].startswith("busy")]
    assert max(r["weight"] for r in chance) >= 4  # the crowd meets often by chance...
    assert max(r["score"] for r in chance) < params.min_significance
    troll = next(r for r in every if r["source"] == "troll-0")
    assert troll["weight"] == 5 and troll["expected"] < 0.01
    assert troll["score"] > params.min_significance
    result = compute_edges(store, params).to_pylist()  # ...but only the trolls are edges
    assert [(r["source"], r["target"]) for r in result] == [("troll-0", "troll-1")]
    # the strong bar rises with the number of candidate pairs: log10(candidates / family_error)
    candidates = sum(1 for r in every if r["weight"] >= params.min_weight)
    above, below = (candidates / 10 ** (troll["score"] + d) for d in (0.01, -0.01))
    assert compute_edges(store, replace(params, family_error=above)).num_rows == 0
    assert compute_edges(store, replace(params, family_error=below)).num_rows == 1


def test_weak_edges_need_triangles(store: Store, tmp_path: Path) -> None:
    """Edges between the strong and the weak bar count only inside triangles: a group of four
    meeting twice each is kept, a lone pair meeting twice is not."""
    records = []
    for e in range(2):
        for k in range(4):
            records.append(item(f"g{e}-{k}", f"group-{k}", e * 5000 + k * 5,
                                text=f"group slogan {e}"))  # fmt: skip
        for k in range(2):
            records.append(item(f"p{e}-{k}", f"pair-{k}", 50_000 + e * 5000 + k * 5,
                                text=f"pair slogan {e}"))  # fmt: skip
    records += [item(f"o{i}", f"organic-{i}", 100_000 + i * 97) for i in range(300)]
    ingest(store, tmp_path, records)
    params = replace(CoordinationParams(), min_significance=50.0)  # nothing is strong
    scores = {
        (r["source"], r["target"]): r["score"]
        for r in compute_edges(store, replace(params, min_supported_significance=0.0)).to_pylist()
    }
    assert all(params.min_supported_significance <= s < 50 for s in scores.values())
    kept = {(r["source"], r["target"]) for r in compute_edges(store, params).to_pylist()}
    assert kept == {pair for pair in scores if pair[0].startswith("group")}
    assert len(kept) == 6


def test_hot_key_is_bounded_and_not_a_finding(store: Store, tmp_path: Path) -> None:
    n, window = 3000, 60
    records = [
        item(f"{k}{i}", f"user-{i:04d}", offset + i * 50 / n, text=text)
        for k, offset, text in (("v", 0, "viral one"), ("w", 1000, "viral two"))
        for i in range(n)
    ]
    ingest(store, tmp_path, records)
    params = replace(PERMISSIVE, views=("co-post",), window_seconds=window)
    started = time.perf_counter()
    table = compute_edges(store, params)
    assert time.perf_counter() - started < 30
    k = params.max_neighbours
    # each action pairs with the next k actions of its key: n·k minus the tail's missing ones
    assert table.num_rows == k * (n - k) + k * (k - 1) // 2 <= n * k
    assert set(table["weight"].to_pylist()) == {2}
    degree = Counter(table["source"].to_pylist() + table["target"].to_pylist())
    assert max(degree.values()) == 2 * k
    # with the default rarity rule nothing remains: everyone in the view used both keys
    assert compute_edges(store, CoordinationParams()).num_rows == 0
    assert CoordinationDetector().run(store) == []


def test_group_larger_than_the_hot_key_bound_is_still_found(store: Store, tmp_path: Path) -> None:
    """150 accounts post each of five slogans within 20 s, in a new order each time: more than
    ``max_neighbours`` actions per key and window, so members are linked through chains of
    nearest neighbours. Every one of them still lands in a finding (possibly several
    adjacent groups, see docs), and no one else does."""
    rng = random.Random(3)
    trolls = [f"troll-{k:03d}" for k in range(150)]
    records = [
        item(f"c{e}-{k}", trolls[k], e * 10_000 + position * 20 / len(trolls), text=f"slogan {e}")
        for e in range(5)
        for position, k in enumerate(rng.sample(range(len(trolls)), len(trolls)))
    ]
    records += [item(f"o{i}", f"organic-{i}", rng.uniform(0, 50_000)) for i in range(3000)]
    ingest(store, tmp_path, records)
    findings = CoordinationDetector(min_rarity=2.0).run(store)
    assert findings
    assert sorted(a for f in findings for a in f.account_ids) == trolls


# --- degenerate stores --------------------------------------------------------------------


def test_empty_store(store: Store) -> None:
    assert compute_edges(store, PERMISSIVE).num_rows == 0
    assert CoordinationDetector(min_weight=1, min_rarity=0.0).run(store) == []
    assert CoordinationDetector().run(store) == []


def test_single_account_store(store: Store, tmp_path: Path) -> None:
    ingest(store, tmp_path, [
        item(f"s{i}", "lonely", i, text="the same words", links=["https://ex.example/a"],
             hashtags=["a", "b"], reply_to="x")
        for i in range(20)
    ])  # fmt: skip
    assert compute_edges(store, PERMISSIVE).num_rows == 0
    assert CoordinationDetector(min_weight=1, min_rarity=0.0).run(store) == []


def test_parameters_are_validated() -> None:
    with pytest.raises(ValueError, match="unknown coordination view"):
        CoordinationDetector(views=("co-post", "co-bogus"))
    with pytest.raises(ValueError, match="similar_threshold"):
        CoordinationDetector(similar_threshold=0)
    with pytest.raises(ValueError, match="window_seconds"):
        CoordinationDetector(window_seconds=0)
    with pytest.raises(ValueError, match="unknown parameter"):
        CoordinationDetector(window=60)


# --- the detector end to end --------------------------------------------------------------

PLANTED = tuple(f"troll-{k}" for k in range(8))
EVENTS = 5


def campaign(seed: int = 7, organic: int = 600) -> list[dict[str, Any]]:
    """``organic`` accounts posting their own text, popular links and hashtags at random over
    a day, and the 8 ``PLANTED`` accounts posting one fresh text and link within 20 s at each
    of 5 events (each with its own tracking parameters), plus some filler of their own.

    The organic accounts share the 20 news links often; the planted ones meet on fresh keys
    five times, far more often than their activity would make them meet by chance."""
    rng = random.Random(seed)
    day = 86_400
    news = [f"https://news{n}.example/story/{n}" for n in range(20)]
    tags = ["eu", "vote", "nato", "china", "energy", "ukraine", "taiwan", "ai"]
    records = []
    for a in range(organic):
        for j in range(3):
            fields: dict[str, Any] = {"text": f"my own thoughts {a}-{j} {rng.random():.6f}"}
            if rng.random() < 0.8:
                fields["links"] = [rng.choice(news)]
            if rng.random() < 0.3:
                fields["hashtags"] = rng.sample(tags, 2)
            records.append(item(f"o{a}-{j}", f"organic-{a:03d}", rng.uniform(0, day), **fields))
    for e in range(EVENTS):
        start = 3600 + e * 15_000
        for k, account in enumerate(PLANTED):
            records.append(item(
                f"c{e}-{k}", account, start + rng.uniform(0, 20),
                text=f"@agent_{k} Wake up Europe! The truth about story {e} they hide",
                links=[f"https://fresh{e}.example/story/{e}?utm_source=t{k}&utm_medium=social"],
                hashtags=["WakeUp", f"Story{e}"],
            ))  # fmt: skip
    for k, account in enumerate(PLANTED):
        for j in range(2):
            records.append(item(f"f{k}-{j}", account, rng.uniform(0, day), text=f"filler {k} {j}"))
    return records


@pytest.fixture(scope="module")
def campaign_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("campaign")
    return write_jsonl(folder / "campaign.jsonl", campaign())


def campaign_store(folder: Path, data: Path) -> Store:
    settings = Settings(db=folder / "campaign.duckdb")
    store = Store(settings.db, settings)
    document = open_document(str(data), settings)
    ingest_document(store, document, choose_reader(document, "items-jsonl"), None)
    return store


def test_planted_group_is_one_finding(tmp_path: Path, campaign_file: Path) -> None:
    with campaign_store(tmp_path, campaign_file) as store:
        findings = CoordinationDetector().run(store)
        campaign_items = {r["id"] for r in store.rows("SELECT id FROM items WHERE id LIKE 'c%'")}
    assert len(findings) == 1
    finding = findings[0]
    assert finding.type == "coordination"
    assert finding.account_ids == PLANTED
    assert 0.0 < finding.score <= 1.0
    assert finding.disarm and all(t.startswith("T") for t in finding.disarm)
    assert finding.item_ids and set(finding.item_ids) <= campaign_items
    assert finding.first_seen is not None and finding.last_seen is not None
    assert finding.first_seen <= finding.last_seen
    evidence = finding.evidence
    assert "co-post" in evidence["network_types"]
    assert set(evidence["network_types"]) <= set(VIEWS)
    assert evidence["window_seconds"] == 60
    assert evidence["size"] == len(PLANTED)
    assert 0 <= evidence["synchrony_seconds"] <= 20
    assert 0.5 <= evidence["content_uniformity"] <= 1.0
    assert evidence["edges"] and len(evidence["edges"]) == evidence["edges_total"]
    pairs = set()
    for source, target, view, weight in evidence["edges"]:
        assert source < target and {source, target} <= set(PLANTED)
        assert view in evidence["network_types"]
        assert weight >= 2
        pairs.add((source, target))
    assert len(pairs) == len(PLANTED) * (len(PLANTED) - 1) // 2
    assert finding.to_dict()["evidence"] == evidence


def test_runs_are_deterministic(tmp_path: Path, campaign_file: Path) -> None:
    """The same posts give the same edges and findings bit for bit, in whatever order the input
    lists them (the store's rows, and so DuckDB's threads, then meet them in another order)."""
    shuffled = campaign()
    random.Random(3).shuffle(shuffled)
    results = []
    for run, data in (("first", campaign_file), ("shuffled", None)):
        folder = tmp_path / run
        folder.mkdir()
        data = data or write_jsonl(folder / "shuffled.jsonl", shuffled)
        with campaign_store(folder, data) as store:
            table = compute_edges(store, CoordinationParams())
            results.append((
                table.to_pylist(),
                compute_edges(store, PERMISSIVE).to_pylist(),
                [f.to_dict() for f in CoordinationDetector().run(store)],
                [f.to_dict() for f in CoordinationDetector(min_rarity=0.0).run(store)],
            ))  # fmt: skip
    assert results[0] == results[1]
    assert results[0][2][0]["id"] == results[1][2][0]["id"]


def test_mean_rarity_does_not_depend_on_row_order() -> None:
    """Two accounts meet on 50 keys of different rarity, and the candidate step (one thread)
    sees the meetings in the table's order. A float mean differs in its last bit between the
    two orders; the plan's integer sum must not (threads and engines order them as they will)."""
    con = duckdb.connect()
    con.execute("SET threads = 1")
    con.execute("""
        CREATE TABLE coord_actions AS
        SELECT 1 AS view, 0::UBIGINT AS key, a::UBIGINT AS account, 0.0 AS t, 0::UBIGINT AS item
        FROM range(1000) r(a)""")
    candidates = render(dict(model_steps(DUCKDB))["coord_candidates"], plan_values(PERMISSIVE))
    rarities = []
    for order in ("ASC", "DESC"):
        con.execute(f"""
            CREATE OR REPLACE TABLE coord_ranked AS
            SELECT 1 AS view, k::UBIGINT AS key, side::UBIGINT AS account, 1000.0 * k + side AS t,
                (2 * k + side)::UBIGINT AS item, 2 + k AS key_accounts, 1 + side AS rn,
                1 - side AS in_window
            FROM range(50) r(k), range(2) s(side) ORDER BY k {order}, side""")
        rarities.append(con.execute(f"SELECT weight, rarity FROM ({candidates})").fetchall())
    expected = sum(math.log(1000 / (2 + k)) for k in range(50)) / 50
    assert rarities[0] == [(50, pytest.approx(expected, abs=1e-9))]
    assert rarities[0] == rarities[1]


# --- fimiwatch network --------------------------------------------------------------------


def test_network_export(tmp_path: Path) -> None:
    records = [
        item(f"o{i}", f"organic-{i:03d}", i * 97, links=[f"https://blog{i}.example/"])
        for i in range(200)
    ]
    for e in range(2):
        for k in range(4):
            records.append(item(
                f"t{e}-{k}", f"troll-{k}", 50_000 + e * 5000 + k * 3, text=f"Slogan {e}!",
                links=[f"https://fresh.example/{e}?fbclid={k}"],
            ))  # fmt: skip
    data = write_jsonl(tmp_path / "items.jsonl", records)
    assert fimiwatch("ingest", str(data), cwd=tmp_path).returncode == 0
    expected = {
        (view, f"troll-{a}", f"troll-{b}")
        for view in ("co-link", "co-post")
        for a, b in itertools.combinations(range(4), 2)
    }

    for name in ("net.gexf", "net.graphml"):
        result = fimiwatch("network", "--out", name, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "12 edges between 4 accounts" in result.stdout + result.stderr
        reader = nx.read_gexf if name.endswith(".gexf") else nx.read_graphml
        graph = reader(tmp_path / name)
        found = set()
        for source, target, attributes in graph.edges(data=True):
            found.add((attributes["view"], *sorted((source, target))))
            assert int(attributes["weight"]) == 2
            assert datetime.fromisoformat(attributes["first_seen"]) <= datetime.fromisoformat(
                attributes["last_seen"]
            )
            examples = attributes["example_items"].split()
            assert len(examples) == 2 and all("|" in pair for pair in examples)
        assert found == expected

    result = fimiwatch("network", "--out", "net.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    with (tmp_path / "net.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {(r["view"], r["source"], r["target"]) for r in rows} == expected
    for row in rows:
        assert row["weight"] == "2" and float(row["score"]) >= 2.0
        assert row["first_seen"] <= row["last_seen"]
        for pair in row["example_items"].split():
            source_item, target_item = pair.split("|")
            assert source_item.startswith("t") and target_item.startswith("t")

    result = fimiwatch("network", "--types", "co-post", "--window", "3", "--out", "w.csv",
                       "--min-significance", "0", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    result = fimiwatch("network", "--window", "auto", "--out", "auto.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "window estimated from the data" in result.stdout + result.stderr
    with (tmp_path / "w.csv").open(newline="") as handle:  # troll-k and troll-k+2: 6 s apart
        assert {(r["source"], r["target"]) for r in csv.DictReader(handle)} == {
            ("troll-0", "troll-1"), ("troll-1", "troll-2"), ("troll-2", "troll-3"),
        }  # fmt: skip

    for args, message in (
        (("--out", "net.txt"), ".gexf"),
        (("--types", "co-post,co-bogus", "--out", "x.csv"), "co-bogus"),
        (("--window", "0", "--out", "x.csv"), "window_seconds"),
        (("--window", "soon", "--out", "x.csv"), "--window"),
    ):
        result = fimiwatch("network", *args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert message in result.stdout + result.stderr
    assert not (tmp_path / "net.txt").exists() and not (tmp_path / "x.csv").exists()


def test_network_export_of_an_empty_store(tmp_path: Path) -> None:
    result = fimiwatch("network", "--out", "empty.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    with (tmp_path / "empty.csv").open(newline="") as handle:
        reader = csv.DictReader(handle)
        assert list(reader) == [] and "example_items" in (reader.fieldnames or [])
