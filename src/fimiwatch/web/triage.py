"""Triage of a file uploaded to the workspace: the same readers and indicators as
``fimiwatch triage``, on a size-limited upload that never touches the store."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fimiwatch.ingest.base import ReadError
from fimiwatch.triage.email import Known, triage_mailbox
from fimiwatch.triage.profile import triage_profiles

UPLOAD_BYTES = 5 * 1024 * 1024
SUFFIXES = {"email": (".eml", ".mbox"), "profile": (".json", ".jsonl")}


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
    suffix = Path(filename).suffix.lower()
    suffix = suffix if suffix in SUFFIXES[kind] else SUFFIXES[kind][0]
    with tempfile.TemporaryDirectory(prefix="fimiwatch-triage-") as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(data)
        try:
            if kind == "email":
                labelled = [(label.replace(str(path), filename), verdict)
                            for label, verdict in triage_mailbox(path, known=known)]  # fmt: skip
            else:
                labelled = [(f"{filename}#{number}", verdict)
                            for number, verdict in enumerate(triage_profiles(path), 1)]  # fmt: skip
        except ReadError as error:
            raise ValueError(str(error).replace(str(path), filename)) from error
    return {
        "file": filename,
        "kind": kind,
        "verdicts": [{"label": label, **verdict.to_dict()} for label, verdict in labelled],
    }
