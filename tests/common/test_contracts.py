"""What the services agree on: object keys, file checksums, the browser session's cookie and hash."""

from __future__ import annotations

import hashlib
import io
from datetime import datetime, timedelta, timezone
from pathlib import Path

from picturetime_common.hashing import sha256_file, sha256_stream
from picturetime_common.object_keys import (
    INCOMING_PREFIX,
    frame_key,
    incoming_key,
    original_key,
    timelapse_key,
)
from picturetime_common.s3 import lifecycle_rules, rule_matches
from picturetime_common.settings import BucketNames
from picturetime_common.websessions import SESSION_COOKIE, token_hash

SHA = "ab" * 32


def test_keys_follow_the_documented_layout() -> None:
    taken = datetime(2024, 6, 13, 23, 30, tzinfo=timezone(timedelta(hours=-4)))  # 14 June in UTC
    assert original_key(7, taken, SHA, "jpg") == f"7/2024/06/{SHA}.jpg"
    assert frame_key(taken, "0f" * 16, "abc123") == f"2024/06/{'0f' * 16}-abc123.jpg"
    assert timelapse_key("20240613T080000Z-abcd") == "20240613T080000Z-abcd.mp4"
    first, second = incoming_key(), incoming_key()
    assert first.startswith(INCOMING_PREFIX) and first != second


def test_only_incoming_keys_expire_unmirrored() -> None:
    rules = lifecycle_rules(BucketNames(), 7)[BucketNames().originals].rules
    assert any(rule_matches(rule, incoming_key(), {}) for rule in rules)
    assert not any(
        rule_matches(rule, original_key(1, datetime(2024, 1, 1), SHA, "jpg"), {}) for rule in rules
    )


def test_file_and_stream_checksums(tmp_path: Path) -> None:
    data = bytes(range(256)) * 9000  # over one read chunk
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    seen: list[int] = []
    assert sha256_file(path, seen.append) == hashlib.sha256(data).hexdigest() and sum(seen) == len(data)
    stream = io.BytesIO(data)
    stream.read(10)
    assert sha256_stream(stream) == (len(data) - 10, hashlib.sha256(data[10:]).hexdigest())


def test_a_session_token_is_kept_as_its_sha256() -> None:
    assert SESSION_COOKIE == "pt_session"
    assert token_hash("secret") == hashlib.sha256(b"secret").hexdigest()
