"""Account-pair edges from co-actions, as relational plans over the items table.

Each view maps a post to keys (normalised text, normalised URL, reposted id, replied id,
hashtag set). Two accounts are linked when they act on the same key within the window:
a sliding band join, not time buckets, so no pair is missed at a bucket edge. Hot keys are
bounded by pairing each action with at most ``max_neighbours`` following actions.

Edge weight is the number of distinct shared keys. Its ``score`` is the significance of that
weight against chance timing (−log10 of a Poisson tail whose mean comes from how active both
accounts are and how crowded their keys are inside the window); ``rarity`` is the mean over the
shared keys of ln(accounts in the view / accounts using the key). See docs/coordination.md.
"""

from __future__ import annotations

import pyarrow as pa

from fimiwatch.detect.coordination.params import TRACKING_PARAMETERS, CoordinationParams
from fimiwatch.detect.coordination.similar import similar_keys
from fimiwatch.store import Store

_TRACKING = "|".join(
    p.replace("_", "\\_") + ("[^=&]*" if p.endswith("_") else "") for p in TRACKING_PARAMETERS
)

URL_KEY_SQL = rf"""
    regexp_replace(regexp_replace(regexp_replace(regexp_replace(
        regexp_replace(trim(u), '#.*$', ''),
        '([?&])({_TRACKING})=[^&]*', '\1', 'g'),
        '([?&])&+', '\1', 'g'),
        '[?&]+$', ''),
    '^([^?]*?)/+(\?.*)?$', '\1\2')
"""
"""URL normalisation: fragment and tracking parameters dropped (the separators they leave
collapsed), trailing slashes of the path removed; the scheme and host are lower-cased below."""

_ORIGIN = "^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*"
"""Scheme and host. Lower-cased by concatenation, never as a regexp replacement string: a
hostile host such as ``a\\9b`` would otherwise be read as a back-reference and fail the query."""

TEXT_KEY_SQL = (
    r"trim(regexp_replace(regexp_replace(lower(text), '@\w+', '', 'g'),"
    r" '[\t\n\f\r ]{2,}|[\t\n\f\r]', ' ', 'g'))"
)
"""co-post key: text lower-cased, @mentions removed, whitespace collapsed (also used to measure
a group's content uniformity)."""

_VIEW_SQL = {
    "co-post": f"""
        -- unnest: a barrier, so the key filter reuses the value rather than recomputing it
        SELECT 'co-post' AS view, unnest([{TEXT_KEY_SQL}]) AS key, account_id, published_at, id
        FROM items WHERE repost_of IS NULL AND text IS NOT NULL""",
    "co-similar": """
        SELECT 'co-similar' AS view, s.key, i.account_id, i.published_at, i.id
        FROM items i JOIN coord_similar_keys s ON s.item = i.id""",
    "co-link": f"""
        SELECT 'co-link' AS view,
            lower(regexp_extract(k, '{_ORIGIN}'))
                || substr(k, length(regexp_extract(k, '{_ORIGIN}')) + 1) AS key,
            account_id, published_at, id
        FROM (
            SELECT *, {URL_KEY_SQL} AS k FROM (
                SELECT *, unnest(links) AS u FROM items
                WHERE repost_of IS NULL AND links IS NOT NULL
            )
        )""",
    "co-repost": """
        SELECT 'co-repost' AS view, repost_of AS key, account_id, published_at, id
        FROM items WHERE repost_of IS NOT NULL""",
    "co-reply": """
        SELECT 'co-reply' AS view, reply_to AS key, account_id, published_at, id
        FROM items WHERE reply_to IS NOT NULL AND repost_of IS NULL""",
    "co-hashtag": """
        SELECT 'co-hashtag' AS view, array_to_string(tags, ' ') AS key,
            account_id, published_at, id
        FROM (
            SELECT *, list_sort(list_distinct(list_transform(hashtags, lambda h: lower(h))))
                AS tags
            FROM items WHERE repost_of IS NULL AND hashtags IS NOT NULL
        ) WHERE len(tags) >= $min_hashtags""",
}


