"""Registers fimiwatch's own detectors through the plugin hook, as a third party would."""

from __future__ import annotations

from fimiwatch.detect.base import Detector
from fimiwatch.plugins import hookimpl


@hookimpl
def fimiwatch_detectors() -> list[type[Detector]]:
    from fimiwatch.detect.coordination.detector import CoordinationDetector
    from fimiwatch.detect.laundering.detector import LaunderingDetector
    from fimiwatch.detect.narratives.detector import NarrativeDetector
    from fimiwatch.detect.phishing import PhishingDetector
    from fimiwatch.detect.recruitment import RecruitmentDetector
    from fimiwatch.detect.targeting import TargetingDetector

    return [
        CoordinationDetector,
        LaunderingDetector,
        NarrativeDetector,
        PhishingDetector,
        RecruitmentDetector,
        TargetingDetector,
    ]
