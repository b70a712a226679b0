"""Index a folder of images and videos (SHA-256, times) and serve it as the Media Server's GET /list.

The listing names every file and where it is: `serve` answers only requests addressed to the name
it is bound to (or names configured with --allowed-hosts), so a web page whose domain an attacker
points at this machine (DNS rebinding) cannot read it through the visitor's browser.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

from picturetime_common import exif
from picturetime_common.hashing import sha256_file
from picturetime_sync.console import EXIT_OK, Failure, say
from picturetime_sync.files import private_database, private_dir, tighten

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = {
    "jpg", "jpeg", "jpe", "jfif", "png", "webp", "heic", "heif", "hif", "gif", "tif", "tiff",
    "dng", "cr2", "cr3", "nef", "arw", "orf", "raf",
}  # fmt: skip
VIDEO_EXTENSIONS = {"mp4", "mov", "m4v", "avi", "mkv", "webm", "3gp", "mts", "m2ts"}
MEDIA_EXTENSIONS = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    created TEXT NOT NULL,
    created_source TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS files_sha256 ON files (sha256);
"""


def extension(path: Path) -> str:
    """Lower-case extension without the dot."""
    return path.suffix.lower().lstrip(".")


def iter_media(root: Path) -> Iterator[Path]:
    """Image and video files under root, recursively, skipping hidden files and folders."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and extension(Path(name)) in MEDIA_EXTENSIONS:
                yield Path(dirpath) / name


def file_time(mtime: float) -> str:
    """A modification time as local ISO 8601 with its offset."""
    return datetime.fromtimestamp(mtime).astimezone().isoformat(timespec="seconds")


def exif_capture_time(path: Path) -> str | None:
    """The EXIF capture time as ISO 8601 (with its offset when the EXIF has one), or None; the
    same rule as the gateway's (exif.capture_time)."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            # Pillow's Exif is what ExifLike describes; its overloaded get() is not spelled the same.
            moment = exif.capture_time(cast(exif.ExifLike, img.getexif()))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
    return moment.isoformat() if moment is not None else None


def video_creation_time(path: Path) -> str | None:
    """A video container's creation_time tag, if it has one."""
    try:
        import av

        with av.open(str(path)) as container:
            raw = container.metadata.get("creation_time")
    except Exception:  # any unreadable video simply has no tagged time
        return None
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).isoformat(timespec="seconds")
    except ValueError:
        return None


def capture_time(path: Path, mtime: float | None = None) -> tuple[str, str]:
    """(ISO time, source): the EXIF capture time, a video's creation time, else the file time."""
    ext = extension(path)
    if ext in VIDEO_EXTENSIONS:
        found, source = video_creation_time(path), "video"
    else:
        found, source = exif_capture_time(path), "exif"
    if found:
        return found, source
    return file_time(path.stat().st_mtime if mtime is None else mtime), "file"


@dataclass
class ScanResult:
    """What one scan changed."""

    files: int = 0
    new: int = 0
    changed: int = 0
    removed: int = 0
    errors: int = 0

    def line(self, root: Path) -> str:
        """One line for the terminal."""
        return (
            f"indexed {self.files} file(s) in {root}: {self.new} new, {self.changed} changed, "
            f"{self.removed} removed" + (f", {self.errors} unreadable" if self.errors else "")
        )


def default_index_path(root: Path) -> Path:
    """A per-folder index in the user's cache folder (it can always be rebuilt)."""
    base = os.environ.get("XDG_CACHE_HOME") or ""
    cache = Path(base) if base and Path(base).is_absolute() else Path.home() / ".cache"
    digest = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
    return cache / "picturetime" / "scan" / f"{digest}.db"


class MediaIndex:
    """The SQLite index of one folder; files unchanged in size and mtime are not hashed again."""

    def __init__(self, root: Path, db_path: Path) -> None:
        self.root = root.resolve()
        private_database(db_path)  # the index names every file and its capture time
        self._db = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    @classmethod
    @contextlib.contextmanager
    def open(cls, root: Path, db_path: str | Path | None = None) -> Iterator[MediaIndex]:
        """Open (and close) the index of root."""
        if db_path:
            path = Path(db_path).expanduser()
        else:  # the agent's own folders: the index names every file and its date
            path = default_index_path(root)
            private_dir(path.parent)
            tighten(path.parent.parent)
        index = cls(root, path)
        try:
            yield index
        finally:
            index._db.close()

    def scan(self) -> ScanResult:
        """Walk the folder and bring the index up to date."""
        result = ScanResult()
        known = {
            row[0]: (row[1], row[2]) for row in self._db.execute("SELECT path, size, mtime_ns FROM files")
        }
        seen: set[str] = set()
        for path in iter_media(self.root):
            rel = path.relative_to(self.root).as_posix()
            try:
                st = path.stat()
                if known.get(rel) == (st.st_size, st.st_mtime_ns):
                    seen.add(rel)
                    result.files += 1
                    continue
                sha = sha256_file(path)
                created, source = capture_time(path, st.st_mtime)
            except OSError as exc:
                log.warning("cannot index %s: %s", path, exc)
                result.errors += 1
                continue
            self._db.execute(
                "INSERT INTO files (path, size, mtime_ns, sha256, created, created_source)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (path) DO UPDATE SET size = excluded.size,"
                " mtime_ns = excluded.mtime_ns, sha256 = excluded.sha256, created = excluded.created,"
                " created_source = excluded.created_source",
                (rel, st.st_size, st.st_mtime_ns, sha, created, source),
            )
            if rel in known:
                result.changed += 1
            else:
                result.new += 1
            seen.add(rel)
            result.files += 1
        gone = [(p,) for p in known if p not in seen]
        self._db.executemany("DELETE FROM files WHERE path = ?", gone)
        result.removed = len(gone)
        return result

    def listing(self) -> dict[str, dict[str, Any]]:
        """The Media Server's /list shape: {sha256: {filename, last_modified, file_path, original_creation_date}}."""
        out: dict[str, dict[str, Any]] = {}
        rows = self._db.execute("SELECT path, mtime_ns, sha256, created FROM files ORDER BY path")
        for rel, mtime_ns, sha, created in rows:
            if sha in out:  # the same bytes twice: the first path (sorted) stands for both
                continue
            path = self.root / rel
            out[sha] = {
                "filename": path.name,
                "last_modified": file_time(mtime_ns / 1e9),
                "file_path": str(path),
                "original_creation_date": created,
            }
        return out


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
ANY_ADDRESS = ("", "0.0.0.0", "::")


