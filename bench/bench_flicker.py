"""Sync-agent flicker: `--normalize face` against `none` on daily frames with injected exposure and colour jitter.

The frames are the test face (tests/support/faces.py) aligned to the frame contract, 60 days at
1080x1350, the face tanning gradually over the 60 days; every day gets a random exposure in ±1 EV and
a colour-temperature tilt (red *(1 + k), blue *(1 - k), k in ±0.15). Each sequence is encoded with
the agent's encoder (`build_timelapse`, x264) and the video decoded again; on every decoded frame
we measure the mean L*, a*, b* of the face region.
- flicker: the mean absolute day-to-day change of L*, a* and b*; target: at least 3x lower with `face`.
- the tan kept: the trend over the 60 days of the normalised video minus that of the same jittered
  days without the tan (so that the jitter's own chance trend cancels), against the trend of the tan
  without any jitter; target: within 10 %.
Contact sheets of every frame before and after (and of the tan alone) go beside the JSON result.

    uv run python bench/bench_flicker.py [--quick] [--out bench/results/flicker.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT, ROOT / "services" / "sync-agent" / "src"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

DAYS = 60
TARGET_REDUCTION = 3.0
TARGET_TAN_ERROR = 0.10


def write_days(folder: Path, frames: list[np.ndarray]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for day, rgb in enumerate(frames):
        p = folder / f"2024-{1 + day // 28:02d}-{1 + day % 28:02d}_d{day:03d}.jpg"
        Image.fromarray(rgb).save(p, quality=92)
        paths.append(p)
    return paths


def encode_and_decode(
    paths: list[Path], out: Path, size: tuple[int, int], normalize: str
) -> list[np.ndarray]:
    import av

    from picturetime_sync.encode import EncodeSettings, TimelapseOptions, build_timelapse

    opts = TimelapseOptions(
        settings=EncodeSettings(size=size), normalize=normalize, poster=False, contact_sheet=False
    )
    build_timelapse(paths, out, opts, keep_segments=False)
    with av.open(str(out)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(container.streams.video[0])]
    if len(frames) != len(paths) or frames[0].shape != (size[1], size[0], 3):
        raise SystemExit(f"{out}: decoded {len(frames)} frames of {frames[0].shape}, expected {len(paths)}")
    return frames


def contact_sheet(frames: list[np.ndarray], path: Path, columns: int = 12, width: int = 120) -> None:
    h = round(width * frames[0].shape[0] / frames[0].shape[1])
    rows = -(-len(frames) // columns)
    sheet = Image.new("RGB", (columns * width, rows * h), (16, 16, 16))
    for i, rgb in enumerate(frames):
        sheet.paste(
            Image.fromarray(rgb).resize((width, h), Image.Resampling.BILINEAR),
            ((i % columns) * width, (i // columns) * h),
        )
    sheet.save(path, quality=85)


def main() -> None:
    from tests.support.faces import face_lab, flicker, flicker_sequence, trend

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="one sequence at 432x540 instead of two at 1080x1350"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "flicker.json")
    args = parser.parse_args()
    size = (432, 540) if args.quick else (1080, 1350)
    seeds = [2] if args.quick else [2, 3]
    started = time.perf_counter()
    runs = []
    with tempfile.TemporaryDirectory(prefix="pt-bench-flicker-") as tmp:
        work = Path(tmp)
        for seed in seeds:
            days = {
                "jitter": flicker_sequence(DAYS, size, seed=seed),
                "jitter_no_tan": flicker_sequence(DAYS, size, seed=seed, tan=False),
                "tan_only": flicker_sequence(DAYS, size, seed=seed, jitter=False),
            }
            paths = {name: write_days(work / f"{seed}-{name}", frames) for name, frames in days.items()}
            decoded = {
                "before": encode_and_decode(paths["jitter"], work / f"{seed}-before.mp4", size, "none"),
                "after": encode_and_decode(paths["jitter"], work / f"{seed}-after.mp4", size, "face"),
                "after_no_tan": encode_and_decode(paths["jitter_no_tan"], work / f"{seed}-flat.mp4", size, "face"),
                "tan_only": encode_and_decode(paths["tan_only"], work / f"{seed}-tan.mp4", size, "none"),
            }  # fmt: skip
            lab = {name: np.array([face_lab(f) for f in frames]) for name, frames in decoded.items()}
            before, after = flicker(lab["before"]), flicker(lab["after"])
            kept = trend(lab["after"]) - trend(lab["after_no_tan"])
            tan = trend(lab["tan_only"])
            run = {
                "seed": seed,
                "flicker_before_lab": [round(float(v), 3) for v in before],
                "flicker_after_lab": [round(float(v), 3) for v in after],
                "flicker_reduction": round(float(before.sum() / after.sum()), 2),
                "tan_lab": [round(float(v), 3) for v in tan],
                "tan_kept_lab": [round(float(v), 3) for v in kept],
                "tan_error": round(float(np.linalg.norm(kept - tan) / np.linalg.norm(tan)), 4),
            }
            runs.append(run)
            print(
                f"seed {seed}: flicker L*a*b* {np.round(before, 2)} -> {np.round(after, 2)} "
                f"({run['flicker_reduction']}x lower); tan {np.round(tan, 2)} kept {np.round(kept, 2)} "
                f"(error {100 * run['tan_error']:.1f} %)",
                flush=True,
            )
            if seed == seeds[0]:
                args.out.parent.mkdir(parents=True, exist_ok=True)
                for name in ("before", "after", "tan_only"):
                    contact_sheet(decoded[name], args.out.with_name(f"{args.out.stem}-{name}.jpg"))

    reduction = min(r["flicker_reduction"] for r in runs)
    worst = max(r["tan_error"] for r in runs)
    result = {
        "benchmark": "sync-agent flicker: --normalize face vs none",
        "quick": args.quick,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "sequence": {
            "days": DAYS,
            "size": f"{size[0]}x{size[1]}",
            "exposure_jitter_ev": 1.0,
            "colour_tilt": 0.15,
            "tan_linear_rgb": [0.78, 0.70, 0.58],
        },
        "flicker_reduction": reduction,
        "target_flicker_reduction": TARGET_REDUCTION,
        "tan_error": worst,
        "target_tan_error": TARGET_TAN_ERROR,
        "meets_target": reduction >= TARGET_REDUCTION and worst <= TARGET_TAN_ERROR,
        "contact_sheets": [f"{args.out.stem}-{name}.jpg" for name in ("before", "after", "tan_only")],
        "seconds": round(time.perf_counter() - started, 1),
        "runs": runs,
    }
    tmp_out = args.out.with_suffix(".tmp")
    tmp_out.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(tmp_out, args.out)
    print(
        f"flicker {reduction}x lower (target ≥ {TARGET_REDUCTION:g}x), tan kept within {100 * worst:.1f} % "
        f"(target ≤ {100 * TARGET_TAN_ERROR:g} %): {'met' if result['meets_target'] else 'NOT met'} -> {args.out}"
    )


if __name__ == "__main__":
    main()
