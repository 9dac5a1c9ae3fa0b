"""Errors as values with stable codes; one middleware renders them (``server.app``)."""

from __future__ import annotations

from typing import Any


class IntakeError(Exception):
    """A client-facing error: a stable ``code``, an HTTP ``status`` and a safe ``message``.

    The message is shown to the client, so it never contains report text or identity.
    """

    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.retry_after = retry_after

    def __init_subclass__(cls, *, status: int | None = None, code: str | None = None, **kw: Any) -> None:
        """``class NotFound(IntakeError, status=404, code="not_found")``: a kind's HTTP status and
        default code, given where the class is named."""
        super().__init_subclass__(**kw)
        if status is not None:
            cls.status = status
        if code is not None:
            cls.code = code

    def to_json(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.code, "message": self.message}}


class ValidationError(IntakeError, status=422, code="invalid"):
    pass


class NotFound(IntakeError, status=404, code="not_found"):
    pass


class Conflict(IntakeError, status=409, code="conflict"):
    pass


class RateLimited(IntakeError, status=429, code="rate_limited"):
    pass


class Unavailable(IntakeError, status=503, code="service_unavailable"):
    """The service cannot do its work now (the database is out of reach): try again shortly."""

    RETRY_AFTER = 5  # seconds: a restarting database is usually back within that

    def __init__(self, message: str = "系统暂时无法处理请求，请稍后再试。") -> None:
        super().__init__(message, retry_after=self.RETRY_AFTER)
