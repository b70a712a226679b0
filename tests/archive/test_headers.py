"""Every archive response carries a strict Content-Security-Policy and refuses to be framed."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from picturetime_archive.headers import CONTENT_SECURITY_POLICY
from picturetime_archive.web import HERE
from tests.archive.factories import Catalog


def directives(policy: str) -> dict[str, str]:
    return {name: value.strip() for name, _, value in (d.strip().partition(" ") for d in policy.split(";"))}


def test_every_kind_of_response_has_the_security_headers(archive: TestClient, catalog: Catalog) -> None:
    owner = catalog.user()
    photo = catalog.photo(owner, title="Hill")
    catalog.album(owner, "Walks", [photo])
    catalog.day(owner, datetime.now(UTC), upload=True)
    version = catalog.timelapse(b"\x00\x00\x00\x18ftypisom" + bytes(500))
    page = archive.get(f"/photos/{photo.id.hex}")
    rendition = re.search(r"/media/photos/[0-9a-f]{32}/[0-9a-f]{32}/640\.jpg", page.text)
    assert rendition
    paths = ["/", "/", "/albums/walks", "/picture-time", "/picture-time/days", "/feed.atom", "/sitemap.xml",
             "/robots.txt", "/static/site.css", "/static/lightbox.js", rendition.group(0), "/healthz",
             f"/media/timelapse/{version.version}.mp4", "/nowhere", "/photos/not-an-id", "/timelapse"]  # fmt: skip
    for path in paths:  # "/" twice: the second answer comes from the anonymous page cache
        response = archive.get(path, follow_redirects=False)
        assert response.headers.get("content-security-policy") == CONTENT_SECURITY_POLICY, path
        assert response.headers["x-frame-options"] == "DENY", path
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin", path
    cached = archive.get(
        rendition.group(0), headers={"If-None-Match": archive.get(rendition.group(0)).headers["etag"]}
    )
    assert cached.status_code == 304 and cached.headers["x-frame-options"] == "DENY"


def test_the_policy_is_strict() -> None:
    policy = directives(CONTENT_SECURITY_POLICY)
    assert policy["default-src"] == "'self'" and policy["object-src"] == "'none'"
    assert policy["base-uri"] == "'self'" and policy["frame-ancestors"] == "'none'"
    assert policy["form-action"] == "'self'" and policy["img-src"] == "'self'"
    assert not any("unsafe" in value or "*" in value or "data:" in value for value in policy.values())


def test_templates_and_static_files_need_nothing_inline() -> None:
    """What the policy would block: inline scripts and styles, style attributes, event handlers."""
    for path in [*HERE.glob("templates/*.html"), *HERE.glob("static/*.js")]:
        text = path.read_text()
        assert not re.search(r"<script(?![^>]*\ssrc=)[^>]*>", text), f"{path.name}: an inline script"
        assert not re.search(r"<style|\sstyle=|\.setAttribute\(\s*[\"']style", text), (
            f"{path.name}: inline style"
        )
        assert not re.search(r"\son[a-z]+=", text), f"{path.name}: an inline event handler"
        assert "javascript:" not in text, path.name
