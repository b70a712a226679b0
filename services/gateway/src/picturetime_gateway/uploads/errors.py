"""Why an upload was refused: a machine code, a sentence for people, and the HTTP status."""

from __future__ import annotations


class RejectedUpload(ValueError):
    def __init__(self, code: str, detail: str, status: int = 415) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.status = status
