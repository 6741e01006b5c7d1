"""Every default in one place: the CLI, the library, the web app and the docs read these.

Settings come from, in rising priority: the defaults below, ``fimiwatch.toml`` in the current
directory (or the file named by ``FIMIWATCH_CONFIG``), and ``FIMIWATCH_*`` environment variables.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

DEFAULT_LANGUAGES: tuple[str, ...] = (
    "en", "fr", "de", "cs", "sk", "lt", "lv", "et", "pl",
    "ru", "uk", "zh", "it", "es", "nl", "hu", "ro", "bg",
)  # fmt: skip

PLATFORMS: tuple[str, ...] = (
    "web", "rss", "twitter", "telegram", "facebook", "vk", "weibo",
    "youtube", "tiktok", "linkedin", "email", "other",
)  # fmt: skip

AFFILIATIONS: tuple[str, ...] = (
    "state_media", "state_affiliated", "government", "diplomat", "proxy", "independent", "unknown",
)  # fmt: skip


@dataclass(frozen=True)
class FetchSettings:
    """Limits for fetching feeds and pages from URLs (see ``ingest/fetch.py``)."""

    allow_private: bool = False
    max_bytes: int = 20 * 1024 * 1024
    timeout_seconds: float = 20.0
    max_redirects: int = 5
    user_agent: str = "fimiwatch/0.1 (+https://github.com/fimiwatch)"


@dataclass(frozen=True)
class IngestSettings:
    """Bounds on hostile input; a record over a bound is quarantined, never half-read."""

    max_record_bytes: int = 4 * 1024 * 1024
    max_file_bytes: int = 64 * 1024 * 1024 * 1024
    max_document_bytes: int = 64 * 1024 * 1024
    max_json_depth: int = 64
    max_mail_parts: int = 200
    max_text_chars: int = 1_000_000
    chunk_bytes: int = 32 * 1024 * 1024


SMTP_SECURITY: tuple[str, ...] = ("starttls", "ssl", "none")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
_ADDRESS_PART = r"[^@\s,;<>\"\x00-\x1f\x7f]+"
MAIL_ADDRESS = re.compile(f"^{_ADDRESS_PART}@{_ADDRESS_PART}\\Z")
"""One bare address: no display name, no list, nothing that could break a mail header."""


@dataclass(frozen=True)
class AlertSettings:
    """How alerts are delivered and retried (docs/alerts.md); checked when settings load, so
    a bad value fails at start-up rather than at the first delivery."""

    smtp_host: str = "localhost"
    smtp_port: int = 587
    smtp_from: str = "fimiwatch@localhost"
    smtp_security: str = "starttls"
    """starttls (upgrade a plain connection), ssl (TLS from the start, port 465) or none."""
    smtp_username: str = ""
    """Empty: no login. The password is read from the variable named by smtp_password_env."""
    smtp_password_env: str = "FIMIWATCH_SMTP_PASSWORD"
    timeout_seconds: float = 10.0
    max_attempts: int = 8
    backoff_seconds: float = 30.0
    """The wait after the first failure; it doubles after each further one."""
    backoff_max_seconds: float = 3600.0
    backoff_jitter: float = 0.2
    """Each wait grows by a random fraction up to this, so retries to one endpoint spread."""
    link_base: str = ""
    """Prefix of the finding link in alerts, e.g. ``https://watch.example.org``; empty gives
    the path alone (``/findings/ID``)."""

    def __post_init__(self) -> None:
        problems = []
        if self.smtp_security not in SMTP_SECURITY:
            problems.append(f"smtp_security must be one of {', '.join(SMTP_SECURITY)}")
        if not 0 < self.smtp_port < 65536:
            problems.append("smtp_port must be 1–65535")
        if not MAIL_ADDRESS.match(self.smtp_from):
            problems.append(f"smtp_from {self.smtp_from!r} is not a mail address")
        if not _ENV_NAME.match(self.smtp_password_env):
            problems.append("smtp_password_env must name an environment variable")
        if self.timeout_seconds <= 0 or self.backoff_seconds <= 0:
            problems.append("timeout_seconds and backoff_seconds must be positive")
        if not 1 <= self.max_attempts <= 100:
            problems.append("max_attempts must be 1–100")
        if self.backoff_max_seconds < self.backoff_seconds:
            problems.append("backoff_max_seconds must be at least backoff_seconds")
        if not 0 <= self.backoff_jitter <= 1:
            problems.append("backoff_jitter must be between 0 and 1")
        if self.smtp_username and self.smtp_security == "none" and self.smtp_host not in _LOOPBACK:
            problems.append("a password is sent only encrypted: smtp_security starttls or ssl")
        if problems:
            raise ValueError("[alerts]: " + "; ".join(problems))


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd]?)")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: str | float) -> float:
    """Seconds from a number or a text such as ``"90"``, ``"45s"``, ``"15m"``, ``"2h"``,
    ``"1h30m"`` or ``"1d"``; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip().lower()
    parts = list(_DURATION_PART.finditer(text))
    if not text or "".join(p.group(0) for p in parts).replace(" ", "") != text.replace(" ", ""):
        raise ValueError(f"{value!r} is not a duration (seconds, or e.g. 90s, 15m, 2h, 1d)")
    return float(sum(float(p.group(1)) * _UNIT_SECONDS[p.group(2)] for p in parts))


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9465`` for IPv6) as a (host, port) pair; ValueError otherwise."""
    host, sep, port = value.strip().rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"listen address {value!r} is not HOST:PORT (e.g. 127.0.0.1:9465)")
    return host, int(port)


@dataclass(frozen=True)
class WatchSettings:
    """``fimiwatch watch``: polling, backoff, bounds per round, the health and metrics listener,
    and the ``[[watch.sources]]`` to watch (docs/watch.md). Checked when settings load."""

    every: float = 900.0
    """Default poll interval in seconds (``"15m"``, ``"2h"`` are accepted in the file)."""
    backoff_seconds: float = 60.0
    """The wait after a source's first failure, doubling after each further one; a failing
    source is never polled more often than its interval."""
    backoff_max_seconds: float = 6 * 3600.0
    backoff_jitter: float = 0.2
    """Each wait shrinks by a random fraction up to this, so failing sources spread out."""
    max_articles_per_round: int = 50
    """Article pages fetched per feed or page source in one round; the rest wait their turn."""
    max_article_attempts: int = 3
    """Failed fetches of one article page before it is given up."""
    max_links_per_page: int = 200
    max_files_per_round: int = 100
    """Files ingested per folder source in one round."""
    concurrency: int = 4
    """Fetches in flight at once (ingest itself is one at a time)."""
    detect: bool = True
    """Run detectors (and send alerts) after a round that added items."""
    listen: str = ""
    """``HOST:PORT`` for ``/healthz`` and ``/metrics``, e.g. ``127.0.0.1:9465``; empty: none."""
    sources: tuple[Any, ...] = ()
    """``[[watch.sources]]`` tables, checked and turned into
    :class:`fimiwatch.watch.sources.WatchedSource` objects."""

    def __post_init__(self) -> None:
        from fimiwatch.watch.sources import parse_config_sources

        problems = []
        try:
            object.__setattr__(self, "every", parse_duration(self.every))
            if not 1 <= self.every <= 7 * 86400:
                problems.append("every must be between 1 second and 7 days")
        except ValueError as exc:
            problems.append(f"every: {exc}")
        if self.backoff_seconds <= 0 or self.backoff_max_seconds < self.backoff_seconds:
            problems.append("backoff_seconds must be positive and at most backoff_max_seconds")
        if not 0 <= self.backoff_jitter < 1:
            problems.append("backoff_jitter must be at least 0 and below 1")
        for name in ("max_articles_per_round", "max_article_attempts", "max_links_per_page",
                     "max_files_per_round"):  # fmt: skip
            if not 1 <= getattr(self, name) <= 100_000:
                problems.append(f"{name} must be 1–100000")
        if not 1 <= self.concurrency <= 64:
            problems.append("concurrency must be 1–64")
        if self.listen:
            try:
                parse_listen(self.listen)
            except ValueError as exc:
                problems.append(str(exc))
        if not problems:
            try:
                object.__setattr__(self, "sources", parse_config_sources(self.sources, self.every))
            except ValueError as exc:
                problems.append(str(exc))
        if problems:
            raise ValueError("[watch]: " + "; ".join(problems))


@dataclass(frozen=True)
class Settings:
    db: Path = Path("fimiwatch.duckdb")
    quarantine: Path | None = None
    languages: tuple[str, ...] = DEFAULT_LANGUAGES
    duckdb_memory_limit: str = "768MB"
    duckdb_threads: int | None = None
    ingest: IngestSettings = field(default_factory=IngestSettings)
    fetch: FetchSettings = field(default_factory=FetchSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    watch: WatchSettings = field(default_factory=WatchSettings)
    detectors: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per detector, parameters that replace its defaults: ``[detectors.narratives]`` with
    ``backend = "use-onnx"`` (checked when the detector is built)."""

    @property
    def quarantine_path(self) -> Path:
        """Rejected records land next to the store unless told otherwise."""
        return self.quarantine or self.db.with_suffix(".quarantine.jsonl")


