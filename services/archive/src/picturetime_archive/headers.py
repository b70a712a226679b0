"""Security headers on every archive response: a strict Content-Security-Policy, no framing, no sniffing.

Pages load scripts, styles, images and video from the archive itself only (renditions, frames and
the timelapse are served through it, never from S3 URLs), with nothing inline: the templates
carry no `<script>`, `<style>` or `style=""`.
"""

from __future__ import annotations

from picturetime_common.webheaders import SecurityHeaders, content_security_policy, security_headers

__all__ = ["CONTENT_SECURITY_POLICY", "SECURITY_HEADERS", "SecurityHeaders"]

CONTENT_SECURITY_POLICY = content_security_policy()
SECURITY_HEADERS = security_headers(CONTENT_SECURITY_POLICY)
