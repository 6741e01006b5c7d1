"""The one registry through which readers and detectors are found, built-ins included.

Like datasette's hookspecs: fimiwatch's own readers and detectors are plugins registered here,
and a third-party package adds its own by exposing a module under the ``fimiwatch`` entry-point
group that implements these hooks.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from fimiwatch.detect.base import Detector
    from fimiwatch.ingest.base import Reader

hookspec = pluggy.HookspecMarker("fimiwatch")
hookimpl = pluggy.HookimplMarker("fimiwatch")

BUILTIN_PLUGINS = (
    "fimiwatch.ingest.builtin",
    "fimiwatch.detect.builtin",
)


class Hooks:
    @hookspec
    def fimiwatch_readers(self) -> list[type[Reader]]:  # type: ignore[empty-body]
        """Reader classes this plugin provides."""

    @hookspec
    def fimiwatch_detectors(self) -> list[type[Detector]]:  # type: ignore[empty-body]
        """Detector classes this plugin provides."""


@cache
def plugin_manager() -> pluggy.PluginManager:
    import importlib

    manager = pluggy.PluginManager("fimiwatch")
    manager.add_hookspecs(Hooks)
    for module_name in BUILTIN_PLUGINS:
        manager.register(importlib.import_module(module_name), name=module_name)
    manager.load_setuptools_entrypoints("fimiwatch")
    return manager


def _unique(kind: str, classes: list[type]) -> dict[str, type]:
    found: dict[str, type] = {}
    for cls in classes:
        name = cls.name  # type: ignore[attr-defined]
        if name in found and found[name] is not cls:
            raise RuntimeError(f"two {kind}s are registered as {name!r}")
        found[name] = cls
    return found


def readers() -> dict[str, type[Reader]]:
    """Every registered reader, by ``--format`` name."""
    hooks = plugin_manager().hook.fimiwatch_readers()
    return _unique("reader", [cls for group in hooks for cls in group])


def detectors() -> dict[str, type[Detector]]:
    """Every registered detector, by name."""
    hooks = plugin_manager().hook.fimiwatch_detectors()
    return _unique("detector", [cls for group in hooks for cls in group])
