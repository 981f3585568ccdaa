"""Everything the version page shows, assembled from selectors (the template only displays)."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any

from django.urls import reverse

from catalog.presentation.charts import histogram_bars, top_value_bars
from datasets.models import VERSION_DOWNLOAD_API, Version
from datasets.selectors import schema_diff, schema_documented, version_previous


def version_page_context(*, version: Version) -> dict[str, Any]:
    if version.status != Version.Status.READY:
        return {}
    profiles = {column["name"]: column for column in version.profile.get("columns", [])}
    columns = []
    for column in schema_documented(version=version):
        profile = profiles.get(column["name"], {})
        columns.append(
            {
                **column,
                "profile": profile,  # the `number` filter writes it with the precision it has
                "bars": histogram_bars(profile["histogram"]) if "histogram" in profile else [],
                "top": top_value_bars(profile["top"]) if "top" in profile else [],
            }
        )
    previous = version_previous(version=version)
    return {
        "columns": columns,
        "previous": previous,
        "diff": schema_diff(old=previous, new=version) if previous else None,
    }


def version_snippets(*, version: Version, absolute: Callable[[str], str]) -> list[dict[str, str]]:
    """Copyable lines that pull exactly this version: the CLI, the Python client, curl, pandas.

    They name the version by number, which never moves, and show its sha256 to check against.
    """
    if version.status != Version.Status.READY:
        return []
    ref = version.ref
    server = absolute("/").rstrip("/")
    download = absolute(reverse(VERSION_DOWNLOAD_API, args=[version.dataset.slug, version.number]))
    filename = version.download_filename()
    cli = (
        f"granary login {server}\n"
        f"granary pull {ref} -o {shlex.quote(filename)}\n"
        f"granary pull {ref} --format parquet --columns {_columns_hint(version)}"
    )
    client = (
        "from granary import Client\n\n"
        f'client = Client("{server}")  # token: GRANARY_TOKEN or `granary login`\n'
        f'df = client.read("{ref}")  # a pandas DataFrame, from the verified Parquet copy\n'
        f'path = client.download("{ref}", format="original")  # the file as uploaded'
    )
    curl = (
        f'curl -fL -H "Authorization: Bearer $GRANARY_TOKEN" -o {shlex.quote(filename)} \\\n'
        f"  {download}\n"
        f"echo '{version.sha256}  {filename}' | sha256sum -c"
    )
    pandas = (
        "import os\n\nimport pandas as pd\n\n"
        "df = pd.read_parquet(\n"
        f'    "{download}?format=parquet",\n'
        '    storage_options={"Authorization": f"Bearer {os.environ[\'GRANARY_TOKEN\']}"},\n'
        ")"
    )
    return [
        {"id": "cli", "label": "CLI", "code": cli},
        {"id": "python", "label": "Python client", "code": client},
        {"id": "curl", "label": "curl", "code": curl},
        {"id": "pandas", "label": "pandas", "code": pandas},
    ]


def _columns_hint(version: Version) -> str:
    names = [column["name"] for column in version.schema[:2]]
    return shlex.quote(",".join(names)) if names else "a,b"
