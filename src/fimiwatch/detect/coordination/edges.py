"""Account-pair edges from co-actions, as relational plans over the items table.

Each view maps a post to keys (normalised text, normalised URL, reposted id, replied id,
hashtag set). Two accounts are linked when they act on the same key within the window:
a sliding band join, not time buckets, so no pair is missed at a bucket edge. Hot keys are
bounded by pairing each action with at most ``max_neighbours`` following actions.

Edge weight is the number of distinct shared keys; ``rarity`` is the mean over those keys of
ln(accounts in the view / accounts using the key), so a pair that meets only on viral keys
scores low however often it meets (see docs/coordination.md).
"""

from __future__ import annotations

import pyarrow as pa

from fimiwatch.detect.coordination.params import TRACKING_PARAMETERS, CoordinationParams
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
    r"trim(regexp_replace(regexp_replace(lower(text), '@\w+', '', 'g'), '\s+', ' ', 'g'))"
)
"""co-post key: text lower-cased, @mentions removed, whitespace collapsed (also used to measure
a group's content uniformity)."""

_VIEW_SQL = {
    "co-post": f"""
        SELECT 'co-post' AS view, {TEXT_KEY_SQL} AS key, account_id, published_at, id
        FROM items WHERE repost_of IS NULL AND text IS NOT NULL""",
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


def actions_sql(views: tuple[str, ...]) -> str:
    """One row per (view, key, account, time, item): the co-actions the views see."""
    parts = [f"({_VIEW_SQL[v]})" for v in views]
    return (
        "SELECT view, key, account_id AS account, epoch(published_at) AS t, id AS item "
        f"FROM ({' UNION ALL '.join(parts)}) "
        "WHERE key IS NOT NULL AND key <> '' AND account_id IS NOT NULL "
        "AND published_at IS NOT NULL"
    )


def edges_sql(views: tuple[str, ...]) -> str:
    """Edges (view, source < target) with weight, rarity, times and example items."""
    return f"""
    WITH actions AS ({actions_sql(views)}),
    key_accounts AS (
        SELECT view, key, count(DISTINCT account) AS accounts
        FROM actions GROUP BY view, key HAVING count(DISTINCT account) >= 2
    ),
    view_accounts AS (
        SELECT view, count(DISTINCT account) AS accounts FROM actions GROUP BY view
    ),
    shared AS (
        -- DECIMAL, so sums are exact and runs agree to the last digit whatever the threads
        SELECT a.account, a.t, a.item, a.view, k.key_id,
            CAST(ln(v.accounts / k.accounts) AS DECIMAL(18, 9)) AS rarity,
            row_number() OVER by_time AS rn,
            -- actions on the key from this one's time to the window's end (ties included,
            -- so it may reach a little far: the join checks the window again)
            count(*) OVER (PARTITION BY k.key_id ORDER BY a.t
                RANGE BETWEEN CURRENT ROW AND $window FOLLOWING) - 1 AS in_window
        FROM actions a
        JOIN (SELECT view, key, accounts, row_number() OVER (ORDER BY view, key) AS key_id
              FROM key_accounts) k USING (view, key)
        JOIN view_accounts v USING (view)
        WINDOW by_time AS (PARTITION BY k.key_id ORDER BY a.t, a.item)
    ),
    -- Each action names the ranks of the following actions on its key that fall inside the
    -- window, at most max_neighbours of them, so the join below is an equality join on
    -- (key_id, rn): linear in the actions, never every pair of posts on a viral key.
    reach AS (
        SELECT view, key_id, rn, account, t, item, rarity,
            unnest(range(rn + 1, rn + least($max_neighbours, in_window) + 1)) AS next_rn
        FROM shared WHERE in_window > 0
    ),
    pairs AS (
        SELECT a.view, a.key_id, a.rarity,
            least(a.account, b.account) AS source, greatest(a.account, b.account) AS target,
            least(a.t, b.t) AS first_t, greatest(a.t, b.t) AS last_t,
            CASE WHEN a.account < b.account THEN a.item ELSE b.item END AS source_item,
            CASE WHEN a.account < b.account THEN b.item ELSE a.item END AS target_item,
            -- the pair's place in (a.rn, b.rn) order: earliest first, ties broken by item id
            a.rn * ($max_neighbours + 1) + (b.rn - a.rn) AS pair_order
        FROM reach a JOIN shared b
          ON b.key_id = a.key_id AND b.rn = a.next_rn
        WHERE b.t - a.t <= $window AND a.account <> b.account
    ),
    per_key AS (
        SELECT view, source, target, key_id, any_value(rarity) AS rarity,
            min(first_t) AS first_t, max(last_t) AS last_t, min(last_t - first_t) AS lag,
            arg_min([source_item, target_item], pair_order) AS items
        FROM pairs GROUP BY view, source, target, key_id
    )
    SELECT view, source, target, count(*) AS weight, CAST(avg(rarity) AS DOUBLE) AS rarity,
        CAST(sum(rarity) AS DOUBLE) AS score, median(lag) AS median_lag,
        to_timestamp(min(first_t)) AS first_seen, to_timestamp(max(last_t)) AS last_seen,
        list(items ORDER BY first_t, key_id)[1:3] AS examples
    FROM per_key
    GROUP BY view, source, target
    HAVING count(*) >= $min_weight AND avg(rarity) >= $min_rarity
    ORDER BY view, source, target
    """


def compute_edges(store: Store, params: CoordinationParams) -> pa.Table:
    """All edges of the selected views, deterministic order."""
    params.validate()
    values: dict[str, int | float] = {
        "window": params.window_seconds,
        "max_neighbours": params.max_neighbours,
        "min_weight": params.min_weight,
        "min_rarity": params.min_rarity,
    }
    if "co-hashtag" in params.views:  # the only view with a parameter; DuckDB refuses extras
        values["min_hashtags"] = params.min_hashtags
    return store.arrow(edges_sql(params.views), values)
