"""The data path to S3 for uploads: obstore (Rust's object_store) streams a file's bytes as a
multipart upload without the Python-side part copies, thread hand-offs and payload hashing of the
MinIO SDK, which keeps the control path (stat, copy, tags, lifecycle, presigned URLs)."""

from __future__ import annotations

import functools

from obstore.store import S3Store

from picturetime_common.settings import S3Settings


def object_store(s3: S3Settings, bucket: str) -> S3Store:
    """The (shared, thread-safe) obstore client for one bucket."""
    return _store((s3.endpoint, s3.access_key, s3.secret_key, s3.secure, s3.region, s3.sign_payload), bucket)


@functools.lru_cache(maxsize=64)
def _store(connection: tuple[str, str, str, bool, str, bool], bucket: str) -> S3Store:
    endpoint, access_key, secret_key, secure, region, sign_payload = connection
    return S3Store(
        bucket,
        endpoint=f"{'https' if secure else 'http'}://{endpoint}",
        access_key_id=access_key,
        secret_access_key=secret_key,
        region=region,
        virtual_hosted_style_request=False,
        # The request headers are always signed. A body's SHA-256 in the signature guards it
        # against tampering in transit, which TLS does for https endpoints; on a private network
        # it costs a hash pass per part and delays each part until it is hashed.
        unsigned_payload=not sign_payload,
        client_options={"allow_http": not secure},
    )
