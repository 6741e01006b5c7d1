"""Coordination edges on Apache Spark, for collections beyond one machine.

The views are spelled in Spark SQL (Java regular expressions, ``explode``, ``x -> …`` lambdas)
and the ids are mapped back in Spark; everything between is the plan of ``plan.py``, the same
statements DuckDB runs. Each step is checkpointed as a view named after it, as DuckDB
materialises it as a temporary table. ``co-similar`` needs the NumPy MinHash step and runs on
DuckDB only.

Usage, with items as a Spark DataFrame (for instance Parquet written by ``export_items``
from a store, or by another pipeline; the columns of the items table)::

    from fimiwatch.detect.coordination.spark import compute_edges_spark
    edges = compute_edges_spark(spark, spark.read.parquet("items/"), params)

Actions at the same instant are ordered by ``item_hash``, which decides which
``max_neighbours`` actions follow each one. Export it with the items, as DuckDB computes it
(``export_items``), and the two engines
return the same edges; the examples may still differ where an edge's earliest meetings tie
(keys are hashed by each engine's own function). Without the column Spark hashes the ids with
``xxhash64``: ties then break otherwise, and at 1M generated posts (one-second times) one edge
in eight had another weight than on DuckDB (``bench/bench_spark.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from fimiwatch.detect.coordination.edges import (
    ORIGIN_PATTERN,
    URL_KEY_TEMPLATE,
    view_sql,
)
from fimiwatch.detect.coordination.params import CoordinationParams
from fimiwatch.detect.coordination.plan import (
    SPARK,
    actions_sql,
    core_steps,
    plan_values,
    render,
)
from fimiwatch.ingest.normalise import plain_text_key_sql

_TEXT_KEY = plain_text_key_sql().replace(", 'g')", ")")
_URL_KEY = URL_KEY_TEMPLATE.format(one="$1", two="$2", every="")

SPARK_VIEW_SQL = {
    "co-post": f"""
        SELECT 'co-post' AS view, {_TEXT_KEY} AS key, account_id, published_at, id, item_hash
        FROM items WHERE repost_of IS NULL AND text IS NOT NULL""",
    "co-link": f"""
        SELECT 'co-link' AS view,
            lower(regexp_extract(k, '{ORIGIN_PATTERN}', 0))
                || substr(k, length(regexp_extract(k, '{ORIGIN_PATTERN}', 0)) + 1) AS key,
            account_id, published_at, id, item_hash
        FROM (
            SELECT *, {_URL_KEY} AS k FROM (
                SELECT account_id, published_at, id, item_hash, explode(links) AS u FROM items
                WHERE repost_of IS NULL AND links IS NOT NULL
            )
        )""",
    "co-repost": view_sql("co-repost", item_hash="item_hash"),  # plain SQL on both engines
    "co-reply": view_sql("co-reply", item_hash="item_hash"),
    "co-hashtag": """
        SELECT 'co-hashtag' AS view, array_join(tags, ' ') AS key,
            account_id, published_at, id, item_hash
        FROM (
            SELECT *, array_sort(array_distinct(transform(hashtags, h -> lower(h)))) AS tags
            FROM items WHERE repost_of IS NULL AND hashtags IS NOT NULL
        ) WHERE size(tags) >= $min_hashtags""",
}
"""The views of ``edges.py`` in Spark SQL, read with ``spark.sql.parser.escapedStringLiterals``
so that the regular expressions are the very same text."""


def names_sql(views: tuple[str, ...]) -> str:
    names = "array(" + ", ".join(f"'{v}'" for v in views) + ")"
    return f"""
        WITH met AS (
            SELECT view, source, target, explode(example_hashes) AS m FROM coord_edges
        ),
        items_named AS (SELECT DISTINCT item_hash AS item, id FROM items),
        accounts_named AS (
            SELECT DISTINCT xxhash64(account_id) AS account, account_id FROM items
            WHERE account_id IS NOT NULL
        ),
        examples AS (
            SELECT met.view, met.source, met.target,
                sort_array(collect_list(struct(met.m.nth AS nth, si.id AS s, ti.id AS t)))
                    AS examples
            FROM met
            JOIN items_named si ON si.item = met.m.source_item
            JOIN items_named ti ON ti.item = met.m.target_item
            GROUP BY met.view, met.source, met.target
        ),
        named AS (
            SELECT e.*, x.examples, sn.account_id AS source_id, tn.account_id AS target_id
            FROM coord_edges e
            JOIN examples x ON x.view = e.view AND x.source = e.source AND x.target = e.target
            JOIN accounts_named sn ON sn.account = e.source
            JOIN accounts_named tn ON tn.account = e.target
        )
        SELECT element_at({names}, view) AS view,
            least(source_id, target_id) AS source, greatest(source_id, target_id) AS target,
            weight, rarity, significance AS score, expected, median_lag,
            timestamp_micros(CAST(round(first_t * 1e6) AS BIGINT)) AS first_seen,
            timestamp_micros(CAST(round(last_t * 1e6) AS BIGINT)) AS last_seen,
            CASE WHEN source_id < target_id THEN transform(examples, x -> array(x.s, x.t))
                 ELSE transform(examples, x -> array(x.t, x.s)) END AS examples
        FROM named"""


EXPORTED_COLUMNS = "id, account_id, published_at, text, links, hashtags, repost_of, reply_to"
"""The items' columns the Spark views read."""


