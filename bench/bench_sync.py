"""Sync-agent timelapse benchmark: appending one day to a ten-year timelapse against a full re-encode.

Generates N (3,650; 120 with --quick) real 1080x1350 JPEG frames, one per day from 2015-01-01:
eight variants of a real photo (skimage's astronaut, shifted and relit) reused in turn, each day
shifted by a few pixels, relit, and stamped with its day number in binary so that order can be
checked after decoding. Generation is not measured; frames are cached in the temp dir.

Then, each in its own process (so that peak RSS is per phase, sampled with psutil every 20 ms):
- full: `build_timelapse` of the first M frames from nothing (the full re-encode, with the agent's
  default `--normalize face`), for M in the
  sizes (365 and 3,650; 30 and 120 with --quick) to show memory does not grow with the count;
- append: one more day added to that timelapse (encodes one frame, remuxes the segments);
- append7: a week more, after the one-day append.
The result after the appends is checked: packet count, strictly increasing dts, presentation
order, and (for --quick, or the last frames otherwise) the decoded day markers.

    uv run python bench/bench_sync.py [--quick] [--out bench/results/sync.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GENERATOR_VERSION = 1
W, H = 1080, 1350
FIRST_DAY = date(2015, 1, 1)
BITS = 13  # day numbers up to 8191, as blocks in a strip at the top
TARGET_SPEEDUP = 50.0


# frames


def _bases() -> list:
    import numpy as np
    from PIL import Image, ImageEnhance, ImageOps
    from skimage import data

    photo = Image.fromarray(data.astronaut())
    bases = []
    for i in range(8):
        crop = ImageOps.fit(
            photo.rotate(i * 2 - 7, resample=Image.Resampling.BICUBIC), (W, H), centering=(0.5, 0.4)
        )
        crop = ImageEnhance.Brightness(crop).enhance(0.8 + 0.05 * i)
        bases.append(np.asarray(crop))
    return bases


def _stamp(arr, number: int):
    out = arr.copy()
    block = W // BITS
    for bit in range(BITS):
        out[8:56, bit * block + 4 : (bit + 1) * block - 4] = 255 if number >> bit & 1 else 0
    return out


def read_stamp(rgb) -> int:
    """The day number stamped by _stamp, from a decoded frame."""
    block = W // BITS
    number = 0
    for bit in range(BITS):
        if rgb[16:48, bit * block + 12 : (bit + 1) * block - 12, 1].mean() > 128:
            number |= 1 << bit
    return number


def frame_name(i: int) -> str:
    day = FIRST_DAY + timedelta(days=i)
    return f"{day:%Y}/{day:%Y-%m-%d}_bench{i:05d}.jpg"


def make_frames(root: Path, n: int) -> list[Path]:
    """n cached frames under root (made once, in parallel threads)."""
    import numpy as np
    from PIL import Image

    paths = [root / frame_name(i) for i in range(n)]
    missing = [i for i, p in enumerate(paths) if not p.exists()]
    if missing:
        print(f"generating {len(missing)} frames in {root} (not timed)", flush=True)
        bases = _bases()

        def make(i: int) -> None:
            rng = np.random.default_rng(i)
            base = np.roll(
                bases[i % len(bases)], (int(rng.integers(-6, 7)), int(rng.integers(-6, 7))), (0, 1)
            )
            lit = np.clip(base.astype(np.int16) + int(rng.integers(-12, 13)), 0, 255).astype(np.uint8)
            p = paths[i]
            p.parent.mkdir(parents=True, exist_ok=True)
            tmp = p.with_suffix(".tmp")
            Image.fromarray(_stamp(lit, i)).save(tmp, "JPEG", quality=90)
            os.replace(tmp, p)

        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            list(pool.map(make, missing))
    return paths


# one measured phase, run in a child process


def worker(argv: list[str]) -> None:
    """`--worker FRAMES_DIR OUT COUNT`: bring OUT up to date with the first COUNT frames; print a JSON report."""
    sys.path.insert(0, str(ROOT / "services" / "sync-agent" / "src"))
    from picturetime_sync.encode import TimelapseOptions, build_timelapse, list_local_frames

    frames_dir, out, count = Path(argv[0]), Path(argv[1]), int(argv[2])
    frames = list_local_frames(frames_dir)[:count]
    started, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    report = build_timelapse(frames, out, TimelapseOptions(normalize="face"))  # the agent's default
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu_seconds = after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime
    print(
        json.dumps(
            {"seconds": elapsed, "cpu_seconds": round(cpu_seconds, 3), "frames": report.frames, "encoded": report.encoded, "reused": report.reused,
             "rebuilt": report.rebuilt, "bytes": out.stat().st_size}
        )
    )  # fmt: skip


def run_phase(frames_dir: Path, out: Path, count: int) -> dict:
    """Run one build in a child process, sampling its RSS; returns its report plus peak_rss_mb."""
    import psutil

    proc = subprocess.Popen(
        [sys.executable, __file__, "--worker", str(frames_dir), str(out), str(count)],
        stdout=subprocess.PIPE,
        text=True,
    )
    peak = 0
    ps = psutil.Process(proc.pid)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            try:
                peak = max(peak, ps.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, _ = proc.communicate()
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"worker failed with exit {proc.returncode}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["peak_rss_mb"] = round(peak / 2**20, 1)
    return result


def check_output(out: Path, expected: list[int], decode_all: bool) -> dict:
    """Packets, dts order and decoded day markers of the output."""
    import av

    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        dts, pts = [], []
        for packet in container.demux(stream):
            if packet.dts is not None:
                dts.append(packet.dts)
                pts.append(packet.pts)
    monotonic = all(b > a for a, b in itertools.pairwise(dts))
    # presentation order: evenly spaced once sorted (decode order has B-frames after their references)
    shown = sorted(pts)
    order_ok = (
        shown == [shown[0] + i * (shown[1] - shown[0]) for i in range(len(shown))] if len(shown) > 1 else True
    )
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        if not decode_all:
            # seek to the last key frame region and decode to the end: the appended days
            container.seek(
                max(0, int((len(expected) - 30) / 24 / stream.time_base)), stream=stream, backward=True
            )
        decoded = [(f.pts, read_stamp(f.to_ndarray(format="rgb24"))) for f in container.decode(stream)]
    markers = [m for _, m in decoded]
    tail_ok = markers == expected[-len(markers) :]
    return {
        "packets": len(dts),
        "dts_strictly_increasing": monotonic,
        "pts_evenly_spaced": order_ok,
        "decoded_frames_checked": len(markers),
        "markers_in_order": tail_ok,
        "ok": len(dts) == len(expected) and monotonic and order_ok and tail_ok,
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="120 frames instead of 3,650")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "sync.json")
    args = parser.parse_args()
    n = 120 if args.quick else 3650
    sizes = [30, n] if args.quick else [365, n]
    cache = Path(tempfile.gettempdir()) / f"picturetime-bench-sync-v{GENERATOR_VERSION}"
    frames_dir = cache / "frames"
    make_frames(frames_dir, n + 8)

    work = Path(tempfile.mkdtemp(prefix="pt-bench-sync-"))
    rows = []
    try:
        for size in sizes:
            out = work / f"timelapse-{size}.mp4"
            full = run_phase(frames_dir, out, size)
            append = run_phase(frames_dir, out, size + 1)
            week = run_phase(frames_dir, out, size + 8)
            check = check_output(out, list(range(size + 8)), decode_all=args.quick)
            rows.append({"frames": size, "full": full, "append_one_day": append, "append_one_week": week,
                         "check": check})  # fmt: skip
            print(
                f"{size:>6} frames: full {full['seconds']:7.1f} s ({full['peak_rss_mb']:.0f} MB)  "
                f"append 1 day {append['seconds']:6.2f} s ({append['peak_rss_mb']:.0f} MB)  "
                f"append 7 days {week['seconds']:6.2f} s  cpu {full['cpu_seconds']:.0f}/{append['cpu_seconds']:.1f} s  speedup {full['seconds'] / append['seconds']:6.1f}x  "
                f"output {full['bytes'] / 1e6:.0f} MB  check {'ok' if check['ok'] else 'FAILED'}",
                flush=True,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)

    big = rows[-1]
    speedup = big["full"]["seconds"] / big["append_one_day"]["seconds"]
    result = {
        "benchmark": "sync-agent incremental timelapse",
        "quick": args.quick,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "settings": {
            "codec": "h264",
            "size": f"{W}x{H}",
            "fps": 24,
            "crf": 23,
            "preset": "veryfast",
            "segment_frames": 300,
            "merge_frames": 48,
        },
        "frames": big["frames"],
        "full_encode_seconds": round(big["full"]["seconds"], 2),
        "append_one_day_seconds": round(big["append_one_day"]["seconds"], 3),
        "append_one_week_seconds": round(big["append_one_week"]["seconds"], 3),
        "speedup": round(speedup, 1),
        "speedup_cpu_time": round(big["full"]["cpu_seconds"] / big["append_one_day"]["cpu_seconds"], 1),
        "load_average_at_end": os.getloadavg()[0],
        "target_speedup": TARGET_SPEEDUP,
        "meets_target": speedup >= TARGET_SPEEDUP,
        "peak_rss_mb": {
            "full": {str(r["frames"]): r["full"]["peak_rss_mb"] for r in rows},
            "append_one_day": {str(r["frames"]): r["append_one_day"]["peak_rss_mb"] for r in rows},
        },
        "output_ok": all(r["check"]["ok"] for r in rows),
        "runs": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(tmp, args.out)
    print(
        f"append one day to {big['frames']} frames: {result['append_one_day_seconds']} s vs full "
        f"{result['full_encode_seconds']} s = {result['speedup']}x (target {TARGET_SPEEDUP:g}x) -> {args.out}"
    )


if __name__ == "__main__":
    main()
