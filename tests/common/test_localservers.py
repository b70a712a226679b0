"""The local S3 server stays writable with many buckets (one volume each, grown on demand)."""

from __future__ import annotations

import io
import json
import urllib.request

from tests.support.stack import S3Server


def test_each_new_bucket_takes_one_volume(s3_server: S3Server) -> None:
    client = s3_server.client()
    master = s3_server.server.argv[[a.startswith("-master.port=") for a in s3_server.server.argv].index(True)]
    port = master.split("=", 1)[1]

    def volumes() -> int:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/dir/status", timeout=10) as answer:
            status = json.load(answer)
        nodes = [
            n for dc in status["Topology"]["DataCenters"] for rack in dc["Racks"] for n in rack["DataNodes"]
        ]
        return sum(node["Volumes"] for node in nodes)

    before = volumes()
    for n in range(3):
        bucket = f"volume-growth-{n}"
        client.make_bucket(bucket)
        client.put_object(bucket, "x", io.BytesIO(b"1"), 1)
    assert volumes() - before == 3
