"""Upload throughput through the gateway against a direct S3 put of the same bytes, and gateway RSS.

Starts its own SeaweedFS, NATS and a gateway process (SQLite catalog), then, in one run:
  * N photos of 20 MB (real noise JPEGs) and one 1 GB RAW file (a DNG header and noise, sent after
    its JPEG so it joins that photo), each uploaded through `POST /api/v1/photos` and put straight
    to S3 with the MinIO SDK;
  * every gateway upload is timed with `X-Content-SHA256` (bytes stream to their final key) and
    without it (a photo waits in a spool file until its checksum is known; a RAW file streams to a
    temporary key, then a server-side copy);
  * the three paths alternate file by file in a rotating order, each transfer on a settled server;
  * the gateway process's RSS is sampled with psutil during the 1 GB uploads;
  * the gateway's CPU time and page faults are counted over the declared 20 MB uploads.

    uv run python bench/bench_gateway.py [--quick] [--out bench/results/gateway.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import secrets
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
from minio import Minio
from PIL import Image

from picturetime_common.hashing import sha256_file
from picturetime_common.localservers import (
    free_port,
    nats_server,
    pick_weed_ports,
    seaweedfs_server,
    wait_for_s3,
)

HERE = Path(__file__).parent
MB = 1_000_000
CHUNK = 1024 * 1024
PART = 16 * 1024 * 1024
SETTLE_S = 0.3  # pause before each timed transfer


def noise_jpeg(path: Path, target_bytes: int, seed: int) -> None:
    """A real JPEG of noise of about `target_bytes` (quality 95 noise is about 1.2 bytes a pixel)."""
    side = int((target_bytes / 1.17) ** 0.5)
    rng = random.Random(seed)
    image = Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3))
    image.save(path, "JPEG", quality=95)


def big_dng(path: Path, size: int, seed: int) -> None:
    """A DNG: TIFF header with DNGVersion, then `size` bytes of noise written in chunks."""
    entries = [(0x100, 4, 1, 8000), (0x101, 4, 1, 6000), (0xC612, 1, 4, 0x00000401)]
    header = b"II*\x00" + struct.pack("<IH", 8, len(entries))
    for tag, kind, count, value in entries:
        header += struct.pack("<HHII", tag, kind, count, value)
    header += struct.pack("<I", 0)
    rng = random.Random(seed)
    block = rng.randbytes(CHUNK)
    with path.open("wb") as out:
        out.write(header)
        written = len(header)
        while written < size:
            piece = block[: min(CHUNK, size - written)]
            # vary the blocks cheaply so the file is not one repeated megabyte
            out.write(bytes([written // CHUNK % 251]) + piece[1:])
            written += len(piece)


def multipart_stream(path: Path, filename: str, boundary: str) -> tuple[Iterator[bytes], int]:
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="kind"\r\n\r\nportfolio\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = len(head) + path.stat().st_size + len(tail)

    def body() -> Iterator[bytes]:
        yield head
        with path.open("rb") as fp:
            while chunk := fp.read(CHUNK):
                yield chunk
        yield tail

    return body(), size


def upload(client: httpx.Client, key: str, path: Path, filename: str, declare: bool) -> float:
    boundary = secrets.token_hex(16)
    body, length = multipart_stream(path, filename, boundary)
    headers = {
        "Authorization": f"Bearer {key}", "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(length),
    }  # fmt: skip
    if declare:
        headers["X-Content-SHA256"] = sha256_file(path)  # computed before the clock starts
    start = time.perf_counter()
    response = client.post("/api/v1/photos", content=body, headers=headers)
    elapsed = time.perf_counter() - start
    if response.status_code not in (200, 201):
        raise RuntimeError(f"upload of {filename} failed: {response.status_code} {response.text[:300]}")
    return elapsed


def direct_put(s3: Minio, bucket: str, path: Path, name: str) -> float:
    start = time.perf_counter()
    with path.open("rb") as fp:
        s3.put_object(bucket, name, fp, path.stat().st_size, part_size=PART, num_parallel_uploads=2)
    return time.perf_counter() - start


class GatewayCost:
    """CPU time and minor page faults of the gateway process, summed over the measured calls."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.stat = Path(f"/proc/{pid}/stat")
        self.cpu_s = 0.0
        self.faults = 0

    def _read(self) -> tuple[float, int]:
        times = self.process.cpu_times()
        # minflt is field 10 of /proc/<pid>/stat, the 8th after the ")" closing the command name
        faults = int(self.stat.read_text().rsplit(")", 1)[1].split()[7]) if self.stat.exists() else 0
        return times.user + times.system, faults

    def measure(self, call: Callable[[], float]) -> float:
        cpu, faults = self._read()
        elapsed = call()
        cpu_after, faults_after = self._read()
        self.cpu_s += cpu_after - cpu
        self.faults += faults_after - faults
        return elapsed


