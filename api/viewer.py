"""The data viewer's endpoints: a version's rows (paged, sorted, filtered, searched) and the SQL console."""

from __future__ import annotations

from typing import Any

from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.common import me
from api.schema import ErrorSerializer
from core.errors import InvalidInput
from core.validation import whole_number
from datasets.access import dataset_get
from datasets.models import QuerySave
from datasets.references import version_get, version_resolve
from datasets.viewer.export import EXPORT_FORMATS, query_export
from datasets.viewer.pages import Filter
from datasets.viewer.query import query_run
from datasets.viewer.rows import version_rows
from datasets.viewer.save import query_save, query_save_get, query_save_reads

# The operators of `filter=column:op:value`, as written in a URL: symbols or words.
_OPERATOR_WORDS = {
    "eq": "=",
    "ne": "!=",
    "lt": "<",
    "le": "<=",
    "gt": ">",
    "ge": ">=",
    "is_null": "is null",
    "is_not_null": "is not null",
    "in": "in",
    "contains": "contains",
}
_OPERATORS = {**_OPERATOR_WORDS, **{op: op for op in _OPERATOR_WORDS.values()}}
FILTER_HELP = (
    "Repeated, combined with AND: `column:op:value`, op one of eq (=), ne (!=), lt (<), le (<=), "
    "gt (>), ge (>=), in (values comma-separated: `id:in:1,2,3`), contains (strings, case-insensitive), "
    "is_null and is_not_null (no value: `name:is_null`). A column or value may itself hold colons."
)


def filter_parse(raw: str) -> Filter:
    """`score:ge:0.5` as a Filter: the column is everything before the first `:op` segment that
    names an operator, the value everything after it."""
    parts = raw.split(":")
    for index in range(1, len(parts)):
        op = _OPERATORS.get(parts[index].strip().lower())
        if op is None:
            continue
        column, rest = ":".join(parts[:index]), parts[index + 1 :]
        if op in ("is null", "is not null"):
            return Filter(column=column, op=op, value=":".join(rest) if rest else None)
        if not rest:
            raise InvalidInput(
                f"filter={raw!r}: '{parts[index]}' needs a value: column:op:value.", field="filter"
            )
        value = ":".join(rest)
        return Filter(column=column, op=op, value=value.split(",") if op == "in" else value)
    raise InvalidInput(
        f"filter={raw!r} names no operator: write column:op:value, op one of {', '.join(_OPERATOR_WORDS)}.",
        field="filter",
    )


def _number(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name, "")
    if raw == "":
        return default
    number = whole_number(raw)
    if number is None:
        raise InvalidInput(f"{name}={raw!r} is not a whole number of 0 or more.", field=name)
    return number


class ColumnTypeSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField(
        help_text="integer, float, boolean, string, date, timestamp, list<…>, struct<…>"
    )


class RowsSerializer(serializers.Serializer):
    version = serializers.CharField(help_text="the version read, as dataset@number")
    columns = ColumnTypeSerializer(many=True)
    rows = serializers.ListField(
        child=serializers.ListField(child=serializers.JSONField()),
        help_text="one list of values per row, in column order; lists and structs as JSON",
    )
    total = serializers.IntegerField(help_text="rows matching the filters and q")
    offset = serializers.IntegerField()
    limit = serializers.IntegerField()
    elapsed_ms = serializers.FloatField()


