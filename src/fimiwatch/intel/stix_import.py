"""STIX 2.1 import into the knowledge base: actors, aliases, techniques and incidents.

Bundles come from OpenCTI, MISP or another fimiwatch, and are treated as hostile: the file size
and JSON depth are bounded, a whole-file problem (not JSON, not a bundle, STIX 2.0) raises
:class:`~fimiwatch.ingest.base.ReadError`, and each bad object is skipped and reported with its
index, id and reason while the good ones load. Everything is written in one transaction.

Mapping (see ``docs/stix.md``): ``intrusion-set`` / ``threat-actor`` → ``kb_actors`` and
``kb_aliases`` (merged with an existing actor that shares an alias key; origin ``stix-import``),
``attack-pattern`` with a ``mitre-attack`` or ``DISARM`` external id → ``kb_techniques``,
``incident`` → ``kb_incidents``, ``indicator`` with simple equality patterns on a domain, URL,
mail address or SHA-256 file hash → ``kb_indicators`` (its actor from an ``indicates``
relationship), which phishing triage matches mail against; ``relationship`` objects give an
actor its country (``originates-from`` / ``located-at`` a location), sponsor (``attributed-to``
an identity), parent (``attributed-to`` another actor) and techniques (``uses``), and an
incident its actors, techniques and target countries. fimiwatch's own property extension, when
present, restores values STIX has no property for.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import stix2

from fimiwatch.ingest.base import ReadError, clean_text, clip
from fimiwatch.ingest.jsondoc import loads_bounded
from fimiwatch.intel.keys import alias_key, slugify
from fimiwatch.intel.stix_export import (
    ATTACK_GROUP_ID,
    COUNTRY,
    DEFAULT_IMPORT_KIND,
    DISARM_SOURCE,
    EXTENSION_ID,
    FRAMEWORK_ATTACK,
    FRAMEWORK_DISARM,
    KNOWN_TLP_MARKINGS,
    TECHNIQUE_ID,
    TLP2_EXTENSION_ID,
    normalise_framework,
    parse_tlp,
    stricter,
)
from fimiwatch.store import Store

ORIGIN = "stix-import"
DEFAULT_ATTRIBUTION = "unattributed"
MAX_NAME_CHARS = 512
MAX_ALIAS_CHARS = 256
MAX_ALIASES = 500
MAX_REFS = 200
MAX_REF_CHARS = 2048
MAX_REASON_CHARS = 500

STIX21_SDO = frozenset(
    {"attack-pattern", "campaign", "course-of-action", "grouping", "identity", "incident",
     "indicator", "infrastructure", "intrusion-set", "location", "malware", "malware-analysis",
     "note", "observed-data", "opinion", "report", "threat-actor", "tool", "vulnerability"}
)  # fmt: skip
STIX21_SRO = frozenset({"relationship", "sighting"})
STIX21_SMO = frozenset({"marking-definition", "language-content", "extension-definition"})
STIX21_SCO = frozenset(
    {"artifact", "autonomous-system", "directory", "domain-name", "email-addr", "email-message",
     "file", "ipv4-addr", "ipv6-addr", "mac-addr", "mutex", "network-traffic", "process",
     "software", "url", "user-account", "windows-registry-key", "x509-certificate"}
)  # fmt: skip
READ_TYPES = frozenset(
    {"intrusion-set", "threat-actor", "attack-pattern", "incident", "campaign", "relationship",
     "identity", "location", "marking-definition", "indicator"}
)  # fmt: skip
"""Types parsed and validated; every other STIX 2.1 type (and ``x-`` custom types) is counted
as ignored, and anything else is rejected as an unknown type."""
ACTOR_TYPES = ("intrusion-set", "threat-actor")
ACTOR_COLUMNS = (
    "actor_id", "name", "kind", "country", "sponsor", "attack_id", "description", "techniques",
    "disarm", "refs", "origins", "parent",
)  # fmt: skip
TECHNIQUE_COLUMNS = ("technique_id", "framework", "name", "tactics", "description", "url")
INCIDENT_COLUMNS = (
    "incident_id", "title", "date_start", "date_end", "target_countries", "actors",
    "attribution", "attributed_by", "techniques", "summary", "refs",
)  # fmt: skip
USED_RELATIONSHIPS = frozenset(
    {"attributed-to", "uses", "originates-from", "located-at", "targets", "indicates"}
)
INDICATOR_PATTERN = re.compile(
    r"\b(domain-name|url|email-addr):value\s*=\s*'((?:[^'\\]|\\.){1,2048})'"
    r"|\bfile:hashes\.(?:'SHA-256'|SHA256|'SHA256')\s*=\s*'([0-9a-fA-F]{64})'"
)
"""Equality comparisons an indicator pattern may hold (joined by OR or AND): the observables
triage can check. Other patterns (ranges, MATCHES, other objects) are ignored."""
INDICATOR_KINDS = {"domain-name": "domain", "url": "url", "email-addr": "email"}
ATTACK_SOURCES = frozenset({"mitre-attack", "mitre-mobile-attack", "mitre-ics-attack"})

_TYPE = re.compile(r"^[a-z0-9][a-z0-9-]{1,248}[a-z0-9]$")
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_ID = re.compile(rf"^([a-z0-9][a-z0-9-]*[a-z0-9])--{_UUID}$")
_BUNDLE_ID = re.compile(rf"^bundle--{_UUID}$")
_KB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@/-]{0,127}$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}")


@dataclass
class ImportSummary:
    """What an import did. ``rejected`` holds ``(index, reason, raw)`` per bad object, where
    index is the object's position in the bundle's ``objects`` (the quarantine's "line")."""

    path: str
    objects: int = 0
    actors_added: int = 0
    actors_merged: int = 0
    aliases_added: int = 0
    techniques_added: int = 0
    techniques_merged: int = 0
    incidents_added: int = 0
    incidents_merged: int = 0
    indicators_added: int = 0
    relationships_used: int = 0
    ignored: dict[str, int] = field(default_factory=dict)
    rejected: list[tuple[int, str, str]] = field(default_factory=list)

    def ignore(self, what: str) -> None:
        self.ignored[what] = self.ignored.get(what, 0) + 1


class _Bad(Exception):
    """One object is unusable; the message says why."""


# --------------------------------------------------------------------------------------------
# Reading the file.


def read_bundle(path: Path, max_bytes: int, max_depth: int) -> dict[str, Any]:
    """Load and check the bundle envelope; raise ReadError naming the file and the reason."""
    if not path.is_file():
        raise ReadError(f"{path}: no such file")
    size = path.stat().st_size
    if size > max_bytes:
        raise ReadError(f"{path}: {size} bytes is over the limit of {max_bytes} bytes")
    with path.open("rb") as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ReadError(f"{path}: over the limit of {max_bytes} bytes")
    try:
        value = loads_bounded(data.removeprefix(b"\xef\xbb\xbf"), max_depth)
    except ValueError as exc:
        raise ReadError(f"{path}: {exc}") from None
    if not isinstance(value, dict):
        raise ReadError(f"{path}: not a STIX bundle (the top level is not a JSON object)")
    if value.get("type") != "bundle":
        raise ReadError(
            f"{path}: not a STIX bundle (top-level type is {clip(repr(value.get('type')), 80)})"
        )
    spec = value.get("spec_version")
    if spec is not None and spec != "2.1":
        raise ReadError(f"{path}: spec_version {clip(repr(spec), 40)}: only STIX 2.1 is read")
    bundle_id = value.get("id")
    if not isinstance(bundle_id, str) or not _BUNDLE_ID.match(bundle_id):
        raise ReadError(f"{path}: the bundle has no valid id (bundle--UUID)")
    objects = value.get("objects", [])
    if not isinstance(objects, list):
        raise ReadError(f"{path}: the bundle's objects is not a list")
    return value


def _envelope(raw: Any) -> tuple[str, str]:
    """The object's type and id, after the checks every object gets."""
    if not isinstance(raw, dict):
        raise _Bad("not a JSON object")
    type = raw.get("type")
    if not isinstance(type, str) or not _TYPE.match(type):
        raise _Bad(f"missing or invalid type {clip(repr(type), 80)}")
    id = raw.get("id")
    if not isinstance(id, str) or not _ID.match(id):
        raise _Bad(f"missing or invalid id {clip(repr(id), 80)}")
    if id.split("--", 1)[0] != type:
        raise _Bad(f"id {id} does not match type {type!r}")
    if type not in STIX21_SCO:
        spec = raw.get("spec_version")
        if spec is None and not type.startswith("x-"):
            raise _Bad("missing spec_version (STIX 2.0 objects are not read)")
        if spec is not None and spec != "2.1":
            raise _Bad(f"spec_version {clip(repr(spec), 40)} is not 2.1")
    return type, id


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return clip(text, MAX_REASON_CHARS)


# --------------------------------------------------------------------------------------------
# Reading values from validated objects defensively.


def _text(value: Any, limit: int, strip: bool = True) -> str | None:
    if not isinstance(value, str):
        return None
    text = clean_text(value)
    if not text.strip():
        return None
    return (text.strip() if strip else text)[:limit]


def _texts(value: Any, limit: int, most: int) -> list[str]:
    if not isinstance(value, list | tuple):
        return []
    texts = [t for t in (_text(v, limit) for v in value[:most]) if t]
    return list(dict.fromkeys(texts))


def _get(obj: Any, key: str) -> Any:
    try:
        return obj.get(key) if isinstance(obj, Mapping) else None
    except Exception:
        return None


def _ext(obj: Any) -> Mapping[str, Any]:
    extensions = _get(obj, "extensions")
    value = _get(extensions, EXTENSION_ID)
    return value if isinstance(value, Mapping) else {}


def _day(value: Any) -> date | None:
    text = value if isinstance(value, str) else str(value) if isinstance(value, datetime) else ""
    if not _DAY.match(text):
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def _refs(obj: Any) -> tuple[list[tuple[str, str, str | None]], list[str]]:
    """External references as (source_name, external_id, url) and as kb ``refs`` strings."""
    typed: list[tuple[str, str, str | None]] = []
    refs: list[str] = []
    references = _get(obj, "external_references")
    if not isinstance(references, list | tuple):
        return typed, refs
    for reference in references[:MAX_REFS]:
        source = _text(_get(reference, "source_name"), MAX_REF_CHARS) or ""
        external = _text(_get(reference, "external_id"), MAX_REF_CHARS) or ""
        url = _text(_get(reference, "url"), MAX_REF_CHARS, strip=False)
        description = _text(_get(reference, "description"), MAX_REF_CHARS, strip=False)
        typed.append((source, external, url))
        lowered = source.lower()
        if lowered in ATTACK_SOURCES and (
            ATTACK_GROUP_ID.match(external) or TECHNIQUE_ID.match(external)
        ):
            continue
        if lowered == DISARM_SOURCE.lower() and TECHNIQUE_ID.match(external):
            continue
        ref = url or description or (f"{source}: {external}" if external else None)
        if ref:
            refs.append(ref)
    return typed, list(dict.fromkeys(refs))


def _slug(text: str) -> str:
    return slugify(text)[:64].strip("-")


# --------------------------------------------------------------------------------------------
# The import.


@dataclass
class _Actor:
    actor_id: str
    name: str
    kind: str
    country: str | None = None
    sponsor: str | None = None
    attack_id: str | None = None
    description: str | None = None
    techniques: list[str] = field(default_factory=list)
    disarm: list[str] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)
    parent: str | None = None
    new: bool = True

    def row(self) -> list[Any]:
        return [
            self.actor_id, self.name, self.kind, self.country, self.sponsor, self.attack_id,
            self.description, self.techniques, self.disarm, self.refs, self.origins, self.parent,
        ]  # fmt: skip


