"""Aligner benchmark: eye jitter on known-geometry sequences and end-to-end speed on one core.

Generates daily-selfie sequences offline from scikit-image's astronaut (tests/support/faces.py):
12 MP phone JPEGs (3000x4000 upright) and 640x480 webcam frames, every 4th stored rotated with an
EXIF orientation, with seeded per-day rotations, scales, shifts, lighting and grain. On the same
files it runs Picture Time's aligner and a per-frame MediaPipe-iris baseline (AgeLapse-style:
FaceMesh refine_landmarks on the full image, iris centres 468/473, similarity to the same targets)
and reports:

- RMS eye error per 1000 px of output width: the true eyes mapped by each frame's matrix against
  the target points, over all frames (and the same after removing each sequence's mean offset,
  which forgives a constant bias such as iris centre vs. eye centre);
- misses (no face or error);
- ms/frame end to end on one core (read, decode, detect, warp, encode, write), next to a plain
  full-resolution cv2.imdecode of the same files measured in the same run, and the ratio;
- frames/s with a process pool of 2 (the backfill path).

    uv run python bench/bench_aligner.py [--quick] [--repeat 3] [--out bench/results/aligner.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # tests.support.faces builds the photos

GENERATOR_VERSION = 2
SEQUENCES = 3
FRAMES = 20
EXIF_EVERY = 4  # every 4th frame is stored rotated with an EXIF orientation
KINDS = {
    # upright size, eye distance as a fraction of the short side, JPEG quality, grain
    "phone": {"size": (3000, 4000), "quality": 92, "grain": 6.0},
    "webcam": {"size": (640, 480), "quality": 88, "grain": 3.0},
}
# Per-sequence base geometry (angle, scale, shift as a fraction of the short side) and the
# day-to-day spread around it: a person holding the phone a bit differently every morning.
BASES = ((0.0, 1.0, (0.0, 0.0)), (-6.0, 0.88, (0.05, 0.03)), (5.0, 1.12, (-0.04, -0.02)))
DAY_ANGLE, DAY_SCALE, DAY_SHIFT = 4.0, 0.06, 0.03
EXIF_ORIENTATIONS = (6, 8, 3)
BASELINE_IRIS = (468, 473)


@dataclass
class Frame:
    path: str
    kind: str
    sequence: int
    day: int
    matrix: list  # 2x3: astronaut pixels -> upright photo pixels
    orientation: int

    def eyes(self):
        """True upright eye centres (2, 2), image-left first.

        The astronaut's own eye centres are located once per process by the aligner on a 4x
        upscaled copy (tests/support/faces.py), so they follow the eye-centre definition of the
        code under test; they are mapped here rather than stored."""
        import numpy as np

        from tests.support import faces

        m = np.array(self.matrix)
        return np.array(faces.astronaut_eyes()) @ m[:, :2].T + m[:, 2]


# -------------------------------------------------------------------------------------------
# Data


def generate(data_dir: Path, sequences: int, frames: int) -> list[Frame]:
    """Write the sequences (cached by parameters) and return their frames with the true eyes."""
    import numpy as np

    from tests.support import faces

    data_dir.mkdir(parents=True, exist_ok=True)
    index_path = data_dir / "index.json"
    key = {"version": GENERATOR_VERSION, "sequences": sequences, "frames": frames}
    if index_path.exists():
        index = json.loads(index_path.read_text())
        if index.get("key") == key and all(Path(f["path"]).exists() for f in index["frames"]):
            return [Frame(**f) for f in index["frames"]]
    out: list[Frame] = []
    for kind, spec in KINDS.items():
        w, h = spec["size"]
        short = min(w, h)
        for s in range(sequences):
            angle0, scale0, (sx0, sy0) = BASES[s % len(BASES)]
            rng = np.random.default_rng(1000 * s + (7 if kind == "phone" else 11))
            for d in range(frames):
                angle = angle0 + rng.uniform(-DAY_ANGLE, DAY_ANGLE)
                scale = scale0 * math.exp(rng.uniform(-DAY_SCALE, DAY_SCALE))
                shift = (
                    (sx0 + rng.uniform(-DAY_SHIFT, DAY_SHIFT)) * short,
                    (sy0 + rng.uniform(-DAY_SHIFT, DAY_SHIFT)) * short,
                )
                orientation = (
                    EXIF_ORIENTATIONS[(d // EXIF_EVERY) % 3] if d % EXIF_EVERY == EXIF_EVERY - 1 else 1
                )
                photo = faces.face_photo(
                    angle,
                    scale,
                    shift,
                    size=(w, h),
                    exif_orientation=orientation,
                    quality=spec["quality"],
                    grain=spec["grain"],
                    seed=100 * s + d,
                )
                jpeg = _relight(photo.jpeg, rng, orientation, spec["quality"])
                path = data_dir / f"{kind}-s{s}-d{d:02d}.jpg"
                path.write_bytes(jpeg)
                out.append(Frame(str(path), kind, s, d, photo.matrix.tolist(), orientation))
    index_path.write_text(json.dumps({"key": key, "frames": [f.__dict__ for f in out]}))
    return out


def _relight(jpeg: bytes, rng, orientation: int, quality: int) -> bytes:
    """Change the day's light (exposure and white balance) without moving any pixel."""
    import cv2
    import numpy as np

    from tests.support import faces

    gain = rng.uniform(0.8, 1.15) * np.array([rng.uniform(0.93, 1.07), 1.0, rng.uniform(0.93, 1.07)])
    upright = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)  # applies EXIF
    lit = np.clip(upright.astype(np.float32) * gain.astype(np.float32), 0, 255).astype(np.uint8)
    return faces.encode(lit, exif_orientation=orientation, quality=quality)