class VersionRows(APIView):
    """Rows of a ready version from its Parquet copy: any page, sorted, filtered and searched."""

    @extend_schema(
        parameters=[
            OpenApiParameter("offset", int, description="rows to skip (any number)", default=0),
            OpenApiParameter(
                "limit", int, description="rows per page, 1 to GRANARY_VIEWER_MAX_ROWS", default=100
            ),
            OpenApiParameter("sort", str, description="a column; `-column` sorts descending (nulls last)"),
            OpenApiParameter("filter", str, many=True, description=FILTER_HELP),
            OpenApiParameter("q", str, description="text searched in every string column, case-insensitive"),
        ],
        responses={
            200: RowsSerializer,
            400: OpenApiResponse(ErrorSerializer, description="an unknown column or operator, a wrong value"),
            409: OpenApiResponse(ErrorSerializer, description="the version is not ready"),
        },
    )
    def get(self, request: Request, slug: str, ref: str) -> Response:
        dataset, _ = dataset_get(user=me(request), slug=slug, need="read")
        version = version_resolve(dataset=dataset, ref=ref)
        sort = request.query_params.get("sort", "")
        page = version_rows(
            version=version,
            offset=_number(request, "offset", 0),
            limit=_number(request, "limit", 100),
            sort=sort.removeprefix("-"),
            descending=sort.startswith("-"),
            filters=[filter_parse(raw) for raw in request.query_params.getlist("filter") if raw],
            q=request.query_params.get("q", ""),
            user=me(request),
        )
        return Response(
            {
                "version": version.ref,
                "columns": page.columns,
                "rows": page.rows,
                "total": page.total,
                "offset": page.offset,
                "limit": page.limit,
                "elapsed_ms": round(page.elapsed_ms, 2),
            }
        )


class SaveAsSerializer(serializers.Serializer):
    dataset = serializers.CharField(help_text="slug of the dataset the result becomes a version of")
    message = serializers.CharField(required=False, allow_blank=True, max_length=500)


class QuerySaveSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.CharField(help_text="this save; poll it until status is done or failed")
    status = serializers.ChoiceField(choices=QuerySave.Status.choices)
    dataset = serializers.CharField(help_text="the dataset the result becomes a version of")
    sql = serializers.CharField()
    message = serializers.CharField(allow_blank=True)
    versions = serializers.ListField(
        child=serializers.CharField(), help_text="the versions the query reads, pinned when it was saved"
    )
    version = serializers.CharField(allow_null=True, help_text="dataset@number once done; else null")
    version_url = serializers.CharField(allow_null=True, help_text="the new version in the API, once done")
    version_status = serializers.CharField(
        allow_null=True, help_text="the new version's ingest: processing, ready or failed"
    )
    error = serializers.CharField(allow_blank=True, help_text="why it failed")
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


def save_json(request: Request, save: QuerySave) -> dict[str, Any]:
    version = save.version
    return {
        "id": save.pk,
        "url": request.build_absolute_uri(reverse("api-query-save", args=[save.pk])),
        "status": save.status,
        "dataset": save.dataset.slug,
        "sql": save.sql,
        "message": save.message,
        "versions": [each.ref for each in query_save_reads(save=save)],
        "version": version.ref if version else None,
        "version_url": request.build_absolute_uri(
            reverse("api-version-detail", args=[version.dataset.slug, version.number])
        )
        if version
        else None,
        "version_status": version.status if version else None,
        "error": save.error,
        "created_at": save.created_at,
        "finished_at": save.finished_at,
    }


class QueryInputSerializer(serializers.Serializer):
    sql = serializers.CharField(
        help_text='one SELECT (or WITH … SELECT); versions by reference in double quotes: FROM "churn@3"'
    )
    version = serializers.CharField(
        required=False, allow_blank=True, help_text="dataset@ref the SQL may read as the table `data`"
    )
    format = serializers.ChoiceField(
        choices=EXPORT_FORMATS,
        required=False,
        help_text="download the whole result (up to GRANARY_QUERY_EXPORT_MAX_ROWS rows) as a csv or "
        "parquet file instead of JSON",
    )
    save_as = SaveAsSerializer(
        required=False,
        help_text="save the whole result as the next version of a dataset you may write: answers 202 "
        "with the pending save, which a worker turns into the version",
    )


class QueryResultSerializer(serializers.Serializer):
    columns = ColumnTypeSerializer(many=True, help_text="DuckDB's types: BIGINT, DOUBLE, VARCHAR, …")
    rows = serializers.ListField(child=serializers.ListField(child=serializers.JSONField()))
    truncated = serializers.BooleanField(
        help_text="more rows than GRANARY_QUERY_MAX_ROWS: the first ones only"
    )
    elapsed_ms = serializers.FloatField()
    versions = serializers.ListField(
        child=serializers.CharField(), help_text="each version read, dataset@number"
    )


