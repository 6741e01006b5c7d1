from __future__ import annotations

import contextlib
import pyexpat
import time
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fimiwatch.config import IngestSettings
from fimiwatch.ingest.base import ReadError
from fimiwatch.ingest.feeds import FeedReader, without_doctype

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel>
<title>CGTN Europe</title><link>https://cgtn.example/</link><language>en-GB</language>
<item>
  <title>Hello &amp; world</title>
  <link>https://cgtn.example/a/1</link>
  <guid>urn:cgtn:1</guid>
  <pubDate>Tue, 05 Mar 2024 14:30:00 +0100</pubDate>
  <author>zhang@cgtn.example (Zhang Wei)</author>
  <category>Europe</category>
  <description><![CDATA[<p>Para <a href="https://other.example/x">one</a></p>
  <script>alert("SCRIPTTEXT")</script><style>.x{}</style><p>two</p>
  <img src="https://track.example/p.gif">]]></description>
</item>
<item><title>No guid</title><link>https://cgtn.example/a/2</link><description>plain</description></item>
<item><title>Nothing</title><description>no link, no guid, no date</description></item>
</channel></rss>
"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="de">
  <title>Sputnik DE</title><link href="https://sputnik.example/"/>
  <entry>
    <id>tag:sputnik.example,2024:1</id>
    <title type="html">&lt;b&gt;Bold&lt;/b&gt; title</title>
    <updated>2024-03-05T10:00:00Z</updated>
    <author><name>Redaktion</name></author>
    <link href="https://sputnik.example/1"/>
    <content type="html">&lt;p&gt;Inhalt mit &lt;a href="https://x.example/"&gt;Link&lt;/a&gt;&lt;/p&gt;</content>
  </entry>
