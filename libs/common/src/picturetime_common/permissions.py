"""What each Picture Time service may do on NATS and S3: one table, rendered for every server.

`make up` and the test suite build their NATS users and SeaweedFS identities from it; the compose
stack's `infra/nats/nats.conf` and `infra/minio/init.sh` carry the same rules between `BEGIN
generated` / `END generated` markers, written by `python -m picturetime_common.permissions
--write` (a test fails when they drift apart).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from picturetime_common.settings import BucketNames

# What a service may do in a bucket.
READ = "read"  # get an object (and its tags)
WRITE = "write"  # put an object, in one request or as a multipart upload
DELETE = "delete"  # delete an object
TAG = "tag"  # change an object's tags
LIST = "list"  # list objects and unfinished multipart uploads, and abort those
LIFECYCLE = "lifecycle"  # create a missing bucket, read and apply its lifecycle rules

SERVICES = ("gateway", "aligner", "archive")
BUCKET_ROLES = tuple(BucketNames.model_fields)
STREAM = "PICTURETIME"


@dataclass(frozen=True)
class ServiceGrants:
    name: str
    # bucket role ("originals", "frames", ...) -> what the service may do there
    buckets: Mapping[str, frozenset[str]]
    # subjects the service publishes events to (JetStream publishes, answered on its inbox)
    publish: tuple[str, ...] = ()
    # plain (not durable) subscriptions
    subscribe: tuple[str, ...] = ()
    # durable JetStream pull consumers: (durable name, filter subject)
    consumers: tuple[tuple[str, str], ...] = ()
    # creates the stream, or brings it to the expected subjects, when it starts
    manages_stream: bool = False
    # JetStream key-value buckets the service keeps (creates on first use, reads and writes)
    kv_buckets: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=(), compare=False)

    @property
    def inbox_prefix(self) -> str:
        """Replies to this service's requests come on its own inboxes, which nobody else may read."""
        return f"_INBOX.{self.name}"


_EVERYTHING = frozenset({READ, WRITE, DELETE, TAG, LIST, LIFECYCLE})

GRANTS: dict[str, ServiceGrants] = {
    "gateway": ServiceGrants(
        "gateway",
        {role: _EVERYTHING for role in BUCKET_ROLES},
        publish=("pt.photo.*", "pt.timelapse.*", "pt.library.*"),
        consumers=(("gateway-frames", "pt.frame.>"),),
        manages_stream=True,
    ),
    "aligner": ServiceGrants(
        "aligner",
        # Frames: it writes them, and reads back each owner's faceprint (faceprints/{owner}.json).
        {"originals": frozenset({READ}), "frames": frozenset({READ, WRITE})},
        publish=("pt.frame.*",),
        consumers=(("aligner", "pt.photo.>"),),
        # The worker also creates the stream when it starts before the gateway.
        manages_stream=True,
        # Failed attempts per photo, so a photo that crashes every aligner ends (retries.py).
        kv_buckets=("aligner-attempts",),
    ),
    "archive": ServiceGrants(
        "archive",
        {
            "originals": frozenset({READ}),
            "frames": frozenset({READ}),
            "timelapse": frozenset({READ}),
            # renditions (WebP/JPEG sizes) are made once and kept
            "media": frozenset({READ, WRITE}),
        },
        subscribe=(
            "pt.timelapse.published",
            "pt.timelapse.shared",
            "pt.frame.aligned",
            "pt.frame.failed",
            "pt.photo.uploaded",
            "pt.photo.deleted",
            "pt.library.changed",
        ),
    ),
}


# ---- NATS -------------------------------------------------------------------------------------


def nats_permissions(grants: ServiceGrants, stream: str = STREAM) -> dict[str, dict[str, list[str]]]:
    """The `permissions` block of a NATS user: only its subjects and its own JetStream API calls."""
    publish = list(grants.publish)
    subscribe = list(grants.subscribe)
    if grants.publish or grants.consumers or grants.manages_stream or grants.kv_buckets:
        subscribe.append(f"{grants.inbox_prefix}.>")
    api = "$JS.API"
    if grants.manages_stream:
        publish += [f"{api}.STREAM.{op}.{stream}" for op in ("INFO", "CREATE", "UPDATE")]
    elif grants.consumers:
        publish.append(f"{api}.STREAM.INFO.{stream}")
    for durable, filter_subject in grants.consumers:
        publish += [
            f"{api}.CONSUMER.INFO.{stream}.{durable}",
            f"{api}.CONSUMER.DURABLE.CREATE.{stream}.{durable}",
            f"{api}.CONSUMER.CREATE.{stream}.{durable}.{filter_subject}",
            f"{api}.CONSUMER.MSG.NEXT.{stream}.{durable}",
            # ack, nak, term and in-progress answers to its messages
            f"$JS.ACK.{stream}.{durable}.>",
        ]
    for bucket in grants.kv_buckets:
        kv_stream = f"KV_{bucket}"
        publish += [
            *(f"{api}.STREAM.{op}.{kv_stream}" for op in ("INFO", "CREATE", "UPDATE", "MSG.GET")),
            f"{api}.DIRECT.GET.{kv_stream}.>",
            f"$KV.{bucket}.>",  # puts and deletes
        ]
    return {
        "publish": {"allow": publish} if publish else {"deny": [">"]},
        "subscribe": {"allow": subscribe} if subscribe else {"deny": [">"]},
    }


