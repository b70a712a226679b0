"""picturetime-align: align photos on disk into frames plus an alignments.jsonl record."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from picturetime_aligner.models import AlignmentSettings
from picturetime_aligner.pool import AlignerPool, current_aligner


def _parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 1080x1350, not {text!r}") from None
    if w < 8 or h < 8:
        raise argparse.ArgumentTypeError("size must be at least 8x8")
    return w, h


def _align_file(path: str) -> tuple[dict, bytes | None]:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        result = {"status": "error", "matrix": None, "left_eye": None, "right_eye": None, "confidence": 0.0}
        return {**result, "error": f"cannot read: {exc.strerror or exc}"}, None
    res = current_aligner().align(data)
    return res.to_json(), res.jpeg


def _output_names(paths: list[str]) -> list[str]:
    """DIR/<stem>.jpg, with -2, -3 ... when two inputs share a stem."""
    seen: dict[str, int] = {}
    names = []
    for p in paths:
        stem = Path(p).stem
        n = seen.get(stem, 0) + 1
        seen[stem] = n
        names.append(f"{stem}.jpg" if n == 1 else f"{stem}-{n}.jpg")
    return names


class _Progress:
    """A one-line progress bar on stderr (plain lines when stderr is not a terminal)."""

    def __init__(self, total: int):
        self.total, self.done, self.counts = total, 0, {"aligned": 0, "no_face": 0, "error": 0}
        self.start = time.monotonic()
        self.tty = sys.stderr.isatty()

    def step(self, name: str, status: str, detail: str | None = None) -> None:
        self.done += 1
        self.counts[status] = self.counts.get(status, 0) + 1
        rate = self.done / max(1e-6, time.monotonic() - self.start)
        width = 24
        filled = round(width * self.done / self.total)
        bar = "#" * filled + "-" * (width - filled)
        summary = " ".join(f"{k}={v}" for k, v in self.counts.items())
        said = f"{status} ({detail})" if detail else status
        line = f"[{bar}] {self.done}/{self.total} {rate:.1f}/s {summary} {name}: {said}"
        if self.tty:
            sys.stderr.write("\r\033[K" + line)
            if self.done == self.total:
                sys.stderr.write("\n")
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def _results(paths: list[str], settings: AlignmentSettings, jobs: int) -> Iterator[tuple[dict, bytes | None]]:
    with AlignerPool(settings, jobs, processes=jobs > 1) as pool:
        yield from pool.map(_align_file, paths)


def main(argv: list[str] | None = None) -> int:
    """Entry point of picturetime-align."""
    parser = argparse.ArgumentParser(
        prog="picturetime-align",
        description="Align photos so the eyes sit at the same place; writes DIR/<stem>.jpg and DIR/alignments.jsonl.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="photos to align")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output directory")
    parser.add_argument(
        "--size", type=_parse_size, default=None, metavar="WxH", help="output size (default 1080x1350)"
    )
    parser.add_argument("--jobs", type=int, default=1, metavar="N", help="worker processes (default 1)")
    args = parser.parse_args(argv)

    missing = [f for f in args.files if not Path(f).is_file()]
    if missing:
        for f in missing:
            print(f"picturetime-align: no such file: {f}", file=sys.stderr)
        return 2
    settings = AlignmentSettings()
    if args.size:
        settings = replace(settings, width=args.size[0], height=args.size[1])
    args.out.mkdir(parents=True, exist_ok=True)
    jobs = max(1, min(args.jobs, len(args.files), os.cpu_count() or 1))

    names = _output_names(args.files)
    progress = _Progress(len(args.files))
    errors = 0
    with open(args.out / "alignments.jsonl", "w", encoding="utf-8") as record:
        for path, name, (result, jpeg) in zip(
            args.files, names, _results(args.files, settings, jobs), strict=True
        ):
            if jpeg is not None:
                (args.out / name).write_bytes(jpeg)
            errors += result["status"] == "error"
            line = {
                "source": path,
                "status": result["status"],
                "matrix": result["matrix"],
                "output_size": [settings.width, settings.height],
                "left_eye": result["left_eye"],
                "right_eye": result["right_eye"],
                "confidence": result["confidence"],
                "error": result["error"],
                "output": name if jpeg is not None else None,
                "quality": result.get("quality", {}),
                "params_hash": settings.params_hash(),
            }
            record.write(json.dumps(line) + "\n")
            record.flush()
            progress.step(Path(path).name, result["status"], result.get("error"))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
