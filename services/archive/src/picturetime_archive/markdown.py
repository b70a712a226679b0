"""Project bodies: CommonMark with raw HTML off, so a body can never inject markup or scripts."""

from __future__ import annotations

from functools import lru_cache

from markdown_it import MarkdownIt
from markupsafe import Markup


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:

    # "js-default": CommonMark plus tables and strikethrough, no raw HTML, and links to
    # javascript:, vbscript: and data: (except images) refused by the link validator.
    return MarkdownIt("js-default")


@lru_cache(maxsize=256)
def render_markdown(text: str) -> Markup:
    return Markup(_parser().render(text or ""))