@dataclass
class _Technique:
    technique_id: str
    framework: str
    name: str
    tactics: list[str]
    description: str | None
    url: str | None
    new: bool = True


@dataclass
class _Incident:
    incident_id: str
    title: str
    date_start: date | None = None
    date_end: date | None = None
    target_countries: list[str] = field(default_factory=list)
    actors: list[str] = field(default_factory=list)
    attribution: str = DEFAULT_ATTRIBUTION
    attributed_by: str | None = None
    techniques: list[str] = field(default_factory=list)
    summary: str | None = None
    refs: list[str] = field(default_factory=list)
    new: bool = True

    def row(self) -> list[Any]:
        return [
            self.incident_id, self.title, self.date_start, self.date_end, self.target_countries,
            self.actors, self.attribution, self.attributed_by, self.techniques, self.summary,
            self.refs,
        ]  # fmt: skip


def _add(values: list[str], value: str) -> None:
    if value not in values:
        values.append(value)


class _Importer:
    def __init__(self, store: Store, summary: ImportSummary) -> None:
        self.store = store
        self.summary = summary
        self.alias_key = alias_key
        self.objects: dict[str, tuple[int, Any]] = {}
        self.markings: dict[str, str] = dict(KNOWN_TLP_MARKINGS)
        self.actors: dict[str, _Actor] = {}
        self.actor_of: dict[str, str] = {}
        self.aliases: dict[tuple[str, str], str] = {}
        self.key_index: dict[str, set[str]] = {}
        self.techniques: dict[str, _Technique] = {}
        self.technique_of: dict[str, tuple[str, str]] = {}
        self.incidents: dict[str, _Incident] = {}
        self.incident_of: dict[str, str] = {}
        self.indicators: dict[str, tuple[str | None, list[tuple[str, str]]]] = {}
        self.indicated: dict[str, str] = {}
        self.levels: dict[str, str] = {}
        self.new_aliases: list[tuple[str, str, str]] = []
        self.touched: set[str] = set()

    # -- validation ----------------------------------------------------------------------------
    def collect(self, objects: list[Any]) -> None:
        for index, raw in enumerate(objects):
            id = raw.get("id") if isinstance(raw, dict) else None
            label = f"objects[{index}]" + (f" ({clip(id, 120)})" if isinstance(id, str) else "")
            try:
                type, id = _envelope(raw)
                if type not in READ_TYPES:
                    if type in STIX21_SDO | STIX21_SRO | STIX21_SMO | STIX21_SCO:
                        self.summary.ignore(type)
                    elif type.startswith("x-"):
                        self.summary.ignore("custom (x-) objects")
                    else:
                        raise _Bad(f"unknown object type {type!r}")
                    continue
                kind = raw.get("relationship_type")
                if (
                    type == "relationship"
                    and isinstance(kind, str)
                    and kind not in USED_RELATIONSHIPS
                ):
                    self.summary.ignore("relationship (not mapped)")
                    continue
                try:
                    parsed = stix2.parse(raw, allow_custom=True, version="2.1")
                except Exception as exc:
                    raise _Bad(f"invalid {type}: {_reason(exc)}") from None
            except _Bad as bad:
                self.reject(index, f"{label}: {bad}", raw)
                continue
            known = self.objects.get(id)
            if known is not None:
                self.summary.ignore("older versions of an object")
                if str(_get(known[1], "modified") or "") > str(_get(parsed, "modified") or ""):
                    continue
            self.objects[id] = (index, parsed)
            if type == "marking-definition":
                self._marking(id, parsed)

    def reject(self, index: int, reason: str, raw: Any) -> None:
        try:
            text = raw if isinstance(raw, str) else repr(raw)
        except Exception:
            text = "<unprintable>"
        self.summary.rejected.append((index, reason, clip(text)))

    def _marking(self, id: str, marking: Any) -> None:
        level = None
        if _get(marking, "definition_type") == "tlp":
            level = parse_tlp(_get(_get(marking, "definition"), "tlp"))
        extension = _get(_get(marking, "extensions"), TLP2_EXTENSION_ID)
        level = level or parse_tlp(_get(extension, "tlp_2_0"))
        if level and id not in KNOWN_TLP_MARKINGS:
            self.markings[id] = level

    def level_of(self, obj: Any) -> str | None:
        refs = _get(obj, "object_marking_refs")
        level: str | None = None
        for ref in refs if isinstance(refs, list | tuple) else []:
            found = self.markings.get(ref) if isinstance(ref, str) else None
            if found:
                level = stricter(level, found) if level else found
        return level

    def of_type(self, *types: str) -> list[tuple[str, int, Any]]:
        found = [
            (id, index, obj)
            for id, (index, obj) in self.objects.items()
            if id.split("--", 1)[0] in types
        ]
        return sorted(found, key=lambda entry: entry[1])

    # -- actors --------------------------------------------------------------------------------
    def load_existing_actors(self) -> None:
        for row in self.store.rows("SELECT * FROM kb_actors"):
            actor = _Actor(**{k: row[k] for k in ACTOR_COLUMNS}, new=False)
            for name in ("techniques", "disarm", "refs", "origins"):
                setattr(actor, name, list(getattr(actor, name) or []))
            self.actors[actor.actor_id] = actor
            self.key_index.setdefault(self.alias_key(actor.name), set()).add(actor.actor_id)
        for row in self.store.rows("SELECT alias, key, actor_id FROM kb_aliases"):
            self.aliases[(row["key"], row["actor_id"])] = row["alias"]
            self.key_index.setdefault(row["key"], set()).add(row["actor_id"])

    def import_actors(self) -> None:
        self.load_existing_actors()
        for id, index, obj in self.of_type(*ACTOR_TYPES):
            try:
                self._actor(id, obj)
            except _Bad as bad:
                self.reject(index, f"objects[{index}] ({id}): {bad}", obj)

    def _actor(self, id: str, obj: Any) -> None:
        type = id.split("--", 1)[0]
        name = _text(_get(obj, "name"), MAX_NAME_CHARS)
        if not name:
            raise _Bad("empty name")
        ext = _ext(obj)
        aliases = [a for a in _texts(_get(obj, "aliases"), MAX_ALIAS_CHARS, MAX_ALIASES) if a]
        names = [name, *aliases]
        keys = [k for k in (self.alias_key(n) for n in names) if k]
        given = _text(ext.get("id"), 128)
        given = given if given and _KB_ID.match(given) else None
        typed, refs = _refs(obj)
        attack_id = next(
            (e for s, e, _ in typed if s.lower() in ATTACK_SOURCES and ATTACK_GROUP_ID.match(e)),
            None,
        )
        actor_id = self._match_actor(given, keys)
        if actor_id is None:
            actor_id = self._new_actor_id(given or _slug(name) or f"actor-{id[-12:]}")
            kind = _text(ext.get("kind"), 64) or DEFAULT_IMPORT_KIND[type]
            if not ext.get("kind") and "nation-state" in _texts(
                _get(obj, "threat_actor_types"), 64, 32
            ):
                kind = "state-body"
            self.actors[actor_id] = _Actor(actor_id, name, kind)
            self.summary.actors_added += 1
        elif not self.actors[actor_id].new and actor_id not in self.touched:
            self.summary.actors_merged += 1
        self.touched.add(actor_id)
        actor = self.actors[actor_id]
        actor.attack_id = actor.attack_id or attack_id
        actor.description = actor.description or _text(
            _get(obj, "description"), self.store.settings.ingest.max_text_chars
        )
        for ref in refs:
            _add(actor.refs, ref)
        _add(actor.origins, ORIGIN)
        for alias, key in zip(names, (self.alias_key(n) for n in names), strict=True):
            if key and (key, actor_id) not in self.aliases:
                self.aliases[(key, actor_id)] = alias
                self.new_aliases.append((alias, key, actor_id))
            if key:
                self.key_index.setdefault(key, set()).add(actor_id)
        self.actor_of[id] = actor_id
        self._floor(f"actor:{actor_id}", obj)

    def _match_actor(self, given: str | None, keys: list[str]) -> str | None:
        """The actor an imported one merges into: the one with fimiwatch's id when it exists,
        else the one sharing most alias keys (its name's key first). An object that carries a
        fimiwatch id only merges into actors already in the store, so that two kb actors which
        share an alias survive a round trip as two."""
        if given and given in self.actors:
            return given
        votes: Counter[str] = Counter()
        for rank, key in enumerate(keys):
            for actor_id in self.key_index.get(key, ()):
                if given and self.actors[actor_id].new:
                    continue
                votes[actor_id] += 1000 if rank == 0 else 1
        if not votes:
            return None
        return min(votes, key=lambda actor_id: (-votes[actor_id], actor_id))

    def _new_actor_id(self, base: str) -> str:
        candidate, n = base, 1
        while candidate in self.actors:
            n += 1
            candidate = f"{base}-{n}"
        return candidate

    # -- techniques ----------------------------------------------------------------------------
    def import_techniques(self) -> None:
        spelled: dict[str, str] = {}
        for row in self.store.rows("SELECT * FROM kb_techniques"):
            technique = _Technique(**{k: row[k] for k in TECHNIQUE_COLUMNS}, new=False)
            technique.tactics = list(technique.tactics or [])
            self.techniques[technique.technique_id] = technique
            normalised = normalise_framework(technique.framework)
            if normalised:
                spelled.setdefault(normalised, technique.framework)
        for id, _index, obj in self.of_type("attack-pattern"):
            found = self._technique_id(obj)
            if found is None:
                self.summary.ignore("attack-pattern without an ATT&CK or DISARM id")
                continue
            technique_id, framework, url = found
            ext = _ext(obj)
            stored = _text(ext.get("framework"), 32) or spelled.get(framework, framework)
            tactics = _texts(ext.get("tactics"), 128, 64) or self._tactics(obj, framework)
            description = _text(_get(obj, "description"), self.store.settings.ingest.max_text_chars)
            known = self.techniques.get(technique_id)
            if known is None:
                name = _text(_get(obj, "name"), MAX_NAME_CHARS) or technique_id
                self.techniques[technique_id] = _Technique(
                    technique_id, stored, name, tactics, description, url
                )
                self.summary.techniques_added += 1
            else:
                if not known.new:
                    self.summary.techniques_merged += 1
                known.description = known.description or description
                known.url = known.url or url
                known.tactics = known.tactics or tactics
            self.technique_of[id] = (technique_id, framework)
            self._floor(f"technique:{technique_id}", obj)

    def _technique_id(self, obj: Any) -> tuple[str, str, str | None] | None:
        ext = _ext(obj)
        typed, _ = _refs(obj)
        given = _text(ext.get("id"), 32)
        given_framework = normalise_framework(ext.get("framework"))
        for source, external, url in typed:
            lowered = source.lower()
            framework = (
                FRAMEWORK_ATTACK if lowered in ATTACK_SOURCES
                else FRAMEWORK_DISARM if lowered == DISARM_SOURCE.lower()
                else None
            )  # fmt: skip
            if framework and TECHNIQUE_ID.match(external):
                if given and given != external:
                    continue
                return external, given_framework or framework, url
        if given and TECHNIQUE_ID.match(given) and given_framework:
            return given, given_framework, None
        return None

    @staticmethod
    def _tactics(obj: Any, framework: str) -> list[str]:
        phases = _get(obj, "kill_chain_phases")
        tactics = []
        for phase in phases if isinstance(phases, list | tuple) else []:
            chain = normalise_framework(_get(phase, "kill_chain_name"))
            name = _text(_get(phase, "phase_name"), 128)
            if name and chain == framework:
                tactics.append(name)
        return list(dict.fromkeys(tactics))

    # -- incidents -----------------------------------------------------------------------------
    def import_incidents(self) -> None:
        existing = {
            row["incident_id"]: row for row in self.store.rows("SELECT * FROM kb_incidents")
        }
        for id, _index, obj in self.of_type("incident", "campaign"):
            ext = _ext(obj)
            if id.startswith("campaign--") and not ext.get("id"):
                self.summary.ignore("campaign")  # only fimiwatch's MISP-compatible incidents
                continue
            given = _text(ext.get("id"), 128)
            incident_id = given if given and _KB_ID.match(given) else f"stix-{id.split('--')[1]}"
            if incident_id in self.incidents:
                incident = self.incidents[incident_id]
            elif incident_id in existing:
                row = existing[incident_id]
                incident = _Incident(**{k: row[k] for k in INCIDENT_COLUMNS}, new=False)
                for name in ("target_countries", "actors", "techniques", "refs"):
                    setattr(incident, name, list(getattr(incident, name) or []))
                self.summary.incidents_merged += 1
            else:
                title = _text(_get(obj, "name"), MAX_NAME_CHARS) or incident_id
                incident = _Incident(incident_id, title)
                self.summary.incidents_added += 1
            self.incidents[incident_id] = incident
            incident.date_start = incident.date_start or _day(
                ext.get("date_start") or _get(obj, "first_seen")
            )
            incident.date_end = incident.date_end or _day(
                ext.get("date_end") or _get(obj, "last_seen")
            )
            if incident.attribution == DEFAULT_ATTRIBUTION:
                incident.attribution = _text(ext.get("attribution"), 64) or DEFAULT_ATTRIBUTION
            incident.attributed_by = (
                incident.attributed_by
                or _text(ext.get("attributed_by"), MAX_NAME_CHARS)
                or (None if ext else self._creator(obj))
            )
            incident.summary = incident.summary or _text(
                _get(obj, "description"), self.store.settings.ingest.max_text_chars
            )
            for ref in _refs(obj)[1]:
                _add(incident.refs, ref)
            self.incident_of[id] = incident_id
            self._floor(f"incident:{incident_id}", obj)

    def _creator(self, obj: Any) -> str | None:
        creator = _get(obj, "created_by_ref")
        found = self.objects.get(creator) if isinstance(creator, str) else None
        return _text(_get(found[1], "name"), MAX_NAME_CHARS) if found else None

    # -- relationships -------------------------------------------------------------------------
    def apply_relationships(self) -> None:
        for _id, _index, rel in self.of_type("relationship"):
            kind = _get(rel, "relationship_type")
            source = str(_get(rel, "source_ref") or "")
            target = str(_get(rel, "target_ref") or "")
            used = False
            if source in self.indicators and kind == "indicates" and target in self.actor_of:
                self.indicated.setdefault(source, self.actor_of[target])
                used = True
            elif source in self.actor_of:
                used = self._actor_relation(self.actors[self.actor_of[source]], kind, target)
            elif source in self.incident_of:
                used = self._incident_relation(self.incidents[self.incident_of[source]], kind,
                                               target)  # fmt: skip
            if used:
                self.summary.relationships_used += 1
            else:
                self.summary.ignore("relationship (not mapped)")

    def _country(self, target: str) -> str | None:
        found = self.objects.get(target)
        if not found or not target.startswith("location--"):
            return None
        country = _text(_get(found[1], "country"), 8)
        code = country.upper() if country else None
        return code if code and COUNTRY.match(code) else None

    def _actor_relation(self, actor: _Actor, kind: Any, target: str) -> bool:
        if kind in ("originates-from", "located-at"):
            country = self._country(target)
            if country:
                actor.country = actor.country or country
                return True
        elif kind == "attributed-to":
            if target in self.actor_of:
                parent = self.actor_of[target]
                if parent != actor.actor_id:
                    actor.parent = actor.parent or parent
                    return True
            elif target.startswith("identity--") and target in self.objects:
                sponsor = _text(_get(self.objects[target][1], "name"), MAX_NAME_CHARS)
                if sponsor:
                    actor.sponsor = actor.sponsor or sponsor
                    return True
        elif kind == "uses" and target in self.technique_of:
            technique_id, framework = self.technique_of[target]
            _add(actor.disarm if framework == FRAMEWORK_DISARM else actor.techniques, technique_id)
            return True
        return False

    def _incident_relation(self, incident: _Incident, kind: Any, target: str) -> bool:
        if kind == "attributed-to" and target in self.actor_of:
            _add(incident.actors, self.actor_of[target])
            return True
        if kind == "uses" and target in self.technique_of:
            _add(incident.techniques, self.technique_of[target][0])
            return True
        if kind == "targets":
            country = self._country(target)
            if country:
                _add(incident.target_countries, country)
                return True
        return False

    # -- indicators ----------------------------------------------------------------------------
    def import_indicators(self) -> None:
        for id, _index, obj in self.of_type("indicator"):
            observables = [
                ("sha256", sha.lower()) if sha else
                (INDICATOR_KINDS[kind], value.replace("\\'", "'").lower() if kind != "url"
                 else value.replace("\\'", "'"))
                for kind, value, sha in INDICATOR_PATTERN.findall(str(_get(obj, "pattern") or ""))
            ]  # fmt: skip
            if observables:
                name = _text(_get(obj, "name"), MAX_NAME_CHARS)
                self.indicators[id] = (name, observables)
            else:
                self.summary.ignore("indicator (pattern not a simple observable)")

    # -- markings and writing ------------------------------------------------------------------
    def _floor(self, key: str, obj: Any) -> None:
        level = self.level_of(obj)
        if level and level != "clear":
            self.levels[key] = stricter(self.levels.get(key, level), level)

    def write(self) -> None:
        actors = [self.actors[actor_id] for actor_id in sorted(self.touched)]
        for actor in actors:
            if actor.new:
                actor.techniques.sort()
                actor.disarm.sort()
        touched = {technique_id for technique_id, _ in self.technique_of.values()}
        techniques = [self.techniques[t] for t in sorted(touched)]
        incidents = [self.incidents[i] for i in sorted(self.incidents)]
        for incident in incidents:
            if incident.new:
                incident.target_countries.sort()
                incident.actors.sort()
                incident.techniques.sort()
        floors = self._merged_floors()
        with self.store.transaction() as con:
            _upsert(con, "kb_actors", ACTOR_COLUMNS, [a.row() for a in actors])
            aliases = [[alias, key, actor_id, ORIGIN] for alias, key, actor_id in self.new_aliases]
            _upsert(con, "kb_aliases", ("alias", "key", "actor_id", "origin"), aliases)
            _upsert(
                con, "kb_techniques", TECHNIQUE_COLUMNS,
                [[t.technique_id, t.framework, t.name, t.tactics, t.description, t.url]
                 for t in techniques],
            )  # fmt: skip
            _upsert(con, "kb_incidents", INCIDENT_COLUMNS, [i.row() for i in incidents])
            indicators = [
                [kind, value, id, name, self.indicated.get(id)]
                for id, (name, observables) in sorted(self.indicators.items())
                for kind, value in observables
            ]
            _upsert(con, "kb_indicators", ("kind", "value", "indicator_id", "name", "actor_id"),
                    indicators)  # fmt: skip
            self.summary.indicators_added = len(indicators)
            _upsert(con, "kb_meta", ("key", "value"), floors)
        self.summary.aliases_added = len(self.new_aliases)

    def _merged_floors(self) -> list[list[Any]]:
        """``kb_meta`` rows ``tlp:KIND:ID`` → level, never loosening a stored one."""
        known = {
            row["key"]: parse_tlp(row["value"])
            for row in self.store.rows("SELECT key, value FROM kb_meta WHERE key LIKE 'tlp:%'")
        }
        rows = []
        for key, level in sorted(self.levels.items()):
            stored = known.get(f"tlp:{key}")
            rows.append([f"tlp:{key}", stricter(stored, level) if stored else level])
        return rows


