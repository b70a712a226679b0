"""Project bodies: CommonMark with raw HTML off, so a body can never inject markup or scripts."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from urllib.parse import urljoin

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:

    # "js-default": CommonMark plus tables and strikethrough, no raw HTML, and links to
    # javascript:, vbscript: and data: (except images) refused by the link validator.
    return MarkdownIt("js-default")


@lru_cache(maxsize=256)
def render_markdown(text: str, base_url: str = "") -> Markup:
    """HTML of a body; with `base_url` (the page's own address), every link and image is absolute,
    as a feed reader needs them (it shows the body away from the page)."""
    parser = _parser()
    tokens = parser.parse(text or "")
    if base_url:
        _resolve(tokens, base_url)
    return Markup(parser.renderer.render(tokens, parser.options, {}))


def _resolve(tokens: Sequence[Token], base_url: str) -> None:
    for token in tokens:
        for name in ("href", "src"):
            value = token.attrGet(name)
            if isinstance(value, str):
                token.attrSet(name, urljoin(base_url, value))
        if token.children:
            _resolve(token.children, base_url)
