"""Chaos benchmark: `kill -9` each part of the stack under an upload load, and count what it cost.

Starts NATS, SeaweedFS (master, volume and filer, each its own process), a gateway process on
SQLite and an aligner process, each one a process of its own that can be killed and started again
on the same ports and data. Then it runs the fault matrix of issue 18, one run after another on
that one stack, each run with a fresh account:

    baseline                 no fault
    gateway-kill-1 / -4      kill -9 of the gateway at 50 % (20/40/60/80 %) of the acknowledged
                             uploads, started again at once (as `make up`'s supervisor does)
    aligner-kill-1 / -2      kill -9 of the aligner at 30 % (30/60 %) of the aligned photos
    nats-down-10s            NATS killed at 30 % of the uploads, back 10 s later (same store)
    s3-down-10s / -90s       the three SeaweedFS processes killed at 30 %, back 10 / 90 s later
    sync-kill-mirror         after the photos are aligned, `picturetime-sync once` killed once a
                             third of the frames are mirrored, then run again
    sync-kill-encode         the same, killed while it encodes the timelapse (after its mirror)
    gateway-kill-sync        the gateway killed while the sync agent mirrors; the agent runs again
    same-file-50x            at 30 % of the load, 50 parallel uploads of one more photo
    spool-full-10s           the gateway's spool folder full (ENOSPC) for 10 s from 30 % of the load

The load: N photos (300; 10 with --quick) of a face (900x1200 JPEG, ~0.3 MB), every photo its
own day, sent by 4 connections; every client retries a failed request (connection error, 5xx,
non-JSON answer) with the same `X-Content-SHA256`, backing off to 4 s, until 90 s after the faulty
part is back. Even photos send `taken_at` before the file, odd ones after it (curl's order).
The spool run sends no checksum (a browser's upload), so every photo waits in the spool. With
--quick each connection starts a photo at most once a second, so the faults land inside the load
(they wait for a request in flight).

The full spool is a real one, not a simulation of an error: the gateway of that run starts in a
mount namespace of its own (`unshare -m`; `-r` when not root) where its spool folder is a 32 MiB
tmpfs, and the bench fills that tmpfs through `/proc/<pid>/root` and empties it 10 s later. Where
mount namespaces are not available the run is reported as skipped.

For each run it records: photos acknowledged (200/201), in the catalog, aligned, failed (and how
many of those by an outage: any reason but `no_face`/`undecodable`, as these photos all have a
face), stuck (still pending when the wait ends), lost (acknowledged, not in the catalog),
duplicate rows (more than one row for one day), orphan objects (originals and frames that no row
names, new in this run), leftover multipart uploads (new in this run, counted after the sweep
bound when the gateway has one), files mirrored home (sync runs), the error answers the clients
saw, and the time to recover: from the later of the part's return and the last acknowledgement
until every acknowledged photo is aligned or failed (in sync runs: from the kill until a sync pass
has mirrored and published them all). A run waits while photos are still being aligned; what has
not moved for 60 s (after at least 150 s) is stuck. Targets: 0 stuck, 0 failed by an outage, 0
lost, 0 unacknowledged, 0 duplicates, 0 orphans, 0 leftovers, and recovery within 120 s beyond the
baseline's (which is the aligner's backlog of the same load with no fault). It prints a table,
writes bench/results/chaos.json and exits 1 when a target is missed.

    uv run python bench/bench_chaos.py [--quick] [--n 300] [--only baseline,s3-down-10s] [--out FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # tests.support: the face photos, the account, the settings

import httpx  # noqa: E402

from picturetime_common.object_keys import FACEPRINT_PREFIX  # noqa: E402

GENERATOR_VERSION = 2
SIZE = (900, 1200)
FIRST_DAY = date(2016, 1, 1)
CONNECTIONS = 4
RECOVERY_TARGET_S = 120.0
# How long a run waits past the recovery target before it calls what is still pending stuck.
WAIT_PAST_TARGET_S = 30.0
# A backlog still being aligned is waited for; what has not moved for this long is stuck.
STALL_S = 60.0
MAX_WAIT_S = 900.0
# How long clients keep retrying after the faulty part is back.
CLIENT_RETRY_AFTER_BACK_S = 90.0
PHOTO_FAULTS = {"no_face", "undecodable"}
SPOOL_TMPFS = "32m"
# Unfinished multipart uploads are counted when a run ends, or this long after it (set it past the
# sweep bound given to the gateway through PT_CHAOS_GATEWAY_ENV).
SWEEP_WAIT_S = float(os.environ.get("PT_CHAOS_SWEEP_WAIT_S", "0"))
DEFAULT_OUT = ROOT / "bench" / "results" / "chaos.json"

QUICK_RUNS = ["baseline", "gateway-kill-1", "s3-down-10s"]
# A few photos go up in a fraction of a second: spread them so the faults land inside the load.
QUICK_PACE_S = 1.0


# -------------------------------------------------------------------------------------------
# Photos


@dataclass(frozen=True)
class Photo:
    index: int
    day: date
    body: bytes
    sha256: str

    @property
    def taken_at(self) -> str:
        return f"{self.day}T08:00:00+01:00"


def _make_photo(index: int, path: str) -> None:
    import random

    from tests.support.faces import face_photo

    rng = random.Random(index)
    shot = face_photo(
        angle_deg=rng.uniform(-6, 6), scale=rng.uniform(0.9, 1.1), shift=(rng.uniform(-40, 40), rng.uniform(-30, 30)),
        size=SIZE, grain=6.0, seed=index,
    )  # fmt: skip
    tmp = Path(f"{path}.{os.getpid()}.tmp")
    tmp.write_bytes(shot.jpeg)
    tmp.replace(path)


def photos(cache: Path, n: int) -> list[Photo]:
    """The first n photos of the cached series (made on first use); one more for the 50x run."""
    from concurrent.futures import ProcessPoolExecutor

    store = cache / f"v{GENERATOR_VERSION}"
    store.mkdir(parents=True, exist_ok=True)
    paths = [store / f"{i:05d}.jpg" for i in range(n + 1)]
    missing = [(i, str(p)) for i, p in enumerate(paths) if not p.exists()]
    if missing:
        print(f"making {len(missing)} face photos in {store} (kept for later runs) ...", flush=True)
        with ProcessPoolExecutor(os.cpu_count() or 2) as pool:
            list(pool.map(_make_photo, *zip(*missing, strict=True), chunksize=4))
    out = []
    for i, path in enumerate(paths):
        body = path.read_bytes()
        out.append(Photo(i, FIRST_DAY + timedelta(days=i), body, hashlib.sha256(body).hexdigest()))
    return out


def multipart(photo: Photo, file_first: bool) -> tuple[bytes, str]:
    """The form with its fields in the order asked (httpx always puts plain fields first)."""
    boundary = uuid.uuid4().hex
    field_part = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="taken_at"\r\n\r\n{photo.taken_at}\r\n'
    ).encode()
    file_part = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="day-{photo.day}.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + photo.body
        + b"\r\n"
    )
    parts = [file_part, field_part] if file_first else [field_part, file_part]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


# -------------------------------------------------------------------------------------------
# The stack: every part its own process


def _unshare_prefix() -> list[str] | None:
    """`unshare -m` (as root) or `unshare -rm`, if this machine lets us mount a tmpfs in it."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    prefix = [unshare, "-m"] if os.geteuid() == 0 else [unshare, "-r", "-m"]
    probe = subprocess.run(
        [*prefix, "sh", "-c", "d=$(mktemp -d) && mount -t tmpfs -o size=1m tmpfs $d && umount $d && rmdir $d"],
        capture_output=True, timeout=20,
    )  # fmt: skip
    return prefix if probe.returncode == 0 else None


