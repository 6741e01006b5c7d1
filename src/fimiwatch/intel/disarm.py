"""Techniques: browse the ATT&CK and DISARM frameworks in the KB, and map finding types to them.

DISARM (red framework, from the MISP galaxy's ``disarm-techniques`` cluster) describes influence
operations; ATT&CK describes intrusions. Detectors call :func:`techniques_for` to fill a
finding's ``disarm`` and ``attack`` lists from ``data/finding_techniques.json``, whose ids the KB
build validates against ``kb_techniques``.
"""

from __future__ import annotations

from typing import Any

from fimiwatch.findings import FINDING_TYPES
from fimiwatch.intel.curated import TechniqueReason, load_finding_techniques
from fimiwatch.intel.kb import ensure_kb
from fimiwatch.store import Store

FRAMEWORKS: tuple[str, ...] = ("attack", "disarm")


def techniques_for(finding_type: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(disarm_ids, attack_ids)`` that a finding of this type evidences."""
    reasons = technique_reasons(finding_type)
    return (
        tuple(entry.id for entry in reasons["disarm"]),
        tuple(entry.id for entry in reasons["attack"]),
    )


def technique_reasons(finding_type: str) -> dict[str, tuple[TechniqueReason, ...]]:
    """The mapping for one finding type, with the reason for each id (for reports and docs)."""
    if finding_type not in FINDING_TYPES:
        raise ValueError(f"finding type {finding_type!r} is not one of {', '.join(FINDING_TYPES)}")
    return load_finding_techniques()[finding_type]


def list_techniques(
    store: Store, framework: str | None = None, text: str | None = None
) -> list[dict[str, Any]]:
    """Techniques ordered by id, optionally one framework and those whose id, name, tactic or
    description contains ``text``."""
    if framework is not None and framework not in FRAMEWORKS:
        raise ValueError(f"framework {framework!r} is not one of {', '.join(FRAMEWORKS)}")
    ensure_kb(store)
    needle = text.strip().casefold() if text else None
    return store.rows(
        "SELECT technique_id, framework, name, tactics, description, url FROM kb_techniques"
        " WHERE (? IS NULL OR framework = ?) AND (? IS NULL"
        " OR contains(lower(technique_id || ' ' || name || ' ' || array_to_string(tactics, ' ')"
        " || ' ' || coalesce(description, '')), ?))"
        " ORDER BY technique_id",
        [framework, framework, needle, needle],
    )
