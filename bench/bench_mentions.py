"""Mention linking throughput and peak memory on 1M synthetic items, on one core.

Data: 1M items of 200–400 characters in en/cs/sk/fr/de/lt/ru/zh (Chinese without spaces), built
with numpy and Arrow compute (no per-row Python); about 5% carry a mention (actor alias,
outlet name or domain, watched person, or a near miss such as "APT310"), about 10% a link.
Patterns: the knowledge base of an existing store when ``--kb-from STORE`` names one (its
``kb_actors``/``kb_aliases``), else a synthetic one of ~3,000 actor aliases shaped like the
MISP/ATT&CK ones (APTnn, TAnnn, UNCnnnn, Storm-nnnn, "Violet Typhoon", "Judgment Panda",
single invented words, some common words and shared aliases), plus 300 outlets and
500 watched people.

Each measurement runs in a fresh process pinned to one CPU with DuckDB limited to one thread,
and reports wall and CPU time, items/s and the process's peak RSS (``VmHWM``, DuckDB's native
memory included):

- ``match``: :func:`match_documents` over the items read as Arrow batches (matching alone);
- ``link``: :func:`link_mentions` end to end (read, match, write ``mentions``, mark linked).

    python bench/bench_mentions.py --items 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from fimiwatch.enrich.mentions import COMMON_WORDS  # noqa: E402


def _words(text: str) -> list[str]:
    return text.split()


WORDS = {
    "en": "the european parliament will vote on new trade agreement next week minister said "
    "report security election campaign party government china russia media news press "
    "statement delegation visit embassy policy committee foreign affairs investigation "
    "according sources officials debate members support against citizens",
    "cs": "evropský parlament bude příští týden hlasovat o nové obchodní dohodě ministr řekl "
    "zpráva bezpečnost volby kampaň strana vláda čína rusko média zprávy poslanci výbor "
    "zahraniční věci vyšetřování podle zdrojů úředníci debata podpora proti občané",
    "sk": "európsky parlament bude budúci týždeň hlasovať o novej obchodnej dohode minister "
    "povedal správa bezpečnosť voľby kampaň strana vláda čína rusko médiá poslanci výbor",
    "fr": "le parlement européen votera la semaine prochaine sur le nouvel accord commercial "
    "ministre déclaré rapport sécurité élection campagne parti gouvernement chine russie "
    "médias député délégation visite ambassade politique commission affaires étrangères",
    "de": "das europäische parlament wird nächste woche über das neue handelsabkommen "
    "abstimmen minister sagte bericht sicherheit wahl kampagne partei regierung china "
    "russland medien abgeordnete delegation besuch botschaft politik ausschuss straße",
    "lt": "europos parlamentas kitą savaitę balsuos dėl naujo prekybos susitarimo ministras "
    "pasakė ataskaita saugumas rinkimai kampanija partija vyriausybė kinija rusija žiniasklaida",
    "ru": "европейский парламент проголосует по новому торговому соглашению на следующей неделе "
    "министр заявил доклад безопасность выборы кампания партия правительство китай россия",
    "zh": "欧洲 议会 将于 下周 就 新的 贸易 协定 进行 投票 部长 表示 报告 安全 选举 运动 "
    "政党 政府 中国 俄罗斯 媒体 新闻 代表团 访问 大使馆 政策 委员会 外交 调查 据 消息 官员 辩论",
}
CONTEXT = [
    "hackers",
    "hackeři",
    "Hacker",
    "pirates informatiques",
    "įsilaužėliai",
    "хакеры",
    "黑客",
]
FIRST = _words("Jan Petr Klára Lenka Anna Tomáš Marek Eva Jana Martin Pavel Lucie Ondřej Tereza")
LAST = _words("Novák Svoboda Dvořák Černá Procházka Kučera Veselá Horák Němec Marek Pokorná")


def synthetic_kb(rng: np.random.Generator, actors: int = 900) -> list[tuple[str, str, str]]:
    """(alias, key, actor_id) rows shaped like the MISP/ATT&CK alias set (~3,000 rows)."""
    colours = _words("Violet Silk Midnight Cinnamon Mint Salt Volt Brass Aqua Linen Lace Pumpkin")
    weather = _words("Typhoon Blizzard Sandstorm Sleet Tempest Tsunami Cyclone Hail Dust Flood")
    adjectives = _words("Judgment Fancy Cozy Stone Wicked Venomous Gothic Mustang Aquatic Berserk")
    animals = _words("Panda Bear Kitten Chollima Spider Tiger Jackal Buffalo Leopard Crane")
    syllables = _words("zor ka mi tel ra vo nix dra gon kel sha pu tri ven lo qua bex ur")
    rows: list[tuple[str, str, str]] = []
    for n in range(actors):
        actor = f"actor-{n}"
        names = {f"APT{n + 1}", f"TA{400 + n}", f"UNC{1000 + 7 * n}", f"Storm-{n:04d}"}
        names.add(f"{colours[n % len(colours)]} {weather[(n // len(colours)) % len(weather)]}")
        names.add(f"{adjectives[n % len(adjectives)]} {animals[(n // 10) % len(animals)]} {n}")
        word = "".join(rng.choice(syllables, 3)).capitalize()
        names.add(word)
        chosen = sorted(names)[: int(rng.integers(2, 5))]
        if n % 20 == 0:
            chosen.append(sorted(COMMON_WORDS)[n % len(COMMON_WORDS)].capitalize())
        if n % 25 == 0:
            chosen.append("Shared Alias")
        rows += [(alias, alias.casefold().replace(" ", ""), actor) for alias in chosen]
    return rows


def build_store(path: Path, items: int, kb_from: Path | None, seed: int) -> dict[str, int]:
    from fimiwatch.config import Settings
    from fimiwatch.store import Store

    rng = np.random.default_rng(seed)
    with Store(path, Settings(db=path)) as store:
        con = store.con
        if kb_from:
            con.execute(f"ATTACH '{kb_from}' AS kb (READ_ONLY)")
            con.execute("INSERT INTO kb_actors BY NAME SELECT * FROM kb.kb_actors")
            con.execute("INSERT INTO kb_aliases BY NAME SELECT * FROM kb.kb_aliases")
            con.execute("DETACH kb")
        else:
            aliases = pa.table(
                list(zip(*synthetic_kb(rng), strict=True)), names=["alias", "key", "actor_id"]
            )
            con.register("aliases", aliases)
            con.execute(
                "INSERT INTO kb_actors (actor_id, name, kind) "
                "SELECT DISTINCT actor_id, upper(actor_id), 'intrusion-set' FROM aliases"
            )
            con.execute(
                "INSERT OR IGNORE INTO kb_aliases SELECT alias, key, actor_id, 'synthetic' "
                "FROM aliases"
            )
            con.unregister("aliases")
        con.execute(
            "INSERT INTO sources (source, name, domain) SELECT 'src' || i, "
            "'Outlet ' || i || ' News', 'outlet' || i || '.example' FROM range(300) t(i)"
        )
        con.execute(
            """INSERT INTO watchlist (kind, name, aliases, domains)
            SELECT 'person', f || ' ' || l || ' ' || i, [l || ' ' || i, f || i], []
            FROM (SELECT $first[1 + i % 14] AS f, $last[1 + i % 11] AS l, i FROM range(500) t(i))
            """,
            {"first": FIRST, "last": LAST},
        )
        mentions = [
            r[0] for r in con.execute("SELECT alias FROM kb_aliases ORDER BY ALL").fetchall()
        ]
        mentions += [f"Outlet {i} News" for i in range(300)] + [
            f"outlet{i}.example" for i in (1, 2)
        ]
        mentions += [f"{FIRST[i % 14]} {LAST[i % 11]} {i}" for i in range(500)]
        mentions += ["APT310", "Xinhua's", "APT31x"]
        table = synthetic_items(rng, items, mentions)
        con.register("generated", table)
        con.execute(
            """INSERT INTO items BY NAME SELECT id, 'web' AS platform, text, links,
                id AS content_hash, ingest_id FROM generated"""
        )
        con.unregister("generated")
        con.execute("CHECKPOINT")
        return {
            "items": items,
            "aliases": int(store.scalar("SELECT count(*) FROM kb_aliases")),
            "actors": int(store.scalar("SELECT count(*) FROM kb_actors")),
        }


def synthetic_items(rng: np.random.Generator, n: int, mentions: list[str]) -> pa.Table:
    """Texts of 200–400 characters; ~5% carry a mention, some of those a context word."""
    langs = list(WORDS)
    per_lang = np.array_split(np.arange(n), len(langs))
    texts: list[pa.Array] = []
    order: list[np.ndarray] = []
    for lang, rows in zip(langs, per_lang, strict=True):
        words = WORDS[lang].split()
        vocab = pa.array(words + mentions + CONTEXT)
        mean_chars = np.mean([len(w) for w in words]) + (0 if lang == "zh" else 1)
        counts = rng.integers(int(200 / mean_chars), int(400 / mean_chars), len(rows))
        offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int32)
        picks = rng.integers(0, len(words), int(offsets[-1]))
        carriers = np.flatnonzero(rng.random(len(rows)) < 0.05)
        slots = offsets[carriers] + rng.integers(0, counts[carriers])
        picks[slots] = len(words) + rng.integers(0, len(mentions), len(carriers))
        with_context = carriers[rng.random(len(carriers)) < 0.3]
        picks[offsets[with_context]] = (
            len(words) + len(mentions) + rng.integers(0, len(CONTEXT), len(with_context))
        )
        lists = pa.ListArray.from_arrays(pa.array(offsets), pc.take(vocab, pa.array(picks)))
        texts.append(pc.binary_join(lists, "" if lang == "zh" else " "))
        order.append(rows)
    text = pa.concat_arrays(texts)
    domains = pa.array(
        ["https://outlet1.example/a", "https://www.outlet7.example/b", "https://example.org/c"]
    )
    has_link = rng.random(n) < 0.1
    link_pick = pc.take(domains, pa.array(rng.integers(0, 3, n)))
    links = pa.ListArray.from_arrays(
        pa.array(np.concatenate(([0], np.cumsum(has_link))).astype(np.int32)),
        pc.filter(link_pick, pa.array(has_link)),
    )
    ids = pc.cast(pa.array(np.concatenate(order)), pa.string())
    ingest_id = np.arange(n) // 100_000 + 1  # ten ingests per million items
    return pa.table({"id": ids, "text": text, "links": links, "ingest_id": ingest_id})


CHILD = """
import json, os, sys, time
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
from pathlib import Path
from fimiwatch.config import Settings
from fimiwatch.store import Store
from fimiwatch.enrich.mentions import link_mentions, load_matcher, match_documents
db, mode = Path(sys.argv[1]), sys.argv[2]
with Store(db, Settings(db=db, duckdb_threads=1)) as store:
    started, cpu = time.perf_counter(), time.process_time()
    if mode == "match":
        matcher = load_matcher(store)
        reader = store.con.cursor().sql(
            "SELECT concat_ws(chr(10), title, text) AS doc, links FROM items"
        ).to_arrow_reader(20000)
        found = items = 0
        for batch in reader:
            found += len(match_documents(batch.column("doc"), matcher, batch.column("links")))
            items += batch.num_rows
    else:
        items = store.scalar("SELECT count(*) FROM items")
        found = link_mentions(store)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork and exec.
