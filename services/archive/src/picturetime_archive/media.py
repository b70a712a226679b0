"""Serving objects from S3 with ETag and HTTP Range (video players seek with Range)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from fastapi import Request
from fastapi.responses import Response, StreamingResponse
from minio import Minio

RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
CHUNK = 256 * 1024


def object_response(
    request: Request, s3: Minio, bucket: str, key: str, *, size: int, etag: str, media_type: str, cache: str
) -> Response:
    headers = {"ETag": f'"{etag}"', "Accept-Ranges": "bytes", "Cache-Control": cache}
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    requested = request.headers.get("range")
    if requested:
        parsed = _parse_range(requested, size)
        if parsed is None:
            return Response(status_code=416, headers={"Content-Range": f"bytes */{size}"})
        start, end = parsed
        headers |= {"Content-Range": f"bytes {start}-{end}/{size}", "Content-Length": str(end - start + 1)}
        body = _stream(s3, bucket, key, start, end - start + 1)
        return StreamingResponse(body, status_code=206, media_type=media_type, headers=headers)
    headers["Content-Length"] = str(size)
    return StreamingResponse(_stream(s3, bucket, key, 0, 0), media_type=media_type, headers=headers)


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    match = RANGE.match(header.strip())
    if not match or size == 0:
        return None
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if first == "":
        start, end = max(0, size - int(last)), size - 1
    else:
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
    if start > end or start >= size:
        return None
    return start, end


def _stream(s3: Minio, bucket: str, key: str, offset: int, length: int) -> Iterator[bytes]:
    """Yield the object's bytes (length 0: to the end); Starlette iterates this in a thread."""
    response = s3.get_object(bucket, key, offset=offset, length=length)
    try:
        yield from response.stream(CHUNK)
    finally:
        response.close()
        response.release_conn()