</feed>
"""


def write(tmp_path: Path, content: str | bytes, name: str = "feed.xml") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def test_rss(tmp_path: Path, read: Any, no_network: None) -> None:
    result = read(FeedReader, write(tmp_path, RSS))
    first, second, third = result.items
    assert first["id"] == "urn:cgtn:1"
    assert first["published_at"] == "2024-03-05T13:30:00Z"
    assert first["title"] == "Hello & world"
    assert first["text"] == "Para one\ntwo"
    assert "SCRIPTTEXT" not in first["text"]
    assert first["url"] == "https://cgtn.example/a/1"
    assert first["account_name"] == "zhang@cgtn.example (Zhang Wei)"
    assert first["links"] == ["https://other.example/x", "https://cgtn.example/a/1"]
    assert first["lang"] == "en"
    assert result.extra(0) == {
        "categories": ["Europe"],
        "feed_title": "CGTN Europe",
        "feed_link": "https://cgtn.example/",
    }
    assert second["id"] == "https://cgtn.example/a/2"  # no guid: the link
    assert second["published_at"] is None
    assert third["id"].startswith("sha256:")
    again = read(FeedReader, write(tmp_path, RSS, "again.xml"))
    assert again.items[2]["id"] == third["id"]  # stable across reads


def test_atom(tmp_path: Path, read: Any) -> None:
    result = read(FeedReader, write(tmp_path, ATOM, "feed.atom"))
    item = result.items[0]
    assert item["id"] == "tag:sputnik.example,2024:1"
    assert item["title"] == "Bold title"
    assert item["published_at"] == "2024-03-05T10:00:00Z"
    assert item["account_name"] == "Redaktion"
    assert item["text"] == "Inhalt mit Link"
    assert item["links"] == ["https://x.example/", "https://sputnik.example/1"]
    assert result.extra()["feed_title"] == "Sputnik DE"


def test_feed_without_entries_is_empty(tmp_path: Path, read: Any) -> None:
    empty = '<?xml version="1.0"?><rss version="2.0"><channel><title>x</title></channel></rss>'
    assert read(FeedReader, write(tmp_path, empty)).items == []


@pytest.mark.parametrize(
    "content",
    [b"<html><body><p>just a page</p></body></html>", b"\x00\x01\x02 binary", b"", b"<a/>"],
)
def test_not_a_feed_is_a_read_error(tmp_path: Path, read: Any, content: bytes) -> None:
    with pytest.raises(ReadError, match=r"page\.xml: not an RSS/Atom feed"):
        read(FeedReader, write(tmp_path, content, "page.xml"))


def test_oversize_is_refused(tmp_path: Path, read: Any) -> None:
    with pytest.raises(ReadError, match="over the limit"):
        read(FeedReader, write(tmp_path, RSS), IngestSettings(max_document_bytes=64))


def _laughs(one_line: bool) -> str:
    separator = "" if one_line else "\n"
    entities = separator.join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(2, 10))
    return (
        f'<!DOCTYPE rss [{separator}<!ENTITY lol1 "lol">{separator}{entities}{separator}]>'
        '<rss version="2.0"><channel><title>&lol9;</title><item><guid>a</guid>'
        "<title>t &lol9;</title><description>&lol9;</description></item></channel></rss>"
    )


@pytest.mark.parametrize(
    ("one_line", "encoding"), [(True, "utf-8"), (False, "utf-8"), (True, "utf-16")]
)
def test_billion_laughs_is_not_expanded(
    tmp_path: Path, read: Any, one_line: bool, encoding: str
) -> None:
    document = f'<?xml version="1.0" encoding="{encoding}"?>' + _laughs(one_line)
    started = time.monotonic()
    result = read(FeedReader, write(tmp_path, document.encode(encoding)))
    assert time.monotonic() - started < 5
    for item in result.items:
        assert "lollol" not in str(item)
        assert len(str(item)) < 10_000


def test_python_expat_has_the_amplification_guard() -> None:
    """The backstop for DTDs the reader cannot blank (non-ASCII encodings): expat >= 2.4.1."""
    assert pyexpat.version_info >= (2, 4, 1)


def test_external_entities_are_not_read(tmp_path: Path, read: Any, no_network: None) -> None:
    secret = write(tmp_path, "TOPSECRET", "secret.txt")
    document = (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{secret}">'
        '<!ENTITY net SYSTEM "http://attacker.example/x">]>'
        '<rss version="2.0"><channel><item><guid>a</guid><title>&xxe;&net;</title>'
        "<description>x &xxe;</description></item></channel></rss>"
    )
    result = read(FeedReader, write(tmp_path, document))
    assert "TOPSECRET" not in str(result.items)


def test_document_naming_a_local_file_is_not_opened(tmp_path: Path, read: Any) -> None:
    """feedparser opens a bytes value as a file name; the reader must hand it a stream."""
    secret = write(tmp_path, RSS.replace("CGTN Europe", "TOPSECRET"), "secret.xml")
    with pytest.raises(ReadError, match="not an RSS/Atom feed"):
        read(FeedReader, str(secret).encode())


def test_without_doctype_blanks_every_declaration() -> None:
    data = b'<?xml version="1.0"?>\n<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a><!DOCTYPE b>'
    cleaned = without_doctype(data)
    assert len(cleaned) == len(data)
    assert b"<!DOCTYPE" not in cleaned and b"ENTITY" not in cleaned
    assert cleaned.startswith(b'<?xml version="1.0"?>\n') and b"<a>&x;</a>" in cleaned
    assert without_doctype(b"<!<!DOCTYPE x>DOCTYPE y>").count(b"<!DOCTYPE") == 0
    unterminated = b"<!DOCTYPE x [ never closed"
    assert without_doctype(b"<rss>" + unterminated) == b"<rss>" + b" " * len(unterminated)


def test_sniff() -> None:
    assert FeedReader.sniff("x", b'<?xml version="1.0"?><rss version="2.0">') >= 90
    assert FeedReader.sniff("x", b'<feed xmlns="http://www.w3.org/2005/Atom">') >= 90
    assert FeedReader.sniff("x.rdf", b"<rdf:RDF xmlns:rdf=...>") >= 90
    assert FeedReader.sniff("x.jsonl", b'{"id": 1}') == 0
    assert FeedReader.sniff("page.html", b"<!doctype html><html>") == 0
    assert FeedReader.sniff("page.html", b"<html><body><feedback><rss>") == 0


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200), st.text(max_size=200), st.booleans())
def test_any_entry_text_yields_valid_batches(
    read: Any, title: str, body: str, escaped: bool
) -> None:
    def put(value: str) -> str:
        return escape(value) if escaped else value

    document = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><item>'
        f"<title>{put(title)}</title><description>{put(body)}</description>"
        f"<pubDate>{put(title[:30])}</pubDate><guid>{put(body[:50])}</guid>"
        "</item></channel></rss>"
    )
    try:
        result = read(FeedReader, document.encode("utf-8", "surrogatepass"))
    except ReadError:
        return
    for item in result.items:
        assert item["id"]


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=400), st.sampled_from([b"", b"<rss>", b"<feed>", b"<!DOCTYPE"]))
def test_any_bytes_yield_valid_batches_or_read_error(read: Any, data: bytes, prefix: bytes) -> None:
    with contextlib.suppress(ReadError):
        read(FeedReader, prefix + data)
