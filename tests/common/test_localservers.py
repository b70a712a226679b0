"""The local S3 and NATS servers: writable with many buckets, isolated per data dir, closed to strangers."""

from __future__ import annotations

import asyncio
import io
import json
import secrets
import socket
import ssl
import tempfile
import urllib.request
from pathlib import Path

import httpx
import nats
import pytest
from minio import Minio
from minio.error import S3Error
from nats.errors import Error as NatsError

from picturetime_common.localservers import (
    SeaweedFS,
    pick_weed_ports,
    seaweedfs_server,
    wait_for_s3,
)
from picturetime_common.permissions import SERVICES
from picturetime_common.settings import NatsSettings
from tests.support.stack import NatsFactory, S3Server, make_settings

SYSTEM_TEMP = Path(tempfile.gettempdir())


def master_status(server: SeaweedFS) -> dict:
    """The master's HTTP API, reached with the stack's own client certificate."""
    context = ssl.create_default_context(cafile=str(server.tls.ca))
    context.load_cert_chain(str(server.tls.cert), str(server.tls.key))
    url = f"https://127.0.0.1:{server.ports.master}/dir/status"
    with urllib.request.urlopen(url, timeout=10, context=context) as answer:
        return json.load(answer)


def test_each_new_bucket_takes_one_volume(s3_server: S3Server) -> None:
    client = s3_server.client()

    def volumes() -> int:
        status = master_status(s3_server.server)
        centers = status["Topology"]["DataCenters"] or []
        nodes = [n for dc in centers for rack in dc["Racks"] or [] for n in rack["DataNodes"] or []]
        return sum(node["Volumes"] for node in nodes)

    before = volumes()
    for n in range(3):
        bucket = f"volume-growth-{n}"
        client.make_bucket(bucket)
        client.put_object(bucket, "x", io.BytesIO(b"1"), 1)
    assert volumes() - before == 3


def seaweed_files_in_system_temp() -> set[str]:
    return {p.name for p in SYSTEM_TEMP.glob("seaweedfs-*")}


@pytest.mark.slow
def test_two_servers_side_by_side_share_nothing(tmp_path: Path) -> None:
    """Each keeps its sockets and temporary files under its own data dir: none lands in the
    system temp folder, where `weed server` used fixed names that another stack could take."""
    before = seaweed_files_in_system_temp()
    servers: list[SeaweedFS] = []
    clients = []
    try:
        for n in range(2):
            secret = secrets.token_hex(16)
            server = seaweedfs_server(tmp_path / f"stack{n}", pick_weed_ports(), f"admin{n}", secret)
            servers.append(server.start())
            client = Minio(
                f"127.0.0.1:{server.ports.s3}", access_key=f"admin{n}", secret_key=secret, secure=False
            )
            wait_for_s3(client)
            clients.append(client)
        for client in clients:
            client.make_bucket("photos")
        bodies = [secrets.token_bytes(300_000 + n) for n in range(2)]
        for client, body in zip(clients, bodies, strict=True):
            client.put_object("photos", "same-key.jpg", io.BytesIO(body), len(body))
        for client, body in zip(clients, bodies, strict=True):
            assert client.get_object("photos", "same-key.jpg").read() == body
        created = seaweed_files_in_system_temp() - before
        assert created == set(), f"SeaweedFS wrote to {SYSTEM_TEMP}: {sorted(created)}"
        for n in range(2):
            assert (tmp_path / f"stack{n}" / "s3" / "filer.sock").is_socket()
    finally:
        for server in servers:
            server.stop(timeout=3)


# ---- the internal ports and the S3 identities ---------------------------------------------------


def tls_refused(port: int, context: ssl.SSLContext) -> bool:
    """True when the server ends the TLS session for want of a client certificate."""
    try:
        with socket.create_connection(("127.0.0.1", port), 5) as raw, context.wrap_socket(raw) as tls:
            tls.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            return tls.recv(100) == b""
    except (ssl.SSLError, ConnectionResetError):
        return True


def test_internal_ports_refuse_a_client_without_the_stack_certificate(s3_server: S3Server) -> None:
    server = s3_server.server
    ports = server.ports
    http_ports = {"master": ports.master, "volume": ports.volume, "filer": ports.filer}
    grpc_ports = {f"{name} gRPC": port + 10000 for name, port in [*http_ports.items(), ("s3", ports.s3)]}
    stranger = ssl.create_default_context(cafile=str(server.tls.ca))
    stranger.check_hostname = False
    for name, port in http_ports.items():
        # Plain HTTP gets nowhere: the port speaks TLS.
        plain = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert plain.status_code == 400, name
        assert tls_refused(port, stranger), f"{name} answered a client without a certificate"
    for name, port in grpc_ports.items():
        stranger.set_alpn_protocols(["h2"])
        assert tls_refused(port, stranger), f"{name} answered a client without a certificate"
    # The filer's HTTP API, even over TLS with the stack's certificate, wants a signed token.
    context = ssl.create_default_context(cafile=str(server.tls.ca))
    context.load_cert_chain(str(server.tls.cert), str(server.tls.key))
    with httpx.Client(verify=context) as insider:
        assert insider.get(f"https://127.0.0.1:{ports.filer}/buckets/").status_code == 401
        assert insider.get(f"https://127.0.0.1:{ports.master}/dir/status").status_code == 200