def export_items(con: Any, path: Path) -> None:
    """Write a store's items as Parquet for ``compute_edges_spark``: the columns it reads and
    DuckDB's ``hash(id)`` as ``item_hash``, so that Spark breaks ties in time as DuckDB does.
    ``con`` is the store's DuckDB connection."""
    target = str(path).replace("'", "''")
    con.execute(
        f"COPY (SELECT {EXPORTED_COLUMNS}, hash(id) AS item_hash FROM items) "
        f"TO '{target}' (FORMAT parquet)"
    )


def compute_edges_spark(spark: Any, items: Any, params: CoordinationParams) -> pa.Table:
    """The edges of ``params.views`` over the ``items`` DataFrame, as ``compute_edges`` returns
    them (same columns and order). The window must be given (no estimation on Spark)."""
    params.validate()
    if "co-similar" in params.views:
        raise ValueError("co-similar runs on DuckDB only; choose the exact views for Spark")
    if params.estimate_window:
        raise ValueError("estimate the window on DuckDB (resolve_params) and pass it to Spark")
    values = plan_values(params)
    spark.conf.set("spark.sql.parser.escapedStringLiterals", "true")
    if "item_hash" not in items.columns:
        from pyspark.sql.functions import xxhash64

        items = items.withColumn("item_hash", xxhash64("id"))
    items.createOrReplaceTempView("items")
    views = [(code, SPARK_VIEW_SQL[v]) for code, v in enumerate(params.views, start=1)]
    steps = [("coord_actions", actions_sql(SPARK, views)), *core_steps(SPARK)]
    try:
        for name, sql in steps:
            # eager local checkpoint: computed once, and its lineage cut, so that later steps
            # do not carry (and re-analyse) the plans of all the steps before them
            spark.sql(render(sql, values)).localCheckpoint(eager=True).createOrReplaceTempView(name)
        table = spark.sql(names_sql(params.views)).toArrow()
    finally:
        for name, _ in reversed(steps):  # later steps are defined on earlier ones
            spark.catalog.dropTempView(name)
        spark.catalog.dropTempView("items")
    return _like_duckdb(table)


def _like_duckdb(table: pa.Table) -> pa.Table:
    """Spark's Arrow result in the types and order of ``compute_edges``."""
    utc = pa.timestamp("us", tz="UTC")
    columns = {
        "view": pa.string(), "source": pa.string(), "target": pa.string(),
        "weight": pa.int64(), "rarity": pa.float64(), "score": pa.float64(),
        "expected": pa.float64(), "median_lag": pa.float64(),
        "first_seen": utc, "last_seen": utc, "examples": pa.list_(pa.list_(pa.string())),
    }  # fmt: skip
    cast = pa.table({name: table[name].cast(kind) for name, kind in columns.items()})
    return cast.sort_by([("view", "ascending"), ("source", "ascending"), ("target", "ascending")])
