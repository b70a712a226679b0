"""Text that XML (and so HTML) can hold: every text the archive and the gateway write into a page or a
feed passes here.

XML 1.0 has no way to carry C0 control characters other than tab, newline and carriage return,
U+FFFE, U+FFFF or a lone surrogate, not even escaped: one of them in a title makes a feed that no
reader parses (and a lone surrogate cannot even be encoded as UTF-8). They are dropped.
"""

from __future__ import annotations

import re
from typing import Any

from markupsafe import Markup

NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(text: str) -> str:
    """`text` without the characters XML 1.0 cannot hold."""
    return NOT_XML.sub("", text)


def finalize(value: Any) -> Any:
    """Jinja's `finalize`: every `{{ … }}` output, before escaping, markup included."""
    if hasattr(value, "__html__"):
        return Markup(xml_safe(value.__html__()))
    return xml_safe(value if isinstance(value, str) else str(value))
