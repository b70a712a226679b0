"""Secrets never reach the logs: query values whose names carry a secret are redacted.

Clients put credentials in query strings (`ws.php?…&password=…`, `?api_key=…`, `?pwg_token=…`);
the access log must not keep them, whoever logs the URL."""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"
# A query parameter whose name holds one of these words: its value goes.
_SECRET_VALUE = re.compile(
    r"(?P<name>(?:^|[?&;])[^=&;#\s]*(?:password|passwd|secret|key|token)[^=&;#\s]*=)[^&;#\s]*", re.IGNORECASE
)
ACCESS_LOGGERS = ("uvicorn.access",)


def redact_query(text: str) -> str:
    """The text with the values of secret-named query parameters replaced."""
    if "=" not in text:
        return text
    return _SECRET_VALUE.sub(lambda m: f"{m.group('name')}{REDACTED}", text)


class RedactSecrets(logging.Filter):
    """Rewrites a record's message and string arguments (uvicorn's access log passes the path with
    its query as one argument)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_query(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact_query(a) if isinstance(a, str) else a for a in record.args)
        return True


def install() -> None:
    """Filter the access loggers (once, however many apps are made in this process)."""
    for name in ACCESS_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())
