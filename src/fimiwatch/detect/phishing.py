"""The ``phishing`` detector: every ingested mail triaged (``triage/email.py``); one finding per
mail judged suspicious or malicious, with its indicators as evidence.

The watchlist's domains (its ``domain`` rows and the domains of watched people and
organisations) join the built-in reference domains, so a lookalike of a watched parliament's
domain is caught, and recipients on the watchlist become the finding's targets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import orjson

from fimiwatch.detect.base import Change, Detector, Update
from fimiwatch.findings import Finding, finding_id, severity_for
from fimiwatch.intel.disarm import techniques_for
from fimiwatch.store import Store
from fimiwatch.triage.domains import (
    Reference,
    belongs,
    builtin_references,
    domain_of,
    is_free_mail,
)
from fimiwatch.triage.email import known_indicators, triage_record

MAILS_SQL = """
    SELECT id, title, text, links, published_at, account_id, extra
    FROM items WHERE platform = 'email' AND ingest_id > ? AND ingest_id <= ? ORDER BY id
"""


@dataclass(frozen=True)
class PhishingParams:
    report: tuple[str, ...] = ("malicious", "suspicious")
    """Verdicts that become findings."""


class PhishingDetector(Detector):
    """Spear-phishing, tracking pixels and lookalike domains in ingested mail."""

    name: ClassVar[str] = "phishing"
    finding_type: ClassVar[str] = "phishing"
    description: ClassVar[str] = __doc__ or ""
    Params: ClassVar[type] = PhishingParams
    params: PhishingParams

    def run(self, store: Store) -> list[Finding]:
        return self._mails(store, 0, 2**62)

    def reads(self) -> str:
        return "platform = 'email'"

    def update(self, store: Store, change: Change) -> Update:
        """Each mail is judged on its own: only the new ones need judging."""
        return Update.of(self._mails(store, change.after_ingest, change.through_ingest))

    def _mails(self, store: Store, after_ingest: int, through_ingest: int) -> list[Finding]:
        references, watched = _references(store)
        known = known_indicators(store.con)
        disarm, _ = techniques_for(self.finding_type)
        findings = []
        for row in store.rows(MAILS_SQL, [after_ingest, through_ingest]):
            extra = orjson.loads(row["extra"]) if row["extra"] else {}
            record = {**row, "links": row["links"] or [], "mail": extra.get("mail") or {}}
            verdict = triage_record(record, references, known)
            if verdict.verdict in self.params.report:
                findings.append(self._finding(record, verdict.to_dict(), watched, disarm))
        return findings

    def _finding(
        self,
        record: dict[str, Any],
        verdict: dict[str, Any],
        watched: dict[str, str],
        disarm: tuple[str, ...],
    ) -> Finding:
        mail = record["mail"]
        sender = (mail.get("from") or [{}])[0]
        addressed = [*(mail.get("to") or []), *(mail.get("cc") or [])]
        recipients = [a.get("address", "").lower() for a in addressed]
        keys = [(a.get("name") or "").casefold() for a in addressed]
        keys += [domain_of(r) for r in recipients]
        targets = sorted({watched[k] for k in keys if k in watched})
        strongest = max(verdict["indicators"], key=lambda i: i["weight"])
        return Finding(
            id=finding_id(self.finding_type, record["id"]),
            type=self.finding_type,
            title=f"{verdict['verdict'].capitalize()} mail: "
            + (record.get("title") or "(no subject)"),
            summary=(
                f"From {sender.get('name') or ''} <{sender.get('address') or '?'}> to "
                f"{', '.join(recipients) or '?'}; {len(verdict['indicators'])} indicators, "
                f"strongest: {strongest['description']}."
            ),
            score=verdict["score"],
            severity=severity_for(verdict["score"]),
            first_seen=record["published_at"],
            last_seen=record["published_at"],
            item_ids=(record["id"],),
            account_ids=tuple(a for a in (record.get("account_id"),) if a),
            targets=tuple(targets),
            disarm=disarm,
            attack=tuple(verdict["attack"]),
            evidence={
                **verdict,
                "from": domain_of(sender.get("address")),
                "indicator_domains": _indicator_domains(sender, verdict),
                "recipients": recipients,
            },
        )  # fmt: skip


def _indicator_domains(sender: dict[str, Any], verdict: dict[str, Any]) -> list[str]:
    """Domains worth exporting as indicators (STIX): lookalikes, and the sender's own domain
    when the mail is malicious and the domain is neither free mail nor a reference domain (a
    gmail.com address is not an indicator of anything)."""
    found = {i["evidence"]["lookalike_domain"] for i in verdict["indicators"]
             if i["id"] == "lookalike-domain"}  # fmt: skip
    found |= {m["value"] for i in verdict["indicators"] if i["id"] == "known-indicator"
              for m in i["evidence"]["matches"] if m["kind"] == "domain"}  # fmt: skip
    domain = domain_of(sender.get("address"))
    known = any(belongs(domain, r.domain) for r in builtin_references())
    if verdict["verdict"] == "malicious" and domain and not is_free_mail(domain) and not known:
        found.add(domain)
    return sorted(found)


def _references(store: Store) -> tuple[tuple[Reference, ...], dict[str, str]]:
    """Built-in and watched reference domains; and the watched people (by name and alias,
    case-folded) and domains a recipient can be."""
    rows = store.rows("SELECT kind, name, aliases, domains FROM watchlist ORDER BY kind, name")
    references = list(builtin_references())
    watched: dict[str, str] = {}
    for row in rows:
        for domain in row["domains"] or []:
            references.append(Reference(row["name"], domain.lower(), "watched"))
            if row["kind"] == "domain":
                watched.setdefault(domain.lower(), row["name"])
        if row["kind"] == "person":
            for name in (row["name"], *(row["aliases"] or [])):
                watched.setdefault(name.casefold(), row["name"])
    return tuple(references), watched
