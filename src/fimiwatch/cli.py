"""The ``fimiwatch`` command line: a thin layer over the library (see DESIGN, CLI).

Exit codes: 0 success, 2 bad input (the message names the file, line and reason), 1 internal
error.
"""

from __future__ import annotations

import csv
import logging
import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table
from rich.text import Text

from fimiwatch import plugins
from fimiwatch.cli_kb import kb_app
from fimiwatch.cli_stix import export_app, import_app
from fimiwatch.config import Settings, load_settings
from fimiwatch.detect.coordination.params import VIEWS, CoordinationParams
from fimiwatch.findings import FINDING_TYPES, load_findings
from fimiwatch.ingest.base import ReadError
from fimiwatch.reference_csv import ReferenceLoad
from fimiwatch.store import Store, StoreError

console = Console(stderr=True)
out = Console()

app = typer.Typer(
    help="Watch foreign information manipulation and interference (FIMI): ingest posts, "
    "articles, mail and profiles; detect coordination, laundering, narratives, targeting, "
    "phishing and recruitment approaches; show the evidence behind every finding.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
sources_app = typer.Typer(
    help="The source registry (outlets and accounts, and whom they speak for) and the sources "
    "`fimiwatch watch` polls: feeds, pages and folders (see docs/watch.md)."
)
watchlist_app = typer.Typer(help="Watched people, organisations, elections and domains.")
narratives_app = typer.Typer(
    help="Narratives: load definitions (example claims in any language), see daily counts "
    "and charts of what `fimiwatch run` assigned.",
    no_args_is_help=True,
)
app.add_typer(sources_app, name="sources")
app.add_typer(watchlist_app, name="watchlist")
app.add_typer(narratives_app, name="narratives")
triage_app = typer.Typer(
    help="Judge one artefact you were handed: a suspicious mail or a professional-network "
    "profile that approached someone.",
    no_args_is_help=True,
)
app.add_typer(triage_app, name="triage")
users_app = typer.Typer(help="API users and their tokens (roles: viewer, analyst, admin).",
                        no_args_is_help=True)  # fmt: skip
app.add_typer(users_app, name="users")
alerts_app = typer.Typer(
    help="Alert rules: each finding that matches a rule (type, minimum severity, target, "
    "actor) is sent once to a webhook, a mail address or a file. `fimiwatch run` sends new "
    "alerts after detecting; failed deliveries are retried with backoff. See docs/alerts.md.",
    no_args_is_help=True,
)
app.add_typer(alerts_app, name="alerts")
app.add_typer(kb_app, name="kb")
app.add_typer(export_app, name="export")
app.add_typer(import_app, name="import")


class BadInput(Exception):
    """Exit 2 with this message."""


class OutputFormat(StrEnum):
    table = "table"
    jsonl = "jsonl"
    csv = "csv"


@app.callback()
def main_options(
    ctx: typer.Context,
    db: Annotated[
        Path | None,
        typer.Option(help="Store file (DuckDB). Default: ./fimiwatch.duckdb or $FIMIWATCH_DB."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="Settings file. Default: ./fimiwatch.toml if present.")
    ] = None,
) -> None:
    try:
        ctx.obj = load_settings(config, db=db)
    except ValueError as exc:
        raise BadInput(f"settings: {exc}") from exc


def _settings(ctx: typer.Context) -> Settings:
    settings = ctx.obj
    assert isinstance(settings, Settings)
    return settings


@contextmanager
def _store(ctx: typer.Context) -> Iterator[Store]:
    with _store_at(_settings(ctx)) as store:
        yield store


@contextmanager
def _store_at(settings: Settings) -> Iterator[Store]:
    store = Store(settings.db, settings)
    try:
        yield store
    finally:
        store.close()


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


@app.command()
def ingest(
    ctx: typer.Context,
    inputs: Annotated[
        list[str], typer.Argument(help="Files, folders (read recursively) or http(s) URLs.")
    ],
    format: Annotated[
        str,
        typer.Option(
            "--format", "-f", help="Input format, or auto to detect it from name and content."
        ),
    ] = "auto",
    source: Annotated[
        str | None,
        typer.Option(help="Source key (see the registry) for records that name none."),
    ] = None,
) -> None:
    """Read inputs into the store. Re-ingesting adds nothing; bad records go to quarantine."""
    from fimiwatch.ingest.pipeline import (
        choose_reader,
        expand_inputs,
        ingest_document,
        open_document,
    )

    settings = _settings(ctx)
    failures: list[str] = []
    table = Table("input", "format", "records", "added", "duplicates", "rejected")
    from fimiwatch.intel.registry import load_builtin_sources

    with _store(ctx) as store, _progress() as progress:
        load_builtin_sources(store)
        for name in expand_inputs(inputs):
            try:
                document = open_document(name, settings)
                reader = choose_reader(document, format)
                task = progress.add_task(f"{Path(name).name} ({reader.name})", total=None)
                summary = ingest_document(
                    store, document, reader, source, partial(progress.advance, task)
                )
                progress.remove_task(task)
            except ReadError as exc:
                failures.append(str(exc))
                console.print(f"[red]error:[/red] {exc}")
                continue
            table.add_row(
                name, summary.format, str(summary.records), str(summary.added),
                str(summary.duplicates), str(summary.rejected),
            )  # fmt: skip
    console.print(table)
    if any(row for row in table.columns[5].cells if row != "0"):
        console.print(f"Rejected records are in {settings.quarantine_path}")
    if failures:
        raise BadInput(f"{len(failures)} input(s) could not be read")


def _report_reference(ctx: typer.Context, store: Store, what: str, load: ReferenceLoad) -> None:
    from fimiwatch.quarantine import quarantine_rejects

    settings = _settings(ctx)
    quarantine_rejects(store, settings.quarantine_path, load.path, load.rejected)
    for line, reason, _ in load.rejected:
        console.print(f"[yellow]{load.path}:{line}:[/yellow] {reason}")
    note = (
        f", {len(load.rejected)} rejected (see {settings.quarantine_path})" if load.rejected else ""
    )
    console.print(f"{load.loaded} {what} loaded from {load.path}{note}")


@sources_app.command("load")
def sources_load(
    ctx: typer.Context, registry: Annotated[Path, typer.Argument(help="Registry CSV.")]
) -> None:
    """Load a source registry CSV.

    Columns: source,name,domain,platform,country,language,affiliation,owner_state,notes.
    """
    from fimiwatch.intel.registry import load_sources

    with _store(ctx) as store:
        _report_reference(ctx, store, "sources", load_sources(store, registry))


@sources_app.command("list")
def sources_list(
    ctx: typer.Context,
    watched: Annotated[
        bool, typer.Option("--watched", help="Only the watched sources (feeds, pages, folders).")
    ] = False,
) -> None:
    """Show the registry and where each row came from ('builtin' or the CSV it was loaded from),
    then the watched sources with their poll state."""
    from fimiwatch.watch.commands import watched_rows

    columns = ["source", "name", "domain", "affiliation", "owner_state", "loaded_from"]
    with _store(ctx) as store:
        rows = (
            []
            if watched
            else store.rows(f"SELECT {', '.join(columns)} FROM sources ORDER BY source")
        )
        try:
            watching = watched_rows(store, _settings(ctx))
        except ValueError as exc:
            raise BadInput(str(exc)) from exc
    if not watched:
        _print_table(rows, columns)
    if watching or watched:
        if not watched:
            out.print("Watched sources")
        _print_plain_table(watching, list(WATCHED_COLUMNS))


WATCHED_COLUMNS = ("name", "kind", "location", "every", "source", "origin", "last_ok",
                   "failures", "next_due", "last_error")  # fmt: skip


class WatchKind(StrEnum):
    feed = "feed"
    page = "page"
    folder = "folder"


@sources_app.command("add")
def sources_add(
    ctx: typer.Context,
    location: Annotated[
        str, typer.Argument(help="A feed or page URL, or a folder.", show_default=False)
    ],
    kind: Annotated[
        WatchKind | None,
        typer.Option(
            help="feed (RSS/Atom), page (follow its article links) or folder. "
            "Default: feed for a URL, folder otherwise."
        ),
    ] = None,
    every: Annotated[
        str | None,
        typer.Option(
            help="Poll interval: seconds or e.g. 90s, 15m, 2h, 1d. Default: \\[watch] every (15m)."
        ),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(help="Registry key its items get (e.g. cgtn). Default: by URL domain."),
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="Name to refer to it by. Default: the key, else the host.")
    ] = None,
    match: Annotated[
        str | None,
        typer.Option(
            help="Feed or page: only article URLs matching this regular expression "
            "(for a page, instead of guessing which links are articles)."
        ),
    ] = None,
    format: Annotated[
        str, typer.Option("--format", "-f", help="Folder: input format of its files, or auto.")
    ] = "auto",
) -> None:
    """Watch a feed, a page or a folder with `fimiwatch watch` (kept in the store; sources in
    fimiwatch.toml \\[\\[watch.sources]] are watched too)."""
    from fimiwatch.watch.commands import add_watched

    settings = _settings(ctx)
    with _store(ctx) as store:
        try:
            added, warning = add_watched(
                store, settings, location, kind=kind.value if kind else None, every=every,
                source=source, name=name, match=match, format=format,
            )  # fmt: skip
        except ValueError as exc:
            raise BadInput(str(exc)) from exc
    if warning:
        console.print(Text(f"warning: {warning}"))
    key = added.source or "(by URL domain)"
    console.print(Text(f"Watching {added.kind} {added.location} as {added.name}, every "
                       f"{added.every:g} s, source key {key}."))  # fmt: skip