def view_sql(view: str) -> str:
    """(view, key, account_id, published_at, id) for each post the view sees: its keys before
    hashing, for inspecting and testing the normalisation."""
    return _VIEW_SQL[view]


PAIRS_SQL = """
    reach AS (
        SELECT key, rn, account, t, item,
            unnest(range(rn + 1, rn + least($max_neighbours, in_window) + 1)) AS next_rn
        FROM coord_ranked WHERE in_window > 0
    ),
    pairs AS (
        SELECT b.view, a.key, b.rarity,
            least(a.account, b.account) AS source, greatest(a.account, b.account) AS target,
            a.t AS first_t, b.t AS last_t,
            CASE WHEN a.account < b.account THEN a.item ELSE b.item END AS source_item,
            CASE WHEN a.account < b.account THEN b.item ELSE a.item END AS target_item,
            a.rn * ($max_neighbours + 1) + (b.rn - a.rn) AS pair_order
        FROM reach a JOIN coord_ranked b ON b.key = a.key AND b.rn = a.next_rn
        WHERE b.t - a.t <= $window AND a.account <> b.account
    )"""
"""Each action reaches the ranks of the following actions on its key inside the window, at
most ``max_neighbours`` of them, so the pair join is an equality join on (key, rank): linear
in the actions, never every pair of posts on a viral key. One row per meeting of two
accounts; ``pair_order`` orders a key's meetings by time (ties by item)."""


