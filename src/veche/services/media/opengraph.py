"""Open Graph data from an HTML page, for URL previews: the page's `og:*` meta tags, with
the <title>, the description meta tag and the first image standing in for missing ones."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin

MAX_TEXT_LENGTH = 500
# Tags whose text is never shown, so never a title or description.
_HIDDEN = {"script", "style", "noscript", "template"}


def parse_open_graph(html: str, page_url: str) -> dict[str, str]:
    parser = _OpenGraphParser()
    parser.feed(html)
    parser.close()
    og = dict(parser.og)
    if "og:title" not in og and parser.title.strip():
        og["og:title"] = parser.title.strip()
    if "og:description" not in og and parser.description:
        og["og:description"] = parser.description
    if "og:image" not in og and parser.first_image:
        og["og:image"] = parser.first_image
    if "og:image" in og:
        og["og:image"] = urljoin(page_url, og["og:image"])
    return {key: _clip(value) for key, value in og.items()}


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_TEXT_LENGTH else text[: MAX_TEXT_LENGTH - 1] + "…"


class _OpenGraphParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.og: dict[str, str] = {}
        self.title = ""
        self.description: str | None = None
        self.first_image: str | None = None
        self._in_title = False
        self._hidden_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag in _HIDDEN:
            self._hidden_depth += 1
        elif tag == "title":
            self._in_title = True
        elif tag == "meta":
            self._meta(attributes)
        elif tag == "img" and self.first_image is None and attributes.get("src"):
            self.first_image = attributes["src"]

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN and self._hidden_depth:
            self._hidden_depth -= 1
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title and not self._hidden_depth and len(self.title) < MAX_TEXT_LENGTH:
            self.title += data

    def _meta(self, attributes: dict[str, str]) -> None:
        key = attributes.get("property") or attributes.get("name") or ""
        content = attributes.get("content")
        if content is None:
            return
        if key.startswith("og:"):
            self.og.setdefault(key, content)
        elif key.lower() == "description" and self.description is None:
            self.description = content