class RssSampler:
    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.02)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="3 x 20 MB and 256 MB instead of 8 x 20 MB and 1 GB"
    )
    parser.add_argument("--out", type=Path, default=HERE / "results" / "gateway.json")
    args = parser.parse_args()
    photos, big_size = (3, 256 * 1024 * 1024) if args.quick else (12, 1024 * 1024 * 1024)

    with tempfile.TemporaryDirectory(prefix="pt-bench-") as tmp:
        root = Path(tmp)
        print("making test files…", flush=True)
        files = []
        for n in range(photos):
            path = root / f"photo_{n:02d}.jpg"
            noise_jpeg(path, 20 * MB, seed=n)
            files.append(path)
        big_jpeg, big_raw = root / "BIG_0001.jpg", root / "BIG_0001.dng"
        noise_jpeg(big_jpeg, 2 * MB, seed=99)
        big_dng(big_raw, big_size, seed=100)
        big_raw_2 = root / "BIG_0002.dng"
        big_jpeg_2 = root / "BIG_0002.jpg"
        noise_jpeg(big_jpeg_2, 2 * MB, seed=101)
        big_dng(big_raw_2, big_size, seed=102)
        os.sync()  # the test files' write-back must not run during the measurements

        access, secret = f"bench{secrets.token_hex(4)}", secrets.token_urlsafe(24)
        ports = pick_weed_ports()
        weed = seaweedfs_server(root / "weed", ports, access, secret, volume_size_limit_mb=1024).start()
        nats_port = free_port()
        nats = nats_server(root / "nats", nats_port).start()
        gateway_port = free_port()
        env = {
            **os.environ, "PT_ENV": "dev", "PT_DATA_DIR": str(root / "data"),
            "PT_S3__ENDPOINT": f"127.0.0.1:{ports.s3}", "PT_S3__ACCESS_KEY": access, "PT_S3__SECRET_KEY": secret,
            "PT_NATS__URL": f"nats://127.0.0.1:{nats_port}", "PT_GATEWAY__PORT": str(gateway_port),
            "PT_GATEWAY__MAX_UPLOAD_BYTES": str(2 * 1024**3), "PT_LOG_LEVEL": "WARNING",
        }  # fmt: skip
        gateway_bin = str(Path(sys.executable).parent / "picturetime-gateway")
        proc = None
        try:
            s3 = Minio(f"127.0.0.1:{ports.s3}", access_key=access, secret_key=secret, secure=False)
            wait_for_s3(s3)
            subprocess.run([gateway_bin, "create-user", "bench"], env=env, check=True, capture_output=True)
            made = subprocess.run(
                [gateway_bin, "create-api-key", "--user", "bench", "--name", "bench", "--scopes", "upload"],
                env=env, check=True, capture_output=True, text=True,
            )  # fmt: skip
            key = made.stdout.strip().splitlines()[-1]
            log = (root / "gateway.log").open("wb")
            proc = subprocess.Popen([gateway_bin, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
            base = f"http://127.0.0.1:{gateway_port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(
                        "the gateway did not start:\n" + (root / "gateway.log").read_text()[-3000:]
                    )
                time.sleep(0.2)
            s3.make_bucket("bench-direct")
            report = run(
                s3, base, key, proc.pid, files, (big_jpeg, big_raw), (big_jpeg_2, big_raw_2), big_size
            )
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(20)
            nats.stop()
            weed.stop(timeout=3)
    report["quick"] = args.quick
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    print(f"\nwrote {args.out}")
    return 0


def run(
    s3: Minio, base: str, key: str, pid: int, files: list[Path], big: tuple[Path, Path], big_2: tuple[Path, Path],
    big_size: int,
) -> dict[str, object]:  # fmt: skip
    client = httpx.Client(base_url=base, timeout=600)
    total = sum(p.stat().st_size for p in files)
    idle_rss = psutil.Process(pid).memory_info().rss
    # warm both paths once
    upload(client, key, big[0], big[0].name, declare=True)
    upload(client, key, big_2[0], big_2[0].name, declare=False)

    # New bytes for the undeclared run (the gateway would answer "duplicate" to the same bytes):
    # a different trailer byte, same photo.
    undeclared_files = []
    for p in files:
        copy = p.with_name(f"u_{p.name}")
        data = p.read_bytes()
        copy.write_bytes(data[:-2] + b"\x00\xff\xd9")
        undeclared_files.append(copy)
    # Interleaved file by file, so that a drift of the shared machine or of the S3 server's state
    # affects the three paths alike; the order rotates, and every transfer starts on a settled
    # server (the S3 server's work after a put would otherwise land on whichever path comes next).
    times = {"direct": [], "declared": [], "undeclared": []}
    cost = GatewayCost(pid)
    for n, (p, u) in enumerate(zip(files, undeclared_files, strict=True)):
        paths = {
            "direct": lambda p=p: direct_put(s3, "bench-direct", p, f"d-{p.name}"),
            "declared": lambda p=p: cost.measure(lambda: upload(client, key, p, p.name, declare=True)),
            "undeclared": lambda u=u: upload(client, key, u, u.name, declare=False),
        }
        names = list(paths)
        for name in names[n % 3 :] + names[: n % 3]:
            time.sleep(SETTLE_S)
            times[name].append(paths[name]())
    direct_photos, declared_photos, undeclared_photos = (sum(times[k]) for k in times)

    time.sleep(SETTLE_S)
    direct_big = direct_put(s3, "bench-direct", big[1], "d-big.dng")
    time.sleep(SETTLE_S)
    big_cost = GatewayCost(pid)
    with RssSampler(pid) as declared_rss:
        declared_big = big_cost.measure(lambda: upload(client, key, big[1], big[1].name, declare=True))
    time.sleep(SETTLE_S)
    with RssSampler(pid) as undeclared_rss:
        undeclared_big = upload(client, key, big_2[1], big_2[1].name, declare=False)

    def mbps(size: int, seconds: float) -> float:
        return round(size / seconds / MB, 1)

    photo_case = {
        "files": len(files), "bytes": total, "direct_s3_mb_s": mbps(total, direct_photos),
        "gateway_mb_s": mbps(total, declared_photos), "gateway_undeclared_mb_s": mbps(total, undeclared_photos),
        "median_file_ratio": round(statistics.median(d / g for d, g in zip(times["direct"], times["declared"], strict=True)), 3),
        "median_file_ratio_undeclared": round(
            statistics.median(d / u for d, u in zip(times["direct"], times["undeclared"], strict=True)), 3
        ),
        "gateway_cpu_ms_per_file": round(cost.cpu_s / len(files) * 1000, 1),
        "gateway_page_faults_per_file": round(cost.faults / len(files)),
    }  # fmt: skip
    big_case = {
        "bytes": big_size, "direct_s3_mb_s": mbps(big_size, direct_big),
        "gateway_mb_s": mbps(big_size, declared_big), "gateway_undeclared_mb_s": mbps(big_size, undeclared_big),
        "peak_gateway_rss_mb": round(declared_rss.peak / MB, 1),
        "peak_gateway_rss_undeclared_mb": round(undeclared_rss.peak / MB, 1),
        "gateway_cpu_ms": round(big_cost.cpu_s * 1000), "gateway_page_faults": big_cost.faults,
    }  # fmt: skip
    for case in (photo_case, big_case):
        case["ratio"] = round(case["gateway_mb_s"] / case["direct_s3_mb_s"], 3)
        case["ratio_undeclared"] = round(case["gateway_undeclared_mb_s"] / case["direct_s3_mb_s"], 3)
    return {
        "what": "POST /api/v1/photos through the gateway vs a direct MinIO-SDK put of the same bytes, same run",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "s3": "SeaweedFS (local)",
        "catalog": "SQLite",
        "idle_gateway_rss_mb": round(idle_rss / MB, 1),
        "photos_20mb": photo_case,
        "raw_1gb" if big_size >= 1024**3 else "raw_big": big_case,
        "targets": {"ratio": 0.8, "peak_rss_mb": 200},
        "notes": (
            "gateway_mb_s: with X-Content-SHA256, bytes stream straight to their final key. "
            "gateway_undeclared_mb_s: without it, photos are spooled to disk while their checksum is computed and "
            "put once under their final key; RAW files stream to incoming/ and are copied server-side."
        ),
    }


def print_table(report: dict[str, object]) -> None:
    print(
        f"\n{'case':<14}{'direct S3':>12}{'gateway':>10}{'ratio':>8}{'no sha hdr':>12}{'ratio':>8}{'peak RSS':>10}"
    )
    for name in ("photos_20mb", "raw_1gb", "raw_big"):
        case = report.get(name)
        if not isinstance(case, dict):
            continue
        rss = f"{case['peak_gateway_rss_mb']} MB" if "peak_gateway_rss_mb" in case else ""
        print(
            f"{name:<14}{case['direct_s3_mb_s']:>9} MB/s{case['gateway_mb_s']:>7} MB/s{case['ratio']:>8}"
            f"{case['gateway_undeclared_mb_s']:>9} MB/s{case['ratio_undeclared']:>8}{rss:>10}"
        )


if __name__ == "__main__":
    sys.exit(main())
