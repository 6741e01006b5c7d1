"""The coordination plan: one relational definition that DuckDB and Spark both run.

The plan is a chain of SQL statements, each materialised as a temporary table named after it,
over a ``coord_actions`` table of (view, key, account, t, item) rows with integer hashes for
key, account and item. Each engine builds ``coord_actions`` from its items (the views' text,
URL and hashtag normalisation, spelled in its own SQL) and maps the final edges back to ids;
everything in between is the same text for both, apart from the two spellings a ``Dialect``
holds (turning a range into rows, collecting structs into a list).

Steps:

1. ``coord_ranked``: actions on keys that two accounts use, ranked in time per key, with the
   number of actions on the key from this one's time to the window's end and the key's number
   of accounts. An account's repeat of its own action within the window is one action, so a
   meeting counts once. Each key's rows depend on that key's actions only, which is what lets
   an incremental run rank again only the keys that new posts touched (``incremental.py``).
2. ``coord_account_stats``: the chance model's inputs (actions and reached followers per
   account and view, actions per view).
3. ``coord_candidates``: account pairs that met at least ``min_weight`` times, with the mean
   rarity of the keys they met on (the view's accounts over the key's, a log). Each action
   reaches the ranks of the following actions on its key inside the window, at most
   ``max_neighbours`` of them, so the pair join is an equality join on (key, rank): linear in
   the actions, never every pair of posts on a viral key.
4. ``coord_tested``: expected chance meetings and the significance of the observed ones.
5. ``coord_supported``: weak edges whose accounts share ``min_triangles`` weak neighbours.
6. ``coord_edges``: the edges kept, with median lag and the earliest meetings (the meetings
   generated again among the kept edges' accounts only), through window functions (sorts,
   which spill to disk) rather than holistic aggregates (which do not).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from fimiwatch.detect.coordination.params import CoordinationParams


@dataclass(frozen=True)
class Dialect:
    name: str
    rows_from_to: Callable[[str, str], str]
    """SQL producing one row per integer from the first to the second expression, inclusive."""
    collect: Callable[[str], str]
    """Aggregate collecting a struct of the given columns into a list."""
    hash: str
    """A 64-bit hash function of one or more values."""
    seconds: Callable[[str], str]
    """Epoch seconds (with fraction) of a timestamp."""


DUCKDB = Dialect(
    "duckdb",
    rows_from_to=lambda first, last: f"unnest(range({first}, {last} + 1))",
    collect=lambda columns: f"list(struct_pack({columns}))",
    hash="hash",
    seconds=lambda column: f"epoch({column})",
)
SPARK = Dialect(
    "spark",
    rows_from_to=lambda first, last: f"explode(sequence({first}, {last}))",
    collect=lambda columns: f"collect_list(struct({columns}))",
    hash="xxhash64",
    seconds=lambda column: f"unix_micros({column}) / 1e6",
)

LOG_FACTORIAL = (
    "(weight * ln(weight) - weight + 0.5 * ln(2 * pi() * weight)"
    " + 1.0 / (12 * weight) - 1.0 / (360 * weight * weight * weight))"
)
"""ln(weight!) by Stirling's series, in arithmetic both engines have (within 6·10⁻⁴ at
weight 1, 10⁻⁶ from weight 3 on)."""


RARITY_SCALE = 2**32
"""Rarities are summed as integers in units of 1/RARITY_SCALE (2·10⁻¹⁰): an integer sum is
exact in any order, so an edge's mean rarity is the same bit for bit whichever threads, engine
or incremental round added its meetings up (a float sum's last bit follows the order)."""


STRONG_BAR = (
    "greatest($min_significance, "
    "log10(greatest((SELECT count(*) FROM coord_candidates), 1) / $family_error))"
)
"""The significance an edge needs on its own: ``min_significance``, raised so that among all
candidate pairs about ``family_error`` chance edges are expected (a Bonferroni bound: with
ten million posts there are millions of candidates, and a one-in-a-million coincidence is no
longer rare)."""


def plan_values(params: CoordinationParams) -> dict[str, int | float]:
    """The parameters the plan's statements name as ``$name``."""
    return {
        "window": float(params.window_seconds),
        "max_neighbours": params.max_neighbours,
        "min_weight": params.min_weight,
        "min_rarity": params.min_rarity,
        "min_significance": params.min_significance,
        # None: no rise; a family error this large keeps the bar at min_significance
        "family_error": 1e300 if params.family_error is None else params.family_error,
        "min_supported_significance": params.min_supported_significance,
        "min_triangles": params.min_triangles,
        "min_hashtags": params.min_hashtags,
    }


def render(sql: str, values: dict[str, int | float]) -> str:
    """``sql`` with each ``$name`` replaced by its (validated, numeric) value."""
    return re.sub(r"\$([a-z_]+)", lambda m: repr(values[m.group(1)]), sql)


def actions_sql(dialect: Dialect, view_sql: list[tuple[int, str]]) -> str:
    """``coord_actions`` from each view's (view, key, account_id, published_at, id, item_hash)
    SELECT, given with the view's number (its position among the selected views, from 1): one
    row per co-action; ``key`` hashes (view, key) so one column partitions it.

    ``item_hash`` orders actions at the same instant, so it decides which ``max_neighbours``
    actions follow each one: both engines must get the same value (DuckDB's ``hash(id)``, which
    Spark reads from the exported items) to find the same meetings when times tie."""
    views = " UNION ALL ".join(
        f"(SELECT {code} AS view, key, account_id, published_at, id, item_hash FROM ({sql}))"
        for code, sql in view_sql
    )
    h = dialect.hash
    return f"""
        SELECT view, {h}(view, key) AS key, {h}(account_id) AS account,
            {dialect.seconds("published_at")} AS t, item_hash AS item
        FROM ({views})
        WHERE key IS NOT NULL AND key <> '' AND account_id IS NOT NULL
          AND published_at IS NOT NULL"""


def pairs_sql(dialect: Dialect, actions: str = "coord_ranked") -> str:
    """CTEs ``reach`` and ``pairs``: one row per meeting of two accounts on a key, from the
    ranked ``actions``; ``pair_order`` orders a key's meetings by time (ties by item)."""
    reached = dialect.rows_from_to("rn + 1", "rn + least($max_neighbours, in_window)")
    return f"""
    reach AS (
        SELECT key, rn, account, t, item, {reached} AS next_rn
        FROM {actions} WHERE in_window > 0
    ),
    pairs AS (
        SELECT b.view, a.key, b.key_accounts,
            least(a.account, b.account) AS source, greatest(a.account, b.account) AS target,
            a.t AS first_t, b.t AS last_t,
            CASE WHEN a.account < b.account THEN a.item ELSE b.item END AS source_item,
            CASE WHEN a.account < b.account THEN b.item ELSE a.item END AS target_item,
            a.rn * ($max_neighbours + 1) + (b.rn - a.rn) AS pair_order
        FROM reach a JOIN {actions} b ON b.key = a.key AND b.rn = a.next_rn
        WHERE b.t - a.t <= $window AND a.account <> b.account
    )"""


def ranked_sql(actions: str = "coord_actions") -> str:
    """Step 1 over the ``actions`` table: whole keys in, whole keys out."""
    return f"""
            WITH shared AS (
                SELECT a.*, k.accounts AS key_accounts,
                    lag(a.t) OVER (PARTITION BY a.key, a.account ORDER BY a.t, a.item) AS previous
                FROM {actions} a
                JOIN (SELECT key, count(DISTINCT account) AS accounts FROM {actions}
                      GROUP BY key HAVING count(DISTINCT account) >= 2) k ON k.key = a.key
            )
            SELECT view, key, account, t, item, key_accounts,
                row_number() OVER (PARTITION BY key ORDER BY t, item, account) AS rn,
                count(*) OVER (PARTITION BY key ORDER BY t
                    RANGE BETWEEN CURRENT ROW AND $window FOLLOWING) - 1 AS in_window
            FROM shared WHERE previous IS NULL OR t - previous > $window"""


def core_steps(dialect: Dialect) -> list[tuple[str, str]]:
    """Steps 1–6 above as (table, SELECT) pairs, in order."""
    return [("coord_ranked", ranked_sql()), *model_steps(dialect)]


def model_steps(dialect: Dialect) -> list[tuple[str, str]]:
    """Steps 2–6: the chance model over all of ``coord_actions`` and ``coord_ranked``."""
    pairs = pairs_sql(dialect)
    kept_pairs = pairs_sql(dialect, actions="involved")
    middle = "floor((meetings + 1) / 2), floor((meetings + 2) / 2)"
    return [
        ("coord_account_stats", """
            WITH acted AS (
                SELECT view, account, count(*) AS actions FROM coord_actions
                GROUP BY view, account
            ),
            followed AS (
                SELECT view, account, sum(least(in_window, $max_neighbours)) AS followers
                FROM coord_ranked GROUP BY view, account
            )
            SELECT acted.view, acted.account, actions, coalesce(followers, 0) AS followers,
                sum(actions) OVER (PARTITION BY acted.view) AS view_actions
            FROM acted LEFT JOIN followed
              ON followed.view = acted.view AND followed.account = acted.account"""),
        # a key's rarity: ln(the view's accounts / the key's accounts), averaged over meetings
        ("coord_candidates", f"""
            WITH {pairs}
            SELECT p.view, source, target, count(*) AS weight,
                sum(CAST(round(ln(v.accounts / key_accounts) * {RARITY_SCALE}) AS BIGINT))
                    / count(*) / {RARITY_SCALE} AS rarity,
                min(first_t) AS first_t, max(last_t) AS last_t
            FROM pairs p
            JOIN (SELECT view, count(DISTINCT account) AS accounts FROM coord_actions
                  GROUP BY view) v ON v.view = p.view
            GROUP BY p.view, source, target HAVING count(*) >= $min_weight"""),
        # expected chance meetings: each action of one account is followed inside the window
        # by others, each the other account's with probability actions/N; significance is
        # −log10 of the Poisson tail P(X ≥ weight | expected), upper-bounded as
        # P(X = w)·(w + 1)/(w + 1 − λ), and 0 when the weight is no more than chance gives
        ("coord_tested", f"""
            SELECT * FROM (
                SELECT *, CASE WHEN expected >= weight + 1 THEN 0.0 ELSE greatest(0.0,
                    -(weight * ln(expected) - expected - {LOG_FACTORIAL}
                      + ln((weight + 1) / (weight + 1 - expected))) / ln(10)) END AS significance
                FROM (
                    SELECT c.*, greatest(
                        (sa.followers * tb.actions + tb.followers * sa.actions)
                        / sa.view_actions, 1e-300) AS expected
                    FROM coord_candidates c
                    JOIN coord_account_stats sa ON sa.view = c.view AND sa.account = c.source
                    JOIN coord_account_stats tb ON tb.view = c.view AND tb.account = c.target
                    WHERE c.rarity >= $min_rarity
                ) expectations
            ) tested WHERE significance >= $min_supported_significance"""),
        # an edge below the strong bar still counts when its two accounts both have such
        # edges to min_triangles others: chance meetings seldom close triangles, groups do
        ("coord_supported", f"""
            WITH ends AS (
                SELECT DISTINCT source AS account, target AS other FROM coord_tested
                UNION SELECT DISTINCT target, source FROM coord_tested
            )
            SELECT w.source, w.target
            FROM (SELECT DISTINCT source, target FROM coord_tested
                  WHERE significance < {STRONG_BAR}) w
            JOIN ends x ON x.account = w.source
            JOIN ends y ON y.account = w.target AND y.other = x.other
            GROUP BY w.source, w.target HAVING count(*) >= $min_triangles"""),
        ("coord_edges", f"""
            WITH edges AS (
                SELECT * FROM coord_tested e
                WHERE e.significance >= {STRONG_BAR}
                   OR EXISTS (SELECT 1 FROM coord_supported u
                              WHERE u.source = e.source AND u.target = e.target)
            ),
            -- the meetings again, but only among the accounts of kept edges
            involved AS (
                SELECT * FROM coord_ranked
                WHERE account IN (SELECT source FROM edges UNION SELECT target FROM edges)
            ),
            {kept_pairs},
            met AS (
                SELECT view, source, target, key, pair_order, first_t,
                    last_t - first_t AS lag, source_item, target_item
                FROM pairs p
                WHERE EXISTS (SELECT 1 FROM edges e WHERE e.view = p.view
                              AND e.source = p.source AND e.target = p.target)
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
                    avg(lag) FILTER (WHERE by_lag IN ({middle})) AS median_lag,
                    {dialect.collect("nth, source_item, target_item")}
                        FILTER (WHERE nth <= 3) AS example_hashes
                FROM ranked WHERE nth <= 3 OR by_lag IN ({middle})
                GROUP BY view, source, target
            )
            SELECT e.*, d.median_lag, d.example_hashes
            FROM edges e JOIN details d
              ON d.view = e.view AND d.source = e.source AND d.target = e.target"""),
    ]  # fmt: skip