@sources_app.command("remove")
def sources_remove(
    ctx: typer.Context,
    name_or_location: Annotated[
        str, typer.Argument(help="Name, URL or folder of a watched source.", show_default=False)
    ],
) -> None:
    """Stop watching a source added with `sources add`; what it already brought stays, and
    its articles are never fetched again. Registry rows are not removed."""
    from fimiwatch.watch.sources import remove_source

    with _store(ctx) as store:
        try:
            removed = remove_source(store, _settings(ctx), name_or_location)
        except ValueError as exc:
            raise BadInput(str(exc)) from exc
    console.print(Text(f"No longer watching {removed.name} ({removed.location})."))


@watchlist_app.command("load")
def watchlist_load(
    ctx: typer.Context, watchlist: Annotated[Path, typer.Argument(help="Watchlist CSV.")]
) -> None:
    """Load a watchlist CSV (kind,name,aliases,country,role,domains,notes; lists use ';')."""
    from fimiwatch.watchlist import load_watchlist

    with _store(ctx) as store:
        _report_reference(ctx, store, "watchlist entries", load_watchlist(store, watchlist))


@narratives_app.command("load")
def narratives_load(
    ctx: typer.Context,
    definitions: Annotated[Path, typer.Argument(help="Narrative definitions CSV.")],
) -> None:
    """Load narrative definitions: columns narrative,name,claim,lang,threshold,keywords,notes.

    One example claim per row, in any language; rows with the same narrative key form one
    narrative, which replaces a loaded narrative of that key. Items are matched to the claims
    across languages at the next `fimiwatch run`.
    """
    from fimiwatch.detect.narratives.definitions import load_narratives

    with _store(ctx) as store:
        _report_reference(ctx, store, "narrative claims", load_narratives(store, definitions))


