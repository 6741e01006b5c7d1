"""Where alerts go: a webhook (JSON POST), a mail address (SMTP, see ``mail``) or a file
(one JSON line per alert). A channel raises on failure; the dispatcher records and retries."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx
import orjson

from fimiwatch.alerts.mail import EmailChannel
from fimiwatch.alerts.payload import Alert
from fimiwatch.config import MAIL_ADDRESS, AlertSettings

CHANNELS: tuple[str, ...] = ("webhook", "email", "file")


class DeliveryError(Exception):
    """The receiver answered but did not take the alert (e.g. an HTTP error status)."""


class Channel(Protocol):
    def send(self, alert: Alert) -> None:
        """Deliver the alert or raise."""


def check_destination(channel: str, destination: str) -> None:
    """Refuse, when the rule is made, a destination its channel could never deliver to."""
    if channel == "webhook":
        try:
            url = httpx.URL(destination)
        except httpx.InvalidURL as exc:
            raise ValueError(f"webhook {destination!r}: {exc}") from exc
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"webhook {destination!r}: expected an http(s) URL")
    elif channel == "email":
        if not MAIL_ADDRESS.match(destination):
            raise ValueError(f"{destination!r} is not a mail address")
    elif channel == "file":
        if not Path(destination).is_absolute():
            raise ValueError(f"alert file {destination!r}: give an absolute path")
    else:
        raise ValueError(f"channel {channel!r} is not one of {', '.join(CHANNELS)}")


def open_channel(channel: str, destination: str, settings: AlertSettings) -> Channel:
    if channel == "webhook":
        return WebhookChannel(destination, settings.timeout_seconds)
    if channel == "email":
        return EmailChannel(destination, settings)
    if channel == "file":
        return FileChannel(Path(destination))
    raise ValueError(f"channel {channel!r} is not one of {', '.join(CHANNELS)}")


@dataclass(frozen=True)
class WebhookChannel:
    """POST the alert as JSON. Redirects are not followed: a webhook that moved is an error
    to fix in the rule, not a reason to send alerts somewhere else."""

    url: str
    timeout_seconds: float

    def send(self, alert: Alert) -> None:
        response = httpx.post(
            self.url,
            content=orjson.dumps(alert.to_json()),
            headers={
                "Content-Type": "application/json",
                "User-Agent": "fimiwatch-alerts",
                "Idempotency-Key": alert.alert_id,
            },
            timeout=self.timeout_seconds,
            follow_redirects=False,
        )
        if not response.is_success:
            raise DeliveryError(f"webhook answered HTTP {response.status_code}")


@dataclass(frozen=True)
class FileChannel:
    """Append one JSON line per alert, synced to disk before the delivery counts as done."""

    path: Path

    def send(self, alert: Alert) -> None:
        with self.path.open("ab") as handle:
            handle.write(orjson.dumps(alert.to_json()) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
