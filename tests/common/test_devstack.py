"""`make up`: clear errors, ports from one base, private files, and a supervisor that keeps every
part running and takes every part with it when it dies."""

from __future__ import annotations

import os
import re
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from minio import Minio

from picturetime_common.devstack import (
    GATEWAY_PORT,
    PORT_SPAN,
    StackPorts,
    read_env_file,
    tighten,
    write_local_env,
)
from picturetime_common.localservers import port_is_free
from tests.support.bus import eventually
from tests.support.faces import face_photo

DEVSTACK = [sys.executable, "-m", "picturetime_common.devstack"]


def test_a_taken_port_gives_a_clear_error_that_names_port_base(tmp_path: Path) -> None:
    holder = None
    if port_is_free(GATEWAY_PORT):
        holder = socket.socket()
        holder.bind(("127.0.0.1", GATEWAY_PORT))
        holder.listen()
    try:
        done = subprocess.run(
            [*DEVSTACK, "--data-dir", str(tmp_path / "data")], capture_output=True, text=True, timeout=60
        )
    finally:
        if holder is not None:
            holder.close()
    assert done.returncode == 1
    assert "already in use" in done.stderr and "Traceback" not in done.stderr
    assert "make up PORT_BASE=" in done.stderr
    assert not (tmp_path / "data").exists()


def test_every_port_comes_from_the_base() -> None:
    ports = StackPorts.from_base(20000)
    numbers = [port for port, _ in ports.described()]
    assert len(set(numbers)) == len(numbers) == 11
    assert min(numbers) == 20000 and max(numbers) == 20000 + PORT_SPAN
    assert (ports.gateway, ports.archive, ports.nats, ports.weed.s3) == (20000, 20001, 20002, 20003)
    defaults = StackPorts.from_base(None)
    assert (defaults.gateway, defaults.archive, defaults.nats, defaults.weed.s3) == (8000, 8080, 14222, 18333)