@narratives_app.command("list")
def narratives_list(ctx: typer.Context) -> None:
    """Defined narratives (with their claims) and the items the last run assigned to each."""
    with _store(ctx) as store:
        rows = store.rows(
            """SELECT coalesce(c.narrative, a.narrative) AS narrative,
                      coalesce(c.name, a.name) AS name, coalesce(a.kind, 'defined') AS kind,
                      c.claims, coalesce(a.items, 0) AS items
               FROM (SELECT narrative, any_value(name) AS name, count(*) AS claims
                     FROM narrative_claims GROUP BY ALL) c
               FULL JOIN (SELECT narrative, any_value(name) AS name, any_value(kind) AS kind,
                          count(*) AS items FROM narrative_items GROUP BY ALL) a
               USING (narrative) ORDER BY kind, narrative"""
        )
    _print_table(rows, ["narrative", "name", "kind", "claims", "items"])


class Dimension(StrEnum):
    lang = "lang"
    country = "country"
    affiliation = "affiliation"


@narratives_app.command("counts")
def narratives_counts(
    ctx: typer.Context,
    by: Annotated[
        list[Dimension] | None, typer.Option("--by", help="Split each day's count (repeatable).")
    ] = None,
    format: Annotated[OutputFormat, typer.Option("--format")] = OutputFormat.table,
) -> None:
    """Items per narrative and UTC day, from the last run; split by language, country or
    source affiliation with --by."""
    from fimiwatch.detect.narratives.series import daily_counts

    with _store(ctx) as store:
        rows = daily_counts(store, tuple(d.value for d in by or []))
    columns = ["narrative", "name", "day", *(d.value for d in by or []), "items"]
    _write_rows(rows, format, columns, columns)


