"""Recording who pulled which version's data: each download and export lands in the audit log."""

from __future__ import annotations

from typing import Any

from audit.services import audit_record
from datasets.models import Version


def version_download_record(
    *, user: Any, version: Version, format: str, columns: list[str] | None, status: int, range: str = ""
) -> None:
    """A download (the stored file, or a part of it) or an export that was answered."""
    action = "version.download" if format in ("original", "parquet") and not columns else "version.export"
    detail: dict[str, Any] = {"format": format, "status": status}
    if columns:
        detail["columns"] = columns
    if range:
        detail["range"] = range[:100]
    audit_record(action=action, actor=user, version=version, detail=detail)
