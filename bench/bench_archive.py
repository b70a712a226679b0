"""Archive benchmark: the gallery page of a 10,000-photo public album under 50 concurrent connections.

Creates a catalog (a fresh PostgreSQL database on 127.0.0.1:5432, user postgres, trust auth,
dropped at the end; or SQLite with --sqlite), runs the migrations, inserts 10,000 photos in one
public album with SQLAlchemy, starts the archive with uvicorn as a separate process (S3 and NATS
deliberately unreachable: HTML pages must not need them), drives a fixed number of requests over
50 keep-alive connections (a minimal asyncio HTTP/1.1 client: httpx's own connection pool saturates
first at this concurrency), and writes p50/p99 latency and requests/s.

Then one rendition, with a real S3 (SeaweedFS) this time: a 12000x12000 PNG of about 450 KB made into
its 2048 px WebP by a fresh archive process, whose peak resident memory (VmHWM) is recorded, and asked
again from another fresh process, which must serve the kept object without decoding.

    uv run python bench/bench_archive.py [--quick] [--sqlite] [--out bench/results/archive.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import platform
import re
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, insert

from picturetime_common.db import run_migrations, sync_url
from picturetime_common.db.models import Album, Photo, User, album_photos

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = os.environ.get("PT_BENCH_PG_ADMIN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
PG_URL = os.environ.get("PT_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/{name}")
TARGET_P99_MS = 50.0
PHOTOS = 10_000
ALBUM = "everything"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def create_database(sqlite_dir: Path | None) -> tuple[str, str | None]:
    if sqlite_dir is not None:
        return f"sqlite:///{sqlite_dir / 'catalog.db'}", None
    import psycopg

    name = f"pt_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return PG_URL.format(name=name), name


def drop_database(name: str | None) -> None:
    if name is None:
        return
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fill_catalog(url: str, photos: int) -> float:
    """10,000 portfolio photos of varied shapes in one public album; returns the seconds it took."""
    started = time.perf_counter()
    run_migrations(url)
    engine = create_engine(sync_url(url))
    shapes = [(6000, 4000), (4000, 6000), (4000, 3000), (3000, 4000), (5000, 5000), (7000, 3000)]
    start = datetime(2015, 1, 1, 9, tzinfo=UTC)
    with engine.begin() as conn:
        owner = conn.execute(
            insert(User).values(name="bench", role="admin", picture_time_public=True).returning(User.id)
        ).scalar_one()
        album = conn.execute(
            insert(Album)
            .values(owner_id=owner, name="Everything", slug=ALBUM, visibility="public")
            .returning(Album.id)
        ).scalar_one()
        rows, links = [], []
        for n in range(photos):
            photo_id = uuid.uuid4()
            width, height = shapes[n % len(shapes)]
            rows.append({
                "id": photo_id, "owner_id": owner, "piwigo_id": n + 1, "sha256": f"{n:064x}", "bucket": "originals",
                "key": f"bench/{n}.jpg", "content_type": "image/jpeg", "size": 4_000_000,
                "original_name": f"IMG_{n:05d}.JPG", "kind": "portfolio", "width": width, "height": height,
                "taken_at": start + timedelta(hours=7 * n), "utc_offset_minutes": 60, "status": "stored",
                "title": f"Photo {n}" if n % 3 else "", "description": "", "show_location": False,
                "exif": {"make": "FUJIFILM", "model": "X-T4", "f_number": 2.8, "iso": 400},
                "uploaded_at": start + timedelta(hours=7 * n),
            })  # fmt: skip
            links.append({"album_id": album, "photo_id": photo_id, "added_at": start})
        for chunk in range(0, photos, 2000):
            conn.execute(insert(Photo), rows[chunk : chunk + 2000])
            conn.execute(insert(album_photos), links[chunk : chunk + 2000])
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    return time.perf_counter() - started


def start_archive(
    url: str,
    port: int,
    workdir: Path,
    log_path: Path,
    workers: int = 1,
    cache_ttl: float | None = None,
    s3: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PT_ENV": "dev",
        "PT_DATA_DIR": str(workdir),
        "PT_DATABASE_URL": url,
        # Nothing listens on these: the site must start and serve HTML pages without S3 or NATS.
        "PT_S3__ENDPOINT": f"127.0.0.1:{free_port()}",
        "PT_NATS__URL": f"nats://127.0.0.1:{free_port()}",
        **({"PT_ARCHIVE__CACHE_TTL_SECONDS": str(cache_ttl)} if cache_ttl is not None else {}),
        **(s3 or {}),
    }
    command = [
        sys.executable, "-m", "uvicorn", "picturetime_archive.app:create_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log",
        "--workers", str(workers),
    ]  # fmt: skip
    log = log_path.open("wb")
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()


def wait_ready(base: str, process: subprocess.Popen[bytes], timeout: float = 60) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"the archive exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the archive did not become ready")


class Connection:
    """A minimal HTTP/1.1 keep-alive client: httpx's pool, not the server, limits at 50 connections."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, target: str) -> tuple[int, int]:
        """GET `target`; the status and the body's length (the body is read in full)."""
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(f"GET {target} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n".encode())
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)
        }
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding") == "chunked":
            body = b""
            while size := int((await self.reader.readuntil(b"\r\n")).strip(), 16):
                body += await self.reader.readexactly(size + 2)
            await self.reader.readuntil(b"\r\n")
        else:
            raise RuntimeError("a response without a length")
        if headers.get("connection") == "close":
            await self.close()
        return status, len(body)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


