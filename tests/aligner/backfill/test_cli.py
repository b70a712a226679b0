"""picturetime-backfill's checks before any work: the key, the gateway's address, the arguments."""

from __future__ import annotations

import time
from pathlib import Path

from picturetime_common.localservers import free_port
from tests.aligner.backfill.support import Gateway, backfill


def test_bad_key_or_unreachable_gateway_stops_before_any_work(
    gateway_process: Gateway, photo_tree: Path, tmp_path: Path
) -> None:
    bad = backfill(
        photo_tree, "--gateway", gateway_process.url, "--manifest", tmp_path / "m.jsonl", api_key="pt_nope"
    )
    assert bad.returncode == 2 and "invalid_api_key" in bad.stderr, bad.stdout + bad.stderr
    started = time.monotonic()
    nobody = backfill(
        photo_tree,
        "--gateway",
        f"http://127.0.0.1:{free_port()}",
        "--manifest",
        tmp_path / "m.jsonl",
        api_key="pt_unused",
    )
    assert nobody.returncode == 2 and "unreachable (ConnectError" in nobody.stderr, nobody.stderr
    assert time.monotonic() - started < 30  # a couple of quick retries, not a running job's minute
    missing = backfill(photo_tree, "--manifest", tmp_path / "m.jsonl")
    assert missing.returncode == 2 and "--gateway" in missing.stderr
    assert not (tmp_path / "m.jsonl").exists()
    helped = backfill("--help")
    assert helped.returncode == 0 and "exit status" in helped.stdout and "no face" in helped.stdout
