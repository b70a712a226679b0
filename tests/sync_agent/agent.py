"""picturetime-sync run as a real process, with no PT_SYNC_* from outside the test and, given a
`home`, its config and cache under the test's folder."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from picturetime_common.s3 import make_client
from picturetime_common.settings import CommonSettings

SCRIPT = str(Path(sys.executable).parent / "picturetime-sync")


def agent_env(home: Path | None = None, **variables: str) -> dict[str, str]:
    """The environment for the agent: this one without PT_SYNC_*, plus `variables`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PT_SYNC_")}
    if home is not None:
        env |= {"XDG_CONFIG_HOME": str(home / ".config"), "XDG_CACHE_HOME": str(home / ".cache")}
    return env | variables


def agent(
    *args: str,
    home: Path | None = None,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 240,
    umask: int = -1,
) -> subprocess.CompletedProcess[str]:
    """Run picturetime-sync to the end (`umask` as a shell would set it; -1 keeps this one's)."""
    return subprocess.run(
        [SCRIPT, *args],
        env=agent_env(home, **(env or {})),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        umask=umask,
    )


def start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start picturetime-sync in the background, its output going to `log`."""
    with log.open("wb") as out:
        return subprocess.Popen([SCRIPT, *argv], env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_for(
    log: Path, pattern: str, proc: subprocess.Popen[bytes], timeout: float = 120, count: int = 1
) -> str:
    """The log once `pattern` appears in it `count` times (the process must still run)."""
    deadline = time.monotonic() + timeout
    while True:
        text = log.read_text()
        if len(re.findall(pattern, text)) >= count:
            return text
        assert proc.poll() is None, f"exited with {proc.returncode}:\n{text}"
        assert time.monotonic() < deadline, f"{pattern!r} x{count} not seen within {timeout} s:\n{text}"
        time.sleep(0.05)


def timelapse_objects(settings: CommonSettings) -> list[str]:
    """The timelapse videos in the bucket."""
    s3 = make_client(settings.s3)
    return sorted(
        o.object_name
        for o in s3.list_objects(settings.buckets.timelapse, recursive=True)
        if o.object_name and o.object_name.endswith(".mp4")
    )


def leftovers(root: Path) -> list[Path]:
    """Temporary files left under root."""
    return [p for p in root.rglob("*") if p.name.endswith((".part", ".tmp"))]
