"""A database that is away for a moment (restarting, failing over, out of connections, locked)
against a statement it refuses (a value too long, a limit passed): the first is worth answering
503 and retrying, the second fails the same way every time, and retrying it kept a version
`processing` for ever."""

from __future__ import annotations

from django.db import DatabaseError, InterfaceError, OperationalError

# Either may reach a caller: Django's InterfaceError is not a DatabaseError.
DATABASE_ERRORS = (DatabaseError, InterfaceError)

# SQLSTATE classes of a database that may answer otherwise in a moment: connection exceptions,
# insufficient resources, operator intervention (a shutdown), system errors (I/O).
TRANSIENT_CLASSES = ("08", "53", "57", "58")
# Serialization failure, deadlock, lock not available, object in use, and a write to a server
# that is read-only for now (a demoted primary, a standby, during a failover).
TRANSIENT_CODES = ("40001", "40P01", "55P03", "55006", "25006")
# Of class 57, the statement timeout (query_canceled): the same statement times out again.
RECURRING_CODES = ("57014",)
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
    # Django's InterfaceError (a connection already closed) is no DatabaseError: checked first.
    if isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, DatabaseError):
        return False
    cause = exc.__cause__  # the driver's error, which Django's wraps
    sqlstate = getattr(cause, "sqlstate", None)
    if sqlstate:
        if sqlstate in RECURRING_CODES:
            return False
        return sqlstate[:2] in TRANSIENT_CLASSES or sqlstate in TRANSIENT_CODES
    name = getattr(cause, "sqlite_errorname", None)
    if name:
        return str(name).startswith(SQLITE_TRANSIENT)
    # No code: psycopg's lost connection ("server closed the connection unexpectedly") has none.
    return isinstance(exc, OperationalError)