@narratives_app.command("chart")
def narratives_chart(
    ctx: typer.Context,
    narrative: Annotated[str, typer.Argument(help="Narrative key or finding id.")],
    out_path: Annotated[
        Path, typer.Option("--out", help="Chart file: .png, .svg or .html (self-contained).")
    ],
) -> None:
    """Draw a narrative's items per day, surge days in red, from its finding."""
    from fimiwatch.report.charts import daily_chart_html, daily_chart_png, daily_chart_svg

    suffix = out_path.suffix.lower()
    if suffix not in (".png", ".svg", ".html"):
        raise BadInput(f"{out_path}: the chart file must end in .png, .svg or .html")
    with _store(ctx) as store:
        found = [
            f for f in load_findings(store, "narrative")
            if narrative in (f["id"], f["evidence"].get("narrative"))
        ]  # fmt: skip
    if not found:
        raise BadInput(f"no narrative finding {narrative!r}; `fimiwatch findings --type narrative`")
    evidence, title = found[0]["evidence"], found[0]["title"]
    if suffix == ".png":
        out_path.write_bytes(daily_chart_png(evidence, title))
    elif suffix == ".svg":
        out_path.write_text(daily_chart_svg(evidence), encoding="utf-8")
    else:
        out_path.write_text(daily_chart_html(evidence, title), encoding="utf-8")
    console.print(f"Chart written to {out_path}")


@triage_app.command("email")
def triage_email(
    ctx: typer.Context,
    message: Annotated[Path, typer.Argument(help="A message (.eml) or a mailbox (.mbox).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
) -> None:
    """Triage a mail for spear-phishing: verdict (malicious, suspicious, benign), score and
    the indicators behind it, with ATT&CK ids. Nothing the mail links to is fetched and no
    attachment is opened. A mailbox gives one verdict per message (JSON Lines with --json)."""
    from fimiwatch.triage.email import triage_mailbox

    verdicts = triage_mailbox(message, _settings(ctx).ingest, _known_indicators(ctx))
    for label, verdict in verdicts:
        _print_verdict(label, verdict, len(verdicts) > 1, as_json)


def _known_indicators(ctx: typer.Context) -> dict[Any, Any]:
    """The store's knowledge-base indicators, when a store exists (triage never creates one)."""
    from fimiwatch.triage.email import known_indicators

    if not _settings(ctx).db.exists():
        return {}
    with _store(ctx) as store:
        return known_indicators(store.con)


@triage_app.command("profile")
def triage_profile_command(
    ctx: typer.Context,
    profile: Annotated[Path, typer.Argument(help="Profile JSON (DESIGN, 'Profiles').")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
) -> None:
    """Triage a professional-network profile for the recruitment-persona pattern: verdict
    (high, medium, low), score and weighted indicators with evidence. A file of several
    profiles gives one verdict each (JSON Lines with --json)."""
    from fimiwatch.triage.profile import triage_profiles

    verdicts = triage_profiles(profile, _settings(ctx).ingest)
    for number, verdict in enumerate(verdicts, start=1):
        label = str(profile) if len(verdicts) == 1 else f"{profile}#{number}"
        _print_verdict(label, verdict, as_json and len(verdicts) > 1, as_json)


def _print_verdict(label: str, verdict: Any, labelled: bool, as_json: bool) -> None:
    if as_json:
        payload = verdict.to_dict()
        if labelled:
            payload = {"file": label, **payload}
        sys.stdout.buffer.write(orjson.dumps(payload) + b"\n")
        return
    # the artefact is hostile: printed as plain Text, never read as rich markup
    attack = f"  ATT&CK {', '.join(verdict.attack)}" if verdict.attack else ""
    out.print(Text(f"{label}: {verdict.verdict} (score {verdict.score:.2f}){attack}"))
    table = Table("weight", "indicator", "why", "evidence")
    for indicator in verdict.indicators:
        evidence = orjson.dumps(indicator.evidence).decode()[:200]
        table.add_row(f"{indicator.weight:.2f}", indicator.id, Text(indicator.description),
                      Text(evidence))  # fmt: skip
    if verdict.indicators:
        out.print(table)


@users_app.command("add")
def users_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="User name.")],
    role: Annotated[str, typer.Option(help="viewer, analyst or admin.")] = "viewer",
) -> None:
    """Create a user (or give an existing one a new token) and print the token, once: only
    its hash is kept."""
    from fimiwatch.web.users import add_user

    with _store(ctx) as store:
        try:
            token = add_user(store, name, role)
        except ValueError as exc:
            raise BadInput(str(exc)) from exc
    out.print(token, markup=False, highlight=False)
    console.print(f"Token for {name} ({role}); send it as 'Authorization: Bearer TOKEN'.")


@users_app.command("list")
def users_list(ctx: typer.Context) -> None:
    """Users and roles (tokens are not shown: only their hashes are stored)."""
    with _store(ctx) as store:
        rows = store.rows("SELECT name, role, created_at FROM users ORDER BY name")
    _print_table(rows, ["name", "role", "created_at"])


@users_app.command("remove")
def users_remove(ctx: typer.Context, name: Annotated[str, typer.Argument()]) -> None:
    """Remove a user; their token stops working at once."""
    from fimiwatch.web.users import remove_user

    with _store(ctx) as store:
        if not remove_user(store, name):
            raise BadInput(f"no user {name!r}")
    console.print(f"Removed {name}.")


