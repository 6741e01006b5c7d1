"""The coordination interval: a window estimated from how fast the data's shared actions follow
each other.

Every action on a key that two or more accounts use, except the key's first, has a gap to the
action before it on that key. Organic sharing spreads over minutes and hours; automated or
orchestrated sharing arrives within seconds. The estimated window is the ``window_quantile``
(default 0.1) of all those gaps: "unusually fast" is what the fastest tenth of the whole data
set does. It is rounded up to whole seconds and kept between ``MIN_SECONDS`` and
``MAX_SECONDS``; with no repeated key the configured window stands.
"""

from __future__ import annotations

import math
from dataclasses import replace

from fimiwatch.detect.coordination.params import CoordinationParams
from fimiwatch.store import Store

MIN_SECONDS = 1
MAX_SECONDS = 3600


def estimate_window(store: Store, params: CoordinationParams, actions_sql: str) -> int | None:
    """The estimated window in seconds, or None when no key is used twice by two accounts.
    ``actions_sql`` selects (view, key, account, t, item) rows: the plan's first step."""
    gap = store.scalar(
        f"""
        WITH actions AS ({actions_sql}),
        shared AS (
            SELECT key, t FROM actions
            WHERE key IN (SELECT key FROM actions GROUP BY key
                          HAVING count(DISTINCT account) >= 2)
        )
        SELECT quantile_disc(gap, {float(params.window_quantile)}) FROM (
            SELECT t - lag(t) OVER (PARTITION BY key ORDER BY t) AS gap FROM shared
        ) WHERE gap IS NOT NULL
        """
    )
    if gap is None:
        return None
    return min(MAX_SECONDS, max(MIN_SECONDS, math.ceil(gap)))


def resolve_window(
    store: Store, params: CoordinationParams, actions_sql: str
) -> CoordinationParams:
    """``params`` with ``window_seconds`` estimated from the data when asked for."""
    if not params.estimate_window:
        return params
    estimated = estimate_window(store, params, actions_sql)
    window = params.window_seconds if estimated is None else estimated
    return replace(params, window_seconds=window, estimate_window=False)
