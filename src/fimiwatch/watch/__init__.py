"""Continuous monitoring (``fimiwatch watch``): poll sources, ingest what is new, detect, alert.

One job per module: ``sources`` (what to watch: ``fimiwatch.toml`` and ``sources add``),
``state`` (per-source poll state, the article queue and memory, detection progress), ``poll``
(conditional fetch of a feed or page and the article links in it), ``articles`` (fetch and
ingest one article page), ``folders`` (pick up complete files), ``detection`` (what runs after a
round that added items), ``loop`` (the scheduler: rounds, backoff, shutdown), ``metrics`` and
``service`` (``/metrics`` and ``/healthz``). See docs/watch.md.

Nothing is imported here: settings import ``sources`` while they load.
"""
