"""What Granary reads of an OpenLineage RunEvent, checked field by field against the spec.

https://openlineage.io/spec/2-0-2/OpenLineage.json: a RunEvent has `eventTime`, `producer`,
`schemaURL`, `run` (`runId`, a UUID) and `job` (`namespace`, `name`), an optional `eventType` and
optional `inputs` and `outputs` (each a `namespace` and a `name`); facets are objects. Granary
keeps the datasets' `schema`, `columnLineage` and `version` facets and the job's
`sourceCodeLocation` and `documentation`, so those are checked more closely. A wrong field is an
InvalidInput whose `field` is its path (`inputs[1].name`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.utils.dateparse import parse_datetime

from core.errors import InvalidInput

EVENT_TYPES = ("START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER")
MAX_DATASETS = 1000
MAX_NAME = 1000


@dataclass(frozen=True)
class DatasetRef:
    path: str  # where it sits in the event, for error messages: "inputs[0]"
    namespace: str
    name: str
    version: str = ""  # the `version` facet's datasetVersion
    schema: list[dict[str, Any]] | None = None  # the `schema` facet's fields
    column_lineage: dict[str, Any] | None = None  # the `columnLineage` facet's fields


@dataclass(frozen=True)
class ParsedEvent:
    event_type: str
    event_time: datetime
    run_id: uuid.UUID
    job_namespace: str
    job_name: str
    job_code_url: str = ""
    job_description: str = ""
    error_message: str = ""
    inputs: list[DatasetRef] = field(default_factory=list)
    outputs: list[DatasetRef] = field(default_factory=list)


def openlineage_namespace(request: Any) -> str:
    """Granary's OpenLineage namespace, where a dataset's name is its slug: the setting
    GRANARY_OPENLINEAGE_NAMESPACE, else the site's URL as this request reached it."""
    return settings.GRANARY_OPENLINEAGE_NAMESPACE or f"{request.scheme}://{request.get_host()}"


def _fail(path: str, problem: str) -> InvalidInput:
    return InvalidInput(f"{path}: {problem}", field=path)


def _object(value: Any, path: str, *, required: bool = True) -> dict[str, Any]:
    if value is None and not required:
        return {}
    if value is None:
        raise _fail(path, "this field is required.")
    if not isinstance(value, dict):
        raise _fail(path, f"must be an object, not {_kind(value)}.")
    return value


def _string(parent: dict[str, Any], key: str, path: str, *, required: bool = True) -> str:
    value = parent.get(key)
    where = f"{path}.{key}" if path else key
    if value is None:
        if required:
            raise _fail(where, "this field is required.")
        return ""
    if not isinstance(value, str):
        raise _fail(where, f"must be a string, not {_kind(value)}.")
    if required and not value.strip():
        raise _fail(where, "must not be empty.")
    if len(value) > MAX_NAME:
        raise _fail(where, f"is longer than {MAX_NAME} characters.")
    return value.strip()


def _kind(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "an object",
    }.get(type(value), "null")


def run_event_parse(payload: Any) -> ParsedEvent:
    """The parts of a RunEvent that Granary uses, or an InvalidInput naming the first wrong field."""
    event = _object(payload, "body")
    schema_url = _string(event, "schemaURL", "")
    for other in ("DatasetEvent", "JobEvent"):
        if schema_url.endswith(f"/{other}"):
            raise _fail("schemaURL", f"this is a {other}; Granary accepts RunEvents.")
    _string(event, "producer", "")
    event_time = _time(event)
    event_type = event.get("eventType")
    if event_type in (None, ""):
        event_type = "OTHER"
    if not isinstance(event_type, str) or event_type not in EVENT_TYPES:
        raise _fail("eventType", f"{event_type!r} is not one of {', '.join(EVENT_TYPES)}.")
    run = _object(event.get("run"), "run")
    run_id_text = _string(run, "runId", "run")
    try:
        run_id = uuid.UUID(run_id_text)
    except ValueError:
        raise _fail("run.runId", f"{run_id_text!r} is not a UUID.") from None
    run_facets = _object(run.get("facets"), "run.facets", required=False)
    job = _object(event.get("job"), "job")
    job_facets = _object(job.get("facets"), "job.facets", required=False)
    code = _object(job_facets.get("sourceCodeLocation"), "job.facets.sourceCodeLocation", required=False)
    docs = _object(job_facets.get("documentation"), "job.facets.documentation", required=False)
    error = _object(run_facets.get("errorMessage"), "run.facets.errorMessage", required=False)
    return ParsedEvent(
        event_type=event_type,
        event_time=event_time,
        run_id=run_id,
        job_namespace=_string(job, "namespace", "job"),
        job_name=_string(job, "name", "job"),
        job_code_url=_string(code, "url", "job.facets.sourceCodeLocation", required=False),
        job_description=str(docs.get("description") or "")[:10_000],
        error_message=str(error.get("message") or "")[:10_000],
        inputs=_datasets(event, "inputs"),
        outputs=_datasets(event, "outputs"),
    )