@alerts_app.command("add")
def alerts_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Rule name (letters, digits, _ . @ -).")],
    webhook: Annotated[
        str | None, typer.Option(help="POST each alert as JSON to this http(s) URL.")
    ] = None,
    email: Annotated[
        str | None, typer.Option(help="Mail each alert to this address (SMTP per the settings).")
    ] = None,
    file: Annotated[
        Path | None, typer.Option(help="Append each alert as one JSON line to this file.")
    ] = None,
    type: Annotated[
        str | None,
        typer.Option("--type", help=f"Only findings of this type: {', '.join(FINDING_TYPES)}."),
    ] = None,
    min_severity: Annotated[
        str | None,
        typer.Option(help="Only findings at least this severe: low, medium, high, critical."),
    ] = None,
    target: Annotated[
        str | None, typer.Option(help="Only findings naming this target (exact watchlist name).")
    ] = None,
    actor: Annotated[str | None, typer.Option(help="Only findings naming this actor id.")] = None,
    backfill: Annotated[
        bool,
        typer.Option(
            "--backfill",
            help="Also alert on the findings that match already (default: only new ones).",
        ),
    ] = False,
) -> None:
    """Add a rule. Give exactly one of --webhook, --email, --file; criteria left out match
    everything. Findings that already match are not sent unless --backfill."""
    from fimiwatch.alerts import Rule, add_rule

    given = {"webhook": webhook, "email": email, "file": str(file.resolve()) if file else None}
    chosen = {kind: where for kind, where in given.items() if where is not None}
    if len(chosen) != 1:
        raise BadInput("give exactly one of --webhook URL, --email ADDRESS, --file PATH")
    [(channel, destination)] = chosen.items()
    with _store(ctx) as store:
        try:
            rule = Rule(name, channel, destination, finding_type=type,
                        min_severity=min_severity, target=target, actor=actor)  # fmt: skip
            matched = add_rule(store, rule, backfill=backfill)
        except ValueError as exc:
            raise BadInput(str(exc)) from exc
    fate = "queued for the next send" if backfill else "skipped (use --backfill to send them)"
    console.print(Text(f"Added rule {name} → {channel} {destination}; "
                       f"{matched} findings that match already: {fate}."))  # fmt: skip


ALERT_RULE_COLUMNS = ["name", "finding_type", "min_severity", "target", "actor", "channel",
                      "destination", "enabled", "delivered", "pending", "failed"]  # fmt: skip
DELIVERY_COLUMNS = ["rule", "finding_id", "channel", "state", "attempts", "last_attempt_at",
                    "next_attempt_at", "last_error"]  # fmt: skip


@alerts_app.command("list")
def alerts_list(ctx: typer.Context) -> None:
    """Rules, with how many alerts each has delivered, has pending and gave up on."""
    from fimiwatch.alerts import list_rules

    with _store(ctx) as store:
        _print_plain_table(list_rules(store.con), ALERT_RULE_COLUMNS)


@alerts_app.command("remove")
def alerts_remove(ctx: typer.Context, name: Annotated[str, typer.Argument()]) -> None:
    """Remove a rule; its pending alerts are dropped and its delivery log with it."""
    from fimiwatch.alerts import remove_rule

    with _store(ctx) as store:
        if not remove_rule(store, name):
            raise BadInput(f"no alert rule {name!r}")
    console.print(Text(f"Removed rule {name}."))


@alerts_app.command("disable")
def alerts_disable(ctx: typer.Context, name: Annotated[str, typer.Argument()]) -> None:
    """Pause a rule: it queues and sends nothing until enabled."""
    _set_rule_enabled(ctx, name, False)


@alerts_app.command("enable")
def alerts_enable(ctx: typer.Context, name: Annotated[str, typer.Argument()]) -> None:
    """Resume a paused rule; findings that appeared while it was paused are not sent."""
    _set_rule_enabled(ctx, name, True)


def _set_rule_enabled(ctx: typer.Context, name: str, enabled: bool) -> None:
    from fimiwatch.alerts import set_enabled

    with _store(ctx) as store:
        if not set_enabled(store, name, enabled):
            raise BadInput(f"no alert rule {name!r}")
    console.print(Text(f"Rule {name} {'enabled' if enabled else 'disabled'}."))