# -------------------------------------------------------------------------------------------
# The two aligners, each as "bytes in, (matrix or None, jpeg or None) out"


class PictureTime:
    name = "picturetime"

    def __init__(self):
        from picturetime_aligner import Aligner

        self.aligner = Aligner()

    def __call__(self, data: bytes):
        res = self.aligner.align(data)
        return (res.matrix if res.status == "aligned" else None), res.jpeg, res.status


class MediaPipeIris:
    """AgeLapse-style per-frame alignment: FaceMesh irises on the full image, one similarity."""

    name = "mediapipe_iris"

    def __init__(self):
        import mediapipe as mp

        from picturetime_aligner import AlignmentSettings

        self.settings = AlignmentSettings()
        self.mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=1, refine_landmarks=True, min_detection_confidence=0.5
        )

    def __call__(self, data: bytes):
        import cv2
        import numpy as np

        from picturetime_aligner.geometry import similarity

        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)  # EXIF applied
        if image is None:
            return None, None, "error"
        h, w = image.shape[:2]
        out = self.mesh.process(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        if not out.multi_face_landmarks:
            return None, None, "no_face"
        lm = out.multi_face_landmarks[0].landmark
        # FaceMesh's "right" iris (468) is the one on the image's left.
        eyes = [(lm[i].x * w - 0.5, lm[i].y * h - 0.5) for i in BASELINE_IRIS]
        m = similarity(eyes[0], eyes[1], *self.settings.target_eyes())
        frame = cv2.warpAffine(
            image, m, self.settings.size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        _ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, self.settings.jpeg_quality])
        return m.tolist(), buf.tobytes(), "aligned"


METHODS = {"picturetime": PictureTime, "mediapipe_iris": MediaPipeIris}

# -------------------------------------------------------------------------------------------
# One-core worker (a spawned process pinned to one CPU before OpenCV or MediaPipe start threads)


def _pin(core: int | None) -> None:
    if core is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})
    import cv2

    cv2.setNumThreads(1)


def _run_one_core(args) -> dict:
    """Time plain decode, and each method end to end, interleaved per file; returns per-file data."""
    core, paths, methods, out_dir, passes = args
    _pin(core)
    import cv2
    import numpy as np

    runners = {name: METHODS[name]() for name in methods}
    first = Path(paths[0]).read_bytes()
    for run in runners.values():
        run(first)  # warm up: graph start, lazy allocations
    results: dict = {
        "decode_ms": [],
        **{f"{n}_ms": [] for n in methods},
        "matrices": {n: [] for n in methods},
    }
    for p in range(passes):
        dec, per = [], {n: [] for n in methods}
        for i, path in enumerate(paths):
            data = Path(path).read_bytes()
            t = time.perf_counter()
            cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            dec.append(time.perf_counter() - t)
            for name, run in runners.items():
                t = time.perf_counter()
                data = Path(path).read_bytes()
                matrix, jpeg, status = run(data)
                if jpeg is not None:
                    (Path(out_dir) / f"{name}-{i:03d}.jpg").write_bytes(jpeg)
                per[name].append(time.perf_counter() - t)
                if p == 0:
                    results["matrices"][name].append((matrix, status))
        results["decode_ms"].append([1000 * x for x in dec])
        for name in methods:
            results[f"{name}_ms"].append([1000 * x for x in per[name]])
    return results


