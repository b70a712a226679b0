"""The gateway's HTTP API as Picture Time's home-machine programs use it (the sync agent, the backfill job)."""

from picturetime_client.client import CHUNK_SIZE, GatewayClient, Progress
from picturetime_client.errors import GatewayError, GatewayUnreachable
from picturetime_client.retry import BRIEF, NO_RETRY, PATIENT, RetryPolicy
from picturetime_client.schemas import PendingFrame, PendingPage, PublishedTimelapse, UploadResult

__all__ = [
    "BRIEF",
    "CHUNK_SIZE",
    "NO_RETRY",
    "PATIENT",
    "GatewayClient",
    "GatewayError",
    "GatewayUnreachable",
    "PendingFrame",
    "PendingPage",
    "Progress",
    "PublishedTimelapse",
    "RetryPolicy",
    "UploadResult",
]