@alerts_app.command("send")
def alerts_send(ctx: typer.Context) -> None:
    """Queue alerts for new matches and deliver those due now (`fimiwatch run` does this
    too); print what was delivered, will be retried, or was given up."""
    from fimiwatch.alerts import dispatch

    with _store(ctx) as store:
        summary = dispatch(store, _settings(ctx))
    for attempt in summary.attempts:
        if attempt.error:
            console.print(Text(f"{attempt.rule} {attempt.finding_id} ({attempt.channel}, "
                               f"{attempt.outcome}): {attempt.error}"))  # fmt: skip
    console.print(summary.describe())


@alerts_app.command("log")
def alerts_log(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, help="How many deliveries to show.")] = 50,
) -> None:
    """Deliveries, latest activity first: state (pending, delivered, failed), attempts, the
    next retry and the last error."""
    from fimiwatch.alerts import list_deliveries

    with _store(ctx) as store:
        _print_plain_table(list_deliveries(store.con, limit), DELIVERY_COLUMNS)


def _print_plain_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    """Like _print_table, but cells are never read as rich markup (errors quote servers)."""
    table = Table(*columns)
    for row in rows:
        table.add_row(*(Text(_cell(row.get(c))) for c in columns))
    out.print(table)
    if not rows:
        console.print("(none)")


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8765,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="Serve without tokens (loopback addresses only).")
    ] = False,
) -> None:
    """Serve the analyst workspace: pages at /, JSON under /api, OpenAPI at /openapi.json.
    People sign in, and API clients send a bearer token, with a token from `fimiwatch users
    add`; --no-auth (no sign-in) is allowed on a loopback address only."""
    import uvicorn

    from fimiwatch.web.app import LOOPBACK, create_app

    if no_auth and host not in LOOPBACK:
        raise BadInput(f"--no-auth is only allowed on a loopback address, not {host}")
    with _store(ctx) as store:
        console.print(f"Serving {_settings(ctx).db} on http://{host}:{port}/ "
                      f"({'no sign-in' if no_auth else 'sign in with a token'})")  # fmt: skip
        uvicorn.run(create_app(store, auth=not no_auth), host=host, port=port, log_level="warning")


@app.command()
def watch(
    ctx: typer.Context,
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help="Poll the sources that are due once, ingest, detect, exit (for cron and tests).",
        ),
    ] = False,
    listen: Annotated[
        str | None,
        typer.Option(
            help="HOST:PORT for /healthz and /metrics, e.g. 127.0.0.1:9465. "
            "Default: \\[watch] listen (none when empty)."
        ),
    ] = None,
    serve: Annotated[
        str | None,
        typer.Option(
            help="HOST:PORT to serve the analyst workspace on from this process, e.g. "
            "127.0.0.1:8765: `fimiwatch serve` cannot open a store a watcher holds.",
        ),
    ] = None,
    no_auth: Annotated[
        bool,
        typer.Option("--no-auth", help="Serve the workspace without tokens (loopback only)."),
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log every round, not only eventful ones.")
    ] = False,
) -> None:
    """Watch the sources: poll each on its interval with conditional requests, ingest new
    articles and complete files, bring the findings up to date incrementally after a round that
    added items (as `run --incremental`), and send the alerts they match. SIGTERM or Ctrl-C
    stops cleanly; a restart resumes. See docs/watch.md (also for running it as a systemd
    service)."""
    from fimiwatch.config import parse_listen
    from fimiwatch.watch.loop import run_watch
    from fimiwatch.watch.sources import watched_sources

    settings = _settings(ctx)
    address = settings.watch.listen if listen is None else listen
    for option, value in (("--listen", address), ("--serve", serve)):
        try:
            if value:
                parse_listen(value)
        except ValueError as exc:
            raise BadInput(f"{option}: {exc}") from exc
    if no_auth and not serve:
        raise BadInput("--no-auth applies to the workspace: give --serve HOST:PORT too")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")  # fmt: skip
    logging.getLogger("fimiwatch").setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.getLogger("httpx").setLevel(logging.INFO if verbose else logging.WARNING)
    with _store(ctx) as store:
        try:
            if not watched_sources(store, settings):
                raise BadInput("nothing to watch: add sources with `fimiwatch sources add` or "
                               "[[watch.sources]] in fimiwatch.toml")  # fmt: skip
            run_watch(store, settings, once=once, listen=address, serve=serve or "",
                      serve_auth=not no_auth)  # fmt: skip
        except ValueError as exc:
            raise BadInput(str(exc)) from exc
        except KeyboardInterrupt:
            console.print("interrupted: the step in progress was rolled back")
            raise typer.Exit(130) from None