async def drive(url: str, requests: int, concurrency: int) -> dict[str, object]:
    """`requests` GETs over `concurrency` keep-alive connections; latency of each, end to end."""
    parsed = httpx.URL(url)
    target = parsed.raw_path.decode()
    latencies: list[float] = []
    errors = 0
    sizes: set[int] = set()
    remaining = requests

    async def worker() -> None:
        nonlocal remaining, errors
        connection = Connection(parsed.host, parsed.port or 80)
        try:
            while remaining > 0:
                remaining -= 1
                begun = time.perf_counter()
                try:
                    status, size = await connection.get(target)
                    sizes.add(size)
                    ok = status == 200
                except (OSError, asyncio.IncompleteReadError, ValueError, RuntimeError):
                    await connection.close()
                    ok = False
                latencies.append(time.perf_counter() - begun)
                errors += not ok
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000, 2)

    return {
        "requests": len(latencies), "errors": errors, "seconds": round(elapsed, 2),
        "requests_per_second": round(len(latencies) / elapsed, 1), "p50_ms": pct(50), "p90_ms": pct(90),
        "p99_ms": pct(99), "max_ms": round(ordered[-1] * 1000, 2),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 2), "page_bytes": sorted(sizes),
    }  # fmt: skip


def huge_png(width: int = 12000, height: int = 12000) -> bytes:
    """One colour, about 450 KB on disk, 432 MB decoded as RGB; written row by row with zlib."""
    row = b"\x00" + bytes((200, 100, 50)) * width
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmHWM in /proc/<pid>/status")


def measure_huge_rendition(url: str, workdir: Path) -> dict[str, Any]:
    """The archive's peak memory while it makes the 2048 px WebP of a 12000x12000 PNG, and after."""
    from minio import Minio

    from picturetime_common.localservers import pick_weed_ports, seaweedfs_server, wait_for_s3

    access, secret = "bench", uuid.uuid4().hex
    ports = pick_weed_ports()
    server = seaweedfs_server(workdir / "s3", ports, access, secret).start()
    try:
        client = Minio(f"127.0.0.1:{ports.s3}", access_key=access, secret_key=secret, secure=False)
        wait_for_s3(client)
        for bucket in ("originals", "media"):
            client.make_bucket(bucket)
        body = huge_png()
        key = "bench/huge.png"
        client.put_object("originals", key, io.BytesIO(body), len(body), content_type="image/png")
        engine = create_engine(sync_url(url))
        photo_id = uuid.uuid4()
        with engine.begin() as conn:
            owner = conn.execute(
                insert(User).values(name="huge", role="member").returning(User.id)
            ).scalar_one()
            album = conn.execute(insert(Album).values(owner_id=owner, name="Huge", slug="huge",
                                                      visibility="public").returning(Album.id)).scalar_one()  # fmt: skip
            conn.execute(insert(Photo).values(
                id=photo_id, owner_id=owner, piwigo_id=PHOTOS * 10, sha256="f" * 64, bucket="originals", key=key,
                content_type="image/png", size=len(body), kind="portfolio", width=12000, height=12000,
                taken_at=datetime.now(UTC), utc_offset_minutes=0, status="stored", exif={},
            ))  # fmt: skip
            conn.execute(insert(album_photos).values(album_id=album, photo_id=photo_id))
        engine.dispose()
        s3_env = {"PT_S3__ENDPOINT": f"127.0.0.1:{ports.s3}", "PT_S3__ACCESS_KEY": access,
                  "PT_S3__SECRET_KEY": secret, "PT_ARCHIVE__PRERENDER_FRAMES": "false"}  # fmt: skip
        measured: dict[str, object] = {
            "source": f"PNG 12000x12000, {len(body)} bytes",
            "rendition": "2048 px WebP",
        }
        for run in ("made", "kept"):
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            process = start_archive(url, port, workdir, workdir / f"archive-rendition-{run}.log", s3=s3_env)
            try:
                wait_ready(base, process)
                page = httpx.get(f"{base}/photos/{photo_id.hex}", timeout=30).text
                match = re.search(r"/media/photos/[0-9a-f]{32}/[0-9a-f]{32}/2048\.webp", page)
                if match is None:
                    raise RuntimeError("no 2048 px rendition on the photo page")
                before = peak_rss_mb(process.pid)
                started = time.perf_counter()
                response = httpx.get(base + match.group(0), timeout=300)
                seconds = time.perf_counter() - started
                if response.status_code != 200:
                    raise RuntimeError(f"rendition: {response.status_code} {response.text[:200]}")
                measured[run] = {"seconds": round(seconds, 2), "peak_rss_mb_before": before,
                                 "peak_rss_mb_after": peak_rss_mb(process.pid), "bytes": len(response.content)}  # fmt: skip
            finally:
                stop(process)
        return measured
    finally:
        server.stop()