class Query(APIView):
    """Read-only SQL over versions the caller may read; a read-scope token suffices."""

    @extend_schema(
        request=QueryInputSerializer,
        responses={
            (200, "application/json"): QueryResultSerializer,
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description="with format=csv"),
            (200, "application/vnd.apache.parquet"): OpenApiResponse(
                OpenApiTypes.BINARY, description="with format=parquet"
            ),
            202: OpenApiResponse(
                QuerySaveSerializer, description="with save_as: the pending save (also its Location)"
            ),
            400: OpenApiResponse(
                ErrorSerializer,
                description="not one SELECT, a table that is no version reference, a refused function, "
                "an error in the SQL (field: sql); query_timeout, query_too_large",
            ),
            403: OpenApiResponse(
                ErrorSerializer,
                description="a restricted version the caller may not read; with save_as, a dataset "
                "they may not write (or a read-scope token)",
            ),
            404: OpenApiResponse(
                ErrorSerializer,
                description="a version (or save_as dataset) that does not exist or is not visible",
            ),
            409: OpenApiResponse(ErrorSerializer, description="a version that is not ready"),
            503: OpenApiResponse(ErrorSerializer, description="storage_unavailable: the versions' store"),
        },
    )
    def post(self, request: Request) -> Response | FileResponse:
        data = request.data if isinstance(request.data, dict) else {}
        sql, ref = data.get("sql"), data.get("version") or ""
        export, save_as = data.get("format"), data.get("save_as")
        if not isinstance(sql, str) or not sql.strip():
            raise InvalidInput('sql: give one SELECT to run, e.g. SELECT * FROM "churn@3".', field="sql")
        if not isinstance(ref, str):
            raise InvalidInput("version: give a reference such as churn@3.", field="version")
        if export is not None and save_as is not None:
            raise InvalidInput(
                "Give format (a download) or save_as (a new version), not both.", field="format"
            )
        user = me(request)
        version = version_get(user=user, ref=ref) if ref else None
        if save_as is not None:
            return self._save(request, sql=sql, version=version, save_as=save_as)
        if export is not None:
            if not isinstance(export, str):
                raise InvalidInput(f"format: give one of {', '.join(EXPORT_FORMATS)}.", field="format")
            return _download(query_export(user=user, sql=sql, format=export, version=version))
        result = query_run(user=user, sql=sql, version=version)
        return Response(
            {
                "columns": result.columns,
                "rows": result.rows,
                "truncated": result.truncated,
                "elapsed_ms": round(result.elapsed_ms, 2),
                "versions": result.versions,
            }
        )

    def _save(self, request: Request, *, sql: str, version: Any, save_as: Any) -> Response:
        if not isinstance(save_as, dict) or not isinstance(save_as.get("dataset"), str):
            raise InvalidInput('save_as: give {"dataset": "<slug>", "message": "…"}.', field="save_as")
        message = save_as.get("message") or ""
        if not isinstance(message, str):
            raise InvalidInput("save_as.message: give text.", field="save_as")
        save = query_save(
            user=me(request), sql=sql, dataset=save_as["dataset"], message=message, version=version
        )
        body = save_json(request, save)
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})


def _download(export: Any) -> FileResponse:
    response = FileResponse(
        export.file, as_attachment=True, filename=export.filename, content_type=export.content_type
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    response["X-Granary-Rows"] = str(export.rows)
    response["X-Granary-Truncated"] = "true" if export.truncated else "false"
    return response


class QuerySaveDetail(APIView):
    """A query saved as a version: pending until a worker has run it, then done (with the new
    version, which ingest and quality then process like any upload) or failed (with why)."""

    @extend_schema(
        responses={
            200: QuerySaveSerializer,
            404: OpenApiResponse(ErrorSerializer, description="no such save visible to the caller"),
        }
    )
    def get(self, request: Request, save_id: int) -> Response:
        return Response(save_json(request, query_save_get(user=me(request), save_id=save_id)))
