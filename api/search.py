"""Search: ranked datasets with facets and highlights, type-ahead suggestions, and column search.
The views parse and check the parameters; search.selectors decides what each caller may find."""

from __future__ import annotations

from typing import Any

from django.http import QueryDict
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.common import NOT_BLANK
from core.errors import InvalidInput
from search.query import MAX_LENGTH
from search.selectors import (
    FACETS,
    MAX_PER_PAGE,
    MAX_RESULTS,
    SORTS,
    FacetValue,
    SearchHit,
    columns_search,
    search_datasets,
    search_suggest,
)

COLUMNS_MAX = 200  # columns per page, as columns_search caps them
SUGGESTIONS = 10
COLUMN_NAME_MAX = 200  # as columns_search allows

QUERY_SYNTAX = (
    "The search text: free words (all must match; the last one also as a prefix), "
    '"quoted phrases", -word to exclude, and filters: column:email tag:nlp team:vision '
    "license:cc-by-4.0 format:parquet|csv|tsv|jsonl certified:yes|no pii:yes|no "
    "quality:passing|failing|pending|none visibility:public|internal|restricted "
    "updated:>2026-10-01 rows:>1000000 (comparisons > >= < <= =), each negated with a leading -. "
    "A word of 5 letters or more may have one letter wrong. A malformed query is a 400 whose "
    "detail gives the character position and what was expected. See the README's Searching."
)


class ColumnMatchSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField(help_text="The column's logical type: integer, float, string, …")
    pii = serializers.BooleanField(help_text="Documented as holding personal data")


class SearchHitSerializer(serializers.Serializer):
    slug = serializers.CharField(source="dataset.slug")
    title = serializers.CharField(source="dataset.title")
    summary = serializers.CharField(source="dataset.summary")
    team = serializers.CharField(source="dataset.team.slug", help_text="The owning team's slug")
    url = serializers.SerializerMethodField(help_text="The dataset in the API")
    snippet = serializers.CharField(
        help_text="HTML: escaped text of the summary (or README) with <mark>…</mark> around the "
        "words that matched; empty when none did"
    )
    matched_columns = ColumnMatchSerializer(
        many=True, help_text="Columns of the latest ready version that matched (at most 5)"
    )
    score = serializers.FloatField(help_text="Relevance: text score times popularity and certified boosts")
    latest_version = serializers.IntegerField(allow_null=True)
    certified_version = serializers.IntegerField(allow_null=True)
    checkouts_90d = serializers.IntegerField(help_text="Distinct checkouts in the last 90 days")
    readable = serializers.BooleanField(
        help_text="Whether you may read its data; false for a restricted dataset you were not "
        "granted, found by its card alone (versions, checkouts and columns are then left out)"
    )

    def get_url(self, hit: SearchHit) -> str:
        path = reverse("api-dataset-detail", args=[hit.dataset.slug])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class FacetValueSerializer(serializers.Serializer):
    value = serializers.CharField(help_text="What the filter takes, e.g. nlp in tag:nlp")
    # A field, not Field.label (the metaclass takes declared fields off the class).
    label = serializers.CharField(  # type: ignore[assignment]
        help_text="For people: a team's name, 'Passing', 'Yes'"
    )
    count = serializers.IntegerField(help_text="Datasets among the results with this value")
    selected = serializers.BooleanField(help_text="The query already has this filter")
    query = serializers.CharField(help_text="The query with this filter added (removed when selected)")


class FacetsSerializer(serializers.Serializer):
    """One list per facet (search.selectors.FACETS), most frequent values first."""

    team = FacetValueSerializer(many=True, help_text="value: the team's slug; label: its name")
    tag = FacetValueSerializer(many=True, help_text="The 20 most frequent")
    license = FacetValueSerializer(many=True)
    format = FacetValueSerializer(many=True)
    certified = FacetValueSerializer(many=True, help_text="yes or no")
    pii = FacetValueSerializer(many=True, help_text="yes or no: has columns documented as PII")
    quality = FacetValueSerializer(many=True, help_text="passing, failing, pending or none")
    visibility = FacetValueSerializer(many=True)

    def to_representation(self, instance: dict[str, list[FacetValue]]) -> dict[str, list[dict[str, Any]]]:
        # The declared fields (the schema), built directly: the facets of a common word are a few
        # hundred values, and DRF's fields, copied for each list and called per value, cost more
        # than reading them (6 of a request's 60 ms in-process).
        return {
            name: [
                {
                    "value": value.value,
                    "label": value.label,
                    "count": value.count,
                    "selected": value.selected,
                    "query": value.query,
                }
                for value in instance.get(name, [])
            ]
            for name in FACETS  # the declared fields' names
        }


class SearchResultsSerializer(serializers.Serializer):
    total = serializers.IntegerField(help_text="Datasets found in all (pages reach the first 10,000)")
    page = serializers.IntegerField()
    per_page = serializers.IntegerField()
    sort = serializers.ChoiceField(choices=SORTS)
    query = serializers.CharField(help_text="The search text, as given")
    did_you_mean = serializers.CharField(
        allow_null=True, help_text="The query with a misspelt word corrected, when that is what matched"
    )
    corrected = serializers.BooleanField(
        help_text="The results are those of did_you_mean: the query found none"
    )
    results = SearchHitSerializer(source="hits", many=True)
    facets = FacetsSerializer(
        allow_null=True,
        help_text="Counts of each filter's values among all the results; null unless asked for "
        "with facets=true (they cost more than the page itself)",
    )


class SuggestionSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["dataset", "tag", "column", "team"])
    value = serializers.CharField(help_text="A dataset's slug, a tag, a column name or a team's slug")
    label = serializers.CharField(  # type: ignore[assignment]  # a field, as in FacetValueSerializer
        help_text="What to show: a title, or the filter (tag:nlp) to insert"
    )
    url = serializers.CharField(help_text="The dataset's page in the portal; empty for a filter")


class ColumnHitSerializer(serializers.Serializer):
    dataset = serializers.CharField(source="dataset_slug", help_text="The dataset's slug")
    dataset_title = serializers.CharField()
    name = serializers.CharField()
    type = serializers.CharField()
    description = serializers.CharField(help_text="From the dataset's column documentation")
    pii = serializers.BooleanField()


class ColumnResultsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    results = ColumnHitSerializer(source="columns", many=True)


def _number(params: QueryDict, name: str, *, default: int, low: int, high: int) -> int:
    """A whole-number parameter within its documented bounds, or a 400 naming it."""
    raw = params.get(name)
    if raw is None:
        return default
    # Digits only (isdigit alone lets '²' through), and few enough for int() to read at all.
    digits = raw.isascii() and raw.isdigit() and len(raw.lstrip("0")) <= len(str(high))
    if not digits or not low <= int(raw) <= high:
        raise InvalidInput(f"{name}={raw[:20]!r}: give a whole number from {low} to {high:,}.", field=name)
    return int(raw)


def _flag(params: QueryDict, name: str) -> bool:
    raw = params.get(name)
    if raw is None:
        return False
    if raw not in ("true", "false"):
        raise InvalidInput(f"{name}={raw[:20]!r}: give true or false.", field=name)
    return raw == "true"


def _sort(params: QueryDict) -> str:
    sort = params.get("sort")
    if sort is None:
        return ""  # the selector's default: relevance with words to rank by, else popular
    if sort not in SORTS:
        raise InvalidInput(f"sort={sort!r}: use one of {', '.join(SORTS)}.", field="sort")
    return sort


class Search(APIView):
    """Datasets you may see that the query finds, best first, with highlighted snippets, matched
    columns and facet counts. A restricted dataset you may not read is found, counted and quoted
    by its card alone (slug, title, team, summary); internal datasets of other teams never appear."""

    @extend_schema(
        parameters=[
            OpenApiParameter("q", {"type": "string", "maxLength": MAX_LENGTH}, description=QUERY_SYNTAX),
            OpenApiParameter(
                "sort",
                str,
                enum=list(SORTS),
                description="relevance (the default with words), popular (checkouts in the last 90 "
                "days; the default without), updated (recently updated) or name",
            ),
            OpenApiParameter(
                "page",
                {"type": "integer", "minimum": 1, "maximum": MAX_RESULTS, "default": 1},
                description=f"Pages reach the first {MAX_RESULTS:,} results: page * per_page <= {MAX_RESULTS:,}",
            ),
            OpenApiParameter(
                "per_page", {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE, "default": 20}
            ),
            OpenApiParameter(
                "facets",
                {"type": "string", "enum": ["true", "false"], "default": "false"},
                description="true: count each filter's values among all the results (`facets`)",
            ),
        ],
        responses=SearchResultsSerializer,
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        facets = _flag(params, "facets")
        results = search_datasets(
            user=request.user,
            q=params.get("q", ""),
            sort=_sort(params),
            page=_number(params, "page", default=1, low=1, high=MAX_RESULTS),
            per_page=_number(params, "per_page", default=20, low=1, high=MAX_PER_PAGE),
            facets=facets,
        )
        return Response(SearchResultsSerializer(results, context={"request": request}).data)


class Suggest(APIView):
    """Up to 10 completions of what is being typed, for a search box: datasets (by relevance),
    then tags and columns, as filters to insert. Only what you may read is suggested."""

    @extend_schema(
        parameters=[OpenApiParameter("q", str, description="What has been typed so far")],
        responses=SuggestionSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        found = search_suggest(user=request.user, q=request.query_params.get("q", ""), limit=SUGGESTIONS)
        return Response(SuggestionSerializer(found, many=True).data)


class Columns(APIView):
    """Which datasets have a column like this one? Columns of the latest ready versions of the
    datasets whose data you may read, whose name contains `q`: the exact name first."""

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "q",
                {"type": "string", "minLength": 1, "maxLength": COLUMN_NAME_MAX, "pattern": NOT_BLANK},
                required=True,
                description="Part of a column name, any case (shorter than 3 characters: the exact name)",
            ),
            OpenApiParameter(
                "limit", {"type": "integer", "minimum": 1, "maximum": COLUMNS_MAX, "default": 50}
            ),
            OpenApiParameter(
                "offset", {"type": "integer", "minimum": 0, "maximum": MAX_RESULTS, "default": 0}
            ),
        ],
        responses=ColumnResultsSerializer,
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        q = params.get("q", "")
        if len(q) > COLUMN_NAME_MAX:
            raise InvalidInput(f"q: a column name is at most {COLUMN_NAME_MAX} characters here.", field="q")
        found = columns_search(
            user=request.user,
            q=q,
            limit=_number(params, "limit", default=50, low=1, high=COLUMNS_MAX),
            offset=_number(params, "offset", default=0, low=0, high=MAX_RESULTS),
        )
        return Response(ColumnResultsSerializer(found).data)
