"""``fimiwatch export stix`` and ``fimiwatch import stix``: STIX 2.1 exchange (docs/stix.md).

Two small Typer apps for the main CLI to mount::

    app.add_typer(export_app, name="export")
    app.add_typer(import_app, name="import")

Settings come from ``ctx.obj`` as everywhere else; an unreadable bundle raises ``ReadError``
(exit 2 from the main entry), a bad option value is a usage error (exit 2).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from fimiwatch.config import Settings
from fimiwatch.store import Store

console = Console(stderr=True)

export_app = typer.Typer(
    help="Export the knowledge base and findings for other tools.", no_args_is_help=True
)
import_app = typer.Typer(help="Import knowledge from other tools.", no_args_is_help=True)


@export_app.callback()
def _export_group() -> None:
    """Export the knowledge base and findings for other tools."""


@import_app.callback()
def _import_group() -> None:
    """Import knowledge from other tools."""


class Tlp(StrEnum):
    clear = "clear"
    green = "green"
    amber = "amber"
    amber_strict = "amber+strict"
    red = "red"


def _settings(ctx: typer.Context) -> Settings:
    settings = ctx.obj
    if not isinstance(settings, Settings):  # run outside the main app (tests, embedding)
        settings = Settings()
    return settings


@contextmanager
def _store(ctx: typer.Context) -> Iterator[Store]:
    settings = _settings(ctx)
    store = Store(settings.db, settings)
    try:
        yield store
    finally:
        store.close()


def _prepare_kb(store: Store) -> None:
    """Build the knowledge base if the store has none yet (or it is stale), so that an export
    holds it and an import merges into it."""
    from fimiwatch.intel.kb import ensure_kb

    ensure_kb(store)


@export_app.command("stix")
def export_stix(
    ctx: typer.Context,
    tlp: Annotated[
        Tlp,
        typer.Option(
            "--tlp",
            help="TLP 2.0 marking of the export. A finding whose own TLP is stricter keeps "
            "its own; TLP:RED material is left out unless --tlp red.",
        ),
    ] = Tlp.amber,
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Bundle file to write (JSON), or - for stdout."),
    ] = ...,  # type: ignore[assignment]  # required: typer reads ... as "no default"
    since: Annotated[
        str | None,
        typer.Option(
            help="Only findings last seen (and incidents ending) on or after this ISO 8601 "
            "date or time, e.g. 2024-05-01."
        ),
    ] = None,
    misp: Annotated[
        bool,
        typer.Option(
            "--misp",
            help="Write incidents as campaigns, which MISP's STIX import reads (it reads no "
            "incident objects).",
        ),
    ] = False,
) -> None:
    """Write a STIX 2.1 bundle: actors, techniques, incidents, state sources and findings."""
    from fimiwatch.intel.stix_export import as_datetime, parse_tlp, write_bundle
    from fimiwatch.intel.stix_export import export_stix as build

    level = parse_tlp(tlp.value)
    assert level is not None
    if since is not None:
        try:
            as_datetime(since)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--since") from None
    with _store(ctx) as store:
        _prepare_kb(store)
        if str(out) == "-":
            result = build(store, level, since, misp=misp)
            sys.stdout.write(result.serialize())
            sys.stdout.flush()
        else:
            result = write_bundle(store, out, level, since, misp=misp)
    counts = result.counts
    kinds = ", ".join(f"{n} {kind}" for kind, n in counts.items())
    console.print(
        f"{sum(counts.values())} STIX objects ({kinds}); {result.findings} findings "
        f"marked TLP:{level.upper()} or stricter" + ("" if str(out) == "-" else f" → {out}")
    )
    if result.raised:
        console.print(
            f"[yellow]{len(result.raised)} finding(s) carry a stricter TLP of their own:[/yellow] "
            + ", ".join(result.raised)
        )
    if result.withheld:
        console.print(
            f"[yellow]{len(result.withheld)} TLP:RED item(s) left out (export with --tlp red "
            "to include them):[/yellow] " + ", ".join(result.withheld)
        )


@import_app.command("stix")
def import_stix(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="STIX 2.1 bundle (JSON), e.g. from OpenCTI.")],
) -> None:
    """Load actors, aliases, techniques and incidents from a STIX 2.1 bundle into the KB."""
    from fimiwatch.intel.stix_import import import_bundle
    from fimiwatch.quarantine import quarantine_rejects

    settings = _settings(ctx)
    with _store(ctx) as store:
        _prepare_kb(store)
        summary = import_bundle(store, file)
        quarantine_rejects(store, settings.quarantine_path, str(file), summary.rejected)
    table = Table("knowledge", "added", "merged")
    table.add_row("actors", str(summary.actors_added), str(summary.actors_merged))
    table.add_row("aliases", str(summary.aliases_added), "")
    table.add_row("techniques", str(summary.techniques_added), str(summary.techniques_merged))
    table.add_row("incidents", str(summary.incidents_added), str(summary.incidents_merged))
    table.add_row("indicators", str(summary.indicators_added), "")
    console.print(table)
    console.print(
        f"{summary.objects} objects read from {file}; {summary.relationships_used} "
        "relationships used"
        + (
            "; ignored: " + ", ".join(f"{n} {what}" for what, n in sorted(summary.ignored.items()))
            if summary.ignored
            else ""
        )
    )
    for _, reason, _ in summary.rejected:
        console.print(f"[yellow]{file}: {reason}[/yellow]")
    if summary.rejected:
        console.print(
            f"{len(summary.rejected)} object(s) rejected (see {settings.quarantine_path})"
        )