def machine() -> dict[str, object]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "cpu": cpu, "nproc": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
        "load_average_1m": round(load[0], 2), "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests (a smoke run for CI)")
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument("--requests", type=int, help="requests per measured page (default 10000; 1500 quick)")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--photos", type=int, default=PHOTOS)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "archive.json")
    args = parser.parse_args(argv)
    requests = args.requests or (1500 if args.quick else 10_000)

    workdir = Path(tempfile.mkdtemp(prefix="pt-bench-archive-"))
    url, db_name = create_database(workdir if args.sqlite else None)
    process = None
    try:
        fill_seconds = fill_catalog(url, args.photos)
        print(f"catalog: {args.photos} photos in one public album ({fill_seconds:.1f} s)")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        process = start_archive(url, port, workdir, workdir / "archive.log")
        ready = wait_ready(base, process)
        print(f"archive up in {ready:.1f} s with S3 and NATS unreachable")
        gallery = f"{base}/albums/{ALBUM}"
        checks = {path: httpx.get(base + path, timeout=30).status_code
                  for path in ("/", "/albums", f"/albums/{ALBUM}", "/picture-time", "/sitemap.xml")}  # fmt: skip
        if any(code != 200 for code in checks.values()):
            raise RuntimeError(f"pages failed without S3: {checks}")
        asyncio.run(drive(gallery, min(500, requests), args.concurrency))  # warm up: caches, pools
        results = {"gallery_page_1": asyncio.run(drive(gallery, requests, args.concurrency))}
        deep = f"{gallery}?page=100"
        asyncio.run(drive(deep, 200, args.concurrency))
        results["gallery_page_100"] = asyncio.run(drive(deep, max(500, requests // 4), args.concurrency))
        stop(process)
        # For reference: every request rendered from the catalog (what the signed-in owner gets).
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        process = start_archive(url, port, workdir, workdir / "archive-uncached.log", cache_ttl=0)
        wait_ready(base, process)
        asyncio.run(drive(f"{base}/albums/{ALBUM}", 100, args.concurrency))
        results["gallery_page_1_uncached"] = asyncio.run(
            drive(f"{base}/albums/{ALBUM}", max(300, requests // 10), args.concurrency)
        )
        stop(process)
        process = None
        rendition = measure_huge_rendition(url, workdir)
    finally:
        if process is not None:
            stop(process)
        drop_database(db_name)
        shutil.rmtree(workdir, ignore_errors=True)

    main_result = results["gallery_page_1"]
    report = {
        "benchmark": "archive gallery page",
        "url": f"/albums/{ALBUM} (page 1, 60 photos of {args.photos})",
        "database": "sqlite" if args.sqlite else "postgresql",
        "concurrency": args.concurrency,
        "server": "uvicorn, 1 worker (uvloop, httptools); anonymous pages from the archive's micro-cache",
        "client": "asyncio HTTP/1.1 keep-alive connections in a separate process (bench/bench_archive.py)",
        "target_p99_ms": TARGET_P99_MS,
        "p50_ms": main_result["p50_ms"],
        "p99_ms": main_result["p99_ms"],
        "requests_per_second": main_result["requests_per_second"],
        "meets_target": main_result["p99_ms"] <= TARGET_P99_MS and not main_result["errors"],
        "quick": args.quick,
        "results": results,
        "rendition_huge_png": rendition,
        "machine": machine(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'page':<24} {'requests':>8} {'errors':>6} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}")
    for name, result in results.items():
        print(f"{name:<24} {result['requests']:>8} {result['errors']:>6} {result['p50_ms']:>8} "
              f"{result['p99_ms']:>8} {result['requests_per_second']:>8}")  # fmt: skip
    made, kept = rendition["made"], rendition["kept"]
    print(f"rendition of a {rendition['source']} at 2048 px: peak RSS {made['peak_rss_mb_before']} → "
          f"{made['peak_rss_mb_after']} MB in {made['seconds']} s; kept and served again in {kept['seconds']} s, "
          f"peak RSS {kept['peak_rss_mb_before']} → {kept['peak_rss_mb_after']} MB")  # fmt: skip
    print(
        f"target p99 ≤ {TARGET_P99_MS} ms: {'met' if report['meets_target'] else 'NOT met'}; wrote {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