def stage_sql(views: tuple[str, ...]) -> list[tuple[str, str]]:
    """The plan as (temporary table, SELECT) steps, then the final SELECT of the edges.

    Between the first and the last step everything is a fixed-width integer (a view's
    position in ``views``, 64-bit hashes of keys, accounts and items), so windows, joins and
    aggregations never move strings; the last step maps the few edges that pass back to
    account and item ids."""
    views_sql = " UNION ALL ".join(
        f"(SELECT {code}::UTINYINT AS view, * EXCLUDE (view) FROM ({_VIEW_SQL[v]}))"
        for code, v in enumerate(views, start=1)
    )
    names = "[" + ", ".join(f"'{v}'" for v in views) + "]"
    return [
        # one row per co-action; `key` identifies (view, key) so one column partitions it
        (
            "coord_actions",
            f"""
            SELECT view, hash(view, key) AS key, hash(account_id) AS account,
                epoch(published_at) AS t, hash(id) AS item
            FROM ({views_sql})
            WHERE key IS NOT NULL AND key <> '' AND account_id IS NOT NULL
              AND published_at IS NOT NULL""",
        ),
        # Actions on keys two accounts use, ranked in time on their key, with the number of
        # actions on the key from this one's time to the window's end (ties included, so it
        # may reach a little far: the pair join checks the window again). An account's repeat
        # of its own action within the window is one action, so a meeting counts once.
        (
            "coord_ranked",
            """
            WITH shared AS (
                SELECT a.*, ln(v.accounts / k.accounts) AS rarity,
                    lag(a.t) OVER (PARTITION BY a.key, a.account ORDER BY a.t, a.item) AS previous
                FROM coord_actions a
                JOIN (SELECT key, count(DISTINCT account) AS accounts FROM coord_actions
                      GROUP BY key HAVING count(DISTINCT account) >= 2) k USING (key)
                JOIN (SELECT view, count(DISTINCT account) AS accounts FROM coord_actions
                      GROUP BY view) v USING (view)
            )
            SELECT view, key, account, t, item, rarity,
                row_number() OVER (PARTITION BY key ORDER BY t, item, account) AS rn,
                count(*) OVER (PARTITION BY key ORDER BY t
                    RANGE BETWEEN CURRENT ROW AND $window FOLLOWING) - 1 AS in_window
            FROM shared WHERE previous IS NULL OR t - previous > $window""",
        ),
        # the chance model's inputs, per account and view: all its actions, and the other
        # actions they reach (as the pair join does: inside the window, at most max_neighbours);
        # per view, all actions
        (
            "coord_account_stats",
            """
            WITH acted AS (
                SELECT view, account, count(*) AS actions FROM coord_actions GROUP BY ALL
            ),
            followed AS (
                SELECT view, account, sum(least(in_window, $max_neighbours)) AS followers
                FROM coord_ranked GROUP BY ALL
            )
            SELECT view, account, actions, coalesce(followers, 0) AS followers,
                sum(actions) OVER (PARTITION BY view) AS view_actions
            FROM acted LEFT JOIN followed USING (view, account)""",
        ),
        # account pairs that met at least min_weight times: the only ones that can be edges
        (
            "coord_candidates",
            f"""
            WITH {PAIRS_SQL}
            SELECT view, source, target, count(*) AS weight, avg(rarity) AS rarity,
                min(first_t) AS first_t, max(last_t) AS last_t
            FROM pairs GROUP BY view, source, target HAVING count(*) >= $min_weight""",
        ),
        (
            "coord_tested",
            """
            WITH tested AS (
                -- expected chance meetings: each action of one account is followed inside the
                -- window by others, each the other account's with probability actions/N
                SELECT c.*, greatest((sa.followers * tb.actions + tb.followers * sa.actions)
                    / sa.view_actions, 1e-300) AS expected
                FROM coord_candidates c
                JOIN coord_account_stats sa ON sa.view = c.view AND sa.account = c.source
                JOIN coord_account_stats tb ON tb.view = c.view AND tb.account = c.target
                WHERE c.rarity >= $min_rarity
            )
            -- −log10 of the Poisson tail P(X ≥ weight | expected), upper-bounded as
            -- P(X = w)·(w + 1)/(w + 1 − λ); 0 when the weight is no more than chance gives
            SELECT *, CASE WHEN expected >= weight + 1 THEN 0.0 ELSE greatest(0.0,
                -(weight * ln(expected) - expected - lgamma(weight + 1)
                  + ln((weight + 1) / (weight + 1 - expected))) / ln(10)) END AS significance
            FROM tested WHERE significance >= $min_supported_significance""",
        ),
        (
            "coord_supported",
            """
            -- an edge below the strong bar still counts when its two accounts both have such
            -- edges to min_triangles others: chance meetings seldom close triangles, groups do
            WITH ends AS (
                SELECT DISTINCT source AS account, target AS other FROM coord_tested
                UNION SELECT DISTINCT target, source FROM coord_tested
            )
            SELECT w.source, w.target
            FROM (SELECT DISTINCT source, target FROM coord_tested
                  WHERE significance < $min_significance) w
            JOIN ends x ON x.account = w.source
            JOIN ends y ON y.account = w.target AND y.other = x.other
            GROUP BY w.source, w.target HAVING count(*) >= $min_triangles""",
        ),
        (
            "coord_edges",
            f"""
            WITH {PAIRS_SQL},
            edges AS (
                SELECT * FROM coord_tested e
                WHERE e.significance >= $min_significance
                   OR EXISTS (SELECT 1 FROM coord_supported u
                              WHERE u.source = e.source AND u.target = e.target)
            ),
            -- median lag and earliest meetings only for the edges that pass, through windows
            -- (sorts, which spill to disk) rather than holistic aggregates (which do not)
            met AS (
                SELECT view, source, target, key, pair_order, first_t,
                    last_t - first_t AS lag, source_item, target_item
                FROM pairs SEMI JOIN edges USING (view, source, target)
            ),
            ranked AS (
                SELECT *,
                    row_number() OVER (PARTITION BY view, source, target
                                       ORDER BY first_t, key, pair_order) AS nth,
                    row_number() OVER (PARTITION BY view, source, target
                                       ORDER BY lag, first_t, key, pair_order) AS by_lag,
                    count(*) OVER (PARTITION BY view, source, target) AS meetings
                FROM met
            ),
            details AS (
                SELECT view, source, target,
                    avg(lag) FILTER (WHERE by_lag IN ((meetings + 1) // 2, (meetings + 2) // 2))
                        AS median_lag,
                    list(struct_pack(nth, source_item, target_item))
                        FILTER (WHERE nth <= 3)
                        AS example_hashes
                FROM ranked WHERE nth <= 3 OR by_lag IN ((meetings + 1) // 2, (meetings + 2) // 2)
                GROUP BY view, source, target
            )
            SELECT e.*, d.median_lag, d.example_hashes
            FROM edges e JOIN details d USING (view, source, target)""",
        ),
        (
            "",
            f"""
            WITH examples AS (
                -- list_sort after a plain list(): far cheaper than an ordered aggregate
                SELECT view, source, target,
                    list_transform(list_sort(list((x.nth, si.id, ti.id))), lambda e: [e[2], e[3]])
                        AS examples
                FROM (SELECT view, source, target, unnest(example_hashes, recursive := true)
                      FROM coord_edges) x
                JOIN coord_item_names si ON si.item = x.source_item
                JOIN coord_item_names ti ON ti.item = x.target_item
                GROUP BY view, source, target
            ),
            named AS (
                SELECT e.*, x.examples, sn.account_id AS source_id, tn.account_id AS target_id
                FROM coord_edges e JOIN examples x USING (view, source, target)
                JOIN coord_account_names sn ON sn.account = e.source
                JOIN coord_account_names tn ON tn.account = e.target
            )
            SELECT {names}[view] AS view,
                least(source_id, target_id) AS source, greatest(source_id, target_id) AS target,
                weight, rarity, significance AS score, expected, median_lag,
                to_timestamp(first_t) AS first_seen, to_timestamp(last_t) AS last_seen,
                CASE WHEN source_id < target_id THEN examples
                     ELSE list_transform(examples, lambda p: [p[2], p[1]]) END AS examples
            FROM named
            ORDER BY view, source, target""",
        ),
    ]


