"""A 100M-post stream for the out-of-core run, tiled from one generated 10M stream.

The shared generator keeps every post in memory before writing (about 85 GB for 100M posts),
so the large collection is built from ``gen_stream.py``'s 10M output instead: ``--tiles``
copies, each moved ``TILE_GAP_SECONDS`` later in time (far beyond any window, so copies never
meet), with its own accounts, post ids, repost and reply targets and URLs (``t<k>`` added), and
its own planted groups in ``truth.csv``. Texts are kept: identical texts of different tiles are
days apart. Each tile is written as its own ``posts-<k>.csv``, ingested one after another as a
monitoring deployment would.

    python bench/tile_stream.py --src bench/.data/n10000000 --tiles 10 --out bench/.data/n100000000
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import duckdb

TILE_GAP_SECONDS = 8 * 86400
"""The shared generator's span is 7 days; a tile starts a day after the previous one ends."""


def tile_sql(src: Path, tile: int) -> str:
    suffix = f"'t{tile}'"
    return f"""
        SELECT CAST(message_id AS BIGINT) + {tile * 1_000_000_000} AS message_id,
            user_id || {suffix} AS user_id, username || {suffix} AS username,
            CASE WHEN repost_id <> '' THEN repost_id || {suffix} ELSE '' END AS repost_id,
            CASE WHEN reply_id <> '' THEN reply_id || {suffix} ELSE '' END AS reply_id,
            message, CAST(timestamp AS BIGINT) + {tile * TILE_GAP_SECONDS} AS timestamp,
            regexp_replace(urls, '(https?://[^/ ]+)/', '\\1/{suffix.strip("'")}/', 'g') AS urls
        FROM read_csv('{src / "posts.csv"}', header = true, all_varchar = true)
    """


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", type=Path, required=True, help="a gen_stream.py output folder")
    parser.add_argument("--tiles", type=int, default=10)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(config={"memory_limit": "2GB"})
    started = time.perf_counter()
    for tile in range(args.tiles):
        target = args.out / f"posts-{tile:02d}.csv"
        con.execute(f"COPY ({tile_sql(args.src, tile)}) TO '{target}' (HEADER, QUOTE '\"')")
        print(f"{target} written ({time.perf_counter() - started:.0f} s)", flush=True)
    truth = " UNION ALL ".join(
        f"""SELECT user_id || 't{tile}' AS user_id,
                CASE WHEN group_id = '-1' THEN -1
                     ELSE CAST(group_id AS BIGINT) + {tile * 1_000_000} END AS group_id,
                group_type
            FROM read_csv('{args.src / "truth.csv"}', header = true, all_varchar = true)"""
        for tile in range(args.tiles)
    )
    con.execute(f"COPY ({truth}) TO '{args.out / 'truth.csv'}' (HEADER)")
    manifest = json.loads((args.src / "manifest.json").read_text())
    (args.out / "manifest.json").write_text(json.dumps({
        "generator": "bench/tile_stream.py", "source": str(args.src), "tiles": args.tiles,
        "tile_gap_seconds": TILE_GAP_SECONDS, "posts": manifest["posts"] * args.tiles,
        "accounts_total": manifest["accounts_total"] * args.tiles,
        "groups": manifest["groups"] * args.tiles,
    }, indent=1) + "\n")  # fmt: skip


if __name__ == "__main__":
    main()
