"""The Atom feed, sitemap.xml and Open Graph tags list public things only."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from xml.etree import ElementTree as ET

import feedparser
from fastapi.testclient import TestClient

from picturetime_archive.app import create_app
from picturetime_gateway.settings import GatewaySettings
from tests.archive.factories import Catalog, archive_settings_from

ATOM = "{http://www.w3.org/2005/Atom}"
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


def fill(catalog: Catalog) -> dict[str, object]:
    owner = catalog.user()
    now = datetime.now(UTC)
    days = [catalog.day(owner, now - timedelta(days=n)) for n in range(3)]
    shared = catalog.photo(owner, title="Shared", upload=False)
    secret = catalog.photo(owner, title="Secret", upload=False)
    catalog.album(owner, "Open", [shared])
    catalog.album(owner, "Closed", [secret], visibility="private")
    catalog.project(owner, "Public work", body="Hello **world**", summary="Open to all", cover=shared)
    catalog.project(owner, "Unlisted work", visibility="unlisted")
    catalog.project(owner, "Private work", visibility="private")
    return {"days": days, "shared": shared, "secret": secret}


def test_the_atom_feed_lists_new_days_and_public_projects(archive: TestClient, catalog: Catalog) -> None:
    made = fill(catalog)
    response = archive.get("/feed.atom")
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = ET.fromstring(response.content)
    assert feed.tag == f"{ATOM}feed" and feed.find(f"{ATOM}updated") is not None
    titles = [entry.findtext(f"{ATOM}title") for entry in feed.findall(f"{ATOM}entry")]
    assert "Public work" in titles and "Unlisted work" not in titles and "Private work" not in titles
    assert sum(1 for t in titles if t and t.startswith("Day of ")) == 3
    ids = [entry.findtext(f"{ATOM}id") for entry in feed.findall(f"{ATOM}entry")]
    assert len(set(ids)) == len(ids) and all(i and i.startswith("http://testserver/") for i in ids)
    project = next(e for e in feed.findall(f"{ATOM}entry") if e.findtext(f"{ATOM}title") == "Public work")
    assert "<strong>world</strong>" in (project.findtext(f"{ATOM}content") or "")
    assert made["secret"].id.hex not in response.text  # type: ignore[attr-defined]


class Links(HTMLParser):
    """Every href and src in an HTML fragment."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found += [value or "" for name, value in attrs if name in ("href", "src")]


def feed_links(body: bytes) -> list[str]:
    """The links of an Atom document: its elements' hrefs and those inside HTML content."""
    root = ET.fromstring(body)
    links = [link.get("href", "") for link in root.iter(f"{ATOM}link")]
    links += [icon.text or "" for icon in root.iter(f"{ATOM}icon")]
    for content in root.iter(f"{ATOM}content"):
        parser = Links()
        parser.feed(content.text or "")
        links += parser.found
    return links


def test_the_feed_has_one_entry_a_day_and_only_absolute_links(
    gateway_settings: GatewaySettings, catalog: Catalog
) -> None:
    owner = catalog.user()
    day = datetime.now(UTC).replace(hour=5, minute=0, second=0, microsecond=0) - timedelta(days=1)
    photos = [catalog.day(owner, day + timedelta(hours=hour)) for hour in (0, 3, 6, 9)]  # four of one day
    catalog.day(owner, day - timedelta(days=1))
    body = "See [the albums](/albums), [the timelapse](../picture-time), [below](#end) and ![a frame](/static/icon.svg)."
    catalog.project(owner, "Links", body=body)
    for public_url, root in (
        ("", "http://testserver"),
        ("https://photos.example.org/", "https://photos.example.org"),
    ):
        settings = archive_settings_from(gateway_settings, public_url=public_url)
        with TestClient(create_app(settings)) as archive:
            response = archive.get("/feed.atom")
        parsed = feedparser.parse(response.content)
        assert not parsed.bozo, parsed.get("bozo_exception")
        assert parsed.version == "atom10" and parsed.feed.id == f"{root}/"
        days = [entry for entry in parsed.entries if entry.title.startswith("Day of ")]
        assert len(days) == 2 and len({entry.id for entry in days}) == 2
        assert photos[-1].id.hex in days[0].link  # the day's best: all equal, so the newest
        links = feed_links(response.content)
        assert links and all(link.startswith(f"{root}/") for link in links), links
        assert (
            f"{root}/albums" in links
            and f"{root}/picture-time" in links
            and f"{root}/projects/links#end" in links
        )
        assert f"{root}/static/icon.svg" in links and f"{root}/favicon.ico" in links


