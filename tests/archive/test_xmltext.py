"""Characters XML cannot hold are dropped from every text the archive writes."""

from __future__ import annotations

from markupsafe import Markup

from picturetime_archive.xmltext import finalize, xml_safe

# Every C0 control but tab, newline and carriage return; the two non-characters; lone surrogates.
NOT_XML = "".join(chr(c) for c in range(0x20) if chr(c) not in "\t\n\r") + "\ufffe\uffff\ud800\udfff"


def test_only_what_xml_cannot_hold_is_dropped() -> None:
    kept = "Tab\tnew\nline\r · Ünïcødé 😀 \U0010fffd \ud7ff\ue000"
    assert xml_safe(NOT_XML) == ""
    assert xml_safe(f"Sun{NOT_XML}rise") == "Sunrise"
    assert xml_safe(kept) == kept


def test_template_output_is_cleaned_and_markup_stays_markup() -> None:
    cleaned = finalize(Markup("<em>bold\x07</em>"))
    assert isinstance(cleaned, Markup) and cleaned == Markup("<em>bold</em>")
    assert finalize("a\x00b<") == "ab<"  # escaping happens after, as usual
    assert finalize(42) == "42" and finalize(None) == "None"
