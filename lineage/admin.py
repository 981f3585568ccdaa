from django.contrib import admin
from django.http import HttpRequest

from lineage.models import ExternalDataset, Job, Run, RunDataset


@admin.register(ExternalDataset)
class ExternalDatasetAdmin(admin.ModelAdmin):
    list_display = ["namespace", "name", "dataset", "created_at"]
    search_fields = ["namespace", "name"]
    raw_id_fields = ["dataset"]


class RunDatasetInline(admin.TabularInline):
    model = RunDataset
    fields = ("role", "namespace", "name", "dataset", "version", "external")
    readonly_fields = ("role", "namespace", "name", "dataset", "version", "external")
    extra = 0
    can_delete = False


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    """Runs are what pipelines reported: readable here, not editable, but for the team that owns
    one (who may report events for it besides its reporter)."""

    list_display = ["job", "run_id", "state", "started_at", "ended_at", "team", "created_by"]
    list_filter = ["state", "team"]
    search_fields = ["run_id", "job__name"]
    readonly_fields = [
        "job",
        "run_id",
        "state",
        "state_time",
        "started_at",
        "ended_at",
        "error_message",
        "created_by",
    ]
    inlines = [RunDatasetInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    """A job's team decides who may report its runs; an operator may hand it to another team here."""

    list_display = ["namespace", "name", "team", "created_by", "updated_at"]
    list_filter = ["team"]
    search_fields = ["namespace", "name"]
    raw_id_fields = ["created_by"]
