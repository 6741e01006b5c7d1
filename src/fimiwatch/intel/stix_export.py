"""STIX 2.1 export of the knowledge base and the findings (for OpenCTI, MISP and peers).

What maps to what, the TLP rule and the id rule are documented in ``docs/stix.md``; in short:

* kb actors become ``intrusion-set`` (cyber groups) or ``threat-actor`` (state bodies, influence
  operations) with their aliases; country, sponsor, parent and techniques are relationships;
* ATT&CK and DISARM techniques that an exported actor, incident or finding references become
  ``attack-pattern`` objects with ``mitre-attack`` / ``DISARM`` external references;
* kb incidents become ``incident`` objects (``attributed-to`` actors, ``uses`` techniques,
  ``targets`` countries);
* registry sources speaking for a state become ``identity`` objects linked to that state;
* each finding becomes a ``grouping`` (context ``suspicious-activity``) holding a ``note`` with
  its evidence, ``observed-data`` and SCOs for the items and accounts it cites, indicators for
  phishing domains and URLs, and relationships to its actors, techniques and targets.

Every id is a UUIDv5 over :data:`NAMESPACE` and a natural key, and every timestamp comes from the
data, so exporting the same store twice gives byte-identical files. fimiwatch's own values that
STIX has no property for (actor kind, finding score…) travel in one property extension,
:data:`EXTENSION_ID`, which the importer reads back for a lossless round trip.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, TypeAlias
from urllib.parse import urlsplit

import orjson
import stix2

from fimiwatch.intel.keys import alias_key
from fimiwatch.store import Store

# --------------------------------------------------------------------------------------------
# Fixed identifiers. Never change these: ids in bundles already shared depend on them.

NAMESPACE = uuid.UUID("5d9c4a0e-3f7b-4c52-9b1e-6a2f0c8d7e13")
"""fimiwatch's UUIDv5 namespace for every STIX id it mints."""

EXTENSION_ID = f"extension-definition--{uuid.uuid5(NAMESPACE, 'extension-definition:fimiwatch:1')}"
"""The property extension carrying fimiwatch values that STIX has no property for."""

KB_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
"""``created`` of knowledge-base objects (and ``modified`` when the KB records no build time)."""

KB_BUILD_KEYS: tuple[str, ...] = ("built_at", "build_date", "updated_at", "built")
"""``kb_meta`` keys read, in this order, for the knowledge base's build time (``modified``)."""

# --------------------------------------------------------------------------------------------
# TLP 2.0 (OASIS cti-stix-common-objects, extension-definition-specifications/tlp-2.0).

TLP_LEVELS: tuple[str, ...] = ("clear", "green", "amber", "amber+strict", "red")
"""From least to most restrictive."""