NAME_TABLES = {
    "coord_account_names": """
        SELECT DISTINCT hash(account_id) AS account, account_id FROM items
        WHERE account_id IS NOT NULL""",
    "coord_item_names": "SELECT DISTINCT hash(id) AS item, id FROM items",
}
"""Hash → id lookups for the final step (64-bit hashes: a collision among a few million ids
is about a one-in-a-million chance)."""


def compute_edges(store: Store, params: CoordinationParams) -> pa.Table:
    """All edges of the selected views, deterministic order."""
    params.validate()
    values: dict[str, int | float] = {
        "window": params.window_seconds,
        "max_neighbours": params.max_neighbours,
        "min_weight": params.min_weight,
        "min_rarity": params.min_rarity,
        "min_significance": params.min_significance,
        "min_supported_significance": params.min_supported_significance,
        "min_triangles": params.min_triangles,
        "min_hashtags": params.min_hashtags,
    }
    steps = stage_sql(params.views)
    temporary = [name for name, _ in steps if name] + list(NAME_TABLES)
    if "co-similar" in params.views:
        store.con.register("coord_similar_arrow", similar_keys(store, params, TEXT_KEY_SQL))
        temporary.append("coord_similar_keys")
        _materialise(store, "coord_similar_keys", "SELECT * FROM coord_similar_arrow", {})
        store.con.unregister("coord_similar_arrow")
    try:
        for name, sql in steps[:-1]:
            _materialise(store, name, sql, values)
        for name, sql in NAME_TABLES.items():
            _materialise(store, name, sql, values)
        return store.arrow(steps[-1][1], _used(steps[-1][1], values))
    finally:
        for name in temporary:
            store.con.execute(f"DROP TABLE IF EXISTS {name}")


def _used(sql: str, values: dict[str, int | float]) -> dict[str, int | float]:
    """DuckDB refuses named parameters a statement does not use."""
    return {k: v for k, v in values.items() if f"${k}" in sql}


def _materialise(store: Store, name: str, sql: str, values: dict[str, int | float]) -> None:
    store.con.execute(
        f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}", _used(sql, values)
    ).fetchall()
