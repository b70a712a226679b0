"""The gateway's browser session as every service sees it: the cookie's name and how its token is
stored (only a hash; the gateway writes sessions, the archive reads them to know who is looking)."""

from __future__ import annotations

import hashlib

SESSION_COOKIE = "pt_session"


def token_hash(token: str) -> str:
    """What the catalog keeps of a secret token (a session's, an API key's): its hex SHA-256.

    The tokens are 256-bit random strings, so a plain hash is a safe and fast verifier."""
    return hashlib.sha256(token.encode()).hexdigest()
