"""The brief as PDF, through WeasyPrint (the optional ``pdf`` extra; it needs the Pango
library, which Debian's ``libpango-1.0-0`` provides).

The HTML is the self-contained brief; WeasyPrint is still given a fetcher that refuses every
URL but inline ``data:`` ones, so a link in hostile text can never make it fetch anything.
"""

from __future__ import annotations

from pathlib import Path


class PdfUnavailable(RuntimeError):
    """WeasyPrint or its system libraries are missing."""


def write_pdf(html: str, path: Path) -> Path:
    try:
        import weasyprint
    except (ImportError, OSError) as error:
        raise PdfUnavailable(
            "PDF needs WeasyPrint and Pango: pip install 'fimiwatch[pdf]' "
            f"(and apt-get install libpango-1.0-0); {error}"
        ) from error
    path.parent.mkdir(parents=True, exist_ok=True)
    fetcher = weasyprint.urls.URLFetcher(allowed_protocols={"data"}, allow_redirects=False)
    weasyprint.HTML(string=html, url_fetcher=fetcher).write_pdf(path)
    return path
