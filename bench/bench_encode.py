"""Sync-agent first full encode against the cost of the codec: CPU of `build_timelapse` ÷ CPU of a plain loop.

The frames are bench_sync's (1080x1350 JPEGs of a real photo, one per day; cached in the temp dir).
Each phase runs in its own process, so its CPU time (user + system, every thread) is its own:
- baseline: decode + encode of the same frames in one plain loop, with the same codec settings and
  the same colour conversion (PIL decode → yuv420p BT.709 → x264 `veryfast`, crf 23), nothing else;
- full: the agent's full encode, `build_timelapse` from nothing with its defaults (segments, poster,
  contact sheet, index), as `picturetime-sync encode` and `picturetime-backfill --video` run it.
The phases alternate (--rounds times) so that a busy machine weighs on both alike; the ratio is of
the summed CPU seconds. The full encode's output is decoded: frame count and dimensions.

    uv run python bench/bench_encode.py [--quick] [--frames N] [--rounds R] [--out bench/results/encode.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
TARGET_CPU_RATIO = 1.3


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def worker(argv: list[str]) -> None:
    """`--worker baseline|full FRAMES_DIR OUT COUNT`: one phase; prints a JSON line."""
    sys.path.insert(0, str(ROOT / "services" / "sync-agent" / "src"))
    import numpy as np
    from PIL import Image

    from picturetime_sync.encode import (
        EncodeSettings,
        SegmentWriter,
        TimelapseOptions,
        build_timelapse,
        list_local_frames,
    )

    phase, frames_dir, out, count = argv[0], Path(argv[1]), Path(argv[2]), int(argv[3])
    frames = list_local_frames(frames_dir)[:count]
    started, cpu = time.perf_counter(), _cpu()
    if phase == "baseline":
        writer = SegmentWriter(out, EncodeSettings())
        for p in frames:
            with Image.open(p) as img:
                writer.add(np.asarray(img.convert("RGB")))
        writer.close()
    else:
        build_timelapse(frames, out, TimelapseOptions())
    print(json.dumps({"phase": phase, "seconds": time.perf_counter() - started, "cpu_seconds": _cpu() - cpu}))


def run(phase: str, frames_dir: Path, out: Path, count: int) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--worker", phase, str(frames_dir), str(out), str(count)],
        stdout=subprocess.PIPE, text=True, check=True,
    )  # fmt: skip
    return json.loads(result.stdout.strip().splitlines()[-1])


def probe(out: Path) -> tuple[int, int, int]:
    """Decoded frame count, width and height of a video."""
    import av

    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        n = sum(1 for _ in container.decode(stream))
        return n, stream.codec_context.width, stream.codec_context.height


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2:])
        return
    import bench_sync

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="96 frames instead of 3,650")
    parser.add_argument("--frames", type=int, help="how many frames (default 3,650)")
    parser.add_argument("--rounds", type=int, default=2, help="baseline/full pairs (default 2)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "encode.json")
    args = parser.parse_args()
    n = args.frames or (96 if args.quick else 3650)
    cache = Path(tempfile.gettempdir()) / f"picturetime-bench-sync-v{bench_sync.GENERATOR_VERSION}"
    frames_dir = cache / "frames"
    bench_sync.make_frames(frames_dir, n)

    work = Path(tempfile.mkdtemp(prefix="pt-bench-encode-"))
    runs: list[dict] = []
    try:
        for r in range(args.rounds):
            for phase in ("baseline", "full"):
                out = work / f"{phase}-{r}" / "timelapse.mp4"
                out.parent.mkdir()
                row = run(phase, frames_dir, out, n)
                row["decoded_frames"], row["width"], row["height"] = probe(out)
                runs.append(row)
                print(
                    f"round {r + 1} {phase:8s}: {row['cpu_seconds']:7.1f} CPU-s "
                    f"({1000 * row['cpu_seconds'] / n:5.1f} ms/frame), {row['seconds']:7.1f} s wall",
                    flush=True,
                )
                shutil.rmtree(out.parent)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def total(phase: str, key: str) -> float:
        return sum(r[key] for r in runs if r["phase"] == phase)

    ratio = total("full", "cpu_seconds") / total("baseline", "cpu_seconds")
    full_wall, rounds = total("full", "seconds"), args.rounds
    output_ok = all(
        (r["decoded_frames"], r["width"], r["height"]) == (n, bench_sync.W, bench_sync.H) for r in runs
    )
    result = {
        "benchmark": "sync-agent first full encode vs decode + encode",
        "quick": n != 3650,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_at_end": os.getloadavg()[0],
        },
        "settings": {
            "codec": "h264",
            "size": f"{bench_sync.W}x{bench_sync.H}",
            "fps": 24,
            "crf": 23,
            "preset": "veryfast",
        },
        "frames": n,
        "rounds": rounds,
        "baseline_cpu_ms_per_frame": round(1000 * total("baseline", "cpu_seconds") / rounds / n, 1),
        "full_cpu_ms_per_frame": round(1000 * total("full", "cpu_seconds") / rounds / n, 1),
        "baseline_wall_seconds": round(total("baseline", "seconds") / rounds, 2),
        "full_wall_seconds": round(full_wall / rounds, 2),
        "full_cpu_seconds": round(total("full", "cpu_seconds") / rounds, 2),
        "full_frames_per_second": round(n * rounds / full_wall, 1),
        "cores_busy": round(total("full", "cpu_seconds") / full_wall, 2),
        "cpu_ratio": round(ratio, 3),
        "target_cpu_ratio": TARGET_CPU_RATIO,
        "meets_target": ratio <= TARGET_CPU_RATIO,
        "output_ok": output_ok,
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(tmp, args.out)
    print(
        f"full encode of {n} frames: {result['full_cpu_ms_per_frame']} ms CPU/frame vs decode + encode "
        f"{result['baseline_cpu_ms_per_frame']} = {result['cpu_ratio']}x (target ≤ {TARGET_CPU_RATIO}x, "
        f"{'met' if result['meets_target'] else 'NOT met'}); {result['cores_busy']} cores busy -> {args.out}"
    )
    if not output_ok:
        raise SystemExit("the encoded video does not decode to the expected frames")


if __name__ == "__main__":
    main()