class Stack:
    """NATS, SeaweedFS, the gateway and the aligner on loopback, each a process of its own."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.parts: dict[str, Any] = {}

    def __enter__(self) -> Stack:
        from minio import Minio

        from picturetime_common.localservers import (
            LocalServer,
            free_port,
            nats_server,
            pick_weed_ports,
            seaweedfs_server,
            wait_for_s3,
        )
        from picturetime_common.settings import S3Settings
        from picturetime_gateway.settings import GatewaySettings
        from tests.support.stack import make_settings, script, settings_env

        access, secret = f"pt{secrets.token_hex(6)}", secrets.token_urlsafe(24)
        ports = pick_weed_ports()
        self.weed = seaweedfs_server(self.root, ports, access, secret, volume_size_limit_mb=1024)
        nats_port = free_port()
        self.nats = nats_server(self.root, nats_port)
        self.start_all([*self.weed.processes, self.nats])
        self.settings = make_settings(
            GatewaySettings, data_dir=self.root / "data", database_url=f"sqlite:///{self.root / 'catalog.db'}",
            s3=S3Settings(endpoint=f"127.0.0.1:{ports.s3}", access_key=access, secret_key=secret),
            nats=f"nats://127.0.0.1:{nats_port}",
        )  # fmt: skip
        self.s3 = Minio(
            f"127.0.0.1:{ports.s3}", access_key=access, secret_key=secret, secure=False, region="us-east-1"
        )
        wait_for_s3(self.s3)
        self.env = {**settings_env(self.settings), **gateway_tuning()}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        logs = self.root / "logs"
        self.gateway_argv = [script("picturetime-gateway"), "serve", "--port", str(self.port)]
        self.gateway = LocalServer(
            "gateway", self.gateway_argv, self.port, logs / "gateway.log", 90, env=self.env
        )
        self.aligner = LocalServer(
            "aligner", [script("picturetime-aligner")], None, logs / "aligner.log", env=self.env
        )
        self.aligner.spawn()  # it loads its models while the gateway starts
        self.start_gateway()
        for bucket in self.settings.buckets.every():
            deadline = time.monotonic() + 60
            while not self.s3.bucket_exists(bucket):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"bucket {bucket} was not created")
                time.sleep(0.2)
        return self

    def start_gateway(self, timeout: float = 90) -> float:
        """Start the gateway and wait until it answers /readyz; the monotonic time it did."""
        self.gateway.spawn()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.gateway.running:
                raise RuntimeError(f"the gateway exited:\n{self.gateway.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return time.monotonic()
            time.sleep(0.1)
        raise TimeoutError(f"the gateway was not ready within {timeout} s:\n{self.gateway.tail()}")

    @staticmethod
    def start_all(parts: list[Any]) -> None:
        """Start processes together (SeaweedFS's volume and filer wait for its master themselves)."""
        for part in parts:
            part.spawn()
        for part in parts:
            try:
                part.wait_ready()
            except Exception:
                raise RuntimeError(f"{part.name} did not start; last log lines:\n{part.tail()}") from None

    def restart_s3(self) -> float:
        from picturetime_common.localservers import wait_for_s3

        self.start_all(self.weed.processes)
        wait_for_s3(self.s3, timeout=120)
        return time.monotonic()

    def restart_nats(self) -> float:
        self.nats.start()
        return time.monotonic()

    def __exit__(self, *exc: object) -> None:
        for part in (self.aligner, self.gateway):
            part.stop(10)
        self.nats.stop()
        self.weed.stop(3)

    # ---- what the catalog and the object store hold ------------------------------------------

    def catalog(self) -> sqlite3.Connection:
        conn = sqlite3.connect(f"file:{self.root / 'catalog.db'}?mode=ro", uri=True, timeout=30)
        conn.execute("PRAGMA busy_timeout = 30000")
        return conn

    def objects(self) -> dict[str, set[str]]:
        buckets = self.settings.buckets
        return {
            bucket: {o.object_name for o in self.s3.list_objects(bucket, recursive=True) if o.object_name}
            for bucket in (buckets.originals, buckets.frames)
        }

    def unreferenced(self) -> set[str]:
        """`bucket/key` of every original or frame that no catalog row names (the aligner's
        per-account faceprints, in the frames bucket, are no frames)."""
        buckets = self.settings.buckets
        with contextlib.closing(self.catalog()) as db:
            originals = {k for row in db.execute("SELECT key, raw_key FROM photos") for k in row if k}
            frames = {k for (k,) in db.execute("SELECT key FROM frames")}
        stored = self.objects()
        return {f"{buckets.originals}/{k}" for k in stored[buckets.originals] - originals} | {
            f"{buckets.frames}/{k}"
            for k in stored[buckets.frames] - frames
            if not k.startswith(FACEPRINT_PREFIX)
        }

    def multipart_uploads(self) -> set[str]:
        """`bucket/key/upload id` of every unfinished multipart upload."""
        found = set()
        for bucket in self.settings.buckets.every():
            marker_key, marker_id = None, None
            while True:
                result = self.s3._list_multipart_uploads(
                    bucket, key_marker=marker_key, upload_id_marker=marker_id, max_uploads=1000
                )
                found |= {f"{bucket}/{u.object_name}/{u.upload_id}" for u in result.uploads}
                if not result.is_truncated:
                    break
                marker_key, marker_id = result.next_key_marker, result.next_upload_id_marker
        return found


def gateway_tuning() -> dict[str, str]:
    """Settings that bring the sweep of abandoned multipart uploads within a run, if the gateway
    has one (`PT_CHAOS_GATEWAY_ENV`, `NAME=value,...`, adds more)."""
    extra = os.environ.get("PT_CHAOS_GATEWAY_ENV", "")
    return dict(item.split("=", 1) for item in extra.split(",") if "=" in item)


def create_account(stack: Stack) -> tuple[str, int]:
    from tests.support.stack import create_account as make

    account = make(stack.settings, scopes="upload,sync")
    return account.api_key, account.user_id


# -------------------------------------------------------------------------------------------
# The load


@dataclass
class Load:
    """Uploads in flight: what was acknowledged, and every error answer on the way."""

    url: str
    api_key: str
    send_sha: bool = True
    acks: dict[int, str] = field(default_factory=dict)  # photo index -> photo id
    ack_ids: dict[int, set[str]] = field(default_factory=dict)
    rejected: dict[int, str] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    answers: int = 0  # requests answered 200/201
    in_flight: int = 0
    pace_s: float = 0.0  # each connection starts a photo at most this often
    last_ack: float = 0.0
    retry_until: float | None = None  # set when the faulty part is back
    lock: threading.Lock = field(default_factory=threading.Lock)

    def give_up(self) -> bool:
        return self.retry_until is not None and time.monotonic() > self.retry_until

    def upload(self, http: httpx.Client, photo: Photo) -> None:
        file_first = photo.index % 2 == 1
        delay = 0.25
        while True:
            body, ctype = multipart(photo, file_first)
            headers = {"Content-Type": ctype}
            if self.send_sha:
                headers["X-Content-SHA256"] = photo.sha256
            with self.lock:
                self.in_flight += 1
            try:
                response = http.post("/api/v1/photos", content=body, headers=headers)
            except httpx.HTTPError as exc:
                self._error(type(exc).__name__)
            else:
                status = response.status_code
                is_json = response.headers.get("content-type", "").startswith("application/json")
                if status in (200, 201) and is_json:
                    with self.lock:
                        pid = response.json()["id"]
                        self.acks.setdefault(photo.index, pid)
                        self.ack_ids.setdefault(photo.index, set()).add(pid)
                        self.last_ack = time.monotonic()
                        self.answers += 1
                    return
                self._error(f"{status}{'' if is_json else ' plain'}")
                if 400 <= status < 500 and status not in (408, 409, 423, 425, 429):
                    self.rejected[photo.index] = f"{status} {response.text[:200]}"
                    return
            finally:
                with self.lock:
                    self.in_flight -= 1
            if self.give_up():
                return
            time.sleep(delay)
            delay = min(delay * 2, 4.0)

    def _error(self, kind: str) -> None:
        with self.lock:
            self.errors[kind] += 1

    def run(self, batch: list[Photo], connections: int = CONNECTIONS) -> None:
        local = threading.local()
        clients: list[httpx.Client] = []

        def one(photo: Photo) -> None:
            if not hasattr(local, "http"):
                local.http = httpx.Client(
                    base_url=self.url, headers={"Authorization": f"Bearer {self.api_key}"}, timeout=60
                )
                clients.append(local.http)
            began = time.monotonic()
            self.upload(local.http, photo)
            time.sleep(max(0.0, self.pace_s - (time.monotonic() - began)))

        try:
            with ThreadPoolExecutor(connections) as pool:
                list(pool.map(one, batch))
        finally:
            for client in clients:
                client.close()


# -------------------------------------------------------------------------------------------
# A run


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False


def status_counts(stack: Stack, owner: int) -> Counter[str]:
    with contextlib.closing(stack.catalog()) as db:
        return Counter(
            dict(
                db.execute("SELECT status, count(*) FROM photos WHERE owner_id = ? GROUP BY status", (owner,))
            )
        )


@dataclass
class Run:
    name: str
    stack: Stack
    batch: list[Photo]
    extra: Photo
    work: Path
    api_key: str = ""
    owner: int = 0
    load: Load | None = None
    back_at: float | None = None  # when the faulty part answered again
    notes: list[str] = field(default_factory=list)
    sync: dict[str, Any] = field(default_factory=dict)
    pace_s: float = 0.0

    def acked_fraction(self, fraction: float) -> Callable[[], bool]:
        target = max(1, int(len(self.batch) * fraction))
        # ... and a request in flight, so that the fault cuts one, unless the load is already over
        # (a quick run on a fast machine): then the fault comes at once rather than never.

        def reached() -> bool:
            load = self.load
            if load is None or len(load.acks) < target:
                return False
            return load.in_flight > 0 or len(load.acks) + len(load.rejected) >= len(self.batch)

        return reached

    def aligned_fraction(self, fraction: float) -> Callable[[], bool]:
        target = max(1, int(len(self.batch) * fraction))
        return lambda: status_counts(self.stack, self.owner)["aligned"] >= target


def kill_gateway_at(run: Run, fractions: list[float]) -> None:
    for fraction in fractions:
        wait_until(run.acked_fraction(fraction), 600)
        run.stack.gateway.kill()
        run.back_at = run.stack.start_gateway()
        run.notes.append(f"gateway killed at {len(run.load.acks) if run.load else 0} acks")


def kill_aligner_at(run: Run, fractions: list[float]) -> None:
    for fraction in fractions:
        wait_until(run.aligned_fraction(fraction), 600, interval=0.5)
        run.stack.aligner.kill()
        time.sleep(1)
        run.stack.aligner.spawn()
        run.back_at = time.monotonic()


def nats_down(run: Run, seconds: float) -> None:
    wait_until(run.acked_fraction(0.3), 600)
    run.stack.nats.kill()
    time.sleep(seconds)
    run.back_at = run.stack.restart_nats()


def s3_down(run: Run, seconds: float) -> None:
    wait_until(run.acked_fraction(0.3), 600)
    run.stack.weed.kill()
    time.sleep(seconds)
    run.back_at = run.stack.restart_s3()


def same_file_50x(run: Run) -> None:
    wait_until(run.acked_fraction(0.3), 600)
    burst = Load(run.stack.url, run.api_key)
    burst.run([run.extra] * 50, connections=50)
    ids = burst.ack_ids.get(run.extra.index, set())
    run.notes.append(
        f"50 parallel uploads of one photo: {burst.answers} answered 200/201, {len(ids)} photo id(s)"
    )
    if run.load is not None:
        with run.load.lock:
            run.load.acks.setdefault(run.extra.index, next(iter(ids), ""))
            run.load.ack_ids.setdefault(run.extra.index, set()).update(ids)
            run.load.errors.update({f"50x {k}": v for k, v in burst.errors.items()})
    run.back_at = time.monotonic()


def spool_full(run: Run, seconds: float) -> None:
    wait_until(run.acked_fraction(0.3), 600)
    pid = run.stack.gateway.proc.pid if run.stack.gateway.proc else 0
    spool = Path(f"/proc/{pid}/root") / str(run.stack.settings.data_dir / "spool").lstrip("/")
    filler = spool / ".chaos-filler"
    with filler.open("wb") as out, contextlib.suppress(OSError):
        block = b"\0" * (1 << 20)
        while True:
            out.write(block)
            out.flush()
    run.notes.append(f"spool filled ({filler.stat().st_size >> 20} MiB)")
    time.sleep(seconds)
    filler.unlink()
    run.back_at = time.monotonic()


FAULTS: dict[str, Callable[[Run], None] | None] = {
    "baseline": None,
    "gateway-kill-1": lambda r: kill_gateway_at(r, [0.5]),
    "gateway-kill-4": lambda r: kill_gateway_at(r, [0.2, 0.4, 0.6, 0.8]),
    "aligner-kill-1": lambda r: kill_aligner_at(r, [0.3]),
    "aligner-kill-2": lambda r: kill_aligner_at(r, [0.3, 0.6]),
    "nats-down-10s": lambda r: nats_down(r, 10),
    "s3-down-10s": lambda r: s3_down(r, 10),
    "s3-down-90s": lambda r: s3_down(r, 90),
    "sync-kill-mirror": None,
    "sync-kill-encode": None,
    "gateway-kill-sync": None,
    "same-file-50x": same_file_50x,
    "spool-full-10s": lambda r: spool_full(r, 10),
}
SYNC_RUNS = {"sync-kill-mirror", "sync-kill-encode", "gateway-kill-sync"}


def settle(run: Run, since: float) -> float | None:
    """Seconds from `since` until no acknowledged photo is pending; None once nothing has moved for
    STALL_S (and at least the recovery target plus WAIT_PAST_TARGET_S have passed), or after MAX_WAIT_S."""
    assert run.load is not None
    acked = {_uuid(pid) for pid in run.load.acks.values()}

    def done() -> int:
        with contextlib.closing(run.stack.catalog()) as db:
            rows = dict(db.execute("SELECT id, status FROM photos WHERE owner_id = ?", (run.owner,)))
        known = {_uuid(k): v for k, v in rows.items()}
        return sum(1 for pid in acked if known.get(pid) in ("aligned", "failed"))

    best, moved = -1, time.monotonic()
    while True:
        now = time.monotonic()
        count = done()
        if count == len(acked):
            return now - since
        if count > best:
            best, moved = count, now
        waited = now - since
        if waited > MAX_WAIT_S or (waited > RECOVERY_TARGET_S + WAIT_PAST_TARGET_S and now - moved > STALL_S):
            return None
        time.sleep(0.5)


def _uuid(value: object) -> str:
    return uuid.UUID(str(value)).hex if value else ""


def sync_agent(run: Run, home: Path, log: Path) -> subprocess.Popen[bytes]:
    from tests.support.stack import script

    out = log.open("ab")
    return subprocess.Popen(
        [script("picturetime-sync"), "once", "--gateway", run.stack.url, "--dir", str(home)],
        env={**os.environ, "PT_SYNC_API_KEY": run.api_key}, stdout=out, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def mirrored(home: Path) -> int:
    frames = home / "frames"
    return sum(1 for p in frames.rglob("*.jpg") if not p.name.startswith(".")) if frames.exists() else 0


def run_sync_fault(run: Run) -> None:
    """Once the photos are aligned: the sync agent (or the gateway under it) killed mid-pass, then
    passes again until one succeeds; `back_at` is when the part was back."""
    home = run.work / "home"
    log = run.work / "sync.log"
    expected = status_counts(run.stack, run.owner)["aligned"]
    agent = sync_agent(run, home, log)
    if run.name == "sync-kill-encode":
        # Its mirror is done once the agent says so; then it encodes.
        wait_until(lambda: b"mirrored " in log.read_bytes() or agent.poll() is not None, 600)
        time.sleep(0.5)
    else:
        wait_until(lambda: mirrored(home) >= max(1, expected // 3) or agent.poll() is not None, 600, 0.05)
    finished_before_kill = agent.poll() is not None
    if run.name == "gateway-kill-sync":
        run.stack.gateway.kill()
        run.stack.start_gateway()
        try:
            agent.wait(300)
        except subprocess.TimeoutExpired:
            run.notes.append("the sync agent was still running 300 s after the gateway came back; killed")
            os.killpg(agent.pid, 9)
            agent.wait()
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(agent.pid, 9)
        agent.wait()
    run.sync["killed_after_files"] = mirrored(home)
    run.sync["finished_before_kill"] = finished_before_kill
    run.sync["first_pass_exit"] = agent.returncode
    run.back_at = time.monotonic()
    passes = []
    for _ in range(5):
        again = sync_agent(run, home, log)
        try:
            again.wait(600)
        except subprocess.TimeoutExpired:
            os.killpg(again.pid, 9)
            again.wait()
        passes.append(again.returncode)
        if again.returncode == 0:
            break
        time.sleep(2)
    run.sync["passes_after"] = passes
    run.sync["recovered_s"] = round(time.monotonic() - run.back_at, 1)
    run.sync["mirrored"] = mirrored(home)
    run.sync["temp_files_left"] = sum(1 for p in home.rglob(".*.tmp"))
    with httpx.Client(
        base_url=run.stack.url, headers={"Authorization": f"Bearer {run.api_key}"}, timeout=30
    ) as http:
        pending = http.get("/api/v1/sync/pending", params={"limit": 1000}).json().get("frames", [])
        latest = http.get("/api/v1/timelapse/latest")
    run.sync["pending_after"] = len(pending)
    run.sync["published_frames"] = latest.json().get("frames") if latest.status_code == 200 else None
    run.sync["expected"] = expected


def execute(run: Run) -> dict[str, Any]:
    stack = run.stack
    orphans_before = stack.unreferenced()
    uploads_before = stack.multipart_uploads()
    run.api_key, run.owner = create_account(stack)
    run.load = Load(stack.url, run.api_key, send_sha=run.name != "spool-full-10s", pace_s=run.pace_s)
    fault = FAULTS[run.name]
    started = time.monotonic()
    loader = threading.Thread(target=run.load.run, args=(run.batch,), name="load")
    loader.start()
    fault_error = None
    if fault is not None:
        try:
            fault(run)
        except Exception as exc:  # the run still counts what happened
            fault_error = f"{type(exc).__name__}: {exc}"
            run.notes.append(f"fault step failed: {fault_error}")
    back = run.back_at or time.monotonic()
    run.load.retry_until = back + CLIENT_RETRY_AFTER_BACK_S
    loader.join()
    load_s = time.monotonic() - started
    since = max(run.back_at or 0.0, run.load.last_ack, started)
    recovered = settle(run, since)
    if run.name in SYNC_RUNS and recovered is not None:
        run_sync_fault(run)
        recovered = run.sync["recovered_s"]
    return measure(run, started, load_s, recovered, orphans_before, uploads_before)


def measure(
    run: Run,
    started: float,
    load_s: float,
    recovered: float | None,
    orphans_before: set[str],
    uploads_before: set[str],
) -> dict[str, Any]:
    stack, load = run.stack, run.load
    assert load is not None
    with contextlib.closing(stack.catalog()) as db:
        rows = list(
            db.execute(
                "SELECT id, status, failure_reason, substr(taken_at, 1, 10) FROM photos WHERE owner_id = ?",
                (run.owner,),
            )
        )
    ids = {_uuid(r[0]) for r in rows}
    statuses = Counter(r[1] for r in rows)
    reasons = Counter(r[2] for r in rows if r[1] == "failed")
    per_day = Counter(r[3] for r in rows)
    acked_ids = {_uuid(pid) for pid in load.acks.values() if pid}
    sent = len(run.batch) + (1 if run.name == "same-file-50x" else 0)
    orphans = stack.unreferenced() - orphans_before
    leftovers = stack.multipart_uploads() - uploads_before
    if leftovers and SWEEP_WAIT_S:
        # Within the sweep bound: what the gateway's own sweep (configured short through
        # PT_CHAOS_GATEWAY_ENV) has not aborted by then counts.
        time.sleep(SWEEP_WAIT_S)
        leftovers = stack.multipart_uploads() - uploads_before
    result = {
        "run": run.name,
        "photos": sent,
        "acknowledged": len(load.acks),
        "unacknowledged": sent - len(load.acks),
        "rejected": len(load.rejected),
        "in_catalog": len(rows),
        "aligned": statuses["aligned"],
        "failed": statuses["failed"],
        "failed_by_outage": sum(v for k, v in reasons.items() if k not in PHOTO_FAULTS),
        "failure_reasons": dict(reasons),
        "stuck": statuses["pending"],
        "lost": len(acked_ids - ids),
        "duplicate_rows": sum(c - 1 for c in per_day.values() if c > 1)
        + sum(len(v) - 1 for v in load.ack_ids.values() if len(v) > 1),
        "orphan_objects": len(orphans),
        "leftover_multipart_uploads": len(leftovers),
        "mirrored": run.sync.get("mirrored") if run.name in SYNC_RUNS else None,
        "recovery_s": None if recovered is None else round(recovered, 1),
        "load_s": round(load_s, 1),
        "error_answers": dict(load.errors),
        "notes": run.notes,
        "examples": {
            "orphans": sorted(orphans)[:3],
            "leftovers": sorted(leftovers)[:3],
            "rejected": list(load.rejected.values())[:3],
        },
    }
    if run.sync:
        result["sync"] = run.sync
    return result


def misses(r: dict[str, Any], baseline_s: float = 0.0) -> list[str]:
    """The targets this run missed; its recovery is measured beyond the baseline's (the aligner's
    backlog of the same load with no fault)."""
    missed = [
        f"{k} {r[k]}"
        for k in ("stuck", "failed_by_outage", "lost", "unacknowledged", "duplicate_rows", "orphan_objects",
                  "leftover_multipart_uploads")
        if r[k]
    ]  # fmt: skip
    if r["recovery_s"] is None:
        missed.append("never recovered")
    elif r["recovery_s"] - baseline_s > RECOVERY_TARGET_S:
        missed.append(f"recovery {r['recovery_s']} s (baseline {baseline_s} s)")
    sync = r.get("sync")
    if sync is not None and (sync["mirrored"] != sync["expected"] or sync["pending_after"]):
        missed.append(f"mirrored {sync['mirrored']} of {sync['expected']}")
    return missed


# -------------------------------------------------------------------------------------------


def spool_gateway(stack: Stack, prefix: list[str]) -> None:
    """The gateway again, in a mount namespace where its spool folder is a small tmpfs."""
    spool = stack.settings.data_dir / "spool"
    spool.mkdir(parents=True, exist_ok=True)
    stack.gateway.stop(10)
    stack.gateway.argv = [
        *prefix, "sh", "-c", f'mount -t tmpfs -o size={SPOOL_TMPFS},mode=0700 tmpfs "$0" && exec "$@"',
        str(spool), *stack.gateway_argv,
    ]  # fmt: skip
    stack.start_gateway()


def plain_gateway(stack: Stack) -> None:
    stack.gateway.stop(10)
    stack.gateway.argv = list(stack.gateway_argv)
    stack.start_gateway()


def print_table(results: list[dict[str, Any]]) -> None:
    cols = [
        ("run", "run", 18), ("ack", "acknowledged", 5), ("cat", "in_catalog", 5), ("algn", "aligned", 5),
        ("fail", "failed", 5), ("outg", "failed_by_outage", 5), ("stuck", "stuck", 5), ("lost", "lost", 5),
        ("dup", "duplicate_rows", 4), ("orph", "orphan_objects", 5), ("mpu", "leftover_multipart_uploads", 4),
        ("mirr", "mirrored", 5), ("recov s", "recovery_s", 8),
    ]  # fmt: skip
    print(" ".join(f"{h:>{w}}" if i else f"{h:<{w}}" for i, (h, _, w) in enumerate(cols)) + "  misses")
    for r in results:
        if r.get("skipped"):
            print(f"{r['run']:<18} skipped: {r['skipped']}")
            continue
        cells = []
        for i, (_, key, w) in enumerate(cols):
            v = r.get(key)
            text = "-" if v is None else str(v)
            cells.append(f"{text:<{w}}" if i == 0 else f"{text:>{w}}")
        print(" ".join(cells) + "  " + ("; ".join(r["misses"]) or "ok"))


def markdown_table(report: dict[str, Any]) -> str:
    """The results as the README's table."""
    head = (
        "| run | acked | in catalog | aligned | failed (outage) | stuck | lost | dup | orphans | "
        "multipart left | mirrored | recovery s | misses |"
    )
    lines = [head, "|---|" + "---:|" * 11 + "---|"]
    baseline = next((r["recovery_s"] for r in report["runs"] if r["run"] == "baseline"), None) or 0.0
    for r in report["runs"]:
        if r.get("skipped"):
            lines.append(f"| {r['run']} | skipped: {r['skipped']} |" + " |" * 11)
            continue
        dash = lambda v: "-" if v is None else str(v)  # noqa: E731
        lines.append(
            f"| {r['run']} | {r['acknowledged']}/{r['photos']} | {r['in_catalog']} | {r['aligned']} | "
            f"{r['failed']} ({r['failed_by_outage']}) | {r['stuck']} | {r['lost']} | {r['duplicate_rows']} | "
            f"{r['orphan_objects']} | {r['leftover_multipart_uploads']} | {dash(r['mirrored'])} | "
            f"{dash(r['recovery_s'])} | {'; '.join(misses(r, baseline)) or 'none'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"10 photos, runs {', '.join(QUICK_RUNS)}")
    parser.add_argument("--n", type=int, help="photos per run (default 300, or 10 with --quick)")
    parser.add_argument("--only", help="comma-separated runs (default: every run, or the quick ones)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"result JSON (default {DEFAULT_OUT})")
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "picturetime-bench-chaos",
        help="where the generated photos are kept between runs",
    )  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the stack's folder (logs) after the run")
    parser.add_argument("--markdown", action="store_true", help="print the table of the --out file and stop")
    args = parser.parse_args(argv)
    if args.markdown:
        print(markdown_table(json.loads(args.out.read_text())))
        return 0
    n = args.n or (10 if args.quick else 300)
    names = args.only.split(",") if args.only else (QUICK_RUNS if args.quick else list(FAULTS))
    unknown = [name for name in names if name not in FAULTS]
    if unknown:
        parser.error(f"unknown run(s): {', '.join(unknown)}; known: {', '.join(FAULTS)}")

    series = photos(args.cache, n)
    batch, extra = series[:n], series[n]
    load_before = [round(x, 2) for x in os.getloadavg()]
    results: list[dict[str, Any]] = []
    root = Path(tempfile.mkdtemp(prefix="pt-bench-chaos-"))
    started = time.monotonic()
    baseline_s = 0.0  # the baseline's recovery, once it ran
    try:
        with Stack(root / "stack") as stack:
            print(f"stack up in {time.monotonic() - started:.0f} s", flush=True)
            for name in names:
                run_started = time.monotonic()
                print(f"== {name}: {n} photos ...", flush=True)
                work = root / name
                work.mkdir()
                prefix = None
                if name == "spool-full-10s":
                    prefix = _unshare_prefix()
                    if prefix is None:
                        results.append({"run": name, "skipped": "no mount namespace for a small tmpfs spool"})
                        continue
                    spool_gateway(stack, prefix)
                try:
                    result = execute(
                        Run(name, stack, batch, extra, work, pace_s=QUICK_PACE_S if args.quick else 0.0)
                    )
                finally:
                    if prefix is not None:
                        plain_gateway(stack)
                if not stack.gateway.running:
                    stack.start_gateway()
                if name == "baseline" and result["recovery_s"] is not None:
                    baseline_s = result["recovery_s"]
                if result["recovery_s"] is not None:
                    result["recovery_beyond_baseline_s"] = round(result["recovery_s"] - baseline_s, 1)
                result["misses"] = misses(result, baseline_s)
                results.append(result)
                print(
                    f"   {result['acknowledged']} acknowledged, {result['aligned']} aligned, "
                    f"{result['stuck']} stuck, recovery {result['recovery_s']} s, errors {result['error_answers']}"
                    f"  {'; '.join(result['misses']) or 'ok'}  ({time.monotonic() - run_started:.0f} s)",
                    flush=True,
                )
    finally:
        if args.keep:
            print(f"stack folder kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    missed = [r for r in results if r.get("misses")]
    report = {
        "benchmark": "chaos",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "photos_per_run": n,
        "photo": f"{SIZE[0]}x{SIZE[1]} JPEG, one day each, {CONNECTIONS} connections",
        "catalog": "SQLite",
        "targets": {
            "stuck": 0,
            "failed_by_outage": 0,
            "lost": 0,
            "unacknowledged": 0,
            "duplicate_rows": 0,
            "orphan_objects": 0,
            "leftover_multipart_uploads": 0,
            "recovery_s_max": RECOVERY_TARGET_S,
        },
        "gateway_env": gateway_tuning(),
        "sweep_wait_s": SWEEP_WAIT_S,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_before": load_before,
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "wall_s": round(time.monotonic() - started, 1),
        "meets_targets": not missed,
        "runs": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print()
    print_table(results)
    print(f"-> {args.out} ({report['wall_s']} s)")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