def test_an_impossible_port_base_is_refused(tmp_path: Path) -> None:
    done = subprocess.run(
        [*DEVSTACK, "--data-dir", str(tmp_path / "d"), "--port-base", "60000"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and "PORT_BASE must be between" in done.stderr
    assert not (tmp_path / "d").exists()


def test_local_env_keeps_its_secrets_and_follows_the_ports(tmp_path: Path) -> None:
    # A file an earlier version wrote: one S3 key, no NATS users.
    env_file = tmp_path / "local.env"
    env_file.write_text(
        "PT_S3__ENDPOINT=127.0.0.1:18333\nPT_S3__ACCESS_KEY=ptold\nPT_S3__SECRET_KEY=oldsecret\n"
    )
    env_file.chmod(0o644)
    first = write_local_env(tmp_path, StackPorts.from_base(None))
    assert first.s3["gateway"].access_key == "ptold" and first.s3["gateway"].secret_key == "oldsecret"
    assert len({s.access_key for s in first.s3.values()}) == 4
    again = write_local_env(tmp_path, StackPorts.from_base(30000))
    assert again.s3 != first.s3 and again.nats == first.nats  # only the endpoints moved
    assert {s.secret_key for s in again.s3.values()} == {s.secret_key for s in first.s3.values()}
    values = read_env_file(env_file)
    assert (
        values["PT_S3__ENDPOINT"] == "127.0.0.1:30003" and values["PT_NATS__URL"] == "nats://127.0.0.1:30002"
    )
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600


def test_loose_files_are_tightened_at_start_up(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "logs").mkdir(parents=True)
    for file in (
        data / "catalog.db",
        data / "catalog.db-wal",
        data / "local.env",
        data / "logs" / "gateway.log",
    ):
        file.write_text("x")
        file.chmod(0o644)
    for folder in (data, data / "logs"):
        folder.chmod(0o755)
    tighten(data)
    for folder in (data, data / "logs", data / "tmp"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    for file in (
        data / "catalog.db",
        data / "catalog.db-wal",
        data / "local.env",
        data / "logs" / "gateway.log",
    ):
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file


# ---- the whole stack ----------------------------------------------------------------------------


def free_port_base() -> int:
    for base in range(31000, 55000, 97):
        ports = [port for port, _ in StackPorts.from_base(base).described()]
        if all(port_is_free(port) for port in ports):
            return base
    raise AssertionError("no free port base")


class Stack:
    def __init__(self, data: Path, base: int) -> None:
        self.data, self.ports = data, StackPorts.from_base(base)
        self.out = data.parent / f"{data.name}.out"
        with self.out.open("wb") as out:
            self.proc = subprocess.Popen(
                [*DEVSTACK, "--data-dir", str(data), "--port-base", str(base)],
                stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PT_DATA_DIR": str(data)},
            )  # fmt: skip

    def output(self) -> str:
        return self.out.read_text(errors="replace")

    def wait_running(self, timeout: float = 240) -> None:
        def ready() -> bool:
            assert self.proc.poll() is None, self.output()
            return "Picture Time is running." in self.output()

        eventually(ready, timeout=timeout, interval=0.5)

    def children(self) -> dict[str, psutil.Process]:
        found = {}
        for child in psutil.Process(self.proc.pid).children():
            line = " ".join(child.cmdline())
            for name in ("gateway", "aligner", "archive"):
                if f"picturetime_{name}." in line:
                    found[name] = child
            for part in ("master", "volume", "filer"):
                if f" {part} -ip=" in line:
                    found[f"seaweedfs {part}"] = child
            if "nats-server" in line:
                found["nats"] = child
        return found

    def cli(self, *args: str) -> str:
        env = {**os.environ, "PT_DATA_DIR": str(self.data)}
        done = subprocess.run(
            [str(Path(sys.executable).parent / "picturetime-gateway"), *args],
            capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    def upload_and_align(self, key: str, jpeg: bytes) -> str:
        url = f"http://127.0.0.1:{self.ports.gateway}/api/v1/photos"
        headers = {"Authorization": f"Bearer {key}"}
        answer = httpx.post(
            url, headers=headers, files={"file": ("face.jpg", jpeg, "image/jpeg")}, timeout=60
        )
        assert answer.status_code == 201, answer.text
        photo = answer.json()["id"]

        def aligned() -> bool:
            status = httpx.get(f"{url}/{photo}", headers=headers, timeout=30).json()["status"]
            assert status in ("pending", "aligned"), status
            return status == "aligned"

        eventually(aligned, timeout=120, interval=0.5)
        return photo

    def admin_s3(self) -> Minio:
        env = read_env_file(self.data / "local.env")
        return Minio(
            env["PT_S3__ENDPOINT"], access_key=env["PT_LOCAL_ADMIN_S3_ACCESS_KEY"],
            secret_key=env["PT_LOCAL_ADMIN_S3_SECRET_KEY"], secure=False, region="us-east-1",
        )  # fmt: skip


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    running = Stack(tmp_path / "data", free_port_base())
    try:
        yield running
    finally:
        if running.proc.poll() is None:
            running.proc.kill()
            running.proc.wait(30)


@pytest.mark.slow
def test_the_supervisor_restarts_a_killed_part_and_takes_every_part_with_it(stack: Stack) -> None:
    stack.wait_running()
    children = stack.children()
    assert set(children) == {
        "nats", "seaweedfs master", "seaweedfs volume", "seaweedfs filer", "gateway", "aligner", "archive",
    }  # fmt: skip
    stack.cli("create-user", "me", "--admin")
    key = stack.cli("create-api-key", "--user", "me", "--name", "test", "--scopes", "upload").split()[-1]
    # Each service runs as itself: the gateway stores, the aligner aligns, the archive renders.
    first = stack.upload_and_align(key, face_photo().jpeg)
    s3 = stack.admin_s3()
    eventually(
        lambda: any(first in o.object_name for o in s3.list_objects("media", recursive=True)), timeout=60
    )

    # A second stack, with its own data folder and port base, runs beside the first: nothing of one
    # (sockets, temp files, ports) is the other's, and each uploads and aligns.
    beside = Stack(stack.data.parent / "beside", free_port_base())
    try:
        beside.wait_running()
        beside.cli("create-user", "me", "--admin")
        other = beside.cli("create-api-key", "--user", "me", "--name", "t", "--scopes", "upload").split()[-1]
        beside.upload_and_align(other, face_photo(angle_deg=-4).jpeg)
        stack.upload_and_align(key, face_photo(angle_deg=3).jpeg)
    finally:
        beside.proc.terminate()
        beside.proc.wait(60)

    children["aligner"].kill()
    eventually(lambda: "aligner exited with signal SIGKILL" in stack.output(), timeout=30)
    eventually(lambda: "aligner" in stack.children() and stack.children()["aligner"].pid != children["aligner"].pid,
               timeout=60)  # fmt: skip
    after = stack.children()
    for name, process in children.items():
        if name != "aligner":
            assert after[name].pid == process.pid, f"{name} was restarted too"
    stack.upload_and_align(key, face_photo(angle_deg=5).jpeg)  # the new aligner works

    # Files at rest are the owner's alone.
    assert stat.S_IMODE(stack.data.stat().st_mode) == 0o700
    for file in (stack.data / "catalog.db", stack.data / "local.env", stack.data / "logs" / "gateway.log"):
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file

    # A second stack on the same data dir is refused, whatever its ports.
    second = subprocess.run(
        [*DEVSTACK, "--data-dir", str(stack.data), "--port-base", str(free_port_base() + 50)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert second.returncode == 1 and "already running" in second.stderr

    pids = [p.pid for p in stack.children().values()]
    stack.proc.kill()
    stack.proc.wait(10)

    def all_gone() -> bool:
        return not [
            pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"
        ]

    eventually(all_gone, timeout=15, interval=0.2)

    def ports_free() -> bool:
        return all(port_is_free(port) for port, _ in stack.ports.described())

    try:
        eventually(ports_free, timeout=15, interval=0.2)
    except AssertionError:
        held = [
            (c.laddr.port, c.status, c.pid)
            for c in psutil.net_connections("tcp")
            if c.laddr and c.laddr.port in {p for p, _ in stack.ports.described()}
        ]
        raise AssertionError(f"ports still held after the supervisor died: {held}") from None
    assert re.search(r"restarting in \d+ s", stack.output())