def _host_port(name: str, port: int) -> str:
    """`Name`, `name:8000`, `::1`, `[::1]:8000` → `name:port` in lower case (the port when missing)."""
    name = name.strip().lower()
    if name.count(":") > 1 and not name.startswith("["):
        name = f"[{name}]"  # a bare IPv6 address
    if name.endswith("]") or ":" not in name:
        return f"{name}:{port}"
    return name


def allowed_hosts(host: str, port: int, extra: Collection[str] = ()) -> frozenset[str] | None:
    """The Host headers `serve` answers: the loopback names, the address it is bound to, and `extra`
    (a name alone means at this port); None when `extra` holds `*` (any host: no protection)."""
    if "*" in extra:
        return None
    names = {*LOOPBACK_NAMES, *extra}
    if host.strip().lower() not in ANY_ADDRESS:
        names.add(host)
    return frozenset(_host_port(name, port) for name in names)


class _ListingHandler(BaseHTTPRequestHandler):
    server_version = "picturetime-sync"
    body: Callable[[], bytes]
    hosts: frozenset[str] | None

    def do_GET(self) -> None:
        if not self._addressed_to_us():
            return
        path = self.path.split("?", 1)[0]
        if path == "/list":
            self._send(200, self.body())
        elif path == "/healthz":
            self._send(200, b'{"status":"ok"}')
        else:
            self._send(404, b'{"error":"not_found","detail":"try GET /list"}')

    def _addressed_to_us(self) -> bool:
        """Refuse (421) a request whose Host names another server: a rebound DNS name, most likely."""
        if self.hosts is None:
            return True
        host = self.headers.get("Host")
        if host is not None and _host_port(host, 80) in self.hosts:
            return True
        detail = (
            f"this server answers requests for {', '.join(sorted(self.hosts))}, not {host!r}; "
            "--allowed-hosts (PT_SYNC_ALLOWED_HOSTS) adds names"
        )
        log.warning("refused a request for host %r", host)
        self._send(421, json.dumps({"error": "misdirected_request", "detail": detail}).encode())
        return False

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)


def serve_listing(
    root: Path,
    host: str,
    port: int,
    rescan_interval: float,
    index_path: str | None,
    *,
    stop: threading.Event,
    allowed: Collection[str] = (),
    say: Callable[[str], None] = print,
) -> None:
    """Answer GET /list from the index of root, rescanning every rescan_interval, until stop is set.

    Only requests whose Host header names this server are answered (see `allowed_hosts`)."""
    with MediaIndex.open(root, index_path) as index:
        result = index.scan()
        say(result.line(root))
        current = {"body": json.dumps(index.listing(), sort_keys=True).encode()}
        lock = threading.Lock()

        def body() -> bytes:
            with lock:
                return current["body"]

        attributes = {"body": staticmethod(body), "hosts": None}
        handler: type[_ListingHandler] = type("ListingHandler", (_ListingHandler,), attributes)
        server = ThreadingHTTPServer((host, port), handler)
        server.daemon_threads = True
        handler.hosts = allowed_hosts(host, server.server_address[1], allowed)
        thread = threading.Thread(target=server.serve_forever, name="list-server", daemon=True)
        thread.start()
        say(f"serving http://{host}:{server.server_address[1]}/list; rescanning every {rescan_interval:g} s")
        if handler.hosts is not None and host.strip().lower() not in ("127.0.0.1", "localhost", "::1"):
            names = ", ".join(sorted(handler.hosts))
            say(f"answering requests for {names} only; --allowed-hosts adds the names others use")
        try:
            while not stop.wait(rescan_interval):
                result = index.scan()
                if result.new or result.changed or result.removed:
                    say(result.line(root))
                fresh = json.dumps(index.listing(), sort_keys=True).encode()
                with lock:
                    current["body"] = fresh
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
    say("stopped")


def scan_folder(root: Path, index_path: str | None, *, as_json: bool = False) -> int:
    """`scan`: bring the index up to date; print it as GET /list answers it, or one line."""
    if not root.is_dir():
        raise Failure(f"no such folder: {root}")
    with MediaIndex.open(root, index_path) as index:
        result = index.scan()
        if as_json:
            print(json.dumps(index.listing(), indent=2, sort_keys=True), flush=True)
        else:
            say(result.line(root))
    return EXIT_OK


def serve(
    root: Path, host: str, port: int, rescan_interval: float, index_path: str | None, allowed: Collection[str]
) -> int:
    """`serve`: answer GET /list until SIGTERM or Ctrl-C."""
    from picturetime_sync.daemon import stop_on_signals

    if not root.is_dir():
        raise Failure(f"no such folder: {root}")
    with stop_on_signals() as stopping:
        serve_listing(root, host, port, rescan_interval, index_path, stop=stopping, allowed=allowed, say=say)
    return EXIT_OK
