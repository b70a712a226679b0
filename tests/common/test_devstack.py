"""`make up` refuses a taken port with a clear sentence, not a traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from picturetime_common.devstack import GATEWAY_PORT
from picturetime_common.localservers import port_is_free


def test_a_taken_port_gives_a_clear_error(tmp_path: Path) -> None:
    holder = None
    if port_is_free(GATEWAY_PORT):
        holder = socket.socket()
        holder.bind(("127.0.0.1", GATEWAY_PORT))
        holder.listen()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "picturetime_common.devstack", "--data-dir", str(tmp_path / "data")],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        if holder is not None:
            holder.close()
    assert done.returncode == 1
    assert "already in use" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "data").exists()
