"""Account-pair edges on DuckDB: the views, the plan's first and last steps, and the runner.

Each view maps a post to keys (normalised text, near-duplicate cluster, normalised URL,
reposted id, replied id, hashtag set). Two accounts are linked when they act on the same key
within the window: a sliding band join, not time buckets, so no pair is missed at a bucket
edge. The plan between building the actions and naming the edges is shared with Spark
(``plan.py``); its method is in docs/coordination.md.
"""

from __future__ import annotations

import pyarrow as pa

from fimiwatch.detect.coordination.params import TRACKING_PARAMETERS, CoordinationParams
from fimiwatch.detect.coordination.plan import (
    DUCKDB,
    model_steps,
    plan_values,
    ranked_sql,
    render,
)
from fimiwatch.detect.coordination.plan import actions_sql as plan_actions_sql
from fimiwatch.detect.coordination.similar import similar_keys
from fimiwatch.detect.coordination.window import resolve_window
from fimiwatch.store import Store

TRACKING_PATTERN = "|".join(
    p.replace("_", "\\_") + ("[^=&]*" if p.endswith("_") else "") for p in TRACKING_PARAMETERS
)

URL_KEY_TEMPLATE = rf"""
    regexp_replace(regexp_replace(regexp_replace(regexp_replace(
        regexp_replace(trim(u), '#.*$', ''),
        '([?&])({TRACKING_PATTERN})=[^&]*', '{{one}}'{{every}}),
        '([?&])&+', '{{one}}'{{every}}),
        '[?&]+$', ''),
    '^([^?]*?)/+(\?.*)?$', '{{one}}{{two}}')
"""
URL_KEY_SQL = URL_KEY_TEMPLATE.format(one=r"\1", two=r"\2", every=", 'g'")
"""URL normalisation: fragment and tracking parameters dropped (the separators they leave
collapsed), trailing slashes of the path removed; the scheme and host are lower-cased below."""

ORIGIN_PATTERN = "^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*"
"""Scheme and host. Lower-cased by concatenation, never as a regexp replacement string: a
hostile host such as ``a\\9b`` would otherwise be read as a back-reference and fail the query."""

_VIEW_SQL = {
    "co-post": """
        -- text_key: the normalised text's hash, stored at ingest (normalise.text_key_sql)
        SELECT 'co-post' AS view, CAST(text_key AS VARCHAR) AS key, account_id, published_at, id,
            {item_hash} AS item_hash
        FROM {items} WHERE repost_of IS NULL AND text_key IS NOT NULL""",
    "co-similar": """
        SELECT 'co-similar' AS view, s.key, i.account_id, i.published_at, i.id,
            {item_hash} AS item_hash
        FROM {items} i JOIN {similar} s ON s.item = i.id""",
    "co-link": f"""
        SELECT 'co-link' AS view,
            lower(regexp_extract(k, '{ORIGIN_PATTERN}'))
                || substr(k, length(regexp_extract(k, '{ORIGIN_PATTERN}')) + 1) AS key,
            account_id, published_at, id, {{item_hash}} AS item_hash
        FROM (
            SELECT *, {URL_KEY_SQL} AS k FROM (
                SELECT *, unnest(links) AS u FROM {{items}}
                WHERE repost_of IS NULL AND links IS NOT NULL
            )
        )""",
    "co-repost": """
        SELECT 'co-repost' AS view, repost_of AS key, account_id, published_at, id,
            {item_hash} AS item_hash
        FROM {items} WHERE repost_of IS NOT NULL""",
    "co-reply": """
        SELECT 'co-reply' AS view, reply_to AS key, account_id, published_at, id,
            {item_hash} AS item_hash
        FROM {items} WHERE reply_to IS NOT NULL AND repost_of IS NULL""",
    "co-hashtag": """
        SELECT 'co-hashtag' AS view, array_to_string(tags, ' ') AS key,
            account_id, published_at, id, {item_hash} AS item_hash
        FROM (
            SELECT *, list_sort(list_distinct(list_transform(hashtags, lambda h: lower(h))))
                AS tags
            FROM {items} WHERE repost_of IS NULL AND hashtags IS NOT NULL
        ) WHERE len(tags) >= $min_hashtags""",
}