_LIST = pa.list_(pa.string())
_COLUMN_TYPES: dict[str, pa.DataType] = {
    "techniques": _LIST, "disarm": _LIST, "refs": _LIST, "origins": _LIST, "tactics": _LIST,
    "target_countries": _LIST, "actors": _LIST, "date_start": pa.date32(),
    "date_end": pa.date32(),
}  # fmt: skip


def _upsert(con: Any, table: str, columns: tuple[str, ...], rows: list[list[Any]]) -> None:
    """Insert or replace rows (by primary key) through Arrow: one statement, not one per row."""
    if not rows:
        return
    schema = pa.schema([(c, _COLUMN_TYPES.get(c, pa.string())) for c in columns])
    arrow = pa.Table.from_pylist([dict(zip(columns, row, strict=True)) for row in rows], schema)
    con.register("stix_rows", arrow)
    try:
        con.execute(
            f"INSERT OR REPLACE INTO {table} ({', '.join(columns)}) "
            f"SELECT {', '.join(columns)} FROM stix_rows"
        )
    finally:
        con.unregister("stix_rows")


def import_bundle(store: Store, path: Path | str) -> ImportSummary:
    """Load a STIX 2.1 bundle into the knowledge base (see the module docstring).

    Raises :class:`ReadError` when the file as a whole is unusable; bad objects are skipped and
    listed in the summary's ``rejected``.
    """
    path = Path(path)
    limits = store.settings.ingest
    bundle = read_bundle(path, limits.max_document_bytes, limits.max_json_depth)
    objects = bundle.get("objects", [])
    summary = ImportSummary(str(path), objects=len(objects))
    importer = _Importer(store, summary)
    importer.collect(objects)
    importer.import_actors()
    importer.import_techniques()
    importer.import_incidents()
    importer.import_indicators()
    importer.apply_relationships()
    importer.write()
    from fimiwatch.intel.actors import forget_index

    forget_index(store)  # name resolution must see the new aliases
    return summary