@app.command()
def report(
    ctx: typer.Context,
    out_path: Annotated[
        Path, typer.Option("--out", help="The brief: an .html file, or .pdf (needs WeasyPrint).")
    ],
    since: Annotated[
        str | None,
        typer.Option(help="Only findings last seen on or after this date (YYYY-MM-DD)."),
    ] = None,
) -> None:
    """Write a self-contained brief (HTML or PDF): key findings with their evidence excerpts,
    narrative charts, laundered passages side by side, the data and ingest summary."""
    from datetime import UTC, datetime

    from fimiwatch.report.html import write_report
    from fimiwatch.report.pdf import PdfUnavailable

    if out_path.suffix.lower() not in (".html", ".htm", ".pdf"):
        raise BadInput(f"{out_path}: the report is HTML or PDF; name it .html or .pdf")
    start = None
    if since:
        try:
            start = datetime.fromisoformat(since).replace(tzinfo=UTC)
        except ValueError as exc:
            raise BadInput(f"--since {since!r} is not a date (YYYY-MM-DD)") from exc
    with _store(ctx) as store:
        try:
            write_report(store, out_path, start)
        except PdfUnavailable as exc:
            raise BadInput(str(exc)) from exc
    console.print(f"Report written to {out_path}")


@app.command()
def run(
    ctx: typer.Context,
    only: Annotated[
        str | None, typer.Option(help="Comma-separated detector names (default: all).")
    ] = None,
    incremental: Annotated[
        bool,
        typer.Option(
            "--incremental",
            help="Examine only what was ingested since each detector last ran, where that "
            "gives the same findings as a full run (as `fimiwatch watch` does); detectors "
            "whose settings, registry, watchlist or narratives changed run in full.",
        ),
    ] = False,
) -> None:
    """Enrich new items (language), run the detectors and print a summary of findings."""
    from fimiwatch.runner import run_pipeline

    selected = [name.strip() for name in only.split(",") if name.strip()] if only else None
    with _store(ctx) as store, _progress() as progress:
        tasks: dict[str, Any] = {}

        def advance(stage: str, n: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=None)
            progress.advance(tasks[stage], n)

        try:
            summary = run_pipeline(store, selected, advance, incremental=incremental)
        except ValueError as exc:
            raise BadInput(str(exc)) from exc
        counts = store.counts()
    _print_run_summary(summary, counts)


def _print_run_summary(summary: Any, counts: dict[str, int]) -> None:
    console.print(
        f"{counts['items']} items, {counts['accounts']} accounts, {counts['sources']} sources; "
        f"language detected for {summary.languages_detected} items; "
        f"{summary.mentions_linked} mentions of actors, outlets and targets linked"
    )
    if not summary.detectors:
        console.print("No detectors are installed yet: nothing to detect.")
    table = Table("detector", "findings", "seconds", "run")
    for name, (found, seconds) in summary.detectors.items():
        table.add_row(name, str(found), f"{seconds:.2f}", summary.modes.get(name, "full"))
    if summary.detectors:
        console.print(table)
    if summary.alerts is not None and (summary.alerts.queued or summary.alerts.attempts):
        console.print(f"Alerts: {summary.alerts.describe()}")


FINDING_COLUMNS = ["id", "type", "severity", "score", "title", "first_seen", "last_seen"]


@app.command()
def findings(
    ctx: typer.Context,
    type: Annotated[
        str | None, typer.Option("--type", help=f"One of: {', '.join(FINDING_TYPES)}.")
    ] = None,
    format: Annotated[OutputFormat, typer.Option("--format")] = OutputFormat.table,
) -> None:
    """List findings (highest score first) as a table, JSON Lines or CSV."""
    with _store(ctx) as store:
        try:
            rows = load_findings(store, type)
        except ValueError as exc:
            raise BadInput(str(exc)) from exc
    _write_rows(rows, format, list(rows[0]) if rows else FINDING_COLUMNS, FINDING_COLUMNS)


def _write_rows(
    rows: list[dict[str, Any]],
    format: OutputFormat,
    csv_columns: list[str],
    table_columns: list[str],
) -> None:
    """Rows to stdout as JSON Lines, CSV (lists and objects as JSON text) or a table."""
    if format is OutputFormat.jsonl:
        for row in rows:
            sys.stdout.buffer.write(orjson.dumps(row, default=str) + b"\n")
    elif format is OutputFormat.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(csv_columns)
        for row in rows:
            writer.writerow(
                [
                    orjson.dumps(v).decode() if isinstance(v, list | dict) else v
                    for v in (row[c] for c in csv_columns)
                ]
            )
    else:
        _print_table(rows, table_columns)


def _print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    table = Table(*columns)
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    out.print(table)
    if not rows:
        console.print("(none)")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