def view_sql(
    view: str,
    items: str = "items",
    similar: str = "coord_similar_keys",
    item_hash: str = "hash(id)",
) -> str:
    """(view, key, account_id, published_at, id, item_hash) for each post of ``items`` the view
    sees: its keys before hashing (co-similar: the clusters in ``similar``); ``item_hash``, the
    expression of the item's 64-bit hash, which breaks ties in time (``plan.actions_sql``)."""
    return (
        _VIEW_SQL[view]
        .replace("{items}", items)
        .replace("{similar}", similar)
        .replace("{item_hash}", item_hash)
    )


def actions_sql(
    views: tuple[str, ...],
    items: str = "items",
    similar: str = "coord_similar_keys",
    only: tuple[str, ...] | None = None,
) -> str:
    """The plan's first step on DuckDB (``plan.actions_sql``) over ``items``; ``only``: the
    actions of these of the ``views`` (numbered as among all of them)."""
    return plan_actions_sql(
        DUCKDB,
        [
            (code, view_sql(view, items, similar))
            for code, view in enumerate(views, start=1)
            if only is None or view in only
        ],
    )


def names_sql(views: tuple[str, ...]) -> str:
    """The final step: the kept edges with account and item ids, source < target."""
    names = "[" + ", ".join(f"'{v}'" for v in views) + "]"
    return f"""
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
        ORDER BY view, source, target"""


NAME_TABLES = {
    "coord_account_names": """
        SELECT DISTINCT hash(account_id) AS account, account_id FROM items
        WHERE account_id IS NOT NULL""",
    "coord_item_names": "SELECT DISTINCT hash(id) AS item, id FROM items",
}
"""Hash → id lookups for the final step (64-bit hashes: a collision among a few million ids
is about a one-in-a-million chance)."""


def resolve_params(store: Store, params: CoordinationParams) -> CoordinationParams:
    """``params`` with the window estimated from the data when ``estimate_window`` is set (from
    the exact views' actions: near-duplicates add nothing to how fast sharing is)."""
    params.validate()
    exact = tuple(v for v in params.views if v != "co-similar") or ("co-post",)
    return resolve_window(store, params, render(actions_sql(exact), plan_values(params)))


def compute_edges(store: Store, params: CoordinationParams) -> pa.Table:
    """All edges of the selected views, deterministic order."""
    params = resolve_params(store, params)
    values = plan_values(params)
    try:
        if "co-similar" in params.views:
            store.con.register("coord_similar_arrow", similar_keys(store, params))
            materialise(store, "coord_similar_keys", "SELECT * FROM coord_similar_arrow")
            store.con.unregister("coord_similar_arrow")
        materialise(store, "coord_actions", render(actions_sql(params.views), values))
        materialise(store, "coord_ranked", render(ranked_sql(), values))
        return model_edges(store, params)
    finally:
        for name in ("coord_similar_keys", "coord_actions", "coord_ranked"):
            store.con.execute(f"DROP TABLE IF EXISTS {name}")


def model_edges(store: Store, params: CoordinationParams) -> pa.Table:
    """The plan's steps 2–6 and the names, over ``coord_actions`` and ``coord_ranked`` (tables
    or views of the caller's)."""
    values = plan_values(params)
    steps = [*model_steps(DUCKDB), *NAME_TABLES.items()]
    try:
        for name, sql in steps:
            materialise(store, name, render(sql, values))
        return store.arrow(names_sql(params.views))
    finally:
        for name, _ in steps:
            store.con.execute(f"DROP TABLE IF EXISTS {name}")


def materialise(store: Store, name: str, sql: str) -> None:
    """``sql`` as a temporary table, written from all threads without restoring the input's
    order: the candidate and edge steps are 20–30 % faster at 10M posts. Nothing reads these
    tables' row order (every step joins, groups or orders them, and its sums are integer sums,
    see ``plan.RARITY_SCALE``), so the results do not change."""
    previous = store.scalar("SELECT current_setting('preserve_insertion_order')")
    store.con.execute("SET preserve_insertion_order = false")
    try:
        store.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}").fetchall()
    finally:
        store.con.execute(f"SET preserve_insertion_order = {bool(previous)}")