def test_s3_refuses_anonymous_requests(s3_server: S3Server) -> None:
    client = s3_server.client()
    client.make_bucket("anonymous-probe")
    client.put_object("anonymous-probe", "x", io.BytesIO(b"1"), 1)
    endpoint = f"http://{s3_server.settings.endpoint}"
    assert httpx.get(f"{endpoint}/anonymous-probe/x", timeout=10).status_code == 403
    assert httpx.put(f"{endpoint}/anonymous-probe/y", content=b"2", timeout=10).status_code == 403


def denied(call) -> bool:  # type: ignore[no-untyped-def]
    try:
        call()
    except S3Error as exc:
        return exc.code == "AccessDenied"
    return False


def test_each_service_identity_has_only_its_actions(s3_server: S3Server, tmp_path: Path) -> None:
    from picturetime_common.s3 import ensure_buckets
    from picturetime_common.settings import CommonSettings

    settings = make_settings(
        CommonSettings,
        data_dir=tmp_path,
        database_url="sqlite://",
        s3=s3_server.settings,
        nats="nats://unused",
    )
    buckets = settings.buckets
    admin = s3_server.client()
    ensure_buckets(admin, settings)
    for bucket in buckets.every():
        admin.put_object(bucket, "seed.jpg", io.BytesIO(b"seed"), 4)
    aligner = s3_server.client(s3_server.identity("aligner"))
    archive = s3_server.client(s3_server.identity("archive"))
    gateway = s3_server.client(s3_server.identity("gateway"))

    def put(client: Minio, bucket: str, key: str = "new.jpg"):  # type: ignore[no-untyped-def]
        return lambda: client.put_object(bucket, key, io.BytesIO(b"data"), 4)

    # The aligner reads originals and writes frames; nothing else.
    assert aligner.get_object(buckets.originals, "seed.jpg").read() == b"seed"
    put(aligner, buckets.frames)()
    assert denied(put(aligner, buckets.originals))
    assert denied(lambda: aligner.remove_object(buckets.originals, "seed.jpg"))
    assert denied(put(aligner, buckets.media))
    assert denied(lambda: aligner.get_object(buckets.timelapse, "seed.jpg"))
    # The archive reads what it shows and writes its renditions.
    for bucket in (buckets.originals, buckets.frames, buckets.media, buckets.timelapse):
        assert archive.get_object(bucket, "seed.jpg").read() == b"seed"
    put(archive, buckets.media)()
    assert denied(put(archive, buckets.originals))
    assert denied(put(archive, buckets.frames))
    assert denied(lambda: archive.remove_object(buckets.originals, "seed.jpg"))
    # The gateway does everything in its own buckets, and nothing in anyone else's.
    put(gateway, buckets.originals)()
    gateway.remove_object(buckets.originals, "new.jpg")
    admin.make_bucket("not-picturetime")
    assert denied(put(gateway, "not-picturetime"))
    assert admin.stat_object(buckets.originals, "seed.jpg").size == 4


# ---- NATS users ---------------------------------------------------------------------------------


def test_nats_users_are_limited_to_their_subjects(nats_factory: NatsFactory) -> None:
    passwords = {name: secrets.token_urlsafe(16) for name in SERVICES}
    server = nats_factory.start(passwords)
    url = f"nats://127.0.0.1:{server.ready_port}"

    def as_service(name: str, password: str | None = None) -> NatsSettings:
        return NatsSettings(url=url, user=name, password=password or passwords[name])

    async def check() -> None:
        for anonymous in ({}, as_service("aligner", "wrong").connect_options()):
            with pytest.raises((NatsError, OSError)):
                await nats.connect(url, connect_timeout=2, allow_reconnect=False, **anonymous)
        gateway = await nats.connect(url, **as_service("gateway").connect_options())
        aligner = await nats.connect(url, **as_service("aligner").connect_options())
        archive = await nats.connect(url, **as_service("archive").connect_options())
        try:
            js = gateway.jetstream()
            await js.add_stream(name="PICTURETIME", subjects=["pt.>"])
            ack = await js.publish("pt.photo.uploaded", b"{}", headers={"Nats-Msg-Id": "a"})
            assert ack.seq == 1
            # The aligner may announce frames, never photos (so never its own work).
            await aligner.jetstream().publish("pt.frame.aligned", b"{}", headers={"Nats-Msg-Id": "b"})
            with pytest.raises(nats.errors.TimeoutError):
                await aligner.jetstream().publish("pt.photo.uploaded", b"{}", timeout=2)
            # Nor read the gateway's replies, nor listen to the whole stream.
            errors: list[Exception] = []

            async def record(error: Exception) -> None:
                errors.append(error)

            spy = await nats.connect(url, error_cb=record, **as_service("aligner").connect_options())
            await spy.subscribe("_INBOX.gateway.>")
            await spy.flush()
            await asyncio.sleep(0.5)
            await spy.close()
            assert any("permissions violation" in str(e).lower() for e in errors), errors
            # The archive only listens.
            with pytest.raises(nats.errors.TimeoutError):
                await archive.jetstream().publish("pt.frame.aligned", b"{}", timeout=2)
            info = await js.stream_info("PICTURETIME")
            assert info.state.messages == 2
        finally:
            for client in (gateway, aligner, archive):
                await client.close()

    asyncio.run(check())
