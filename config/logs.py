"""Log records carry the request (or task) they belong to; GRANARY_LOG_FORMAT=json prints them as JSON."""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

# Set by config.metrics.RequestMiddleware for a request and by the task signals for a task; a
# ContextVar, so each gunicorn thread (gthread workers) keeps its own.
request_id: ContextVar[str] = ContextVar("granary_request_id", default="")


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record: the X-Request-ID of the request or the Celery task id."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", ""):
            record.request_id = request_id.get()
        return True


class JsonFormatter(_JsonFormatter):
    """One JSON object a line: timestamp, level, logger, message, request_id, plus any `extra`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", ["levelname", "name", "message", "request_id"])
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", True)
        # Django attaches the request object to its error records: not JSON, and not for a log line.
        kwargs.setdefault("reserved_attrs", [*RESERVED_ATTRS, "taskName", "request", "server_time"])
        super().__init__(*args, **kwargs)
