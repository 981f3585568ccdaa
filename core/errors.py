"""Domain errors raised by services and selectors; the API and the portal turn them into 4xx."""

from __future__ import annotations


class GranaryError(Exception):
    status = 400
    code = "invalid"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class InvalidInput(GranaryError):
    status = 400
    code = "invalid"


class UnsupportedFormat(InvalidInput):
    code = "unsupported_format"


class EmptyUpload(InvalidInput):
    code = "empty_file"


class NotSignedIn(GranaryError):
    status = 401
    code = "not_authenticated"


class AccessDenied(GranaryError):
    status = 403
    code = "permission_denied"


class TokenScopeDenied(AccessDenied):
    """The API token's scope or team limit does not cover the request (its user's rights might)."""

    code = "token_scope"


class NotFound(GranaryError):
    status = 404
    code = "not_found"


class Conflict(GranaryError):
    status = 409
    code = "conflict"


class NotReady(Conflict):
    code = "not_ready"


class LockedOut(GranaryError):
    """Too many failed sign-ins for an account or from an address (accounts' login limits)."""

    status = 429
    code = "locked_out"


class UploadTooLarge(GranaryError):
    status = 413
    code = "too_large"


class InsufficientStorage(GranaryError):
    """The disk (or the blob store) under an upload or a working file is full: nothing the request
    can fix, but an operator can, and a smaller file may still fit."""

    status = 507
    code = "insufficient_storage"


class BlobDamaged(GranaryError):
    """A stored blob is missing or no longer hashes to its sha256 (found by `fsck`, ingest or a
    download): it is not served until it is restored from a good copy."""

    status = 503

    def __init__(self, detail: str, *, damage: str) -> None:
        super().__init__(detail)
        self.code = f"blob_{damage}"  # blob_corrupt, blob_missing