def nats_authorization(passwords: Mapping[str, str], stream: str = STREAM, indent: str = "") -> str:
    """The `authorization` block of nats.conf: one user per service, password as given.

    A password is written as is, so `$PT_NATS_GATEWAY_PASSWORD` stays a reference to the
    environment (compose) while a generated one is quoted by the caller (`make up`)."""
    lines = [f"{indent}authorization {{", f"{indent}  users: ["]
    for name in SERVICES:
        permissions = json.dumps(nats_permissions(GRANTS[name], stream))
        lines.append(f"{indent}    {{user: {name}, password: {passwords[name]}, permissions: {permissions}}}")
    lines += [f"{indent}  ]", f"{indent}}}"]
    return "\n".join(lines) + "\n"


# ---- S3 ---------------------------------------------------------------------------------------

# SeaweedFS's identity actions (-s3.config): coarser than S3's (a delete is a Write there, and
# creating a bucket, even one that exists, which the gateway asks at every start, needs Admin on it).
_SEAWEED_ACTIONS = {
    READ: ("Read",),
    WRITE: ("Write",),
    DELETE: ("Write",),
    TAG: ("Tagging",),
    LIST: ("List", "Read"),
    LIFECYCLE: ("Read", "Write", "Admin"),
}


def seaweedfs_actions(grants: ServiceGrants, buckets: BucketNames) -> list[str]:
    """`Action:bucket` entries; a bucket name may be a pattern (`*-originals`) for the test suite."""
    actions: set[str] = set()
    for role, capabilities in grants.buckets.items():
        bucket = getattr(buckets, role)
        for capability in capabilities:
            for action in _SEAWEED_ACTIONS[capability]:
                actions.update({f"{action}:{bucket}", f"{action}:{bucket}/*"})
    return sorted(actions)


def seaweedfs_identity(name: str, access_key: str, secret_key: str, actions: Iterable[str]) -> dict[str, Any]:
    return {
        "name": name,
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": list(actions),
    }


_MINIO_OBJECT_ACTIONS = {
    READ: ("s3:GetObject",),
    WRITE: ("s3:PutObject",),
    DELETE: ("s3:DeleteObject",),
    TAG: ("s3:GetObjectTagging", "s3:PutObjectTagging", "s3:DeleteObjectTagging"),
    LIST: ("s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"),
}
_MINIO_BUCKET_ACTIONS = {
    LIST: ("s3:ListBucket", "s3:ListBucketMultipartUploads"),
    LIFECYCLE: (
        "s3:CreateBucket",
        "s3:GetBucketLocation",
        "s3:GetLifecycleConfiguration",
        "s3:PutLifecycleConfiguration",
    ),
}


def minio_policy(grants: ServiceGrants, buckets: Mapping[str, str]) -> dict[str, Any]:
    """An IAM policy document for MinIO; `buckets` maps a role to its name (or a shell variable)."""
    statements = []
    for table, suffix in ((_MINIO_BUCKET_ACTIONS, ""), (_MINIO_OBJECT_ACTIONS, "/*")):
        by_actions: dict[tuple[str, ...], list[str]] = {}
        for role in BUCKET_ROLES:
            capabilities = grants.buckets.get(role, frozenset())
            actions = tuple(a for c in sorted(capabilities) for a in table.get(c, ()))
            if actions:
                by_actions.setdefault(actions, []).append(f"arn:aws:s3:::{buckets[role]}{suffix}")
        for actions, resources in by_actions.items():
            statements.append({"Effect": "Allow", "Action": list(actions), "Resource": resources})
    return {"Version": "2012-10-17", "Statement": statements}


# ---- the compose stack's files ----------------------------------------------------------------

REPO = Path(__file__).resolve().parents[4]
NATS_CONF = Path("infra/nats/nats.conf")
MINIO_INIT = Path("infra/minio/init.sh")
BEGIN = "# BEGIN generated by `python -m picturetime_common.permissions --write`: edit the table there"
END = "# END generated"
SHELL_BUCKETS = {role: f"${role.upper()}" for role in BUCKET_ROLES}


def compose_nats_block() -> str:
    passwords = {name: f"$PT_NATS_{name.upper()}_PASSWORD" for name in SERVICES}
    return nats_authorization(passwords)


def compose_minio_block() -> str:
    lines = []
    for name in SERVICES:
        document = json.dumps(minio_policy(GRANTS[name], SHELL_BUCKETS), indent=2)
        lines += [f'cat >"$POLICY_DIR/pt-{name}.json" <<JSON', document, "JSON"]
    return "\n".join(lines) + "\n"


def generated_block(text: str) -> str:
    match = re.search(f"^{re.escape(BEGIN)}\n(.*?)^{re.escape(END)}$", text, re.MULTILINE | re.DOTALL)
    if match is None:
        raise ValueError("no generated block")
    return match.group(1)


def replace_block(text: str, block: str) -> str:
    start = text.index(BEGIN + "\n") + len(BEGIN) + 1
    end = text.index(END, start)
    return text[:start] + block + text[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the permission blocks of the compose stack's files")
    parser.add_argument(
        "--write", action="store_true", help="rewrite infra/nats/nats.conf and infra/minio/init.sh"
    )
    parser.add_argument("--root", type=Path, default=REPO)
    args = parser.parse_args(argv)
    stale = []
    for path, block in ((NATS_CONF, compose_nats_block()), (MINIO_INIT, compose_minio_block())):
        file = args.root / path
        text = file.read_text()
        if generated_block(text) != block:
            stale.append(str(path))
            if args.write:
                file.write_text(replace_block(text, block))
    if stale and not args.write:
        print(f"out of date: {', '.join(stale)} (run with --write)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
