"""A database that is away for a moment (restarting, failing over, out of connections, locked)
against a statement it refuses (a value too long, a limit passed): the first is worth answering
503 and retrying, the second fails the same way every time, and retrying it kept a version
`processing` for ever."""

from __future__ import annotations

from django.db import DatabaseError, InterfaceError, OperationalError

# SQLSTATE classes of a database that may answer otherwise in a moment: connection exceptions,
# insufficient resources, operator intervention (a shutdown), system errors (I/O).
TRANSIENT_CLASSES = ("08", "53", "57", "58")
# Serialization failure, deadlock, lock not available, object in use.
TRANSIENT_CODES = ("40001", "40P01", "55P03", "55006")
# SQLite's result codes for the same (extended codes start with these: SQLITE_IOERR_WRITE).
SQLITE_TRANSIENT = (
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_FULL",
    "SQLITE_IOERR",
    "SQLITE_CANTOPEN",
    "SQLITE_NOMEM",
)


def transient(exc: BaseException) -> bool:
    """Whether a database error may go away by itself (see the module's docstring)."""
    if not isinstance(exc, DatabaseError):
        return False
    if isinstance(exc, InterfaceError):  # the connection is gone
        return True
    cause = exc.__cause__  # the driver's error, which Django's wraps
    sqlstate = getattr(cause, "sqlstate", None)
    if sqlstate:
        return sqlstate[:2] in TRANSIENT_CLASSES or sqlstate in TRANSIENT_CODES
    name = getattr(cause, "sqlite_errorname", None)
    if name:
        return str(name).startswith(SQLITE_TRANSIENT)
    # No code: psycopg's lost connection ("server closed the connection unexpectedly") has none.
    return isinstance(exc, OperationalError)
