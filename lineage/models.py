"""Lineage reported by OpenLineage: jobs, their runs, the events received, and the datasets each
run read and wrote (Granary versions or external datasets). Lineage an uploader declares lives on
the version itself (`Version.derived_from`)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from accounts.models import Team
from datasets.models import Dataset, Version

# The portal's page for one run; catalog/urls.py registers its view under this name.
RUN_PAGE = "run-detail"


class ExternalDataset(models.Model):
    """A dataset outside Granary, as OpenLineage names it: a namespace and a name.

    Linking one to a Granary dataset is the explicit mapping of an external name
    (`postgres://db:5432` + `public.users`): events naming it then count as that dataset.
    """

    namespace = models.CharField(max_length=1000)
    name = models.CharField(max_length=1000)
    dataset = models.ForeignKey(
        Dataset, on_delete=models.SET_NULL, null=True, blank=True, related_name="external_names"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "catalog_externaldataset"
        ordering = ["namespace", "name"]
        constraints = [
            models.UniqueConstraint(fields=["namespace", "name"], name="external_dataset_unique_name"),
        ]

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


class Job(models.Model):
    """A job that OpenLineage events report on (an Airflow task, a dbt model, a Spark app…)."""

    namespace = models.CharField(max_length=1000)
    name = models.CharField(max_length=1000)
    code_url = models.CharField(max_length=1000, blank=True, help_text="From its sourceCodeLocation facet")
    description = models.TextField(blank=True, help_text="From its documentation facet")
    # Who reported it first owns it: lineage.services decides who else may report its runs.
    team = models.ForeignKey(
        Team,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The team it belongs to; none: its reporter alone",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "catalog_job"
        ordering = ["namespace", "name"]
        constraints = [models.UniqueConstraint(fields=["namespace", "name"], name="job_unique_name")]

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


class Run(models.Model):
    """One run of a job, with the state its events reported; a COMPLETE run's datasets are lineage."""

    class State(models.TextChoices):
        START = "START"
        RUNNING = "RUNNING"
        COMPLETE = "COMPLETE"
        ABORT = "ABORT"
        FAIL = "FAIL"
        OTHER = "OTHER"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="runs")
    run_id = models.UUIDField(unique=True)
    state = models.CharField(max_length=16, choices=State.choices)
    state_time = models.DateTimeField(help_text="eventTime of the event that set the state")
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    # Who reported it first owns it, as for its job (lineage.services).
    team = models.ForeignKey(
        Team,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The team it belongs to; none: its reporter alone",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "catalog_run"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state__in=["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"]),
                name="run_state_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.job} run {self.run_id}"


class RunEvent(models.Model):
    """An OpenLineage RunEvent as received, stored once: `digest` is the sha256 of its canonical JSON."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="events")
    event_type = models.CharField(max_length=16)
    event_time = models.DateTimeField()
    digest = models.CharField(max_length=64, unique=True)
    payload = models.JSONField()
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "catalog_runevent"
        ordering = ["event_time", "pk"]

    def __str__(self) -> str:
        return f"{self.event_type} of {self.run_id} at {self.event_time:%Y-%m-%d %H:%M:%S}"


class RunDataset(models.Model):
    """A dataset a run read (input) or wrote (output), matched to a Granary version or dataset, or
    else an external dataset. Those of COMPLETE runs are the edges of reported lineage."""

    class Role(models.TextChoices):
        INPUT = "input"
        OUTPUT = "output"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="datasets")
    role = models.CharField(max_length=8, choices=Role.choices)
    namespace = models.CharField(max_length=1000)
    name = models.CharField(max_length=1000)
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    version = models.ForeignKey(Version, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    external = models.ForeignKey(
        ExternalDataset, on_delete=models.PROTECT, null=True, blank=True, related_name="run_datasets"
    )
    schema = models.JSONField(null=True, blank=True, help_text="The schema facet's fields (outputs)")
    column_lineage = models.JSONField(null=True, blank=True, help_text="The columnLineage facet's fields")

    class Meta:
        db_table = "catalog_rundataset"
        ordering = ["run", "role", "namespace", "name"]
        constraints = [
            models.UniqueConstraint(fields=["run", "role", "namespace", "name"], name="run_dataset_unique"),
            models.CheckConstraint(condition=models.Q(role__in=["input", "output"]), name="run_dataset_role"),
            models.CheckConstraint(
                condition=models.Q(dataset__isnull=True) ^ models.Q(external__isnull=True),
                name="run_dataset_granary_or_external",
            ),
            models.CheckConstraint(
                condition=models.Q(version__isnull=True) | models.Q(dataset__isnull=False),
                name="run_dataset_version_has_dataset",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.run_id} {self.role} {self.namespace}/{self.name}"
