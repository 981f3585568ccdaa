"""Prometheus metrics: what is measured, the middleware and signal receivers that measure it, and
the `/metrics` view that exposes it.

Several gunicorn workers and Celery's prefork children each count in their own process, so with
PROMETHEUS_MULTIPROC_DIR set (deploy/, README "Deployment") every process writes its samples to
files in that directory and a scrape adds them up; without it (tests, `manage.py runserver`) the
process's own registry is the whole truth. Queue lengths are read from Redis at scrape time.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextvars import ContextVar, Token
from typing import Any

import redis
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from config.logs import request_id

logger = logging.getLogger(__name__)

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # Each metric opens its file there as it is created, below: a missing directory would stop
    # every process from starting (a management command run before gunicorn made it, say).
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

REQUEST_SECONDS = Histogram(
    "granary_http_request_duration_seconds",
    "Time from a request reaching Django to its response (a streamed download: to its first byte).",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
TASK_SECONDS = Histogram(
    "granary_task_duration_seconds",
    "Run time of a Celery task, by task and final state (SUCCESS, FAILURE, RETRY).",
    ["task", "state"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 14400),
)
TASK_FAILURES = Counter("granary_task_failures", "Celery tasks that raised, by task.", ["task"])
INGEST_BYTES = Counter(
    "granary_ingest_bytes", "Bytes of versions whose ingest ended, by outcome.", ["status"]
)
INGEST_SECONDS = Histogram(
    "granary_ingest_duration_seconds",
    "Time one ingest took, from its task starting to the version's final state.",
    buckets=(0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 14400),
)
INGEST_RATE = Histogram(
    "granary_ingest_bytes_per_second",
    "Throughput of each ready version's ingest: its size over its ingest time.",
    buckets=(1e5, 1e6, 1e7, 3e7, 1e8, 3e8, 1e9, 3e9),
)
STORAGE_ERRORS = Counter(
    "granary_storage_errors",
    "Blob storage failures that reached a request or a task: `unavailable` (storage did not "
    "answer: a 503), `full` (no space left: a 507), `damaged` (a blob missing or corrupt).",
    ["kind"],
)

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


# --- requests ------------------------------------------------------------------------------------
class RequestMiddleware:
    """First in MIDDLEWARE: names the request (X-Request-ID, kept from a proxy if well-formed) for
    the logs, and times it by route pattern, never the raw path, so a scan of random addresses
    cannot add a series per address."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.META.get("HTTP_X_REQUEST_ID", "")
        rid = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        # Kept until `request_finished` (request_done), so Django's own "Not Found" or "Internal
        # Server Error" line, written after the middleware returns, carries it too.
        request_id.set(rid)
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = (match.route or match.view_name) if match is not None else "<unmatched>"
        method = request.method if request.method in METHODS else "other"
        REQUEST_SECONDS.labels(route=route, method=method, status=f"{response.status_code // 100}xx").observe(
            time.perf_counter() - started
        )
        # The API answers domain errors itself (their code is in the response's data); the portal's
        # are seen on their way by config.health.UnavailableMiddleware.
        data = getattr(response, "data", None)
        code = data.get("code", "") if isinstance(data, dict) else getattr(request, "granary_error_code", "")
        kind = STORAGE_ERROR_KINDS.get(str(code), "")
        if kind:
            STORAGE_ERRORS.labels(kind=kind).inc()
        if response.status_code == 503 and not response.has_header("Retry-After"):
            response["Retry-After"] = "5"  # every 503 is temporary: say when to come back
        response["X-Request-ID"] = rid
        return response


def request_done(**kwargs: Any) -> None:
    request_id.set("")


# --- tasks (connected by config.apps in every process, workers included) ------------------------
_task_started: ContextVar[float] = ContextVar("granary_task_started", default=0.0)
_running: dict[str, tuple[float, Token[str]]] = {}


def task_started(*, task_id: str, **kwargs: Any) -> None:
    now = time.perf_counter()
    _running[task_id] = (now, request_id.set(task_id))
    _task_started.set(now)


def task_finished(*, task_id: str, task: Any, state: str | None = None, **kwargs: Any) -> None:
    entry = _running.pop(task_id, None)
    if entry is None:
        return
    started, token = entry
    TASK_SECONDS.labels(task=task.name, state=state or "UNKNOWN").observe(time.perf_counter() - started)
    request_id.reset(token)
    _task_started.set(0.0)


def task_failed(*, sender: Any = None, exception: BaseException | None = None, **kwargs: Any) -> None:
    TASK_FAILURES.labels(task=getattr(sender, "name", "unknown")).inc()
    kind = storage_error_kind(exception)
    if kind:
        STORAGE_ERRORS.labels(kind=kind).inc()


