"""The hand-curated data shipped in ``intel/data``: actors, incidents, finding-type techniques.

Each file is validated on load (shape, vocabularies, dates); references between files and to
the bundled techniques are validated by the KB build, which knows them all.
"""

from __future__ import annotations

import calendar
import hashlib
import re
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import orjson

DATA_DIR = Path(__file__).parent / "data"
ACTORS_FILE = DATA_DIR / "curated_actors.json"
INCIDENTS_FILE = DATA_DIR / "incidents.json"
FINDING_TECHNIQUES_FILE = DATA_DIR / "finding_techniques.json"

ACTOR_KINDS: tuple[str, ...] = ("threat-actor", "influence-operation", "state-body")
ATTRIBUTIONS: tuple[str, ...] = ("official", "vendor", "suspected", "unattributed")
_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_PARTIAL_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


class KbDataError(ValueError):
    """Curated data is malformed or refers to something that does not exist."""


@dataclass(frozen=True)
class Source:
    publisher: str
    title: str
    date: str | None
    url: str | None

    def ref(self) -> str:
        """One line for the ``refs`` columns: "Publisher — Title (date) — URL"."""
        text = f"{self.publisher} — {self.title}"
        if self.date:
            text += f" ({self.date})"
        return f"{text} — {self.url}" if self.url else text


@dataclass(frozen=True)
class CuratedActor:
    id: str
    extends: str | None
    name: str | None
    kind: str | None
    country: str | None
    sponsor: str | None
    aliases: tuple[str, ...]
    description: str | None
    techniques: tuple[str, ...]
    disarm: tuple[str, ...]
    parent: str | None
    parent_basis: str | None
    sources: tuple[Source, ...]


@dataclass(frozen=True)
class Incident:
    id: str
    title: str
    date_start: date | None
    date_end: date | None
    target_countries: tuple[str, ...]
    actors: tuple[str, ...]
    attribution: str
    attributed_by: str | None
    techniques: tuple[str, ...]
    summary: str
    references: tuple[Source, ...]


@dataclass(frozen=True)
class TechniqueReason:
    id: str
    reason: str


def data_digest() -> str:
    """Hash of the curated files, part of the KB version: editing them triggers a rebuild."""
    digest = hashlib.sha256()
    for path in (ACTORS_FILE, INCIDENTS_FILE, FINDING_TECHNIQUES_FILE):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def load_curated_actors() -> tuple[CuratedActor, ...]:
    records = _read(ACTORS_FILE, "actors")
    actors = tuple(_actor(record, ACTORS_FILE) for record in records)
    _unique_ids(actors, ACTORS_FILE)
    return actors


def load_incidents() -> tuple[Incident, ...]:
    incidents = tuple(_incident(record) for record in _read(INCIDENTS_FILE, "incidents"))
    _unique_ids(incidents, INCIDENTS_FILE)
    return incidents


@cache
def load_finding_techniques() -> dict[str, dict[str, tuple[TechniqueReason, ...]]]:
    """``{finding_type: {"disarm": (...), "attack": (...)}}``, each id with its reason."""
    document = orjson.loads(FINDING_TECHNIQUES_FILE.read_bytes())
    mapping: dict[str, dict[str, tuple[TechniqueReason, ...]]] = {}
    for finding_type, frameworks in document["finding_types"].items():
        mapping[finding_type] = {
            framework: tuple(
                TechniqueReason(str(entry["id"]), str(entry["reason"]))
                for entry in frameworks.get(framework, [])
            )
            for framework in ("disarm", "attack")
        }
    return mapping


def _read(path: Path, key: str) -> list[dict[str, Any]]:
    try:
        records = orjson.loads(path.read_bytes())[key]
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise KbDataError(f"{path.name}: cannot read the {key!r} list: {exc}") from exc
    if not isinstance(records, list):
        raise KbDataError(f"{path.name}: {key!r} must be a list")
    return records


def _sources(record: dict[str, Any], key: str, where: str) -> tuple[Source, ...]:
    sources = tuple(
        Source(
            publisher=_text(s, "publisher", where),
            title=_text(s, "title", where),
            date=s.get("date"),
            url=s.get("url"),
        )
        for s in record.get(key) or []
    )
    if not sources:
        raise KbDataError(f"{where}: needs at least one entry in {key!r}")
    for source in sources:
        if source.url is not None and not source.url.startswith(("https://", "http://")):
            raise KbDataError(f"{where}: {source.url!r} is not an http(s) URL")
    return sources


