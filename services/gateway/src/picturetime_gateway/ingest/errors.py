"""Why an upload was refused: a machine code, a sentence for people, and the HTTP status."""

from __future__ import annotations

from typing import Any

from picturetime_gateway.errors import GatewayError


class RejectedUpload(GatewayError):
    """Nothing of the refused upload is kept: no object, no row, no event."""

    def __init__(self, code: str, detail: str, status: int = 415) -> None:
        super().__init__(status, code, detail)


# The refusals of the upload forms, by status, for the API's documentation.
UPLOAD_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "checksum mismatch, bad file name, malformed form"},
    401: {"description": "no or unknown API key"},
    403: {"description": "the key lacks the upload scope, or the CSRF header is missing"},
    409: {"description": "a RAW file without its photo, or a photo with a different RAW"},
    413: {"description": "file or pixel count over the limit"},
    415: {"description": "not an accepted image type, or a name that contradicts the bytes"},
    422: {"description": "empty, corrupt or truncated image, broken EXIF"},
}
