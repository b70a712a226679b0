"""Backfill benchmark: photos/s end to end and peak memory of `picturetime-backfill` on real servers.

Generates N (1000; 20 with --quick) 12 MP phone-like JPEGs (3000x4000 upright, quality 92, camera
grain, EXIF DateTimeOriginal) of the test face (tests/support/faces.py) with small day-to-day
changes of angle, scale, position and light, one per day from 2015-01-01; generation is not
measured and the photos are cached in the temp dir. Then it starts its own SeaweedFS, NATS and a
gateway process on SQLite, creates an account, and runs `picturetime-backfill --jobs 2` against
it as a process, sampling the RSS summed over the backfill process tree (main process and pool
workers) every 100 ms. It reports photos/s over the whole run (start-up, hashing, lookup,
alignment, registration), the peak RSS, and the RSS when 25/50/75/100 % of the photos were done,
which shows whether memory stays flat as the number of photos grows. It then runs the same job
with `--align-only` (frames written locally, no gateway or S3 on these cores), as on a home machine
whose server is elsewhere: the ceiling that no registration work could lift. Last, it times the
aligner's decoder alone on 40 of the photos: decoding plus the servers' CPU share bounds the rate
these cores could reach even if everything else in alignment were free. And it aligns the same
files with the aligner library alone (read file -> align -> frame bytes, one photo at a time in
--jobs processes, nothing of the job around it): `cores / its CPU per photo` is the rate the job is
held to, `vs_library` in the report: --align-only at >= 0.9 of it, end to end >= 0.8, and the job's
CPU per photo (start-up included) at most 1/0.9 of the library's, which other work on the machine
does not skew as it skews the rates.

    uv run python bench/bench_backfill.py [--quick] [--n 1000] [--jobs 2] [--out bench/results/backfill.json]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # tests.support builds the photos and the account

GENERATOR_VERSION = 1
SIZE = (3000, 4000)  # upright w, h: 12 MP
FIRST_DAY = date(2015, 1, 1)
# Against cores / the library's per-photo time on the same files, measured in the same run.
ALIGN_ONLY_TARGET = 0.9  # --align-only: the job adds at most 10 %
END_TO_END_TARGET = 0.8  # with a local gateway and S3 on the same cores
DEFAULT_OUT = ROOT / "bench" / "results" / "backfill.json"


# -------------------------------------------------------------------------------------------
# Data


def _photo(index: int, path: str) -> None:
    """One day's photo: the face turned, scaled and moved a little, the light changed a little."""
    import numpy as np
    from PIL import Image

    from tests.support.faces import render_face

    rng = np.random.default_rng(index)
    angle = rng.uniform(-5, 5)
    scale = math.exp(rng.uniform(-0.08, 0.08))
    shift = (rng.uniform(-0.04, 0.04) * SIZE[0], rng.uniform(-0.03, 0.03) * SIZE[1])
    pixels, _ = render_face(angle, scale, shift, size=SIZE, grain=6.0, seed=index)
    gain = rng.uniform(0.85, 1.15, size=3)
    pixels = np.clip(pixels.astype(np.float32) * gain, 0, 255).astype(np.uint8)
    day = FIRST_DAY + timedelta(days=index)
    exif = Image.Exif()
    sub = exif.get_ifd(0x8769)
    sub[36867] = f"{day:%Y:%m:%d} 08:{index % 60:02d}:00"  # DateTimeOriginal
    sub[36881] = "+01:00"  # OffsetTimeOriginal
    exif[0x010F], exif[0x0110] = "BenchPhone", "12MP"
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels[:, :, ::-1])).save(
        out, "JPEG", quality=92, exif=exif.tobytes()
    )
    tmp = Path(path + ".tmp")
    tmp.write_bytes(out.getvalue())
    tmp.replace(path)