def _actor(record: dict[str, Any], path: Path) -> CuratedActor:
    actor_id = str(record.get("id", ""))
    where = f"{path.name}: actor {actor_id!r}"
    if not _ID.match(actor_id):
        raise KbDataError(f"{where}: id must be a lowercase slug (letters, digits, hyphens)")
    extends = record.get("extends")
    kind = record.get("kind")
    if extends is None and not (record.get("name") and kind and record.get("aliases")):
        raise KbDataError(f"{where}: a new actor needs a name, a kind and aliases")
    if kind is not None and kind not in ACTOR_KINDS:
        raise KbDataError(f"{where}: kind {kind!r} is not one of {', '.join(ACTOR_KINDS)}")
    country = record.get("country")
    if country is not None and not _COUNTRY.match(country):
        raise KbDataError(f"{where}: country {country!r} is not an ISO 3166 alpha-2 code")
    if record.get("parent") and not record.get("parent_basis"):
        raise KbDataError(f"{where}: a parent link needs its official basis in 'parent_basis'")
    return CuratedActor(
        id=actor_id,
        extends=extends,
        name=record.get("name"),
        kind=kind,
        country=country,
        sponsor=record.get("sponsor"),
        aliases=tuple(record.get("aliases") or ()),
        description=record.get("description"),
        techniques=tuple(record.get("techniques") or ()),
        disarm=tuple(record.get("disarm") or ()),
        parent=record.get("parent"),
        parent_basis=record.get("parent_basis"),
        sources=_sources(record, "sources", where),
    )


def _incident(record: dict[str, Any]) -> Incident:
    incident_id = str(record.get("id", ""))
    where = f"{INCIDENTS_FILE.name}: incident {incident_id!r}"
    if not _ID.match(incident_id):
        raise KbDataError(f"{where}: id must be a lowercase slug (letters, digits, hyphens)")
    attribution = record.get("attribution")
    if attribution not in ATTRIBUTIONS:
        raise KbDataError(f"{where}: attribution {attribution!r} is not one of {ATTRIBUTIONS}")
    countries = tuple(record.get("target_countries") or ())
    if not countries or not all(_COUNTRY.match(c) for c in countries):
        raise KbDataError(f"{where}: target_countries must be ISO 3166 alpha-2 codes")
    start = _date(record.get("date_start"), where, last=False)
    end = _date(record.get("date_end"), where, last=True)
    if start and end and start > end:
        raise KbDataError(f"{where}: date_start is after date_end")
    return Incident(
        id=incident_id,
        title=_text(record, "title", where),
        date_start=start,
        date_end=end,
        target_countries=countries,
        actors=tuple(record.get("actors") or ()),
        attribution=attribution,
        attributed_by=record.get("attributed_by"),
        techniques=tuple(record.get("techniques") or ()),
        summary=_text(record, "summary", where),
        references=_sources(record, "references", where),
    )


def _date(value: Any, where: str, *, last: bool) -> date | None:
    """A partial date stands for its whole period: "2021" starts 1 January, ends 31 December."""
    if value is None:
        return None
    match = _PARTIAL_DATE.match(str(value))
    if not match:
        raise KbDataError(f"{where}: {value!r} is not YYYY, YYYY-MM or YYYY-MM-DD")
    year = int(match[1])
    month = int(match[2] or (12 if last else 1))
    try:
        day = int(match[3] or (calendar.monthrange(year, month)[1] if last else 1))
        return date(year, month, day)
    except ValueError as exc:
        raise KbDataError(f"{where}: {value!r}: {exc}") from exc


def _text(record: dict[str, Any], key: str, where: str) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value.strip():
        raise KbDataError(f"{where}: {key!r} must be non-empty text")
    return value


def _unique_ids(records: tuple[CuratedActor, ...] | tuple[Incident, ...], path: Path) -> None:
    seen: set[str] = set()
    for record in records:
        if record.id in seen:
            raise KbDataError(f"{path.name}: id {record.id!r} appears twice")
        seen.add(record.id)
