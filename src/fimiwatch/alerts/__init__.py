"""Alerts: rules pick findings, channels deliver each (rule, finding) once, failures retry.

``rules`` stores rules and queues their matches, ``payload`` says what one alert carries,
``channels`` and ``mail`` deliver it, ``dispatch`` drives queueing, delivery and backoff,
``queries`` reads rules and the delivery log.
"""

from __future__ import annotations

from fimiwatch.alerts.dispatch import DispatchSummary, dispatch
from fimiwatch.alerts.queries import list_deliveries, list_rules
from fimiwatch.alerts.rules import Rule, add_rule, remove_rule, set_enabled

__all__ = [
    "DispatchSummary",
    "Rule",
    "add_rule",
    "dispatch",
    "list_deliveries",
    "list_rules",
    "remove_rule",
    "set_enabled",
]
