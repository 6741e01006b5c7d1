"""Triage of a file uploaded to the workspace: the same readers and indicators as
``fimiwatch triage``, on a size-limited upload held in memory that never touches the store."""

from __future__ import annotations

import io
from typing import Any

from fimiwatch.ingest.base import ReadError
from fimiwatch.triage.email import Known, triage_messages
from fimiwatch.triage.profile import triage_profile_data

UPLOAD_BYTES = 5 * 1024 * 1024


def triage_upload(
    kind: str, filename: str, data: bytes, known: Known | None = None
) -> dict[str, Any]:
    """``{"file", "kind", "verdicts": [{"label", "verdict", "score", "indicators", …}]}``.

    Raises ValueError (with the file's name) for an upload that is too large or unreadable.
    """
    if len(data) > UPLOAD_BYTES:
        raise ValueError(f"{filename}: larger than {UPLOAD_BYTES // (1024 * 1024)} MB")
    if not data:
        raise ValueError(f"{filename}: the upload is empty")
    try:
        if kind == "email":
            labelled = triage_messages(io.BytesIO(data), filename, known=known)
        else:
            profiles = triage_profile_data(data, filename)
            labelled = [(f"{filename}#{n}", verdict) for n, verdict in enumerate(profiles, 1)]
    except ReadError as error:
        raise ValueError(str(error)) from error
    return {
        "file": filename,
        "kind": kind,
        "verdicts": [{"label": label, **verdict.to_dict()} for label, verdict in labelled],
    }
