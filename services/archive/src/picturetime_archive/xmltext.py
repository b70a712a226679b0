"""The archive's pages and feeds hold only text XML can hold (shared with the gateway)."""

from picturetime_common.xmltext import NOT_XML, finalize, xml_safe

__all__ = ["NOT_XML", "finalize", "xml_safe"]