@app.command()
def network(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="Output: .gexf (Gephi), .graphml or .csv.")],
    types: Annotated[
        str | None,
        typer.Option(help="Comma-separated views (default: all): " + ", ".join(VIEWS) + "."),
    ] = None,
    window: Annotated[
        str | None,
        typer.Option(
            help="Seconds within which shared actions link accounts, or 'auto' to estimate "
            "it from the data (the fastest tenth of repeat actions on shared keys)."
        ),
    ] = None,
    min_significance: Annotated[
        float | None,
        typer.Option(
            help="Keep every edge at least this significant (−log10 chance probability), "
            "in a triangle or not (default 6; lower it to explore weaker ties)."
        ),
    ] = None,
) -> None:
    """Write the account network behind coordination findings, with per-edge evidence."""
    from fimiwatch.detect.coordination.edges import compute_edges, resolve_params
    from fimiwatch.detect.coordination.export import write_network

    overrides: dict[str, Any] = {}
    if types:
        overrides["views"] = tuple(t.strip() for t in types.split(",") if t.strip())
    if window == "auto":
        overrides["estimate_window"] = True
    elif window is not None:
        try:
            overrides["window_seconds"] = int(window)
        except ValueError:
            raise BadInput(f"--window: expected seconds or 'auto', got {window!r}") from None
    defaults = CoordinationParams()
    if min_significance is not None:  # exactly this bar: no rise for many candidates
        overrides["min_significance"] = min_significance
        overrides["family_error"] = None
        overrides["min_supported_significance"] = min(
            min_significance, defaults.min_supported_significance
        )
    params = replace(defaults, **overrides)
    with _store(ctx) as store:
        try:
            resolved = resolve_params(store, params)
            edges = compute_edges(store, resolved)
            written = write_network(edges, out)
        except ValueError as exc:
            raise BadInput(str(exc)) from exc
    if params.estimate_window:
        console.print(f"window estimated from the data: {resolved.window_seconds} s")
    console.print(f"{written} edges between {_accounts(edges)} accounts → {out}")


def _accounts(edges: Any) -> int:
    return len(set(edges["source"].to_pylist()) | set(edges["target"].to_pylist()))


@app.command()
def demo(
    ctx: typer.Context,
    serve: Annotated[
        bool | None,
        typer.Option(
            "--serve/--no-serve",
            help="Serve the workspace afterwards. Default: serve when run from a terminal, "
            "so scripts and CI are never left waiting on a server.",
        ),
    ] = None,
    report: Annotated[Path, typer.Option(help="Where to write the HTML report.")] = Path(
        "fimiwatch-demo-report.html"
    ),
) -> None:
    """Build a fresh store from the bundled demo corpus, run everything, write a report, then
    serve the workspace on http://127.0.0.1:8765/ without sign-in (loopback only)."""
    from fimiwatch.demo import run_demo

    settings = _settings(ctx)
    if settings.db == Settings().db:
        settings = load_settings(None, db=Path("fimiwatch-demo.duckdb"))
    with _progress() as progress:
        result = run_demo(settings, progress, report)
    _print_run_summary(result.run, result.counts)
    _print_table(result.findings, ["severity", "score", "title"])
    console.print(f"Store: {settings.db}   Report: {report}")
    if serve is None:
        serve = sys.stdin.isatty()
    if not serve:
        console.print(f"Browse it with: fimiwatch --db {settings.db} serve --no-auth")
        return
    import uvicorn

    from fimiwatch.web.app import create_app

    with _store_at(settings) as store:
        console.print("The workspace is at http://127.0.0.1:8765/ (no sign-in, loopback only; "
                      "Ctrl-C stops)")  # fmt: skip
        uvicorn.run(create_app(store, auth=False), host="127.0.0.1", port=8765,
                    log_level="warning")  # fmt: skip


@app.command("formats")
def formats() -> None:
    """List the input formats this installation can read (plugins included)."""
    for name, cls in sorted(plugins.readers().items()):
        out.print(f"{name:12} {(cls.__doc__ or '').strip().splitlines()[0]}")


def main() -> None:
    """Entry point: map errors to exit codes (2 bad input, 1 internal error).

    Usage errors are typer's own (exit 2); ``FIMIWATCH_DEBUG=1`` shows tracebacks.
    """
    for noisy in ("trafilatura", "htmldate", "courlan", "charset_normalizer"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    try:
        app()
    except (BadInput, ReadError, StoreError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        sys.exit(2)
    except Exception as exc:
        if os.environ.get("FIMIWATCH_DEBUG"):
            traceback.print_exc()
        console.print(f"[red]internal error:[/red] {type(exc).__name__}: {exc}")
        sys.exit(1)