def generate(cache: Path, n: int, jobs: int) -> Path:
    """The first n photos of the cached series (made on first use), linked into a fresh folder."""
    store = cache / f"v{GENERATOR_VERSION}"
    store.mkdir(parents=True, exist_ok=True)
    names = [f"IMG_{FIRST_DAY + timedelta(days=i):%Y%m%d}_080000.jpg" for i in range(n)]
    missing = [(i, str(store / name)) for i, name in enumerate(names) if not (store / name).exists()]
    if missing:
        print(f"generating {len(missing)} 12 MP photos in {store} (cached for later runs) ...", flush=True)
        started = time.monotonic()
        with ProcessPoolExecutor(jobs) as pool:
            for done, _ in enumerate(pool.map(_photo, *zip(*missing, strict=True), chunksize=4), 1):
                if done % 50 == 0:
                    print(f"  {done}/{len(missing)} ({time.monotonic() - started:.0f} s)", flush=True)
    src = Path(tempfile.mkdtemp(prefix="pt-bench-backfill-src-"))
    link = _same_fs(store, src)
    for name in names:
        if link:
            os.link(store / name, src / name)
        else:
            (src / name).write_bytes((store / name).read_bytes())
    return src


def _same_fs(a: Path, b: Path) -> bool:
    return a.stat().st_dev == b.stat().st_dev


# -------------------------------------------------------------------------------------------
# Servers