def _pool_align(path: str) -> str:
    from picturetime_aligner.pool import current_aligner

    res = current_aligner().align(Path(path).read_bytes())
    if res.jpeg is not None:
        out = Path(tempfile.gettempdir()) / f"picturetime-bench-pool-{os.getpid()}.jpg"
        out.write_bytes(res.jpeg)
    return res.status


def two_core_throughput(paths: list[str]) -> dict:
    """Frames per second with the backfill's pool of 2 processes (one Aligner each), models loaded
    beforehand."""
    from picturetime_aligner import AlignmentSettings
    from picturetime_aligner.pool import AlignerPool

    with AlignerPool(AlignmentSettings(), 2, processes=True) as pool:
        list(pool.map(_pool_align, paths[:2]))  # load both workers' models
        t = time.perf_counter()
        statuses = list(pool.map(_pool_align, paths))
        wall = time.perf_counter() - t
    return {
        "frames": len(paths),
        "seconds": round(wall, 3),
        "fps": round(len(paths) / wall, 2),
        "ms_per_frame": round(1000 * wall / len(paths), 1),
        "aligned": statuses.count("aligned"),
    }


# -------------------------------------------------------------------------------------------
# Accuracy


def accuracy(frames: list[Frame], matrices: list) -> dict:
    """RMS of mapped-true-eye minus target, per 1000 px of output width, and misses."""
    import numpy as np

    from picturetime_aligner import AlignmentSettings
    from picturetime_aligner.geometry import apply

    settings = AlignmentSettings()
    targets = np.array(settings.target_eyes())
    per_1000 = 1000.0 / settings.width
    errors: dict[int, list] = {}
    misses = 0
    for frame, (matrix, status) in zip(frames, matrices, strict=True):
        if matrix is None or status != "aligned":
            misses += 1
            continue
        landed = apply(np.array(matrix), frame.eyes())
        errors.setdefault(frame.sequence, []).append(landed - targets)
    if not errors:
        return {"frames": len(frames), "misses": misses}
    all_err = np.concatenate([np.array(v) for v in errors.values()])  # (n, 2 eyes, xy)
    debiased = np.concatenate([np.array(v) - np.array(v).mean(axis=0) for v in errors.values()])

    def rms(e) -> float:
        return float(np.sqrt((e**2).sum(axis=-1).mean()))

    return {
        "frames": len(frames),
        "misses": misses,
        "rms_px": round(rms(all_err), 4),
        "rms_per_1000px": round(rms(all_err) * per_1000, 4),
        "jitter_per_1000px": round(rms(debiased) * per_1000, 4),
        "max_px": round(float(np.hypot(*all_err.reshape(-1, 2).T).max()), 3),
    }


# -------------------------------------------------------------------------------------------


