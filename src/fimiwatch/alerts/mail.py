"""The e-mail channel: one message per alert over SMTP (STARTTLS, TLS or plain).

Titles and summaries come from hostile data; the message is built with ``EmailMessage``, and
the subject is folded to one line first, so a CR/LF in a title cannot add headers.
"""

from __future__ import annotations

import hashlib
import os
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate

from fimiwatch.alerts.payload import Alert
from fimiwatch.config import AlertSettings

SUBJECT_CHARS = 200


def one_line(text: str, limit: int) -> str:
    """Every run of whitespace (CR, LF and Unicode line separators included) as one space."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def build_message(alert: Alert, sender: str, recipient: str) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = one_line(
        f"[fimiwatch] {alert.severity} {alert.type}: {alert.title}", SUBJECT_CHARS
    )
    message["From"] = sender
    message["To"] = recipient
    message["Date"] = formatdate(usegmt=True)
    # the same alert keeps its Message-ID, so a repeat after a crash threads as a duplicate
    digest = hashlib.sha256(alert.alert_id.encode()).hexdigest()[:32]
    message["Message-ID"] = f"<{digest}@fimiwatch>"
    seen = " – ".join(
        moment.isoformat() for moment in (alert.first_seen, alert.last_seen) if moment
    )
    message.set_content(
        f"{alert.title}\n\n"
        f"Severity: {alert.severity} (score {alert.score:.2f})\n"
        f"Type: {alert.type}\n"
        f"Targets: {', '.join(alert.targets) or '-'}\n"
        f"Actors: {', '.join(alert.actors) or '-'}\n"
        f"Seen: {seen or '-'}\n"
        f"Finding: {alert.link}\n"
        f"Rule: {alert.rule}\n\n"
        f"{alert.summary}\n"
    )
    return message


@dataclass(frozen=True)
class EmailChannel:
    recipient: str
    settings: AlertSettings

    def send(self, alert: Alert) -> None:
        message = build_message(alert, self.settings.smtp_from, self.recipient)
        with _connect(self.settings) as smtp:
            smtp.send_message(message)


def _connect(settings: AlertSettings) -> smtplib.SMTP:
    """A connection, encrypted as the settings say and logged in when a user is set."""
    context = ssl.create_default_context()
    host, port, timeout = settings.smtp_host, settings.smtp_port, settings.timeout_seconds
    smtp: smtplib.SMTP
    if settings.smtp_security == "ssl":
        smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(host, port, timeout=timeout)
    try:
        if settings.smtp_security == "starttls":
            smtp.starttls(context=context)
        if settings.smtp_username:
            password = os.environ.get(settings.smtp_password_env)
            if not password:
                raise smtplib.SMTPException(
                    f"smtp_username is set but ${settings.smtp_password_env} is empty"
                )
            smtp.login(settings.smtp_username, password)
    except BaseException:
        smtp.close()
        raise
    return smtp
