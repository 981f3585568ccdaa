"""Expectation suites (one revision per edit) and the validation runs of versions against them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse

from datasets.models import Dataset, Version

# The portal's page for one run; catalog/urls.py registers its view under this name.
VALIDATION_REPORT_PAGE = "validation-report"


class SuiteRevision(models.Model):
    """One revision of a dataset's expectation suite: GX expectation configurations, kept forever.

    The dataset's current suite is its newest revision; every edit adds one.
    """

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="suite_revisions")
    number = models.PositiveIntegerField()
    expectations = models.JSONField(default=list, help_text="[{type, kwargs, meta}] as in GX suite JSON")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "datasets_suiterevision"
        ordering = ["dataset", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "number"], name="suite_revision_unique_number")
        ]

    def __str__(self) -> str:
        return f"{self.dataset.slug} suite r{self.number}"


class ValidationRun(models.Model):
    """One run of a suite revision against a version, by a worker."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        PASSED = "passed"
        FAILED = "failed"
        ERROR = "error"

    TERMINAL = (Status.PASSED, Status.FAILED, Status.ERROR)

    version = models.ForeignKey(Version, on_delete=models.CASCADE, related_name="validation_runs")
    revision = models.ForeignKey(SuiteRevision, on_delete=models.PROTECT, related_name="runs")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(max_length=32, blank=True, help_text="ingest, suite change, on demand")
    error = models.TextField(blank=True)
    results = models.JSONField(default=list, blank=True)
    evaluated = models.PositiveIntegerField(default=0)
    successful = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # Delivery (core.leases, runs_requeue): when its task last reached the broker, and the worker
    # holding it while it runs.
    sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    lease_owner = models.CharField(max_length=32, blank=True, default="", editable=False)

    class Meta:
        db_table = "datasets_validationrun"
        ordering = ["-queued_at", "-pk"]
        indexes = [
            models.Index(fields=["version", "revision", "-queued_at"], name="run_latest_idx"),
            # The sweeper's due query (runs_requeue, every minute): the few unfinished runs
            # among all that ever ran.
            models.Index(fields=["status", "queued_at"], name="run_status_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "passed", "failed", "error"]),
                name="run_status_valid",
            )
        ]

    def __str__(self) -> str:
        return f"run {self.pk} of {self.version} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse(VALIDATION_REPORT_PAGE, args=[self.version.dataset.slug, self.version.number, self.pk])

    @property
    def seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None
