"""Datasets: search and browse, register, read and edit a card, document columns, diff schemas."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.selectors import team_get
from api.common import JsonTypes, boolean, me, not_blank, slug_field, tag_field, valid
from api.parsers import JSONParser
from core.errors import InvalidInput, NotFound
from datasets.access import Access, dataset_access, dataset_access_map, dataset_get
from datasets.models import (
    ColumnDoc,
    Dataset,
)
from datasets.references import version_resolve
from datasets.selectors import (
    column_docs,
    dataset_search,
    schema_diff,
    version_previous,
)
from datasets.services.columns import column_docs_set
from datasets.services.datasets import dataset_create, dataset_update


class DatasetRowSerializer(serializers.ModelSerializer):
    """A dataset in a list: its card without the README, which the list leaves out to stay light."""

    team = serializers.CharField(source="team.slug", read_only=True)
    tags = serializers.SerializerMethodField()
    latest_version = serializers.SerializerMethodField()
    certified_version = serializers.SerializerMethodField()
    version_count = serializers.SerializerMethodField()
    checkout_count = serializers.SerializerMethodField(help_text="How many checkouts pulled it (popularity)")
    url = serializers.SerializerMethodField()

    class Meta:
        model = Dataset
        fields = [
            "slug",
            "title",
            "summary",
            "team",
            "tags",
            "license",
            "visibility",
            "status",
            "created_at",
            "updated_at",
            "latest_version",
            "certified_version",
            "version_count",
            "checkout_count",
            "url",
        ]
        read_only_fields = fields

    def get_tags(self, dataset: Dataset) -> list[str]:
        return [tag.name for tag in dataset.tags.all()]

    # The row's versions are kept on the dataset (datasets.services.summary); dataset_search
    # prefetches their numbers for a page in two queries.
    def get_latest_version(self, dataset: Dataset) -> int | None:
        return dataset.latest_version.number if dataset.latest_version else None

    def get_certified_version(self, dataset: Dataset) -> int | None:
        return dataset.certified_version.number if dataset.certified_version else None

    def get_version_count(self, dataset: Dataset) -> int:
        return dataset.version_count

    def get_checkout_count(self, dataset: Dataset) -> int:
        return dataset.checkout_count

    def get_url(self, dataset: Dataset) -> str:
        path = reverse("api-dataset-detail", args=[dataset.slug])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class DatasetSerializer(DatasetRowSerializer):
    class Meta(DatasetRowSerializer.Meta):
        fields = [*DatasetRowSerializer.Meta.fields[:3], "readme", *DatasetRowSerializer.Meta.fields[3:]]
        read_only_fields = fields


class RestrictedDatasetSerializer(serializers.ModelSerializer):
    """What a non-member sees of a restricted dataset: that it exists, and what it is about."""

    team = serializers.CharField(source="team.slug", read_only=True)
    restricted = serializers.SerializerMethodField()

    class Meta:
        model = Dataset
        fields = ["slug", "title", "summary", "team", "visibility", "status", "restricted"]
        read_only_fields = fields

    def get_restricted(self, dataset: Dataset) -> bool:
        return True


# What a caller may see of a dataset: the card, or only that it exists when it is restricted.
DatasetOrRestricted = PolymorphicProxySerializer(
    component_name="DatasetOrRestricted",
    serializers=[DatasetSerializer, RestrictedDatasetSerializer],
    resource_type_field_name=None,
)
DatasetRowOrRestricted = PolymorphicProxySerializer(
    component_name="DatasetRowOrRestricted",
    serializers=[DatasetRowSerializer, RestrictedDatasetSerializer],
    resource_type_field_name=None,
    many=True,
)


class DatasetWriteSerializer(JsonTypes, serializers.Serializer):
    slug = slug_field()
    title = serializers.CharField(max_length=200)
    team = serializers.CharField(max_length=64, help_text="The owning team's slug")
    summary = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    readme = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    license = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    visibility = serializers.ChoiceField(choices=Dataset.Visibility.choices, default="internal")
    status = serializers.ChoiceField(choices=Dataset.Status.choices, default="active")
    tags = serializers.ListField(child=tag_field(), required=False, default=list, max_length=50)


class DatasetPatchSerializer(DatasetWriteSerializer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, partial=True, **kwargs)
        for name in ("slug", "team"):
            self.fields.pop(name)
        for field in self.fields.values():
            field.required = False  # for the schema: partial=True already lets any of them out


class ColumnDocSerializer(JsonTypes, serializers.ModelSerializer):
    class Meta:
        model = ColumnDoc
        fields = ["name", "description", "pii", "updated_at"]
        read_only_fields = ["updated_at"]
        extra_kwargs: dict[str, Any] = {"name": {"validators": [not_blank]}}


ORDERINGS = ["slug", "title", "popular", "created_at", "-created_at", "updated_at", "-updated_at"]


class DatasetList(generics.ListAPIView):
    """Search and browse the datasets you may see; POST registers a new one."""

    serializer_class = DatasetRowSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("q", str, description="words to find in the title, summary or slug"),
            OpenApiParameter("tag", str),
            OpenApiParameter(
                "certified",
                bool,
                description="only datasets with (true) or without (false) a certified version",
            ),
            OpenApiParameter("team", str, description="a team's slug"),
            OpenApiParameter(
                "ordering",
                str,
                enum=ORDERINGS,
                description="popular: most checkouts first",
            ),
        ],
        responses=DatasetRowOrRestricted,
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> Any:
        params = self.request.query_params
        ordering = params.get("ordering") or "slug"
        if ordering not in ORDERINGS:
            raise InvalidInput(f"ordering={ordering!r}: use one of {', '.join(ORDERINGS)}.", field="ordering")
        return dataset_search(
            user=self.request.user,
            q=params.get("q", ""),
            tag=params.get("tag", ""),
            team=params.get("team", ""),
            ordering=ordering,
            certified=boolean(params.get("certified")),
        )

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        assert page is not None
        access = dataset_access_map(user=me(request), datasets=page)
        rows = [_dataset_data(request, dataset, access=access[dataset.pk]) for dataset in page]
        return self.get_paginated_response(rows)

    @extend_schema(request=DatasetWriteSerializer, responses={201: DatasetSerializer})
    def post(self, request: Request) -> Response:
        data = valid(DatasetWriteSerializer, request)
        try:
            team = team_get(user=me(request), slug=data.pop("team"))
        except NotFound as missing:
            raise InvalidInput(
                f"{missing.detail} Give the slug of a team you maintain.", field="team"
            ) from None
        dataset = dataset_create(user=me(request), team=team, **data)
        return Response(_dataset_data(request, dataset), status=201)


class DatasetDetail(APIView):
    @extend_schema(responses=DatasetOrRestricted)
    def get(self, request: Request, slug: str) -> Response:
        dataset, _ = dataset_get(user=me(request), slug=slug, need="discover")
        return Response(_dataset_data(request, dataset))

    @extend_schema(request=DatasetPatchSerializer, responses=DatasetSerializer)
    def patch(self, request: Request, slug: str) -> Response:
        dataset, _ = dataset_get(user=me(request), slug=slug, need="write")
        serializer = DatasetPatchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        changes = {key: value for key, value in serializer.validated_data.items() if key in request.data}
        dataset = dataset_update(dataset=dataset, changes=changes, user=me(request))
        return Response(_dataset_data(request, dataset))


def _dataset_data(request: Request, dataset: Dataset, *, access: Access | None = None) -> dict[str, Any]:
    """A dataset as the caller may see it; `access` is given for list rows, which omit the README."""
    listing = access is not None
    access = access or dataset_access(user=me(request), dataset=dataset)
    if access.restricted_only:
        return dict(RestrictedDatasetSerializer(dataset).data)
    context: dict[str, Any] = {"request": request}
    serializer = DatasetRowSerializer if listing else DatasetSerializer
    return dict(serializer(dataset, context=context).data)


class ColumnDocs(APIView):
    """Column documentation of a dataset; maintainers replace entries with PUT (a list)."""

    parser_classes = [JSONParser]  # a list of objects: a form would arrive as an empty list

    @extend_schema(responses=ColumnDocSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        dataset, _ = dataset_get(user=me(request), slug=slug)
        docs = column_docs(dataset=dataset).values()
        return Response(ColumnDocSerializer(docs, many=True).data)

    @extend_schema(request=ColumnDocSerializer(many=True), responses=ColumnDocSerializer(many=True))
    def put(self, request: Request, slug: str) -> Response:
        dataset, _ = dataset_get(user=me(request), slug=slug, need="write")
        serializer = ColumnDocSerializer(data=request.data, many=True)
        serializer.is_valid(raise_exception=True)
        column_docs_set(dataset=dataset, user=me(request), docs=serializer.validated_data)
        docs = column_docs(dataset=dataset).values()
        return Response(ColumnDocSerializer(docs, many=True).data)


class SchemaDiff(APIView):
    """Added, removed, retyped and nullability-changed columns between two versions."""

    @extend_schema(
        parameters=[
            OpenApiParameter("from", str, description="a version reference; default: the one before `to`"),
            OpenApiParameter("to", str, description="a version reference; default: latest"),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request, slug: str) -> Response:
        dataset, _ = dataset_get(user=me(request), slug=slug)
        new = version_resolve(dataset=dataset, ref=request.query_params.get("to", "latest"))
        old_ref = request.query_params.get("from")
        old = version_resolve(dataset=dataset, ref=old_ref) if old_ref else None
        old = old or version_previous(version=new)
        if old is None:
            raise InvalidInput(f"{new.ref} has no earlier ready version to compare with: give from=.")
        return Response(schema_diff(old=old, new=new))
