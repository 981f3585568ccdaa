"""The data viewer's endpoints: a version's rows (paged, sorted, filtered, searched) and the SQL console."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.common import me
from api.schema import ErrorSerializer
from core.errors import InvalidInput
from core.validation import whole_number
from datasets.access import dataset_get
from datasets.references import version_get, version_resolve
from datasets.viewer.pages import Filter
from datasets.viewer.query import query_run
from datasets.viewer.rows import version_rows

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


class QueryInputSerializer(serializers.Serializer):
    sql = serializers.CharField(
        help_text='one SELECT (or WITH … SELECT); versions by reference in double quotes: FROM "churn@3"'
    )
    version = serializers.CharField(
        required=False, allow_blank=True, help_text="dataset@ref the SQL may read as the table `data`"
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
            200: QueryResultSerializer,
            400: OpenApiResponse(
                ErrorSerializer,
                description="not one SELECT, a table that is no version reference, a refused function, "
                "an error in the SQL (field: sql); query_timeout, query_too_large",
            ),
            403: OpenApiResponse(ErrorSerializer, description="a restricted version the caller may not read"),
            404: OpenApiResponse(
                ErrorSerializer, description="a version that does not exist or is not visible"
            ),
            409: OpenApiResponse(ErrorSerializer, description="a version that is not ready"),
        },
    )
    def post(self, request: Request) -> Response:
        data = request.data if isinstance(request.data, dict) else {}
        sql, ref = data.get("sql"), data.get("version") or ""
        if not isinstance(sql, str) or not sql.strip():
            raise InvalidInput('sql: give one SELECT to run, e.g. SELECT * FROM "churn@3".', field="sql")
        if not isinstance(ref, str):
            raise InvalidInput("version: give a reference such as churn@3.", field="version")
        user = me(request)
        version = version_get(user=user, ref=ref) if ref else None
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
