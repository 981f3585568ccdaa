"""Renders dataset READMEs: Markdown to HTML, then sanitized with nh3 so no script survives.

Images must come from Granary itself. One from another host would tell that host who reads the
dataset and when (a tracking pixel), and the Content-Security-Policy (`img-src 'self' data:`)
would refuse to load it anyway: a Markdown image from elsewhere becomes a link to it, and a raw
HTML one loses its source.

A README's headings sit under the page's own "README" heading (an h2): its `# Title` renders as
an h3, and so on down to h6, so a README never outranks the page it is shown on.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

import markdown as md
import nh3
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor

_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "del",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "li",
    "ol",
    "p",
    "pre",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
}
# The heading level of the README's `#`: the page's section headings are h2.
FIRST_HEADING_LEVEL = 3
# nh3 writes headings without attributes (none is allowed) and escapes every `<` of text, so this
# matches only the tags themselves, from Markdown or raw HTML alike.
_HEADING = re.compile(r"<(/?)h([1-6])>")

_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "td": {"align"},
    "th": {"align"},
}


def _is_foreign(url: str) -> bool:
    """Whether a URL leaves Granary: any scheme (`https:`, `data:`) or host (`//cdn.example.net`)."""
    parts = urlsplit(url.strip())
    return bool(parts.scheme or parts.netloc)


class _ForeignImagesAsLinks(Treeprocessor):
    def run(self, root: ET.Element) -> None:
        for image in root.iter("img"):
            source = image.get("src", "")
            if _is_foreign(source):
                label = image.get("alt") or source
                image.attrib.clear()
                image.tag, image.text = "a", label
                image.set("href", source)


class _ForeignImagesExtension(Extension):
    def extendMarkdown(self, renderer: md.Markdown) -> None:
        renderer.treeprocessors.register(_ForeignImagesAsLinks(renderer), "granary_foreign_images", 0)


def _keep_attribute(tag: str, attribute: str, value: str) -> str | None:
    if tag == "img" and attribute == "src" and _is_foreign(value):
        return None  # raw HTML, which the tree processor never sees
    return value


def markdown_render(text: str) -> str:
    html = md.markdown(
        text,
        extensions=["tables", "fenced_code", "sane_lists", _ForeignImagesExtension()],
        output_format="html",
    )
    clean = nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        attribute_filter=_keep_attribute,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return _HEADING.sub(_demote, clean)


def _demote(tag: re.Match[str]) -> str:
    level = min(int(tag.group(2)) + FIRST_HEADING_LEVEL - 1, 6)
    return f"<{tag.group(1)}h{level}>"
