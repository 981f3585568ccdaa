"""Operations: connects the metrics' signal receivers in every process that sets Django up (web
processes, Celery workers, management commands)."""

from __future__ import annotations

from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "config"
    label = "operations"
    verbose_name = "Operations (health, metrics, logs)"

    def ready(self) -> None:
        from celery import signals as celery_signals
        from django.conf import settings
        from django.core.signals import request_finished

        from config import metrics
        from datasets.signals import version_status_changed

        request_finished.connect(metrics.request_done, dispatch_uid="metrics.request_done")
        celery_signals.task_prerun.connect(metrics.task_started, dispatch_uid="metrics.task_started")
        celery_signals.task_postrun.connect(metrics.task_finished, dispatch_uid="metrics.task_finished")
        celery_signals.task_failure.connect(metrics.task_failed, dispatch_uid="metrics.task_failed")
        celery_signals.worker_init.connect(metrics.worker_serve, dispatch_uid="metrics.worker_serve")
        version_status_changed.connect(
            metrics.version_status_changed, weak=False, dispatch_uid="metrics.version_status_changed"
        )
        if settings.GRANARY_LOG_FORMAT == "json":
            celery_signals.after_setup_logger.connect(_json_worker_logs, dispatch_uid="logs.json")


def _json_worker_logs(logger: object, **kwargs: object) -> None:
    """Celery's worker installs its own handler on the root logger (after Django configured
    logging): give it the JSON formatter and the request-id filter too."""
    from config.logs import JsonFormatter, RequestIdFilter

    for handler in getattr(logger, "handlers", []):
        handler.setFormatter(JsonFormatter())
        handler.addFilter(RequestIdFilter())
