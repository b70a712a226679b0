"""The owner's face in a crowd: what choosing it costs, and whether it is chosen.

On one core, the aligner's time per photo without a faceprint (as `picturetime-align` and the
backfill job run it) and with one (as the aligner service runs it for an account: the chosen face's
128-d embedding is taken, and a group photo's faces are each compared), for:

- a 12 MP phone selfie (3000x4000) and a 640x480 webcam selfie: what the faceprint costs on most
  days (nothing to choose, no embedding) and on a day whose look is taken for it (one embedding);
- a 6-person group photo (1140x920), the owner among five other people: dlib's face detector,
  MediaPipe on each face's crop, and six embeddings.

It also checks the choice: the group photo aligns on the owner once two earlier frames made a
faceprint, and goes to review (`ambiguous_face`) without one.

    uv run python bench/bench_crowd.py [--repeat 15] [--out bench/results/crowd.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # tests.support.faces builds the photos


def _ms(aligner, jpeg: bytes, modes: dict[str, dict | None], repeat: int) -> dict[str, dict]:
    """Median and best ms per mode, the modes interleaved so that a busy machine slows each alike."""
    times: dict[str, list[float]] = {name: [] for name in modes}
    for _ in range(repeat):
        for name, hints in modes.items():
            aligner.forget_sizes()
            t0 = time.perf_counter()
            aligner.align(jpeg, hints)
            times[name].append(1000 * (time.perf_counter() - t0))
    return {
        name: {"best": round(min(t), 1), "median": round(statistics.median(t), 1)}
        for name, t in times.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "crowd.json")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    import cv2
    import numpy as np

    cv2.setNumThreads(1)
    from picturetime_aligner import Aligner
    from picturetime_aligner.faceprint import Faceprint
    from tests.support import faces

    photos = {
        "phone_selfie": faces.face_photo(size=(3000, 4000), grain=6.0, seed=1),
        "webcam_selfie": faces.face_photo(size=(640, 480), grain=3.0, seed=2),
        "group_of_6": faces.crowd_photo(owner_at=4, seed=3),
    }
    with Aligner() as aligner:
        faceprint = Faceprint()
        for day in range(2):
            earlier = faces.face_photo(angle_deg=4 * day, scale=1.0 + 0.2 * day, seed=10 + day)
            faceprint.add_aligned(
                f"day{day}", aligner.align(earlier.jpeg, {"faceprint": faceprint.reference()})
            )
        reference = faceprint.reference()
        for jpeg in (p.jpeg for p in photos.values()):  # warm up: models load on first use
            aligner.align(jpeg, {"faceprint": reference})
        timings = {}
        for name, photo in photos.items():
            modes = {
                "plain": None,
                "owned": {"faceprint": reference, "embed": False},
                "looked": {"faceprint": reference, "embed": True},
            }
            measured = _ms(aligner, photo.jpeg, modes, args.repeat)
            plain, owned, looked = measured["plain"], measured["owned"], measured["looked"]
            timings[name] = {
                "without_faceprint_ms": plain,
                "with_faceprint_ms": owned,  # most days: a selfie's embedding is not taken
                "with_faceprint_and_embedding_ms": looked,  # a look for the faceprint (1 day in 7)
                "extra_ms": round(owned["median"] - plain["median"], 1),
                "extra_embedding_ms": round(looked["median"] - plain["median"], 1),
                "extra_ratio": round(owned["median"] / plain["median"], 3),
                "extra_ratio_embedding": round(looked["median"] / plain["median"], 3),
            }
        group = photos["group_of_6"]
        chosen = aligner.align(group.jpeg, {"faceprint": reference})
        unknown = aligner.align(group.jpeg, {"faceprint": None})
    eye_error = float(np.abs(np.array([chosen.left_eye, chosen.right_eye]) - group.eyes).max())
    checks = {
        "owner_chosen_in_group": {
            "value": chosen.quality.get("choice"), "eye_error_px": round(eye_error, 3),
            "faces": chosen.quality.get("faces"), "target": "faceprint, eyes within 2 px, 6 faces",
            "met": chosen.quality.get("choice") == "faceprint" and eye_error < 2.0 and chosen.quality.get("faces") == 6,
        },
        "unknown_group_to_review": {
            "value": bool(unknown.quality.get("ambiguous_face")), "confidence": unknown.confidence,
            "target": "ambiguous_face, confidence <= 0.3",
            "met": bool(unknown.quality.get("ambiguous_face")) and unknown.confidence <= 0.3,
        },
    }  # fmt: skip
    report = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()},
        "repeat": args.repeat,
        "one_core_ms": timings,
        "checks": checks,
        "all_met": all(c["met"] for c in checks.values()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    for name, t in timings.items():
        print(
            f"{name:14} without {t['without_faceprint_ms']['median']:7.1f} ms  with faceprint "
            f"{t['with_faceprint_ms']['median']:7.1f} ms (x{t['extra_ratio']})  with an embedding "
            f"{t['with_faceprint_and_embedding_ms']['median']:7.1f} ms (+{t['extra_embedding_ms']} ms)"
        )
    for name, c in checks.items():
        print(f"{name}: {'met' if c['met'] else 'MISSED'} ({c['value']})")
    return 0 if report["all_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
