"""Everything the version page shows, assembled from selectors (the template only displays)."""

from __future__ import annotations

from typing import Any

from catalog.services.charts import histogram_bars, top_value_bars
from datasets import selectors
from datasets.models import Version


def version_page_context(*, version: Version) -> dict[str, Any]:
    if version.status != Version.Status.READY:
        return {}
    profiles = {column["name"]: column for column in version.profile.get("columns", [])}
    columns = []
    for column in selectors.schema_documented(version=version):
        profile = profiles.get(column["name"], {})
        columns.append(
            {
                **column,
                "profile": _rounded(profile),
                "bars": histogram_bars(profile["histogram"]) if "histogram" in profile else [],
                "top": top_value_bars(profile["top"]) if "top" in profile else [],
            }
        )
    previous = selectors.version_previous(version=version)
    return {
        "columns": columns,
        "preview": version.preview,
        "previous": previous,
        "diff": selectors.schema_diff(old=previous, new=version) if previous else None,
    }


def _rounded(profile: dict[str, Any]) -> dict[str, Any]:
    """The profile with floats cut to six significant digits, for reading (the API keeps all)."""
    shown = dict(profile)
    for key in ("min", "max", "mean", "std"):
        if isinstance(shown.get(key), float):
            shown[key] = float(f"{shown[key]:.6g}")
    if isinstance(shown.get("quantiles"), dict):
        shown["quantiles"] = {
            k: float(f"{v:.6g}") if isinstance(v, float) else v for k, v in shown["quantiles"].items()
        }
    return shown