class Stack:
    """SeaweedFS, NATS and a gateway process on SQLite, all on loopback, in a temp dir."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.servers: list = []
        self.gateway = None

    def __enter__(self) -> Stack:
        from picturetime_common.localservers import (
            free_port,
            nats_server,
            pick_weed_ports,
            seaweedfs_server,
            wait_for_s3,
        )
        from picturetime_common.s3 import make_client
        from picturetime_common.settings import S3Settings
        from picturetime_gateway.settings import GatewaySettings
        from tests.support.stack import create_account, make_settings, script, settings_env, wait_http

        access, secret = f"pt{secrets.token_hex(6)}", secrets.token_urlsafe(24)
        ports = pick_weed_ports()
        self.servers.append(
            seaweedfs_server(self.root, ports, access, secret, volume_size_limit_mb=1024).start()
        )
        nats_port = free_port()
        self.servers.append(nats_server(self.root, nats_port).start())
        settings = make_settings(
            GatewaySettings, data_dir=self.root / "data", database_url=f"sqlite:///{self.root / 'catalog.db'}",
            s3=S3Settings(endpoint=f"127.0.0.1:{ports.s3}", access_key=access, secret_key=secret),
            nats=f"nats://127.0.0.1:{nats_port}",
        )  # fmt: skip
        wait_for_s3(make_client(settings.s3))
        port = free_port()
        log = (self.root / "gateway.log").open("wb")
        self.gateway = subprocess.Popen(
            [script("picturetime-gateway"), "serve", "--port", str(port)],
            env={**os.environ, **settings_env(settings)}, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.url = f"http://127.0.0.1:{port}"
        wait_http(f"{self.url}/readyz", 90)
        self.api_key = create_account(settings, scopes="upload,sync").api_key
        return self

    def __exit__(self, *exc: object) -> None:
        if self.gateway is not None:
            self.gateway.terminate()
            try:
                self.gateway.wait(15)
            except subprocess.TimeoutExpired:
                self.gateway.kill()
        for server in reversed(self.servers):
            server.stop()


# -------------------------------------------------------------------------------------------
# Measurement


def tree_rss(proc) -> int:  # type: ignore[no-untyped-def]
    """RSS of a process and all its descendants, in bytes (0 once it is gone)."""
    import psutil

    total = 0
    try:
        family = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for member in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += member.memory_info().rss
    return total


def _cpu(proc) -> float:  # type: ignore[no-untyped-def]
    try:
        times = proc.cpu_times()
    except Exception:  # gone
        return 0.0
    return times.user + times.system


def run_backfill(src: Path, stack: Stack | None, jobs: int, n: int, work: Path) -> dict:
    """Run the job as a process and measure it; with no stack, `--align-only` into a local folder."""
    import psutil

    from tests.support.stack import script

    work.mkdir(parents=True, exist_ok=True)
    manifest = work / "manifest.jsonl"
    argv = [script("picturetime-backfill"), str(src), "--jobs", str(jobs), "--manifest", str(manifest)]
    if stack is None:
        argv += ["--align-only", "--out", str(work / "frames")]
        env = dict(os.environ)
    else:
        argv += ["--gateway", stack.url]
        env = {**os.environ, "PT_BACKFILL_API_KEY": stack.api_key}
    out, err = (work / "backfill.out").open("wb"), (work / "backfill.err").open("wb")
    # CPU seconds of each party: the backfill process tree, and the servers it talks to (on this
    # machine they share its cores; on a real deployment the gateway and S3 are on the server).
    servers: dict[str, list] = {}
    if stack is not None:
        servers["gateway"] = [psutil.Process(stack.gateway.pid)]
        for server in stack.servers:
            # SeaweedFS runs as several processes (master, volume, filer): count them as one party.
            for part in getattr(server, "processes", [server]):
                assert part.proc is not None
                servers[part.name.split()[0]] = [
                    *servers.get(part.name.split()[0], []),
                    psutil.Process(part.proc.pid),
                ]
    server_cpu = {name: sum(_cpu(p) for p in procs) for name, procs in servers.items()}
    started = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=out, stderr=err)
    ps = psutil.Process(proc.pid)
    peak, samples, marks = 0, [], {}
    tree_cpu: dict[int, float] = {}
    checkpoints = {q: math.ceil(n * q / 100) for q in (25, 50, 75, 100)}
    while proc.poll() is None:
        rss = tree_rss(ps)
        peak = max(peak, rss)
        with contextlib.suppress(psutil.NoSuchProcess):
            for member in [ps, *ps.children(recursive=True)]:
                tree_cpu[member.pid] = max(tree_cpu.get(member.pid, 0.0), _cpu(member))
        done = manifest.read_bytes().count(b"\n") if manifest.exists() else 0
        samples.append((round(time.monotonic() - started, 2), done, rss))
        for q, at in checkpoints.items():
            if q not in marks and done >= at:
                marks[q] = rss
        time.sleep(0.1)
    wall = time.monotonic() - started
    cpu = {"backfill": sum(tree_cpu.values())}
    cpu.update({name: sum(_cpu(p) for p in procs) - server_cpu[name] for name, procs in servers.items()})
    out.close()
    err.close()
    done = manifest.read_bytes().count(b"\n") if manifest.exists() else 0
    for q, at in checkpoints.items():
        marks.setdefault(q, samples[-1][2] if samples and done >= at else None)
    statuses: dict[str, int] = {}
    for line in manifest.read_text().splitlines():
        if line.strip():
            status = json.loads(line)["status"]
            statuses[status] = statuses.get(status, 0) + 1
    return {
        "exit_code": proc.returncode,
        "wall_s": round(wall, 2),
        "photos_per_s": round(n / wall, 2),
        "peak_rss_mb": round(peak / 2**20, 1),
        "rss_mb_at_progress": {f"{q}%": (round(v / 2**20, 1) if v else None) for q, v in marks.items()},
        "outcomes": statuses,
        "cpu_ms_per_photo": {name: round(1000 * seconds / n, 1) for name, seconds in cpu.items()},
        "samples": len(samples),
        "stdout_tail": (work / "backfill.out").read_text(errors="replace")[-1500:],
    }


def decode_cost(src: Path, sample: int = 40) -> dict[str, float]:
    """CPU ms to decode one of these photos with the aligner's own decoder, at the half size it
    renders 12 MP selfies from and at 1/8 (almost only the entropy decoding no DCT scale avoids)."""
    from picturetime_aligner.decode import ImageSource

    files = sorted(src.iterdir())[:sample]
    cost = {}
    for reduction in (2, 8):
        ImageSource(files[0].read_bytes()).level(reduction)  # warm
        spent = 0.0
        for path in files:
            data = path.read_bytes()
            started = time.process_time()
            ImageSource(data).level(reduction)
            spent += time.process_time() - started
        cost[f"reduction_{reduction}"] = round(1000 * spent / len(files), 1)
    return cost


def _library_worker(paths: list[str]) -> tuple[float, float, int, int]:
    """In one process, as a pool worker is set up (one thread): read file -> align -> frame bytes,
    one photo at a time. CPU and wall seconds over the photos (the model load and one warm-up photo
    left out), and how many were aligned and how many frame bytes came out."""
    import cv2

    cv2.setNumThreads(1)
    from picturetime_aligner.align import Aligner
    from picturetime_aligner.models import AlignmentSettings

    aligner = Aligner(AlignmentSettings())
    aligner.align(Path(paths[0]).read_bytes())
    aligner.forget_sizes()
    aligned = 0
    cpu0, wall0 = _self_cpu(), time.perf_counter()
    for path in paths:
        result = aligner.align(Path(path).read_bytes())
        aligned += result.status == "aligned" and bool(result.jpeg)
    return _self_cpu() - cpu0, time.perf_counter() - wall0, aligned, len(paths)


def _self_cpu() -> float:
    """CPU seconds of this process, all its threads (MediaPipe's included)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def library_cost(src: Path, jobs: int) -> dict:
    """The aligner library alone on the same files: `jobs` processes, each aligning its share one
    photo at a time, as the job's pool workers do, with nothing of the job around it. Its CPU per
    photo is what a core needs per photo; `cores / that` is the rate the job is measured against."""
    from multiprocessing import get_context

    files = [str(p) for p in sorted(src.iterdir())]
    shares = [files[i::jobs] for i in range(jobs) if files[i::jobs]]
    env = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "GLOG_minloglevel": "2"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # inherited by the spawned processes, as the job's workers get them
    try:
        with ProcessPoolExecutor(len(shares), mp_context=get_context("spawn")) as pool:
            parts = list(pool.map(_library_worker, shares))
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    cpu = sum(p[0] for p in parts)
    count = sum(p[3] for p in parts)
    return {
        "cpu_ms_per_photo": round(1000 * cpu / count, 1),
        "wall_ms_per_photo_per_process": round(1000 * sum(p[1] for p in parts) / count, 1),
        "aligned": sum(p[2] for p in parts),
        "processes": len(shares),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 photos instead of 1000 (a smoke run)")
    parser.add_argument("--n", type=int, help="number of photos (default 1000, or 20 with --quick)")
    parser.add_argument("--jobs", type=int, default=2, help="backfill processes (default 2)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"result JSON (default {DEFAULT_OUT})")
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "picturetime-bench-backfill",
        help="where generated photos are kept between runs",
    )  # fmt: skip
    args = parser.parse_args(argv)
    n = args.n or (20 if args.quick else 1000)

    src = generate(args.cache, n, os.cpu_count() or 2)
    load_before = [round(x, 2) for x in os.getloadavg()]
    size_mb = sum(p.stat().st_size for p in src.iterdir()) / 2**20
    with tempfile.TemporaryDirectory(prefix="pt-bench-backfill-") as tmp:
        work = Path(tmp)
        with Stack(work / "servers") as stack:
            print(f"backfilling {n} photos ({size_mb:.0f} MB) with --jobs {args.jobs} ...", flush=True)
            result = run_backfill(src, stack, args.jobs, n, work / "job")
        # The same job with no gateway or S3 on these cores (frames written locally): what these
        # cores align when the server is another machine, and the ceiling of any registration work.
        print(f"aligning the same {n} photos with --align-only ...", flush=True)
        local = run_backfill(src, None, args.jobs, n, work / "align-only")
    # What decoding alone costs bounds the rate: even with detection, landmarks, warp and encode
    # free, these cores could not align faster than this while also running the gateway and S3.
    decode = decode_cost(src)
    # The library alone on the same files, on the same cores, in the same run: the job's yardstick.
    print(
        f"aligning the same {n} photos with the aligner library alone ({args.jobs} processes) ...", flush=True
    )
    library = library_cost(src, args.jobs)
    servers_ms = sum(v for k, v in result["cpu_ms_per_photo"].items() if k != "backfill")
    cpus = os.cpu_count() or 1
    for p in src.iterdir():
        p.unlink()
    src.rmdir()

    # cores / the library's CPU per photo: the rate the job would reach if it cost nothing itself.
    library_rate = args.jobs * 1000 / library["cpu_ms_per_photo"]
    job_cpu = local["cpu_ms_per_photo"]["backfill"]
    vs_library = {
        "library_cpu_ms_per_photo": library["cpu_ms_per_photo"],
        "library_wall_ms_per_photo_per_process": library["wall_ms_per_photo_per_process"],
        "library_aligned": library["aligned"],
        "cores": args.jobs,
        "library_photos_per_s": round(library_rate, 2),
        "align_only_ratio": round(local["photos_per_s"] / library_rate, 3),
        "align_only_target": ALIGN_ONLY_TARGET,
        "align_only_met": local["photos_per_s"] / library_rate >= ALIGN_ONLY_TARGET,
        "end_to_end_ratio": round(result["photos_per_s"] / library_rate, 3),
        "end_to_end_target": END_TO_END_TARGET,
        "end_to_end_met": result["photos_per_s"] / library_rate >= END_TO_END_TARGET,
        # The library's own rate in wall time in this run: on a machine other work keeps busy, the
        # job's rates against it say what the job costs under the same load.
        "library_wall_photos_per_s": round(args.jobs * 1000 / library["wall_ms_per_photo_per_process"], 2),
        "align_only_ratio_to_library_wall": round(
            local["photos_per_s"] * library["wall_ms_per_photo_per_process"] / (args.jobs * 1000), 3
        ),
        "end_to_end_ratio_to_library_wall": round(
            result["photos_per_s"] * library["wall_ms_per_photo_per_process"] / (args.jobs * 1000), 3
        ),
        # The same comparison in CPU, which other work on the machine does not skew: what the job
        # (main process and pool, start-up included) spends per photo over what the library does.
        "align_only_cpu_overhead": round(job_cpu / library["cpu_ms_per_photo"] - 1, 3),
        "align_only_cpu_overhead_target": round(1 / ALIGN_ONLY_TARGET - 1, 3),
        "align_only_cpu_overhead_met": job_cpu / library["cpu_ms_per_photo"] - 1 <= 1 / ALIGN_ONLY_TARGET - 1,
    }
    report = {
        "benchmark": "backfill",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "photos": n,
        "photo_size": f"{SIZE[0]}x{SIZE[1]} JPEG q92 (12 MP)",
        "input_mb": round(size_mb, 1),
        "jobs": args.jobs,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            # Other work on the machine slows every number here; the load says how much there was.
            "load_average_before": load_before,
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        **result,
        "vs_library": vs_library,
        "decode_cpu_ms_per_photo": decode,
        "bound_by_decode_photos_per_s": round(cpus * 1000 / (decode["reduction_2"] + servers_ms), 1),
        "align_only": {
            k: local[k]
            for k in ("exit_code", "wall_s", "photos_per_s", "peak_rss_mb", "outcomes", "cpu_ms_per_photo")
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")

    print()
    print(
        f"{'photos':>7} {'jobs':>4} {'wall s':>8} {'photos/s':>9} {'peak RSS MB':>12}   RSS MB at 25/50/75/100 %"
    )
    marks = " / ".join("-" if v is None else f"{v:.0f}" for v in report["rss_mb_at_progress"].values())
    print(
        f"{n:>7} {args.jobs:>4} {report['wall_s']:>8.1f} {report['photos_per_s']:>9.2f} "
        f"{report['peak_rss_mb']:>12.0f}   {marks}"
    )
    print("CPU ms per photo: " + ", ".join(f"{k} {v}" for k, v in report["cpu_ms_per_photo"].items()))
    print(
        f"decoding alone: {decode['reduction_2']} ms at 1/2, {decode['reduction_8']} ms at 1/8; with the "
        f"servers' share, {cpus} cores could not pass {report['bound_by_decode_photos_per_s']} photos/s"
    )
    alone = report["align_only"]
    print(
        f"the same job with --align-only (no gateway or S3 on these cores): {alone['photos_per_s']:.2f} photos/s, "
        f"CPU {alone['cpu_ms_per_photo']['backfill']} ms per photo"
    )
    vs = report["vs_library"]
    met = {True: "met", False: "NOT met"}
    print(
        f"the library alone: {vs['library_cpu_ms_per_photo']} ms CPU per photo -> {vs['cores']} cores could "
        f"align {vs['library_photos_per_s']} photos/s"
    )
    print(
        f"  --align-only reaches {vs['align_only_ratio']:.2f} of it (target {ALIGN_ONLY_TARGET}: "
        f"{met[vs['align_only_met']]}); end to end {vs['end_to_end_ratio']:.2f} (target {END_TO_END_TARGET}: "
        f"{met[vs['end_to_end_met']]}); the job's CPU per photo is {100 * vs['align_only_cpu_overhead']:+.0f} % "
        f"of the library's (target <= +{100 * vs['align_only_cpu_overhead_target']:.0f} %: "
        f"{met[vs['align_only_cpu_overhead_met']]})"
    )
    print(
        f"  against the library's wall-time rate in this run ({vs['library_wall_photos_per_s']} photos/s, the "
        f"machine's other load included): --align-only {vs['align_only_ratio_to_library_wall']:.2f}, end to end "
        f"{vs['end_to_end_ratio_to_library_wall']:.2f}"
    )
    print(f"outcomes: {report['outcomes']}  exit code {report['exit_code']}  -> {args.out}")
    return 0 if report["exit_code"] == 0 and alone["exit_code"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