def version_status_changed(*, version: Any, **kwargs: Any) -> None:
    """Ingest ended (ready or failed): count its bytes, and a ready one's throughput, once the end
    commits (it is announced inside its transaction, which may yet roll back and be retried)."""
    status = str(version.status)
    if status not in {"ready", "failed"}:
        return
    started = _task_started.get()
    if started:
        seconds = time.perf_counter() - started
    else:  # ingested outside a task (inline): from upload to the final state, queue wait included
        seconds = (version.status_changed_at - version.created_at).total_seconds()

    def count() -> None:
        INGEST_BYTES.labels(status=status).inc(version.size)
        if status == "ready" and seconds > 0:
            INGEST_SECONDS.observe(seconds)
            INGEST_RATE.observe(version.size / seconds)

    transaction.on_commit(count)


# The codes of the storage errors (datasets.storage.StorageUnavailable, core.errors'
# InsufficientStorage and BlobDamaged), as the API answers them.
STORAGE_ERROR_KINDS = {
    "storage_unavailable": "unavailable",
    "insufficient_storage": "full",
    "blob_corrupt": "damaged",
    "blob_missing": "damaged",
}


def storage_error_kind(exception: BaseException | None) -> str:
    """The kind of storage error `exception` is (`unavailable`, `full`, `damaged`), or empty."""
    if isinstance(exception, OSError) and exception.errno == 28:  # ENOSPC, before it was mapped
        return "full"
    return STORAGE_ERROR_KINDS.get(str(getattr(exception, "code", "")), "")


def worker_serve(**kwargs: Any) -> None:
    """`worker_init`: a worker with GRANARY_METRICS_PORT serves its own /metrics (a worker on its
    own machine); without it, its samples go to PROMETHEUS_MULTIPROC_DIR for the web's /metrics."""
    port = int(os.environ.get("GRANARY_METRICS_PORT", "0") or 0)
    if not port:
        return
    registry = CollectorRegistry()
    if multiprocess_dir():
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Forward(REGISTRY))
    registry.register(QueueCollector())
    address = os.environ.get("GRANARY_METRICS_ADDRESS", "127.0.0.1")
    start_http_server(port, addr=address, registry=registry)
    logger.info("Serving metrics on %s:%s", address, port)


# --- queues, read at scrape time -----------------------------------------------------------------
def queue_names() -> list[str]:
    from config.celery import app

    queues = app.conf.task_queues
    names = [queue.name for queue in queues] if queues else []
    return sorted(set(names) | {app.conf.task_default_queue})


class QueueCollector(Collector):
    """LLEN of each Celery queue (with its priority sub-queues) and the number of messages taken
    but not yet acknowledged, from the broker, with a half-second timeout so a dead Redis makes
    the scrape say `granary_broker_up 0` rather than hang."""

    PRIORITY_SEP = "\x06\x16"  # kombu's Redis transport: `<queue>\x06\x16<priority>`
    PRIORITIES = (0, 3, 6, 9)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("granary_broker_up", "1 if the broker answered this scrape.")
        lengths = GaugeMetricFamily(
            "granary_celery_queue_length", "Messages waiting in each Celery queue.", labels=["queue"]
        )
        unacked = GaugeMetricFamily(
            "granary_celery_unacked", "Messages a worker has taken and not yet acknowledged."
        )
        names = queue_names()
        try:
            client = redis.Redis.from_url(
                settings.CELERY_BROKER_URL, socket_connect_timeout=0.5, socket_timeout=0.5
            )
            with client.pipeline(transaction=False) as pipe:
                for name in names:
                    for priority in self.PRIORITIES:
                        pipe.llen(f"{name}{self.PRIORITY_SEP}{priority}" if priority else name)
                pipe.hlen("unacked")
                counts = pipe.execute()
            client.close()
        except (redis.RedisError, OSError):
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        step = len(self.PRIORITIES)
        for index, name in enumerate(names):
            lengths.add_metric([name], sum(counts[index * step : (index + 1) * step]))
        unacked.add_metric([], counts[-1])
        yield from (up, lengths, unacked)


class _Forward(Collector):
    """Another registry's metrics, so one scrape registry can add the queue collector to them."""

    def __init__(self, source: CollectorRegistry) -> None:
        self.source = source

    def collect(self) -> Iterator[Any]:
        yield from self.source.collect()


def scrape() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Forward(REGISTRY))
    registry.register(QueueCollector())
    return generate_latest(registry)


# --- the view ------------------------------------------------------------------------------------
@login_not_required
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format, for a scraper holding GRANARY_METRICS_TOKEN as a Bearer token; 404
    when no token is configured (metrics off), 403 for any other caller."""
    expected: str = settings.GRANARY_METRICS_TOKEN
    if not expected:
        return HttpResponse("Not found.", status=404, content_type="text/plain; charset=utf-8")
    given = request.META.get("HTTP_AUTHORIZATION", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
        return HttpResponse(
            "Send the metrics token: Authorization: Bearer <GRANARY_METRICS_TOKEN>.",
            status=403,
            content_type="text/plain; charset=utf-8",
        )
    response = HttpResponse(scrape(), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
