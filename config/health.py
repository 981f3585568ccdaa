"""Is this process up (`/healthz`), can it serve (`/readyz`), and a clean 503 when the database
drops out mid-request (storage errors are domain errors, answered where the others are)."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

import redis
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core.database import transient

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5  # a PostgreSQL restart or a failover takes about that
# A digest no content has in practice: asking storage whether it exists costs one HEAD (or stat).
SENTINEL_SHA256 = "0" * 64


@login_not_required
@require_GET
@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    """The process answers: touches nothing, so a load balancer's liveness probe stays cheap."""
    return JsonResponse({"status": "ok"})


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _redis() -> None:
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    finally:
        client.close()


def _storage() -> None:
    from datasets import storage

    # Storage answered if it says there is no such blob.
    with contextlib.suppress(FileNotFoundError):
        storage.backend().source(storage.blob_key(SENTINEL_SHA256))


CHECKS: dict[str, Callable[[], None]] = {"database": _database, "redis": _redis, "storage": _storage}


@login_not_required
@require_GET
@never_cache
def readyz(request: HttpRequest) -> HttpResponse:
    """Each dependency once, in order, with its latency; 503 naming the ones that failed. Errors
    are reported by type only: their messages can hold host names, buckets or credentials."""
    checks: dict[str, dict[str, Any]] = {}
    failed: list[str] = []
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            check()
        except Exception as exc:  # any failure means not ready; which one is reported below
            checks[name] = {"ok": False, "error": type(exc).__name__}
            failed.append(name)
            if name == "database":
                connection.close_if_unusable_or_obsolete()
        else:
            checks[name] = {"ok": True}
        checks[name]["seconds"] = round(time.perf_counter() - started, 4)
    body = {"status": "unavailable" if failed else "ready", "failed": failed, "checks": checks}
    response = JsonResponse(body, status=503 if failed else 200)
    if failed:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


# --- a dependency lost mid-request ---------------------------------------------------------------
def unavailable_reason(exception: BaseException | None) -> tuple[str, str] | None:
    """(code, message) if `exception` means the database is down for now rather than a bug."""
    if exception is not None and transient(exception):
        return "database_unavailable", "The database is not answering (restarting?): nothing was saved."
    return None


def unavailable_response(request: HttpRequest, code: str, detail: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse({"code": code, "detail": detail}, status=503)
    else:
        response = HttpResponse(render_to_string("unavailable.html", {"detail": detail}), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


class UnavailableMiddleware:
    """A view that lost the database or storage answers 503 with Retry-After, not a 500 with a
    traceback. The transaction it was in has rolled back (the connection is gone), and Django
    closes the broken connection when the request ends, so the next request connects afresh."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        # Domain errors (storage unavailable or full among them) are the portal's to render, a
        # step further out: note their code for the metrics on the way.
        request.granary_error_code = getattr(exception, "code", "")  # type: ignore[attr-defined]
        reason = unavailable_reason(exception)
        if reason is None:
            return None
        code, detail = reason
        logger.warning("%s %s: %s (%s)", request.method, request.path, code, type(exception).__name__)
        return unavailable_response(request, code, detail)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500, for what fails outside a view (a middleware reading the session when the
    database drops): Django calls it while handling the exception, so sys.exc_info() holds it."""
    reason = unavailable_reason(sys.exc_info()[1])
    if reason is not None:
        return unavailable_response(request, *reason)
    if request.path.startswith("/api/"):
        body = {"code": "server_error", "detail": "Something went wrong on the server: it has been logged."}
        return JsonResponse(body, status=500)
    return defaults.server_error(request)