def machine_info() -> dict:
    import cv2
    import mediapipe
    import numpy
    import PIL

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {
        "cpu": cpu,
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "opencv": cv2.__version__,
        "mediapipe": mediapipe.__version__,
        "numpy": numpy.__version__,
        "pillow": PIL.__version__,
        "platform": platform.platform(),
        "loadavg_at_start": [round(x, 2) for x in load] if load else None,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _summary(values: list[float]) -> dict:
    return {"best": round(min(values), 2), "median": round(statistics.median(values), 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="a short smoke run: 1 sequence of 4 frames per kind"
    )
    parser.add_argument("--repeat", type=int, default=None, help="timing passes (default 3, quick 1)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "aligner.json")
    parser.add_argument("--data", type=Path, default=None, help="where the generated photos are cached")
    parser.add_argument("--core", type=int, default=None, help="CPU for the one-core run (default: the last)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the MediaPipe-iris baseline")
    args = parser.parse_args(argv)

    sequences, frames_per = (1, 4) if args.quick else (SEQUENCES, FRAMES)
    passes = args.repeat or (1 if args.quick else 3)
    data_dir = (
        args.data
        or Path(tempfile.gettempdir()) / f"picturetime-bench-v{GENERATOR_VERSION}-{sequences}x{frames_per}"
    )
    info = machine_info()
    t0 = time.perf_counter()
    frames = generate(data_dir, sequences, frames_per)
    print(f"{len(frames)} frames in {data_dir} ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)

    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [None]
    core = args.core if args.core is not None else cores[-1]
    methods = ["picturetime"] + ([] if args.no_baseline else ["mediapipe_iris"])
    report: dict = {"machine": info, "settings": {}, "kinds": {}}
    report["settings"] = {
        "sequences": sequences,
        "frames_per_sequence": frames_per,
        "exif_every": EXIF_EVERY,
        "timing_passes": passes,
        "one_core": core,
        "output": "1080x1350 JPEG q92",
        "day_spread": {"angle_deg": DAY_ANGLE, "scale_log": DAY_SCALE, "shift_frac": DAY_SHIFT},
    }
    ctx = get_context("spawn")
    with tempfile.TemporaryDirectory() as out_dir:
        for kind in KINDS:
            kframes = [f for f in frames if f.kind == kind]
            paths = [f.path for f in kframes]
            with ProcessPoolExecutor(1, mp_context=ctx) as pool:
                raw = pool.submit(_run_one_core, (core, paths, methods, out_dir, passes)).result()
            entry: dict = {"frames": len(paths), "size": list(KINDS[kind]["size"])}
            dec_pass = [statistics.mean(x) for x in raw["decode_ms"]]
            entry["plain_decode_ms"] = _summary(dec_pass)
            for name in methods:
                ms_pass = [statistics.mean(x) for x in raw[f"{name}_ms"]]
                ratio = [m / d for m, d in zip(ms_pass, dec_pass, strict=True)]
                entry[name] = {
                    **accuracy(kframes, raw["matrices"][name]),
                    "ms_per_frame": _summary(ms_pass),
                    "ratio_to_plain_decode": _summary(ratio),
                    "ms_per_frame_passes": [round(x, 2) for x in ms_pass],
                }
            if kind == "phone":
                entry["picturetime"]["two_core"] = two_core_throughput(paths)
            report["kinds"][kind] = entry
    report["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report["seconds"] = round(time.perf_counter() - t0, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    print(f"wrote {args.out}")
    return 0


def print_table(report: dict) -> None:
    m = report["machine"]
    print(
        f"\n{m['cpu']} x{m['nproc']}, OpenCV {m['opencv']}, MediaPipe {m['mediapipe']}, load {m['loadavg_at_start']}"
    )
    head = f"{'kind':7s} {'method':15s} {'misses':>6s} {'rms/1000px':>10s} {'jitter/1000':>11s} {'ms/frame best (med)':>20s} {'x decode best (med)':>20s}"
    print(head)
    print("-" * len(head))
    for kind, e in report["kinds"].items():
        d = e["plain_decode_ms"]
        print(
            f"{kind:7s} {'plain imdecode':15s} {'':>6s} {'':>10s} {'':>11s} {d['best']:>9.1f} ({d['median']:6.1f}) {'1.00':>20s}"
        )
        for name in ("picturetime", "mediapipe_iris"):
            if name not in e:
                continue
            r = e[name]
            ms, ratio = r["ms_per_frame"], r["ratio_to_plain_decode"]
            print(
                f"{kind:7s} {name:15s} {r['misses']:>6d} {r.get('rms_per_1000px', float('nan')):>10.3f} "
                f"{r.get('jitter_per_1000px', float('nan')):>11.3f} {ms['best']:>9.1f} ({ms['median']:6.1f}) "
                f"{ratio['best']:>12.2f} ({ratio['median']:5.2f})"
            )
        tc = e.get("picturetime", {}).get("two_core")
        if tc:
            print(
                f"{kind:7s} picturetime, 2 processes: {tc['fps']:.2f} frames/s ({tc['ms_per_frame']:.1f} ms/frame)"
            )


if __name__ == "__main__":
    sys.exit(main())