_PATH_SETTINGS = frozenset({"db", "quarantine"})
_INT_SETTINGS = frozenset({"duckdb_threads"})
_DURATION_SETTINGS = frozenset({"every"})


def _coerce(key: str, value: str, current: Any) -> Any:
    if key in _DURATION_SETTINGS:
        return parse_duration(value)
    if key in _PATH_SETTINGS:
        return Path(value)
    if key in _INT_SETTINGS:
        return int(value)
    if isinstance(current, bool):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(current, int):
        return int(value)
    if isinstance(current, float):
        return float(value)
    if isinstance(current, tuple):
        return tuple(part for part in value.replace(",", " ").split() if part)
    return value


def _apply(obj: Any, values: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in fields(obj)}
    changes: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            raise ValueError(f"{where}: unknown setting {key!r}")
        current = getattr(obj, key)
        if key == "detectors":
            if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
                raise ValueError(f"{where}: [detectors.NAME] must be tables of parameters")
            changes[key] = {name: dict(params) for name, params in value.items()}
        elif hasattr(current, "__dataclass_fields__"):
            if not isinstance(value, dict):
                raise ValueError(f"{where}: [{key}] must be a table")
            changes[key] = _apply(current, value, f"{where} [{key}]")
        elif isinstance(value, str | Path):
            changes[key] = _coerce(key, str(value), current)
        elif isinstance(current, tuple):
            changes[key] = tuple(value)
        else:
            changes[key] = value
    return replace(obj, **changes)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings from defaults, the TOML file, the environment, then explicit overrides."""
    settings = Settings()
    path = config_file or Path(os.environ.get("FIMIWATCH_CONFIG", "fimiwatch.toml"))
    if path.is_file():
        with path.open("rb") as handle:
            settings = _apply(settings, tomllib.load(handle), str(path))
    env: dict[str, Any] = {}
    for name in ("db", "quarantine", "languages", "duckdb_memory_limit", "duckdb_threads"):
        value = os.environ.get(f"FIMIWATCH_{name.upper()}")
        if value:
            env[name] = value
    if os.environ.get("FIMIWATCH_ALLOW_PRIVATE_FETCH"):
        env["fetch"] = {"allow_private": os.environ["FIMIWATCH_ALLOW_PRIVATE_FETCH"]}
    settings = _apply(settings, env, "environment")
    given = {k: v for k, v in overrides.items() if v is not None}
    return _apply(settings, given, "arguments")