status = Path("/proc/self/status").read_text().splitlines()
peak = int(next(l for l in status if l.startswith("VmHWM:")).split()[1]) / 1024
print("RESULT " + json.dumps({"seconds": seconds, "cpu": cpu, "items": items,
                              "mentions": found, "peak_mb": peak}))
"""


def measure(db: Path, mode: str) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(db), mode],
        check=True, capture_output=True, text=True, env=env,
    )  # fmt: skip
    line = [row for row in out.stdout.splitlines() if row.startswith("RESULT ")][-1]
    result: dict[str, float] = json.loads(line.removeprefix("RESULT "))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--kb-from", type=Path, help="take kb_actors/kb_aliases from this store")
    parser.add_argument("--work", type=Path, help="folder for the store (default: a temp dir)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        db = work / f"mentions-{args.items}.duckdb"
        for stale in (db, Path(f"{db}.wal")):
            stale.unlink(missing_ok=True)
        started = time.perf_counter()
        info = build_store(db, args.items, args.kb_from, args.seed)
        generated = time.perf_counter() - started
        con = duckdb.connect(str(db), read_only=True)
        chars = con.execute("SELECT avg(length(text)) FROM items").fetchall()[0][0]
        con.close()
        rows = [(mode, measure(db, mode)) for mode in ("match", "link")]
    print(
        f"\n{args.items:,} items (mean {chars:.0f} characters), {info['aliases']:,} aliases of "
        f"{info['actors']:,} actors ({'from ' + str(args.kb_from) if args.kb_from else 'synthetic'}"
        f"), 300 outlets, 500 watched people; generated in {generated:.1f} s\n"
    )
    print("| step | wall s | CPU s | items/s (wall, one core) | mentions | peak RSS (MB) |")
    print("|---|---:|---:|---:|---:|---:|")
    for mode, r in rows:
        print(
            f"| {mode} | {r['seconds']:.1f} | {r['cpu']:.1f} | {r['items'] / r['seconds']:,.0f} | "
            f"{int(r['mentions']):,} | {r['peak_mb']:,.0f} |"
        )


if __name__ == "__main__":
    main()