def _time(event: dict[str, Any]) -> datetime:
    text = _string(event, "eventTime", "")
    try:
        parsed = parse_datetime(text)
    except ValueError:
        parsed = None
    if parsed is None:
        raise _fail("eventTime", f"{text!r} is not an ISO 8601 date and time.")
    # The spec asks for an offset, but clients send naive times too: read them as UTC.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _datasets(event: dict[str, Any], key: str) -> list[DatasetRef]:
    items = event.get(key)
    if items is None:
        return []
    if not isinstance(items, list):
        raise _fail(key, f"must be an array, not {_kind(items)}.")
    if len(items) > MAX_DATASETS:
        raise _fail(key, f"lists {len(items)} datasets; at most {MAX_DATASETS} are accepted.")
    return [_dataset(item, f"{key}[{index}]") for index, item in enumerate(items)]


def _dataset(value: Any, path: str) -> DatasetRef:
    item = _object(value, path)
    facets = _object(item.get("facets"), f"{path}.facets", required=False)
    for extra in ("inputFacets", "outputFacets"):
        _object(item.get(extra), f"{path}.{extra}", required=False)
    version = _object(facets.get("version"), f"{path}.facets.version", required=False)
    version_text = version.get("datasetVersion", "")
    if isinstance(version_text, bool) or not isinstance(version_text, str | int):
        raise _fail(f"{path}.facets.version.datasetVersion", "must be a string.")
    return DatasetRef(
        path=path,
        namespace=_string(item, "namespace", path),
        name=_string(item, "name", path),
        version=str(version_text).strip(),
        schema=_schema(facets.get("schema"), f"{path}.facets.schema"),
        column_lineage=_column_lineage(facets.get("columnLineage"), f"{path}.facets.columnLineage"),
    )


def _schema(value: Any, path: str) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    facet = _object(value, path)
    fields = facet.get("fields")
    if not isinstance(fields, list):
        raise _fail(f"{path}.fields", "must be an array of {name, type} objects.")
    kept = []
    for index, column in enumerate(fields):
        where = f"{path}.fields[{index}]"
        column = _object(column, where)
        kept.append(
            {
                "name": _string(column, "name", where),
                "type": _string(column, "type", where, required=False),
                "description": _string(column, "description", where, required=False),
            }
        )
    return kept


def _column_lineage(value: Any, path: str) -> dict[str, Any] | None:
    if value is None:
        return None
    facet = _object(value, path)
    fields = _object(facet.get("fields"), f"{path}.fields")
    kept: dict[str, Any] = {}
    for column, entry in fields.items():
        where = f"{path}.fields.{column}"
        entry = _object(entry, where)
        sources = entry.get("inputFields")
        if not isinstance(sources, list):
            raise _fail(f"{where}.inputFields", "must be an array of {namespace, name, field} objects.")
        inputs = []
        for index, source in enumerate(sources):
            at = f"{where}.inputFields[{index}]"
            source = _object(source, at)
            transformations = source.get("transformations") or []
            if not isinstance(transformations, list):
                raise _fail(f"{at}.transformations", "must be an array.")
            inputs.append(
                {
                    "namespace": _string(source, "namespace", at),
                    "name": _string(source, "name", at),
                    "field": _string(source, "field", at),
                    "transformations": [
                        _transformation(t, f"{at}.transformations[{n}]")
                        for n, t in enumerate(transformations)
                    ],
                }
            )
        kept[column] = {
            "inputFields": inputs,
            "transformationDescription": _string(entry, "transformationDescription", where, required=False),
            "transformationType": _string(entry, "transformationType", where, required=False),
        }
    return kept


def _transformation(value: Any, path: str) -> dict[str, str]:
    item = _object(value, path)
    return {
        key: _string(item, key, path, required=False)
        for key in ("type", "subtype", "description")
        if item.get(key) is not None
    }
