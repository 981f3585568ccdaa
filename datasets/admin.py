from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from datasets.models import Blob, Dataset, Tag, Version


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["slug", "title", "team", "visibility", "status", "updated_at"]
    list_filter = ["visibility", "status", "team"]
    search_fields = ["slug", "title", "summary"]


@admin.register(Version)
class VersionAdmin(admin.ModelAdmin):
    """Read-only: a version's bytes and metadata never change once published."""

    list_display = ["dataset", "number", "status", "format", "row_count", "size", "created_at"]
    list_filter = ["status", "format"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Blob)
class BlobAdmin(VersionAdmin):
    list_display = ["sha256", "size", "created_at"]
    list_filter = []


admin.site.register(Tag)