def test_the_sitemap_lists_only_public_pages(archive: TestClient, catalog: Catalog) -> None:
    made = fill(catalog)
    urlset = ET.fromstring(archive.get("/sitemap.xml").content)
    locs = [url.findtext(f"{SITEMAP}loc") for url in urlset.findall(f"{SITEMAP}url")]
    assert "http://testserver/" in locs and "http://testserver/picture-time" in locs
    assert "http://testserver/projects/public-work" in locs and "http://testserver/albums/open" in locs
    assert f"http://testserver/photos/{made['shared'].id.hex}" in locs  # type: ignore[attr-defined]
    joined = "\n".join(str(loc) for loc in locs)
    assert "unlisted-work" not in joined and "private-work" not in joined and "closed" not in joined
    assert made["secret"].id.hex not in joined  # type: ignore[attr-defined]
    assert "Sitemap: http://testserver/sitemap.xml" in archive.get("/robots.txt").text


def test_open_graph_tags_name_the_page_and_a_public_image(archive: TestClient, catalog: Catalog) -> None:
    made = fill(catalog)
    page = archive.get("/projects/public-work").text
    tags = dict(re.findall(r'<meta property="(og:[a-z:_]+)" content="([^"]*)"', page))
    assert tags["og:title"] == "Public work" and tags["og:description"] == "Open to all"
    assert tags["og:url"] == "http://testserver/projects/public-work"
    shared_hex = made["shared"].id.hex  # type: ignore[attr-defined]
    assert tags["og:image"].startswith(f"http://testserver/media/photos/{shared_hex}/")
    assert archive.get(tags["og:image"].removeprefix("http://testserver")).status_code in (200, 404)
    home = dict(re.findall(r'<meta property="(og:[a-z:_]+)" content="([^"]*)"', archive.get("/").text))
    assert home["og:type"] == "website" and home["og:image"].startswith("http://testserver/media/photos/")


def test_a_configured_public_url_is_used_for_absolute_links(gateway_settings, catalog: Catalog) -> None:  # type: ignore[no-untyped-def]
    from picturetime_archive.app import create_app
    from tests.archive.factories import archive_settings_from

    fill(catalog)
    settings = archive_settings_from(gateway_settings, public_url="https://photos.example.org/")
    with TestClient(create_app(settings)) as client:
        feed = client.get("/feed.atom").text
        page = client.get("/picture-time").text
    assert 'href="https://photos.example.org/feed.atom"' in feed
    assert 'content="https://photos.example.org/picture-time"' in page


# What a catalog (PostgreSQL) can hold that XML cannot: C0 controls but NUL, tab, newline and
# carriage return, and U+FFFE / U+FFFF. NUL and lone surrogates come in through the settings
# (an environment variable with bytes that are not UTF-8 is read with lone surrogates).
CONTROL = "".join(chr(c) for c in range(1, 0x20) if chr(c) not in "\t\n\r") + "\ufffe\uffff"


def test_control_characters_in_titles_do_not_break_the_feed(
    gateway_settings: GatewaySettings, catalog: Catalog
) -> None:
    owner = catalog.user()
    shared = catalog.photo(owner, title=f"Dawn{CONTROL}", description=f"Low{CONTROL} sun", upload=False)
    catalog.album(owner, f"Open{CONTROL}", [shared])
    catalog.day(owner, datetime.now(UTC))
    catalog.project(owner, "Bell", body=f"Ring{CONTROL} **twice**", summary=f"Loud{CONTROL}", cover=shared)
    settings = archive_settings_from(
        gateway_settings, site_title="Picture\x00 Time\ud800", owner_name="Ada\udcff\x1b"
    )
    with TestClient(create_app(settings)) as archive:
        response = archive.get("/feed.atom")
        sitemap = archive.get("/sitemap.xml")
    assert response.status_code == 200 and sitemap.status_code == 200
    feed = ET.fromstring(response.content)  # expat: a control character would be a ParseError
    ET.fromstring(sitemap.content)
    assert feed.findtext(f"{ATOM}title") == "Picture Time"
    assert feed.findtext(f"{ATOM}author/{ATOM}name") == "Ada"
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    project = next(entry for entry in parsed.entries if entry.title == "Bell")
    assert project.summary == "Loud"
    assert "Ring <strong>twice</strong>" in project.content[0].value
