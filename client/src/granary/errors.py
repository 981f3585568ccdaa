"""What can go wrong talking to Granary, each with the CLI's exit code for it."""

from __future__ import annotations

from typing import Any


class GranaryError(Exception):
    """Base of the client's errors. `detail` is the server's (or our) human message."""

    exit_code = 1

    def __init__(self, detail: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.code = code


class ConfigError(GranaryError):
    """No server URL or token, or a bad configuration file."""

    exit_code = 2


class NotFound(GranaryError):
    """No such dataset, version, alias or checkout (404), or a local file that is missing."""

    exit_code = 3


class AuthError(GranaryError):
    """Not signed in, a bad token (401), or not allowed (403)."""

    exit_code = 4


class IntegrityError(GranaryError):
    """Bytes whose sha256 is not the one they should have: a download, a cached or a local file."""

    exit_code = 5


class Conflict(GranaryError):
    """The server refused because of the state of things (409): a version still processing, a
    version that failed, the same bytes uploaded twice."""

    exit_code = 6


class TransferError(GranaryError):
    """The network failed, and retrying with resume did not help."""

    exit_code = 7


def error_from_response(status: int, body: Any, fallback: str) -> GranaryError:
    """The error for an HTTP error answer, with the server's `{"code", "detail"}` when it sent one."""
    detail, code = fallback, None
    if isinstance(body, dict):
        detail = str(body.get("detail") or fallback)
        code = body.get("code")
    kind: type[GranaryError] = GranaryError
    if status in (401, 403):
        kind = AuthError
    elif status == 404:
        kind = NotFound
    elif status == 409:
        kind = Conflict
    return kind(detail, status=status, code=code)
