"""What a failed gateway call raises: the gateway's own `{"error", "detail"}` answer, or no answer."""

from __future__ import annotations

import httpx

from picturetime_client.retry import RetryPolicy


class GatewayError(Exception):
    """A failed gateway call: HTTP status (0 when there was no answer), error code and a sentence."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{detail} ({code}, HTTP {status})" if status else f"{detail} ({code})")
        self.status = status
        self.code = code
        self.detail = detail

    @property
    def fatal(self) -> bool:
        """A bad or underprivileged key: nothing else will succeed either."""
        return self.status in (401, 403)

    @property
    def unreachable(self) -> bool:
        """No answer at all, after every retry."""
        return False

    @property
    def transient(self) -> bool:
        """A failure that may pass: no answer, or an answer that says "later" (429, 503...)."""
        return self.unreachable or RetryPolicy.retries_status(self.status)

    @classmethod
    def from_response(cls, response: httpx.Response) -> GatewayError:
        """The error a non-2xx answer stands for, whether its body is the gateway's JSON or not."""
        code, detail = f"http_{response.status_code}", ""
        try:
            body = response.json()
        except ValueError:
            detail = response.text.strip()[:200]
        else:
            if isinstance(body, dict):
                code = str(body.get("error") or code)
                detail = str(body.get("detail") or "")
        if not detail:
            request = response.request
            detail = f"{request.method} {request.url.path} failed with HTTP {response.status_code}"
        return cls(response.status_code, code, detail)


class GatewayUnreachable(GatewayError):
    """The gateway could not be reached, or stopped answering mid-request."""

    def __init__(self, base_url: str, reason: str) -> None:
        super().__init__(0, "connection_error", f"cannot reach the gateway at {base_url}: {reason}")
        self.base_url = base_url
        self.reason = reason

    @property
    def unreachable(self) -> bool:
        return True

    @classmethod
    def from_transport(cls, base_url: str, exc: httpx.TransportError) -> GatewayUnreachable:
        """`ConnectError: [Errno 111] Connection refused`: the kind of failure, then its words."""
        return cls(base_url, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
