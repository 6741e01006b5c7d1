from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fimiwatch.config import IngestSettings
from fimiwatch.ingest.base import ReadError
from fimiwatch.ingest.webpage import HtmlReader

BODY = (
    "<p>Le gouvernement a annoncé aujourd'hui une série de mesures importantes concernant la "
    "politique étrangère du pays. Les ministres se sont réunis pendant plusieurs heures.</p>"
    "<script>document.write('INLINESCRIPT')</script>"
    "<p>Les observateurs estiment que cette décision aura des conséquences durables sur les "
    "relations diplomatiques avec plusieurs partenaires européens et asiatiques.</p>"
)


def page(head: str = "", body: str = BODY, lang: str = "fr") -> str:
    return (
        f'<!doctype html><html lang="{lang}"><head><title>Big news | Le Site</title>{head}'
        '<script src="https://evil.example/a.js"></script><style>p{color:red}</style>'
        '<link rel="stylesheet" href="https://evil.example/s.css">'
        '<script>var HEADSCRIPT = fetch("https://evil.example/pixel")</script></head>'
        f"<body><nav>Home | About</nav><article><h1>Big news</h1>{body}"
        '<img src="https://tracker.example/p.gif"><iframe src="https://evil.example/f"></iframe>'
        "</article><footer>Copyright</footer></body></html>"
    )


FULL_HEAD = (
    '<meta property="og:site_name" content="Le Site">'
    '<meta name="description" content="A description">'
    '<link rel="canonical" href="https://example.org/articles/big-news">'
    '<meta name="author" content="Jean Dupont">'
    '<meta property="article:published_time" content="2024-03-05T14:30:00+01:00">'
)


def write(tmp_path: Path, content: str | bytes, name: str = "page.html") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def test_article_with_metadata(tmp_path: Path, read: Any, no_network: None) -> None:
    result = read(HtmlReader, write(tmp_path, page(FULL_HEAD)))
    item = result.items[0]
    assert item["id"] == item["url"] == "https://example.org/articles/big-news"
    assert item["title"] == "Big news"
    assert item["published_at"] == "2024-03-05T14:30:00+01:00"
    assert item["account_name"] == "Jean Dupont"
    assert item["lang"] == "fr"
    assert item["text"].startswith("Big news\nLe gouvernement a annoncé")
    for hidden in ("INLINESCRIPT", "HEADSCRIPT", "color:red", "Copyright", "Home | About"):
        assert hidden not in item["text"]
    extra = result.extra()
    assert extra["sitename"] == "Le Site"
    assert extra["description"] == "A description"
    assert extra["hostname"] == "example.org"


def test_date_only_becomes_midnight_utc(tmp_path: Path, read: Any) -> None:
    head = '<meta name="date" content="2024-03-05">'
    assert read(HtmlReader, write(tmp_path, page(head))).items[0]["published_at"] == (
        "2024-03-05T00:00:00Z"
    )


def test_page_without_date_is_staged_without_one(tmp_path: Path, read: Any) -> None:
    result = read(HtmlReader, write(tmp_path, page()))
    item = result.items[0]
    assert item["published_at"] is None
    assert item["id"].startswith("sha256:") and item["url"] is None


def test_fetched_url_is_used_without_a_canonical_one(read: Any) -> None:
    data = page('<link rel="canonical" href="javascript:alert(1)">').encode()
    result = read(HtmlReader, data, name="https://mirror.example/story?id=1")
    assert result.items[0]["id"] == result.items[0]["url"] == "https://mirror.example/story?id=1"


def test_canonical_differing_from_fetched_url_is_kept_as_evidence(read: Any) -> None:
    result = read(HtmlReader, page(FULL_HEAD).encode(), name="https://launder.example/copy")
    assert result.items[0]["url"] == "https://example.org/articles/big-news"
    assert result.extra()["fetched_url"] == "https://launder.example/copy"


def test_same_page_same_id(tmp_path: Path, read: Any) -> None:
    first = read(HtmlReader, write(tmp_path, page(), "a.html")).items[0]["id"]
    second = read(HtmlReader, write(tmp_path, page(), "b.html")).items[0]["id"]
    assert first == second


def test_page_without_text_is_a_reject(tmp_path: Path, read: Any) -> None:
    result = read(HtmlReader, write(tmp_path, "<html><body><script>x()</script></body></html>"))
    assert result.items == []
    assert result.rejects[0]["reason"] == "no article text found in the page"


@pytest.mark.parametrize("content", [b"", b"\x00\xff\xfe\x00 binary", b"<div>" * 50_000])
def test_not_html_is_a_read_error(tmp_path: Path, read: Any, content: bytes) -> None:
    with pytest.raises(ReadError, match=r"odd\.html"):
        read(HtmlReader, write(tmp_path, content, "odd.html"))


def test_hostile_pages_do_not_crash(tmp_path: Path, read: Any, no_network: None) -> None:
    deep = "<html><body>" + "<div>" * 20_000 + BODY + "</div>" * 20_000 + "</body></html>"
    read(HtmlReader, write(tmp_path, deep, "deep.html"))
    huge = page(body="<p>" + "mot " * 500_000 + "</p>" + BODY)
    result = read(
        HtmlReader, write(tmp_path, huge, "huge.html"), IngestSettings(max_text_chars=1000)
    )
    assert len(result.items[0]["text"]) <= 1000
    latin = page(FULL_HEAD).replace("<head>", '<head><meta charset="windows-1252">')
    result = read(HtmlReader, write(tmp_path, latin.encode("cp1252"), "latin.html"))
    assert "étrangère" in result.items[0]["text"]


def test_oversize_is_refused(tmp_path: Path, read: Any) -> None:
    with pytest.raises(ReadError, match="over the limit"):
        read(HtmlReader, write(tmp_path, page()), IngestSettings(max_document_bytes=100))


def test_sniff() -> None:
    assert HtmlReader.sniff("x", b"<!DOCTYPE html><html>") >= 80
    assert HtmlReader.sniff("story.htm", b"hello") >= 50
    assert HtmlReader.sniff("x.xml", b'<?xml version="1.0"?><rss version="2.0">') == 0
    assert HtmlReader.sniff("x.jsonl", b'{"id": 1}') == 0


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=300), st.text(max_size=40), st.text(max_size=40))
def test_any_text_in_a_page_yields_valid_batches(
    read: Any, body: str, date: str, canonical: str
) -> None:
    head = (
        f'<meta property="article:published_time" content="{date}">'
        f'<link rel="canonical" href="{canonical}">'
    )
    data = page(head, body=f"<p>{body}</p>" + BODY).encode("utf-8", "surrogatepass")
    result = read(HtmlReader, data)
    assert result.items and result.items[0]["id"]


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=500), st.sampled_from([b"", b"<html><body><p>", b"<!doctype html>"]))
def test_any_bytes_yield_valid_batches_or_read_error(read: Any, data: bytes, prefix: bytes) -> None:
    with contextlib.suppress(ReadError):
        read(HtmlReader, prefix + data)


def test_declared_publication_time_beats_the_date_in_the_url(tmp_path: Path, read: Any) -> None:
    page = tmp_path / "p.html"
    page.write_text(
        "<html><head><title>T</title>"
        '<link rel="canonical" href="https://site.example/2024/05/10/story/">'
        '<meta property="article:published_time" content="2024-05-10T14:35:00+02:00">'
        "</head><body><article><h1>Story</h1>"
        + "<p>A long enough paragraph of article text for extraction to keep it.</p>" * 8
        + "</article></body></html>"
    )
    assert read(HtmlReader, page).items[0]["published_at"] == "2024-05-10T14:35:00+02:00"
