"""Coordination edges kept up to date between runs: new posts are keyed, and only the keys
they touch are ranked again.

The plan's first step (``plan.ranked_sql``) depends on each key's own actions only; the chance
model after it (pairs, expected meetings, significance, the Bonferroni bar) depends on every
account's activity, and so is recomputed over the ranked actions of the whole store each run
(from a table of the actions on shared keys: the costly keying, URL normalisation, MinHash and
ranking of every post are not repeated). The store keeps, all derived and rebuilt by every full
run:

- ``coordination_actions``: every co-action (the plan's ``coord_actions``);
- ``coordination_ranked``: the plan's first step;
- the co-similar view's buckets, pairs and clusters (``similar_state.py``);
- ``coordination_mark``: the ingest these cover and the parameters they were built with.
"""

from __future__ import annotations

import pyarrow as pa

from fimiwatch.detect.base import new_items
from fimiwatch.detect.coordination import similar_state
from fimiwatch.detect.coordination.edges import actions_sql, model_edges
from fimiwatch.detect.coordination.params import CoordinationParams
from fimiwatch.detect.coordination.plan import plan_values, ranked_sql, render
from fimiwatch.store import Store

ACTIONS = "coordination_actions"
RANKED = "coordination_ranked"
MARK = "coordination_mark"


def rebuild_edges(store: Store, params: CoordinationParams, through: int) -> pa.Table:
    """The edges of all posts, with the state rebuilt to cover ingests up to ``through``."""
    values = plan_values(params)
    with store.transaction() as con:
        if "co-similar" in params.views:
            similar_state.rebuild(store, params)
        else:
            for table in similar_state.TABLES:
                con.execute(f"DROP TABLE IF EXISTS {table}")
        sql = actions_sql(params.views, similar=similar_state.KEYS)
        con.execute(f"CREATE OR REPLACE TABLE {ACTIONS} AS {render(sql, values)}")
        con.execute(f"CREATE OR REPLACE TABLE {RANKED} AS {render(ranked_sql(ACTIONS), values)}")
        _mark(store, params, through)
    return _edges(store, params)


def update_edges(store: Store, params: CoordinationParams, through: int) -> pa.Table | None:
    """The edges of all posts, after the posts of the ingests since the state's mark, up to
    ``through``, are added to the state; None when there is no state built with these
    parameters, or it is ahead of ``through`` (a full run is needed)."""
    after = _marked(store, params)
    if params.estimate_window or after is None or after > through:
        return None
    values = plan_values(params)
    new = new_items(after, through)
    fresh = f"(SELECT * FROM items WHERE {new})"
    exact = tuple(view for view in params.views if view != "co-similar")
    keyed = (
        render(actions_sql(params.views, items=fresh, only=exact), values)
        if exact
        else f"SELECT * FROM {ACTIONS} LIMIT 0"  # co-similar alone: its actions come below
    )
    with store.transaction() as con:
        con.execute(f"CREATE OR REPLACE TEMP TABLE coord_new_actions AS {keyed}")
        con.execute("CREATE OR REPLACE TEMP TABLE coord_touched (key UBIGINT)")
        if "co-similar" in params.views:
            _update_similar(store, params, new, values)
        con.execute("INSERT INTO coord_touched SELECT key FROM coord_new_actions")
        con.execute(f"INSERT INTO {ACTIONS} SELECT * FROM coord_new_actions")
        con.execute(
            "CREATE OR REPLACE TEMP TABLE coord_touched_actions AS "
            f"SELECT * FROM {ACTIONS} WHERE key IN (SELECT key FROM coord_touched)"
        )
        con.execute(f"DELETE FROM {RANKED} WHERE key IN (SELECT key FROM coord_touched)")
        con.execute(f"INSERT INTO {RANKED} " + render(ranked_sql("coord_touched_actions"), values))
        for table in ("coord_new_actions", "coord_touched", "coord_touched_actions"):
            con.execute(f"DROP TABLE {table}")
        _mark(store, params, through)
    return _edges(store, params)


def _update_similar(
    store: Store, params: CoordinationParams, new: str, values: dict[str, int | float]
) -> None:
    """co-similar: the clusters brought up to date; the actions of posts whose cluster changed
    are replaced, and the keys they leave and join are touched."""
    changes = similar_state.update(store, params, new)
    if changes.num_rows == 0:
        return
    view = params.views.index("co-similar") + 1
    with store.registered("coord_similar_changes", changes):
        store.con.execute(
            "CREATE OR REPLACE TEMP TABLE coord_left AS "
            f"SELECT key, item FROM {ACTIONS} WHERE view = {view} "
            "AND item IN (SELECT hash(item) FROM coord_similar_changes)"
        )
        store.con.execute(
            f"DELETE FROM {ACTIONS} WHERE view = {view} AND item IN (SELECT item FROM coord_left)"
        )
        store.con.execute("INSERT INTO coord_touched SELECT key FROM coord_left")
        joined = "(SELECT * FROM coord_similar_changes WHERE key IS NOT NULL)"
        sql = actions_sql(params.views, similar=joined, only=("co-similar",))
        store.con.execute(f"INSERT INTO coord_new_actions {render(sql, values)}")
        store.con.execute("DROP TABLE coord_left")


def _edges(store: Store, params: CoordinationParams) -> pa.Table:
    store.con.execute(f"CREATE OR REPLACE TEMP VIEW coord_actions AS SELECT * FROM {ACTIONS}")
    store.con.execute(f"CREATE OR REPLACE TEMP VIEW coord_ranked AS SELECT * FROM {RANKED}")
    try:
        return model_edges(store, params)
    finally:
        store.con.execute("DROP VIEW coord_actions")
        store.con.execute("DROP VIEW coord_ranked")


def _mark(store: Store, params: CoordinationParams, through: int) -> None:
    store.con.execute(
        f"CREATE OR REPLACE TABLE {MARK} AS SELECT ?::BIGINT AS through_ingest, ? AS params",
        [through, repr(params)],
    )


def _marked(store: Store, params: CoordinationParams) -> int | None:
    """The last ingest the state covers, if it was built with ``params``.

    It may lag the detector's findings (rounds that brought nothing it reads leave it alone)
    or lead them (a run that died after updating the state, before saving its findings): the
    state is brought from its own mark, and every group is recomputed from it."""
    exists = store.scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [MARK]
    )
    if not exists:
        return None
    row = store.con.execute(f"SELECT through_ingest, params FROM {MARK}").fetchall()
    if not row or row[0][1] != repr(params):
        return None
    return int(row[0][0])
