"""`make up`: the whole Picture Time stack on this machine, on embedded defaults.

SQLite, a local S3 server (SeaweedFS) and a local NATS, all on loopback ports that stay clear of
standard services, with credentials generated once under the data dir. Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from picturetime_common.db import run_migrations
from picturetime_common.localservers import (
    LocalServer,
    PortInUseError,
    WeedPorts,
    nats_server,
    require_free,
    seaweedfs_server,
    wait_for_port,
    wait_for_s3,
)
from picturetime_common.s3 import ensure_buckets, make_client
from picturetime_common.settings import LOCAL_ENV_FILE, CommonSettings

NATS_PORT = 14222
WEED = WeedPorts(master=19333, volume=18081, filer=18889, s3=18333)
GATEWAY_PORT = 8000
ARCHIVE_PORT = 8080


def write_local_env(data_dir: Path) -> Path:
    """Generate credentials once; later runs (and the CLIs) read the same file."""
    env_file = data_dir / LOCAL_ENV_FILE
    if env_file.exists():
        return env_file
    data_dir.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Written by `make up`: credentials of the local S3 server. Keep this file private.",
        f"PT_S3__ENDPOINT=127.0.0.1:{WEED.s3}",
        f"PT_S3__ACCESS_KEY=pt{secrets.token_hex(8)}",
        f"PT_S3__SECRET_KEY={secrets.token_urlsafe(32)}",
        f"PT_NATS__URL=nats://127.0.0.1:{NATS_PORT}",
    ]
    env_file.write_text("\n".join(lines) + "\n")
    env_file.chmod(0o600)
    return env_file


def check_ports() -> None:
    for port, what in [
        (NATS_PORT, "local NATS"),
        *[(p, "local S3 server") for p in WEED.all()],
        (GATEWAY_PORT, "gateway"),
        (ARCHIVE_PORT, "archive"),
    ]:
        require_free(port, what)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make up", description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("PT_DATA_DIR", ".data")))
    args = parser.parse_args(argv)
    data_dir: Path = args.data_dir.resolve()
    os.environ["PT_DATA_DIR"] = str(data_dir)
    try:
        check_ports()
    except PortInUseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    write_local_env(data_dir)
    settings = CommonSettings.load()
    servers: list[LocalServer] = []
    services: list[tuple[str, subprocess.Popen[bytes]]] = []
    # SIGTERM (e.g. from a process manager) stops the stack like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        print("starting NATS and the local S3 server ...", flush=True)
        # Registered before they start, so an interrupt during start-up still stops them.
        servers.append(nats_server(data_dir, NATS_PORT))
        # Four buckets that live for years: volumes of 1 GB rather than the test suite's 64 MB.
        servers.append(
            seaweedfs_server(
                data_dir, WEED, settings.s3.access_key, settings.s3.secret_key, volume_size_limit_mb=1024
            )
        )
        for server in servers:
            server.start()
        s3 = make_client(settings.s3)
        wait_for_s3(s3)
        ensure_buckets(s3, settings)
        run_migrations(settings.catalog_url)
        logs = data_dir / "logs"
        for name, module, extra in [
            ("gateway", "picturetime_gateway.cli", ["serve", "--port", str(GATEWAY_PORT)]),
            ("aligner", "picturetime_aligner.worker", []),
            ("archive", "picturetime_archive.cli", ["serve", "--port", str(ARCHIVE_PORT)]),
        ]:
            log = (logs / f"{name}.log").open("ab")
            # Own process groups: a terminal's Ctrl-C reaches only this runner, which stops them in order.
            proc = subprocess.Popen(
                [sys.executable, "-m", module, *extra],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            services.append((name, proc))
        wait_for_port(GATEWAY_PORT, 60, services[0][1])
        wait_for_port(ARCHIVE_PORT, 60, services[2][1])
        print_welcome(data_dir)
        while True:
            for name, proc in services:
                if proc.poll() is not None:
                    print(
                        f"error: {name} exited with code {proc.returncode}; see {logs / name}.log",
                        file=sys.stderr,
                    )
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
        return 0
    except (RuntimeError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        # A second Ctrl-C (uv forwards the signal too) must not cut the shutdown short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for _, proc in reversed(services):
            if proc.poll() is None:
                proc.terminate()
        for _, proc in services:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        for server in reversed(servers):
            server.stop(timeout=3)


def print_welcome(data_dir: Path) -> None:
    print(
        f"""
Picture Time is running.
  gateway (API, uploads)  http://127.0.0.1:{GATEWAY_PORT}   API docs: http://127.0.0.1:{GATEWAY_PORT}/docs
  archive (public site)   http://127.0.0.1:{ARCHIVE_PORT}
  data, logs, credentials {data_dir}

Create the first account and an API key, in another terminal from this folder:
  uv run picturetime-gateway create-user me --admin
  uv run picturetime-gateway create-api-key --user me --name phone --scopes upload,sync

Press Ctrl-C to stop everything.""",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