TLP2_EXTENSION_ID = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
TLP2_CREATED = "2022-10-01T00:00:00.000Z"
TLP2_MARKING_IDS: dict[str, str] = {
    "clear": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "green": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "amber+strict": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "red": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
TLP1_MARKING_IDS: dict[str, str] = {
    "clear": "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",  # TLP:WHITE
    "green": "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
    "amber": "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
    "red": "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
}
"""STIX 2.1's predefined TLP 1.0 markings: read on import, never written."""

KNOWN_TLP_MARKINGS: dict[str, str] = {
    **{marking: level for level, marking in TLP1_MARKING_IDS.items()},
    **{marking: level for level, marking in TLP2_MARKING_IDS.items()},
}


def parse_tlp(value: object) -> str | None:
    """``'TLP:AMBER+STRICT'``, ``'amber'``, ``'white'``… → one of :data:`TLP_LEVELS`, or None."""
    if not isinstance(value, str):
        return None
    text = value.strip().lower().removeprefix("tlp:").removeprefix("tlp ").strip()
    text = text.replace(" ", "").replace("_", "+").replace("-", "+")
    if text == "white":
        return "clear"
    return text if text in TLP_LEVELS else None


def own_tlp(*markings: object) -> str | None:
    """A finding's own TLP from what marks it (the analyst's, ``evidence.tlp``): the stricter
    wins, an unrecognised value counts as RED, and no marking at all is None."""
    own: str | None = None
    for value in markings:
        if value is None or value == "":
            continue
        level = parse_tlp(value) or "red"
        own = stricter(own, level) if own else level
    return own


def withheld_unless_red(con: Any) -> set[str]:
    """Ids of findings whose own TLP is RED: left out of every export not asked for at RED
    (the rule of docs/stix.md, applied by the workspace's CSV and GEXF downloads too)."""
    marked = con.execute(
        "SELECT f.id, s.tlp, json_extract_string(f.evidence, '$.tlp') FROM findings f "
        "LEFT JOIN finding_status s ON s.finding_id = f.id "
        "WHERE s.tlp IS NOT NULL OR json_extract_string(f.evidence, '$.tlp') IS NOT NULL"
    ).fetchall()
    return {finding for finding, analyst, evidence in marked if own_tlp(analyst, evidence) == "red"}


def stricter(a: str, b: str) -> str:
    """The more restrictive of two TLP levels."""
    return a if TLP_LEVELS.index(a) >= TLP_LEVELS.index(b) else b


def tlp_marking_definition(level: str) -> stix2.MarkingDefinition:
    """The official TLP 2.0 marking-definition object for a level (fixed id and timestamp)."""
    return stix2.MarkingDefinition(
        id=TLP2_MARKING_IDS[level],
        created=TLP2_CREATED,
        name=f"TLP:{level.upper()}",
        extensions={TLP2_EXTENSION_ID: {"extension_type": "property-extension", "tlp_2_0": level}},
    )


# --------------------------------------------------------------------------------------------
# Vocabulary shared with the importer.

FRAMEWORK_ATTACK = "attack"
FRAMEWORK_DISARM = "disarm"
ATTACK_SOURCE = "mitre-attack"
DISARM_SOURCE = "DISARM"
TECHNIQUE_ID = re.compile(r"^T\d{4}(\.\d{3})?$")
ATTACK_GROUP_ID = re.compile(r"^G\d{4}$")
COUNTRY = re.compile(r"^[A-Z]{2}$")

INTRUSION_SET_KINDS = frozenset({"threat-actor", "apt", "intrusion-set", "cyber"})
"""kb kinds exported as ``intrusion-set``: the knowledge base calls cyber groups (the MISP galaxy's
threat actors, ATT&CK groups) ``threat-actor``. An actor with an ATT&CK group id is one too."""
STATE_KINDS = frozenset({"state-body"})
"""kb kinds exported as ``threat-actor`` with ``threat_actor_types: ["nation-state"]``; every
other kind (``influence-operation``…) is a plain ``threat-actor``."""
STATE_AFFILIATIONS: tuple[str, ...] = (
    "state_media", "state_affiliated", "government", "diplomat", "proxy",
)  # fmt: skip
BYLINE_PLATFORMS = frozenset({"web", "rss", "other"})
"""Platforms whose "account" is a byline, exported as a user-account without account_type."""
DEFAULT_IMPORT_KIND = {"intrusion-set": "threat-actor", "threat-actor": "influence-operation"}
"""kb kind for an imported actor without fimiwatch's extension (``state-body`` instead when a
threat-actor's ``threat_actor_types`` include ``nation-state``)."""


def normalise_framework(value: object) -> str | None:
    """``'ATT&CK'``, ``'mitre-attack'``, ``'enterprise-attack'`` → attack; ``'DISARM'`` → disarm."""
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    if "disarm" in text:
        return FRAMEWORK_DISARM
    if "att" in text or "mitre" in text:
        return FRAMEWORK_ATTACK
    return None


def framework_for_id(technique_id: str) -> str:
    """ATT&CK technique numbers start at T1001; DISARM's are T0001–T0999."""
    return FRAMEWORK_DISARM if technique_id.startswith("T0") else FRAMEWORK_ATTACK


def stix_actor_type(kind: str | None, attack_id: str | None) -> str:
    """``intrusion-set`` for cyber groups, ``threat-actor`` for state bodies and operations."""
    if attack_id or (kind or "").lower() in INTRUSION_SET_KINDS:
        return "intrusion-set"
    return "threat-actor"


def stix_id(type: str, key: str) -> str:
    """The deterministic id of the object of this type named by ``key``."""
    return f"{type}--{uuid.uuid5(NAMESPACE, f'{type}:{key}')}"


def extension(**values: Any) -> dict[str, Any]:
    """fimiwatch's property extension, leaving out empty values."""
    body = {k: v for k, v in values.items() if v not in (None, [], "")}
    return {EXTENSION_ID: {"extension_type": "property-extension", **body}}


def extension_definition(producer_id: str, level: str) -> stix2.ExtensionDefinition:
    return stix2.ExtensionDefinition(
        id=EXTENSION_ID,
        object_marking_refs=[TLP2_MARKING_IDS[level]],
        created_by_ref=producer_id,
        created=KB_EPOCH,
        modified=KB_EPOCH,
        name="fimiwatch properties",
        description="fimiwatch values that STIX 2.1 has no property for, kept for a lossless "
        "round trip between fimiwatch stores.",
        schema="Property extension, all properties optional. Actors: id, kind. Techniques: id, "
        "framework, tactics. Incidents: id, date_start, date_end (YYYY-MM-DD), attribution, "
        "attributed_by. Sources: source, affiliation, owner_state, country, domain, platform, "
        "language. Findings: id, finding_type, score (0-1), severity, first_seen, last_seen, "
        "detector, tlp. See docs/stix.md in the fimiwatch distribution.",
        version="1.0",
        extension_types=["property-extension"],
    )


# --------------------------------------------------------------------------------------------
# Which evidence keys of a phishing finding name indicator domains and URLs.

INDICATOR_DOMAIN_KEYS = frozenset(
    {"domain", "domains", "lookalike_domain", "lookalike_domains", "sender_domain",
     "sender_domains", "reply_to_domain", "link_domains", "indicator_domains"}
)  # fmt: skip
INDICATOR_URL_KEYS = frozenset(
    {"url", "urls", "link", "links", "tracking_pixel", "tracking_pixels", "pixel_urls",
     "indicator_urls"}
)  # fmt: skip
INDICATOR_HASH_KEYS = frozenset({"sha256"})
MAX_INDICATORS_PER_FINDING = 200
MAX_NOTE_CHARS = 1_000_000
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_DOMAIN = re.compile(
    r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{1,62}$"
)


def _evidence_indicators(evidence: Any) -> tuple[list[str], list[str], list[str]]:
    """Domains, http(s) URLs and SHA-256 file hashes found under :data:`INDICATOR_*_KEYS`
    anywhere in the evidence."""
    domains: set[str] = set()
    urls: set[str] = set()
    hashes: set[str] = set()
    stack: list[tuple[Any, str | None]] = [(evidence, None)]
    while stack:
        node, key = stack.pop()
        if isinstance(node, dict):
            stack.extend((value, str(k).lower()) for k, value in node.items())
        elif isinstance(node, list):
            stack.extend((value, key) for value in node)
        elif isinstance(node, str) and key is not None:
            value = node.strip()
            if key in INDICATOR_DOMAIN_KEYS:
                domain = value.lower().rstrip(".")
                if _DOMAIN.match(domain):
                    domains.add(domain)
            elif key in INDICATOR_URL_KEYS and _is_web_url(value):
                urls.add(value)
            elif key in INDICATOR_HASH_KEYS and _SHA256.match(value.lower()):
                hashes.add(value.lower())
    return sorted(domains), sorted(urls), sorted(hashes)


def _is_web_url(value: str) -> bool:
    if len(value) > 2048 or any(ch.isspace() for ch in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _pattern_literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# --------------------------------------------------------------------------------------------
# Export.


@dataclass
class StixExport:
    """A built bundle and what went into it."""

    bundle: stix2.Bundle
    tlp: str
    counts: dict[str, int] = field(default_factory=dict)
    """Objects per STIX type."""
    findings: int = 0
    raised: list[str] = field(default_factory=list)
    """Findings exported under a stricter marking than requested (their own TLP)."""
    withheld: list[str] = field(default_factory=list)
    """What was left out because it is TLP:RED and the request was weaker ("finding:ID"…)."""

    def serialize(self) -> str:
        return serialize_bundle(self.bundle)


@dataclass
class _Spec:
    cls: Any
    props: dict[str, Any]
    level: str


def serialize_bundle(bundle: stix2.Bundle) -> str:
    """The canonical text of a bundle: sorted keys, two-space indent, UTF-8, final newline."""
    return str(bundle.serialize(sort_keys=True, indent=2, ensure_ascii=False)) + "\n"


def as_datetime(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=UTC)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValueError(f"{value!r} is not an ISO 8601 date or time") from exc
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ValueError(f"{value!r} is not a date or time")


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, date | datetime) else None


def _ref(ref: str) -> dict[str, str]:
    """An external reference for a kb ``refs`` entry: a URL, or a citation text."""
    if _is_web_url(ref):
        return {"source_name": urlsplit(ref).hostname or "reference", "url": ref}
    return {"source_name": "reference", "description": ref}


def _table_exists(store: Store, name: str) -> bool:
    return bool(
        store.scalar("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name])
    )


class _Exporter:
    def __init__(self, store: Store, tlp: str, since: datetime | None, misp: bool) -> None:
        self.store = store
        self.misp = misp
        self.tlp = tlp
        self.since = since
        self.alias_key = alias_key
        self.specs: dict[str, _Spec] = {}
        self.relations: dict[str, tuple[str, str, str, str, str | None]] = {}
        self.kb_created = KB_EPOCH
        self.kb_modified = self._kb_modified()
        self.kb_tlp = self._kb_tlp()
        self.producer = stix_id("identity", "producer:fimiwatch")
        self.withheld: list[str] = []
        self.raised: list[str] = []
        self.findings = 0
        self.actor_ids: dict[str, str] = {}
        self.withheld_actors: set[str] = set()
        self.actor_keys: dict[str, str] = {}
        self.techniques: dict[str, dict[str, Any]] = {}
        self.watchlist: dict[str, tuple[str, str]] = {}

    # -- small helpers ---------------------------------------------------------------------
    def _kb_modified(self) -> datetime:
        rows = {r["key"]: r["value"] for r in self.store.rows("SELECT key, value FROM kb_meta")}
        for key in KB_BUILD_KEYS:
            try:
                built = as_datetime(rows.get(key))
            except ValueError:
                continue
            if built is not None:
                return max(built, KB_EPOCH)
        return KB_EPOCH

    def _kb_tlp(self) -> dict[str, str]:
        """Markings recorded by the STIX importer for kb rows (``tlp:actor:ID`` → level)."""
        floors: dict[str, str] = {}
        for row in self.store.rows("SELECT key, value FROM kb_meta WHERE key LIKE 'tlp:%'"):
            level = parse_tlp(row["value"])
            floors[row["key"].removeprefix("tlp:")] = level or "red"
        return floors

    def _level(self, own: str | None) -> str | None:
        """The marking for material whose own TLP is ``own``; None when it must be withheld."""
        level = stricter(self.tlp, own) if own else self.tlp
        if level == "red" and self.tlp != "red":
            return None
        return level

    def put(self, cls: Any, id: str, level: str, **props: Any) -> str:
        spec = self.specs.get(id)
        if spec is None:
            self.specs[id] = _Spec(cls, props, level)
        else:
            spec.level = stricter(spec.level, level)
        return id

    def sdo(
        self, cls: Any, id: str, level: str, created: datetime, modified: datetime, **props: Any
    ) -> str:
        return self.put(
            cls,
            id,
            level,
            created=created,
            modified=max(created, modified),
            created_by_ref=self.producer,
            **props,
        )

    def sco(self, cls: Any, level: str, **props: Any) -> str:
        id = str(cls(**props).id)  # SCO ids are the spec's own UUIDv5 of their values
        return self.put(cls, id, level, **props)

    def relate(
        self, source: str, type: str, target: str, level: str, description: str | None = None
    ) -> str:
        id = stix_id("relationship", f"{type}|{source}|{target}")
        known = self.relations.get(id)
        if known is not None:
            level = stricter(level, known[3])
        self.relations[id] = (source, type, target, level, description)
        return id

    def location(self, country: str, level: str) -> str | None:
        code = country.strip().upper()
        if not COUNTRY.match(code):
            return None
        return self.sdo(
            stix2.Location,
            stix_id("location", f"country:{code}"),
            level,
            self.kb_created,
            self.kb_created,
            name=code,
            country=code,
        )

    # -- knowledge base ----------------------------------------------------------------------
    def actors(self) -> None:
        aliases: dict[str, list[str]] = defaultdict(list)
        for row in self.store.rows("SELECT alias, key, actor_id FROM kb_aliases ORDER BY alias"):
            aliases[row["actor_id"]].append(row["alias"])
            self.actor_keys.setdefault(row["key"], row["actor_id"])
            self.actor_keys.setdefault(self.alias_key(row["alias"]), row["actor_id"])
        rows = self.store.rows("SELECT * FROM kb_actors ORDER BY actor_id")
        for row in rows:
            self.actor_keys.setdefault(self.alias_key(row["name"]), row["actor_id"])
            type = stix_actor_type(row["kind"], row["attack_id"])
            self.actor_ids[row["actor_id"]] = stix_id(type, f"actor:{row['actor_id']}")
        for row in rows:
            self._actor(row, sorted(set(aliases[row["actor_id"]]) - {row["name"]}))

    def _actor(self, row: dict[str, Any], aliases: list[str]) -> None:
        actor_id = row["actor_id"]
        level = self._level(self.kb_tlp.get(f"actor:{actor_id}"))
        id = self.actor_ids[actor_id]
        if level is None:
            self.withheld.append(f"actor:{actor_id}")
            self.withheld_actors.add(actor_id)
            del self.actor_ids[actor_id]
            return
        type = id.split("--")[0]
        refs: list[dict[str, str]] = []
        attack_id = row["attack_id"]
        if attack_id:
            reference = {"source_name": ATTACK_SOURCE, "external_id": attack_id}
            if ATTACK_GROUP_ID.match(attack_id):
                reference["url"] = f"https://attack.mitre.org/groups/{attack_id}/"
            refs.append(reference)
        refs.extend(_ref(ref) for ref in row["refs"] or [] if ref)
        props: dict[str, Any] = {
            "name": row["name"],
            "aliases": aliases or None,
            "description": row["description"] or None,
            "external_references": refs or None,
            "extensions": extension(id=actor_id, kind=row["kind"]),
        }
        if type == "threat-actor" and row["kind"] in STATE_KINDS:
            props["threat_actor_types"] = ["nation-state"]
        cls = stix2.IntrusionSet if type == "intrusion-set" else stix2.ThreatActor
        self.sdo(
            cls,
            id,
            level,
            self.kb_created,
            self.kb_modified,
            **{k: v for k, v in props.items() if v is not None},
        )
        if row["country"]:
            location = self.location(row["country"], level)
            if location:
                how = "originates-from" if type == "intrusion-set" else "located-at"
                self.relate(id, how, location, level)
        if row["sponsor"]:
            sponsor = self.sdo(
                stix2.Identity,
                stix_id("identity", f"sponsor:{row['sponsor']}"),
                level,
                self.kb_created,
                self.kb_modified,
                name=row["sponsor"],
                identity_class="organization",
                description="State sponsor of a threat actor.",
            )
            self.relate(id, "attributed-to", sponsor, level, "sponsor")
        if row["parent"] and row["parent"] in self.actor_ids:
            self.relate(id, "attributed-to", self.actor_ids[row["parent"]], level, "parent")
        for framework, ids in (
            (FRAMEWORK_ATTACK, row["techniques"]),
            (FRAMEWORK_DISARM, row["disarm"]),
        ):
            for technique in ids or []:
                pattern = self.technique(technique, framework)
                if pattern:
                    self.relate(id, "uses", pattern, level)

    def resolve_actor(self, name: str, level: str) -> str | None:
        """The STIX id of a kb actor named by id, name or alias; an unknown name is exported
        as a bare threat-actor so that no attribution is lost, a withheld (RED) actor not at
        all."""
        actor_id = name if name in self.actor_ids else self.actor_keys.get(self.alias_key(name))
        if name in self.withheld_actors or actor_id in self.withheld_actors:
            return None
        if actor_id in self.actor_ids:
            return self.actor_ids[actor_id]
        if not name.strip():
            return None
        return self.sdo(
            stix2.ThreatActor,
            stix_id("threat-actor", f"name:{self.alias_key(name) or name}"),
            level,
            self.kb_created,
            self.kb_modified,
            name=name,
        )

    def load_techniques(self) -> None:
        for row in self.store.rows("SELECT * FROM kb_techniques ORDER BY technique_id"):
            self.techniques[row["technique_id"]] = row

    def technique(self, technique_id: str, framework: str | None) -> str | None:
        """The attack-pattern of a referenced technique (created on first reference)."""
        technique_id = technique_id.strip()
        if not technique_id:
            return None
        row = self.techniques.get(technique_id)
        stored = normalise_framework(row["framework"]) if row else None
        framework = stored or framework or framework_for_id(technique_id)
        key = f"technique:{framework}:{technique_id}"
        id = stix_id("attack-pattern", key)
        floor = self.kb_tlp.get(f"technique:{technique_id}")
        level = self._level(floor)
        if level is None:
            self.withheld.append(key)
            return None
        if id in self.specs:
            self.specs[id].level = stricter(self.specs[id].level, level)
            return id
        source = ATTACK_SOURCE if framework == FRAMEWORK_ATTACK else DISARM_SOURCE
        reference: dict[str, str] = {"source_name": source, "external_id": technique_id}
        if row and row["url"]:
            reference["url"] = row["url"]
        tactics = list(row["tactics"] or []) if row else []
        chain = "mitre-attack" if framework == FRAMEWORK_ATTACK else "disarm"
        phases = sorted({_phase(t) for t in tactics if _phase(t)})
        props: dict[str, Any] = {
            "name": (row["name"] if row else None) or technique_id,
            "external_references": [reference],
            "extensions": extension(
                id=technique_id, framework=row["framework"] if row else framework, tactics=tactics
            ),
        }
        if row and row["description"]:
            props["description"] = row["description"]
        if phases:
            props["kill_chain_phases"] = [
                {"kill_chain_name": chain, "phase_name": phase} for phase in phases
            ]
        return self.sdo(stix2.AttackPattern, id, level, self.kb_created, self.kb_modified, **props)

    def incidents(self) -> None:
        since = self.since.date() if self.since else None
        for row in self.store.rows("SELECT * FROM kb_incidents ORDER BY incident_id"):
            last = row["date_end"] or row["date_start"]
            if since and last and last < since:
                continue
            incident_id = row["incident_id"]
            level = self._level(self.kb_tlp.get(f"incident:{incident_id}"))
            if level is None:
                self.withheld.append(f"incident:{incident_id}")
                continue
            props: dict[str, Any] = {
                "name": row["title"],
                "extensions": extension(
                    id=incident_id,
                    date_start=_iso(row["date_start"]),
                    date_end=_iso(row["date_end"]),
                    attribution=row["attribution"],
                    attributed_by=row["attributed_by"],
                ),
            }
            if row["summary"]:
                props["description"] = row["summary"]
            refs = [_ref(ref) for ref in row["refs"] or [] if ref]
            if refs:
                props["external_references"] = refs
            if self.misp:
                # MISP's STIX importer reads no incident objects: a campaign carries the case.
                cls, type = stix2.Campaign, "campaign"
                first = as_datetime(row["date_start"])
                last_seen = as_datetime(row["date_end"])
                if first:
                    props["first_seen"] = first
                if last_seen and (first is None or last_seen >= first):
                    props["last_seen"] = last_seen
            else:
                cls, type = stix2.Incident, "incident"
            id = self.sdo(
                cls,
                stix_id(type, f"incident:{incident_id}"),
                level,
                self.kb_created,
                self.kb_modified,
                **props,
            )
            note = f"attribution: {row['attribution']}" + (
                f" ({row['attributed_by']})" if row["attributed_by"] else ""
            )
            for actor in row["actors"] or []:
                target = self.resolve_actor(actor, level)
                if target:
                    self.relate(id, "attributed-to", target, level, note)
            for technique in row["techniques"] or []:
                pattern = self.technique(technique, None)
                if pattern:
                    self.relate(id, "uses", pattern, level)
            for country in row["target_countries"] or []:
                location = self.location(country, level)
                if location:
                    self.relate(id, "targets", location, level)

    def sources(self, cited: set[str]) -> dict[str, str]:
        """Identities for state-linked registry sources and for sources findings cite."""
        ids: dict[str, str] = {}
        for row in self.store.rows("SELECT * FROM sources ORDER BY source"):
            linked = row["affiliation"] in STATE_AFFILIATIONS or bool(row["owner_state"])
            if not linked and row["source"] not in cited:
                continue
            ids[row["source"]] = self._source(row)
        return ids

    def _source(self, row: dict[str, Any]) -> str:
        level = self.tlp
        affiliation = row["affiliation"]
        sectors = (
            ["government-national"]
            if affiliation in ("government", "diplomat")
            else ["communications"]
            if affiliation in ("state_media", "state_affiliated", "proxy")
            else None
        )
        description = "; ".join(
            part
            for part in (
                f"{affiliation.replace('_', ' ')}"
                + (f" of {row['owner_state']}" if row["owner_state"] else ""),
                row["domain"],
                row["notes"],
            )
            if part
        )
        props: dict[str, Any] = {
            "name": row["name"] or row["source"],
            "identity_class": "organization",
            "description": description,
            "extensions": extension(
                source=row["source"],
                affiliation=affiliation,
                owner_state=row["owner_state"],
                country=row["country"],
                domain=row["domain"],
                platform=row["platform"],
                language=row["language"],
            ),
        }
        if sectors:
            props["sectors"] = sectors
        if row["domain"] and _DOMAIN.match(row["domain"]):
            props["external_references"] = [
                {"source_name": "website", "url": f"https://{row['domain']}/"}
            ]
        id = self.sdo(
            stix2.Identity,
            stix_id("identity", f"source:{row['source']}"),
            level,
            self.kb_created,
            self.kb_modified,
            **props,
        )
        if row["owner_state"]:
            state = self.location(row["owner_state"], level)
            if state:
                self.relate(id, "related-to", state, level, f"{affiliation} of the state")
        if row["country"] and row["country"] != row["owner_state"]:
            located = self.location(row["country"], level)
            if located:
                self.relate(id, "located-at", located, level)
        return id

    # -- findings ----------------------------------------------------------------------------
    def finding_rows(self) -> list[dict[str, Any]]:
        rows = self.store.rows(
            "SELECT f.*, s.tlp FROM findings f "
            "LEFT JOIN finding_status s ON s.finding_id = f.id ORDER BY f.id"
        )
        selected = []
        for row in rows:
            seen = row["last_seen"] or row["first_seen"]
            if self.since and seen and seen < self.since:
                continue
            try:
                row["evidence"] = orjson.loads(row["evidence"]) if row["evidence"] else {}
            except orjson.JSONDecodeError:
                row["evidence"] = {"unparsed": row["evidence"]}
            selected.append(row)
        return selected

    def finding_tlp(self, row: dict[str, Any]) -> str | None:
        evidence = row["evidence"]
        return own_tlp(row.get("tlp"), evidence.get("tlp") if isinstance(evidence, dict) else None)

    def export_findings(self, rows: list[dict[str, Any]], source_ids: dict[str, str]) -> None:
        item_ids = sorted({i for row in rows for i in row["item_ids"]})
        account_ids = sorted({a for row in rows for a in row["account_ids"]})
        items: dict[str, list[dict[str, Any]]] = defaultdict(list)
        if item_ids:
            for item in self.store.rows(
                "SELECT id, source, platform, published_at, title, account_id, account_name, url "
                "FROM items WHERE list_contains(?, id) ORDER BY id, source NULLS FIRST",
                [item_ids],
            ):
                items[item["id"]].append(item)
        accounts: dict[str, list[dict[str, Any]]] = defaultdict(list)
        if account_ids:
            for account in self.store.rows(
                "SELECT platform, account_id, name FROM accounts "
                "WHERE list_contains(?, account_id) ORDER BY account_id, platform",
                [account_ids],
            ):
                accounts[account["account_id"]].append(account)
        if _table_exists(self.store, "watchlist"):
            for entry in self.store.rows("SELECT kind, name, aliases FROM watchlist ORDER BY name"):
                for name in [entry["name"], *(entry["aliases"] or [])]:
                    self.watchlist.setdefault(name.casefold(), (entry["kind"], entry["name"]))
        for row in rows:
            own = self.finding_tlp(row)
            level = self._level(own)
            if level is None:
                self.withheld.append(f"finding:{row['id']}")
                continue
            if level != self.tlp:
                self.raised.append(row["id"])
            self.findings += 1
            self._finding(row, level, own, items, accounts, source_ids)

    def _finding(
        self,
        row: dict[str, Any],
        level: str,
        own: str | None,
        items: dict[str, list[dict[str, Any]]],
        accounts: dict[str, list[dict[str, Any]]],
        source_ids: dict[str, str],
    ) -> None:
        first = row["first_seen"] or row["last_seen"] or self.kb_created
        last = row["last_seen"] or first
        id = stix_id("grouping", f"finding:{row['id']}")
        refs: list[str] = []
        relations: list[str] = []
        for item_id in row["item_ids"]:
            for item in items.get(item_id, []):
                refs.extend(self._item(item, level, first))
        for account_id in row["account_ids"]:
            for account in accounts.get(account_id) or [
                {"platform": None, "account_id": account_id, "name": None}
            ]:
                account_ref = self._account(account["platform"], account_id, account["name"], level)
                if account_ref:
                    refs.append(account_ref)
        for source in row["source_ids"]:
            if source in source_ids:
                refs.append(source_ids[source])
        actors = [a for a in (self.resolve_actor(n, level) for n in row["actors"]) if a]
        refs.extend(actors)
        for actor in actors:
            relations.append(self.relate(id, "attributed-to", actor, level))
        for framework, ids in (
            (FRAMEWORK_ATTACK, row["attack"]),
            (FRAMEWORK_DISARM, row["disarm"]),
        ):
            for technique in ids:
                pattern = self.technique(technique, framework)
                if pattern:
                    refs.append(pattern)
                    relations.append(self.relate(id, "uses", pattern, level))
        for target in row["targets"]:
            target_ref = self._target(target, level)
            if target_ref:
                refs.append(target_ref)
                relations.append(self.relate(id, "targets", target_ref, level))
        if row["type"] == "phishing":
            refs.extend(self._indicators(row, level, first, actors))
        note = self.sdo(
            stix2.Note,
            stix_id("note", f"finding-evidence:{row['id']}"),
            level,
            first,
            last,
            abstract=f"Evidence for finding {row['id']}",
            content=self._evidence_text(row),
            authors=["fimiwatch"],
            object_refs=[id],
        )
        self.sdo(
            stix2.Grouping,
            id,
            level,
            first,
            last,
            name=row["title"],
            description=row["summary"] or None,
            context="suspicious-activity",
            labels=[row["type"], f"severity:{row['severity']}"],
            confidence=max(0, min(100, round(float(row["score"]) * 100))),
            object_refs=[note, *refs, *relations],
            extensions=extension(
                id=row["id"],
                finding_type=row["type"],
                score=round(float(row["score"]), 4),
                severity=row["severity"],
                first_seen=_iso(row["first_seen"]),
                last_seen=_iso(row["last_seen"]),
                detector=row.get("detector"),
                tlp=own,
            ),
        )

    def _evidence_text(self, row: dict[str, Any]) -> str:
        body = {
            "finding": row["id"],
            "type": row["type"],
            "item_ids": list(row["item_ids"]),
            "account_ids": list(row["account_ids"]),
            "source_ids": list(row["source_ids"]),
            "evidence": row["evidence"],
        }
        text = orjson.dumps(
            body, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2, default=str
        ).decode()
        if len(text) > MAX_NOTE_CHARS:
            text = text[:MAX_NOTE_CHARS] + "\n… (truncated: the full evidence is in fimiwatch)"
        return text

    def _item(self, item: dict[str, Any], level: str, fallback: datetime) -> list[str]:
        """observed-data for one cited item, and its SCOs (URL, account, mail)."""
        scos: list[str] = []
        platform = item["platform"]
        if item["url"] and _is_web_url(item["url"]):
            scos.append(self.sco(stix2.URL, level, value=item["url"]))
        when = item["published_at"] or fallback
        if platform == "email":
            sender = None
            if item["account_id"] and "@" in item["account_id"]:
                sender = self._email_address(item["account_id"], item["account_name"], level)
                scos.append(sender)
            message: dict[str, Any] = {"is_multipart": False, "date": when}
            if item["title"]:
                message["subject"] = item["title"]
            if sender:
                message["from_ref"] = sender
            if len(message) > 2:
                scos.append(self.sco(stix2.EmailMessage, level, **message))
        elif item["account_id"]:
            account = self._account(platform, item["account_id"], item["account_name"], level)
            if account:
                scos.append(account)
        if not scos:
            return []
        observed = self.sdo(
            stix2.ObservedData,
            stix_id("observed-data", f"item:{item['source']}:{item['id']}"),
            level,
            when,
            when,
            first_observed=when,
            last_observed=when,
            number_observed=1,
            object_refs=sorted(set(scos)),
        )
        return [observed, *scos]

    def _email_address(self, address: str, name: str | None, level: str) -> str:
        props: dict[str, Any] = {"value": address}
        if name:
            props["display_name"] = name
        return self.sco(stix2.EmailAddress, level, **props)

    def _account(
        self, platform: str | None, account_id: str, name: str | None, level: str
    ) -> str | None:
        if not account_id:
            return None
        if platform == "email" and "@" in account_id:
            return self._email_address(account_id, name, level)
        props: dict[str, Any] = {"user_id": account_id}
        if platform and platform not in BYLINE_PLATFORMS:
            props["account_type"] = platform
        if name:
            props["display_name"] = name
        return self.sco(stix2.UserAccount, level, **props)

    def _target(self, target: str, level: str) -> str | None:
        name = target.strip()
        if not name:
            return None
        if COUNTRY.match(name):
            return self.location(name, level)
        kind, canonical = self.watchlist.get(name.casefold(), ("", name))
        identity_class = {
            "person": "individual",
            "organisation": "organization",
            "organization": "organization",
        }.get(kind, "unknown")
        return self.sdo(
            stix2.Identity,
            stix_id("identity", f"target:{canonical.casefold()}"),
            level,
            self.kb_created,
            self.kb_created,
            name=canonical,
            identity_class=identity_class,
        )

    def _indicators(
        self, row: dict[str, Any], level: str, first: datetime, actors: list[str]
    ) -> list[str]:
        domains, urls, hashes = _evidence_indicators(row["evidence"])
        values = ([("domain-name", d) for d in domains] + [("url", u) for u in urls]
                  + [("file", h) for h in hashes])  # fmt: skip
        ids = []
        for kind, value in values[:MAX_INDICATORS_PER_FINDING]:
            id = stix_id("indicator", f"{kind}:{value}")
            spec = self.specs.get(id)
            if spec is not None:
                spec.props["valid_from"] = min(spec.props["valid_from"], first)
                spec.props["created"] = spec.props["modified"] = spec.props["valid_from"]
                spec.level = stricter(spec.level, level)
            else:
                what = {"domain-name": "domain", "url": "URL", "file": "attachment"}[kind]
                literal = _pattern_literal(value)
                pattern = (
                    f"[file:hashes.'SHA-256' = {literal}]"
                    if kind == "file"
                    else f"[{kind}:value = {literal}]"
                )
                self.sdo(
                    stix2.Indicator,
                    id,
                    level,
                    first,
                    first,
                    name=f"Phishing {what} {value}",
                    description=f"{what} seen in the evidence of a fimiwatch phishing finding",
                    indicator_types=["malicious-activity"],
                    pattern_type="stix",
                    pattern=pattern,
                    valid_from=first,
                )
            ids.append(id)
            for actor in actors:
                ids.append(self.relate(id, "indicates", actor, level))
        return ids

    # -- assembly ----------------------------------------------------------------------------
    def build(self) -> StixExport:
        self.load_techniques()
        self.sdo(
            stix2.Identity,
            self.producer,
            self.tlp,
            self.kb_created,
            self.kb_created,
            name="fimiwatch",
            identity_class="system",
            description="fimiwatch: watching foreign information manipulation and interference.",
        )
        self.put(stix2.ExtensionDefinition, EXTENSION_ID, self.tlp)
        self.actors()
        self.incidents()
        rows = self.finding_rows()
        source_ids = self.sources({s for row in rows for s in row["source_ids"]})
        self.export_findings(rows, source_ids)
        for id, (source, type, target, level, description) in self.relations.items():
            if source not in self.specs or target not in self.specs:
                continue
            level = stricter(level, stricter(self.specs[source].level, self.specs[target].level))
            props: dict[str, Any] = {
                "source_ref": source,
                "relationship_type": type,
                "target_ref": target,
            }
            if description:
                props["description"] = description
            ends = (self.specs[source].props, self.specs[target].props)
            created = max(end.get("created", self.kb_created) for end in ends)
            modified = max(end.get("modified", self.kb_created) for end in ends)
            self.sdo(stix2.Relationship, id, level, created, modified, **props)
        objects = [self._object(id, spec) for id, spec in sorted(self.specs.items())]
        levels = sorted({spec.level for spec in self.specs.values()}, key=TLP_LEVELS.index)
        objects += [tlp_marking_definition(level) for level in levels]
        objects.sort(key=lambda obj: str(obj.id))
        digest = hashlib.sha256()
        for obj in objects:
            digest.update(obj.serialize(sort_keys=True).encode())
        bundle = stix2.Bundle(objects=objects, id=stix_id("bundle", digest.hexdigest()))
        counts: dict[str, int] = defaultdict(int)
        for obj in objects:
            counts[str(obj.type)] += 1
        return StixExport(
            bundle,
            self.tlp,
            dict(sorted(counts.items())),
            self.findings,
            self.raised,
            self.withheld,
        )

    def _object(self, id: str, spec: _Spec) -> Any:
        if spec.cls is stix2.ExtensionDefinition:
            return extension_definition(self.producer, spec.level)
        props = dict(spec.props)
        if "object_refs" in props:
            props["object_refs"] = sorted(
                {ref for ref in props["object_refs"] if ref in self.specs}
            )
        props["object_marking_refs"] = [TLP2_MARKING_IDS[spec.level]]
        return spec.cls(id=id, **props)


Since: TypeAlias = datetime | date | str | None


def export_stix(
    store: Store, tlp: str = "amber", since: Since = None, *, misp: bool = False
) -> StixExport:
    """Build the bundle and report what went into it (see the module docstring).

    ``misp=True`` writes kb incidents as ``campaign`` objects, which MISP's STIX importer
    (misp-stix) reads; it reads no ``incident`` objects.
    """
    level = parse_tlp(tlp)
    if level is None:
        raise ValueError(f"TLP {tlp!r} is not one of {', '.join(TLP_LEVELS)}")
    return _Exporter(store, level, as_datetime(since), misp).build()


def export_bundle(
    store: Store, tlp: str = "amber", since: Since = None, *, misp: bool = False
) -> stix2.Bundle:
    """The STIX 2.1 bundle of the knowledge base and the findings, marked at least ``tlp``.

    ``since`` keeps findings last seen (and incidents ending) on or after that time.
    """
    return export_stix(store, tlp, since, misp=misp).bundle


def write_bundle(
    store: Store, path: Path, tlp: str = "amber", since: Since = None, *, misp: bool = False
) -> StixExport:
    """Export and write the canonical bundle text to ``path`` atomically."""
    result = export_stix(store, tlp, since, misp=misp)
    text = result.serialize()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return result


def _phase(tactic: str) -> str:
    """A kill-chain phase name: lowercase words joined by hyphens."""
    words = re.findall(r"[a-z0-9]+", tactic.lower())
    return "-".join(words)


__all__ = [
    "EXTENSION_ID", "NAMESPACE", "TLP2_MARKING_IDS", "TLP_LEVELS", "StixExport",
    "export_bundle", "export_stix", "own_tlp", "parse_tlp", "serialize_bundle", "stricter",
    "tlp_marking_definition", "write_bundle",
]  # fmt: skip
