"""Hostile HTML to visible text, links, anchors and images — parsed with lxml, nothing fetched.

Shared by the feed and mail readers. libxml2's HTML parser has no entity declarations to expand
and is told never to use the network; elements a reader never sees (script, style, templates…)
are removed before text is taken, so their content cannot leak into an item's text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import lxml.etree
import lxml.html

MAX_ELEMENTS_LISTED = 1000
"""At most this many anchors, images or links are kept from one document."""
MAX_ATTRIBUTE_CHARS = 2048

_PARSER = lxml.html.HTMLParser(
    encoding="utf-8",
    no_network=True,
    remove_comments=True,
    remove_pis=True,
    collect_ids=False,
    default_doctype=False,
)
_INVISIBLE = (
    "head", "script", "style", "noscript", "template", "iframe", "object", "embed",
    "svg", "math", "select", "textarea", "button",
)  # fmt: skip
_BLOCKS = (
    "p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre",
    "section", "article", "header", "footer", "table", "ul", "ol", "dd", "dt", "hr", "aside",
)  # fmt: skip
_URL = re.compile(r"https?://[^\s<>\"'`{}|\\^\[\]]+", re.IGNORECASE)
_HIDDEN_STYLE = re.compile(
    r"display\s*:\s*none|visibility\s*:\s*hidden|opacity\s*:\s*0(?:\.0*)?\s*(?:;|$)", re.IGNORECASE
)
_TINY_STYLE = re.compile(r"(?:^|;|\s)(?:width|height)\s*:\s*[01](?:\.0*)?px", re.IGNORECASE)
_TRAILING_PUNCTUATION = ".,;:!?)]}'\""


@dataclass
class HtmlContent:
    """What a reader keeps from one HTML body."""

    text: str = ""
    anchors: list[dict[str, str]] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    truncated: bool = False
    """More anchors or images than :data:`MAX_ELEMENTS_LISTED`."""

    @property
    def hrefs(self) -> list[str]:
        """The http(s) targets of the anchors, in document order."""
        return [a["href"] for a in self.anchors if is_web_url(a["href"])]


def is_web_url(value: str) -> bool:
    return value[:8].lower().startswith(("http://", "https://"))


def read_html(html: str) -> HtmlContent:
    """Parse ``html`` (a whole page or a fragment) into visible text, anchors and images."""
    tree = _parse(html)
    if tree is None:
        return HtmlContent()
    images, images_cut = _images(tree)
    for element in list(tree.iter(*_INVISIBLE)):
        element.drop_tree()
    anchors, anchors_cut = _anchors(tree)
    return HtmlContent(_visible_text(tree), anchors, images, images_cut or anchors_cut)


def html_to_text(html: str) -> str:
    """Visible text of an HTML body or fragment, one line per block element."""
    return read_html(html).text


def urls_in_text(text: str, limit: int = MAX_ELEMENTS_LISTED) -> list[str]:
    """http(s) URLs written out in plain text, trailing punctuation removed."""
    found: list[str] = []
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(_TRAILING_PUNCTUATION)
        if len(url) > len("https://"):
            found.append(url)
        if len(found) >= limit:
            break
    return found


def unique(values: list[str]) -> list[str]:
    """Drop repeats, keep first-seen order."""
    return list(dict.fromkeys(v for v in values if v))


def _parse(html: str) -> lxml.html.HtmlElement | None:
    data = html.encode("utf-8", "replace")
    if not data.strip():
        return None
    try:
        return lxml.html.document_fromstring(data, parser=_PARSER)
    except (lxml.etree.LxmlError, ValueError):
        return None


def _attribute(element: lxml.html.HtmlElement, name: str) -> str:
    return str(element.get(name) or "").strip()[:MAX_ATTRIBUTE_CHARS]


def _images(tree: lxml.html.HtmlElement) -> tuple[list[dict[str, Any]], bool]:
    images: list[dict[str, Any]] = []
    for element in tree.iter("img"):
        if len(images) >= MAX_ELEMENTS_LISTED:
            return images, True
        width, height, style = (_attribute(element, k) for k in ("width", "height", "style"))
        images.append(
            {
                "src": _attribute(element, "src"),
                "width": width or None,
                "height": height or None,
                "style": style or None,
                "hidden": element.get("hidden") is not None or bool(_HIDDEN_STYLE.search(style)),
                "tiny": _tiny(width) or _tiny(height) or bool(_TINY_STYLE.search(style)),
            }
        )
    return images, False


def _tiny(dimension: str) -> bool:
    """A 0- or 1-pixel dimension: the shape of a tracking pixel."""
    return dimension.removesuffix("px").strip() in {"0", "1"}


def _anchors(tree: lxml.html.HtmlElement) -> tuple[list[dict[str, str]], bool]:
    anchors: list[dict[str, str]] = []
    for element in tree.iter("a"):
        href = _attribute(element, "href")
        if not href:
            continue
        if len(anchors) >= MAX_ELEMENTS_LISTED:
            return anchors, True
        text = " ".join(element.text_content().split())[:MAX_ATTRIBUTE_CHARS]
        anchors.append({"text": text, "href": href})
    return anchors, False


def _visible_text(tree: lxml.html.HtmlElement) -> str:
    for element in tree.iter(*_BLOCKS):
        element.text = "\n" + (element.text or "")
        element.tail = "\n" + (element.tail or "")
    lines = (" ".join(line.split()) for line in tree.text_content().splitlines())
    return "\n".join(line for line in lines if line)
