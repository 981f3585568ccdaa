"""REST API v1 for teams, datasets and versions. Each view parses, calls a service or selector,
and renders; who may see what is decided in `datasets.selectors`."""

from __future__ import annotations

from typing import Any, cast
from uuid import UUID

from django.contrib.auth.models import User
from django.http import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from datasets import selectors
from datasets.api import serializers as s
from datasets.errors import InvalidInput, NotFound, UploadTooLarge
from datasets.models import COMPUTED_ALIASES, Alias, Dataset, Version
from datasets.services import quality
from datasets.services.access import access_request_create, access_request_settle
from datasets.services.aliases import alias_delete, alias_set
from datasets.services.checkouts import checkout_create
from datasets.services.columns import column_docs_set
from datasets.services.croissant import version_croissant
from datasets.services.datasets import dataset_create, dataset_update
from datasets.services.download import version_download_response
from datasets.services.teams import membership_remove, membership_set, team_create
from datasets.services.versions import version_upload
from datasets.uploads import too_large_message, upload_was_too_large


class TeamList(generics.ListAPIView):
    """Every team, with your role in each; POST creates a team that you own."""

    permission_classes = [IsAuthenticated]

    serializer_class = s.TeamSerializer

    def get_queryset(self) -> Any:
        return selectors.teams_visible_to(user=self.request.user)

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "roles": selectors.user_roles(user=self.request.user)}

    @extend_schema(request=s.TeamCreateSerializer, responses={201: s.TeamSerializer})
    def post(self, request: Request) -> Response:
        data = _valid(s.TeamCreateSerializer, request)
        team = team_create(user=_me(request), slug=data["slug"], name=data["name"])
        return Response(s.TeamSerializer(team, context={"roles": {team.pk: "owner"}}).data, status=201)


class TeamDetail(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=s.TeamSerializer)
    def get(self, request: Request, slug: str) -> Response:
        team = selectors.team_get(user=_me(request), slug=slug)
        return Response(
            s.TeamSerializer(team, context={"roles": selectors.user_roles(user=request.user)}).data
        )


class TeamMembers(APIView):
    """A team's members and their roles; its owners add members or change roles with POST."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=s.MemberSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        team = selectors.team_get(user=_me(request), slug=slug)
        return Response(s.MemberSerializer(selectors.team_members(team=team), many=True).data)

    @extend_schema(request=s.MemberWriteSerializer, responses={201: s.MemberSerializer})
    def post(self, request: Request, slug: str) -> Response:
        team = selectors.team_get(user=_me(request), slug=slug)
        data = _valid(s.MemberWriteSerializer, request)
        membership = membership_set(
            actor=_me(request), team=team, username=data["username"], role=data["role"]
        )
        return Response(s.MemberSerializer(membership).data, status=201)


class TeamMember(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=s.RoleSerializer, responses=s.MemberSerializer)
    def patch(self, request: Request, slug: str, username: str) -> Response:
        team = selectors.team_get(user=_me(request), slug=slug)
        data = _valid(s.RoleSerializer, request)
        membership = membership_set(actor=_me(request), team=team, username=username, role=data["role"])
        return Response(s.MemberSerializer(membership).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, slug: str, username: str) -> Response:
        team = selectors.team_get(user=_me(request), slug=slug)
        membership_remove(actor=_me(request), team=team, username=username)
        return Response(status=204)


class DatasetList(generics.ListAPIView):
    """Search and browse the datasets you may see; POST registers a new one."""

    serializer_class = s.DatasetSerializer

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
                enum=["slug", "title", "popular", "created_at", "-created_at", "updated_at", "-updated_at"],
                description="popular: most checkouts first",
            ),
        ]
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> Any:
        params = self.request.query_params
        return selectors.dataset_search(
            user=self.request.user,
            q=params.get("q", ""),
            tag=params.get("tag", ""),
            team=params.get("team", ""),
            ordering=params.get("ordering", "slug"),
            certified=_boolean(params.get("certified")),
        )

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        assert page is not None
        access = selectors.dataset_access_map(user=_me(request), datasets=page)
        rows = [_dataset_data(request, dataset, access=access[dataset.pk]) for dataset in page]
        return self.get_paginated_response(rows)

    @extend_schema(request=s.DatasetWriteSerializer, responses={201: s.DatasetSerializer})
    def post(self, request: Request) -> Response:
        data = _valid(s.DatasetWriteSerializer, request)
        try:
            team = selectors.team_get(user=_me(request), slug=data.pop("team"))
        except NotFound as missing:
            raise InvalidInput(
                f"{missing.detail} Give the slug of a team you maintain.", field="team"
            ) from None
        status_value = data.pop("status")
        dataset = dataset_create(user=_me(request), team=team, **data)
        if status_value != dataset.status:
            dataset = dataset_update(dataset=dataset, changes={"status": status_value})
        return Response(_dataset_data(request, dataset), status=201)


class DatasetDetail(APIView):
    @extend_schema(responses=s.DatasetSerializer)
    def get(self, request: Request, slug: str) -> Response:
        dataset, _ = selectors.dataset_get(user=_me(request), slug=slug, need="discover")
        return Response(_dataset_data(request, dataset))

    @extend_schema(request=s.DatasetPatchSerializer, responses=s.DatasetSerializer)
    def patch(self, request: Request, slug: str) -> Response:
        dataset, _ = selectors.dataset_get(user=_me(request), slug=slug, need="write")
        serializer = s.DatasetPatchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        changes = {key: value for key, value in serializer.validated_data.items() if key in request.data}
        dataset = dataset_update(dataset=dataset, changes=changes)
        return Response(_dataset_data(request, dataset))


def _dataset_data(
    request: Request, dataset: Dataset, *, access: selectors.Access | None = None
) -> dict[str, Any]:
    """A dataset as the caller may see it; `access` is given for list rows, which omit the README."""
    listing = access is not None
    access = access or selectors.dataset_access(user=_me(request), dataset=dataset)
    if access.restricted_only:
        return dict(s.RestrictedDatasetSerializer(dataset).data)
    context: dict[str, Any] = {"request": request}
    if not listing:
        latest = selectors.version_latest(dataset=dataset)
        context["latest_number"] = latest.number if latest else None
    data = dict(s.DatasetSerializer(dataset, context=context).data)
    if listing:
        data.pop("readme")  # the list stays light; the card has it
    return data


def _version_context(dataset: Dataset) -> dict[str, Any]:
    """What version rows need to name their aliases and quality, computed once per request."""
    latest = selectors.version_latest(dataset=dataset)
    certified = selectors.version_certified(dataset=dataset)
    return {
        "latest_number": latest.number if latest else None,
        "certified_number": certified.number if certified else None,
        "alias_names": selectors.version_alias_names(
            dataset=dataset, computed={"latest": latest, "certified": certified}
        ),
        "no_suite": selectors.suite_revision_current(dataset=dataset) is None,
    }


class VersionList(generics.ListAPIView):
    """A dataset's versions, newest first; POST uploads a new one (multipart) and answers 202."""

    serializer_class = s.VersionSerializer
    parser_classes = [MultiPartParser, FormParser]

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular inspecting the view
            return Version.objects.none()
        self.dataset, _ = selectors.dataset_get(user=self.request.user, slug=self.kwargs["slug"])
        return selectors.versions_with_quality(dataset=self.dataset)

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), **_version_context(self.dataset)}

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        assert page is not None
        context = {
            **self.get_serializer_context(),
            "upstreams": selectors.version_upstream_refs(user=request.user, versions=page),
        }
        return self.get_paginated_response(s.VersionSerializer(page, many=True, context=context).data)

    @extend_schema(request=s.VersionUploadSerializer, responses={202: s.VersionSerializer})
    def post(self, request: Request, slug: str) -> Response:
        dataset, _ = selectors.dataset_get(user=_me(request), slug=slug, need="write")
        serializer = s.VersionUploadSerializer(data=request.data)
        if upload_was_too_large(request):
            raise UploadTooLarge(too_large_message(), field="file")
        serializer.is_valid(raise_exception=True)
        upload_data = dict(serializer.validated_data)
        version = version_upload(
            dataset=dataset, user=_me(request), upload=upload_data.pop("file"), **upload_data
        )
        context = {
            "request": request,
            "upstreams": selectors.version_upstream_refs(user=request.user, versions=[version]),
        }
        data = s.VersionSerializer(version, context=context).data
        return Response(data, status=status.HTTP_202_ACCEPTED)


class VersionDetail(APIView):
    @extend_schema(responses=s.VersionSerializer)
    def get(self, request: Request, slug: str, ref: str) -> Response:
        dataset, _ = selectors.dataset_get(user=_me(request), slug=slug)
        version = selectors.version_resolve(dataset=dataset, ref=ref)
        context = {
            "request": request,
            **_version_context(dataset),
            "upstreams": selectors.version_upstream_refs(user=request.user, versions=[version]),
        }
        return Response(s.VersionSerializer(version, context=context).data)


class VersionDownload(APIView):
    """The version's data: `format=original` (the default) is the uploaded file as is, `parquet`
    the normalized copy; `columns=` picks columns; csv and jsonl are exported from the copy."""

    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=["original", "parquet", "csv", "jsonl"], default="original"),
            OpenApiParameter("columns", str, description="comma-separated column names (not with original)"),
        ],
        responses={
            (200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY),
            206: OpenApiResponse(description="the requested Range"),
            409: OpenApiResponse(description="the version is not ready"),
        },
    )
    def get(self, request: Request, slug: str, ref: str) -> HttpResponseBase:
        dataset, _ = selectors.dataset_get(user=_me(request), slug=slug)
        version = selectors.version_resolve(dataset=dataset, ref=ref)
        columns = [c.strip() for c in request.query_params.get("columns", "").split(",") if c.strip()]
        return version_download_response(
            request=request,
            version=version,
            format=request.query_params.get("format", "original"),
            columns=columns,
        )


class VersionSchema(APIView):
    """The version's columns (name, type, nullable) with the dataset's documentation."""

    @extend_schema(responses=s.SchemaSerializer)
    def get(self, request: Request, slug: str, ref: str) -> Response:
        version = _ready_version(request, slug, ref)
        return Response({"version": version.ref, "columns": selectors.schema_documented(version=version)})


class VersionProfile(APIView):
    """Per-column statistics: nulls, distinct, min/max/mean/std, quantiles, histogram, top values."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, slug: str, ref: str) -> Response:
        version = _ready_version(request, slug, ref)
        return Response({"version": version.ref, **version.profile})


class VersionPreview(APIView):
    """The version's first rows."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, slug: str, ref: str) -> Response:
        version = _ready_version(request, slug, ref)
        return Response({"version": version.ref, **version.preview})


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
        dataset, _ = selectors.dataset_get(user=_me(request), slug=slug)
        new = selectors.version_resolve(dataset=dataset, ref=request.query_params.get("to", "latest"))
        old_ref = request.query_params.get("from")
        old = selectors.version_resolve(dataset=dataset, ref=old_ref) if old_ref else None
        old = old or selectors.version_previous(version=new)
        if old is None:
            raise InvalidInput(f"{new.ref} has no earlier ready version to compare with: give from=.")
        return Response(selectors.schema_diff(old=old, new=new))


class ColumnDocs(APIView):
    """Column documentation of a dataset; maintainers replace entries with PUT (a list)."""

    @extend_schema(responses=s.ColumnDocSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        dataset, _ = selectors.dataset_get(user=_me(request), slug=slug)
        docs = selectors.column_docs(dataset=dataset).values()
        return Response(s.ColumnDocSerializer(docs, many=True).data)

    @extend_schema(request=s.ColumnDocSerializer(many=True), responses=s.ColumnDocSerializer(many=True))
    def put(self, request: Request, slug: str) -> Response:
        dataset, _ = selectors.dataset_get(user=_me(request), slug=slug, need="write")
        serializer = s.ColumnDocSerializer(data=request.data, many=True)
        serializer.is_valid(raise_exception=True)
        column_docs_set(dataset=dataset, user=_me(request), docs=serializer.validated_data)
        docs = selectors.column_docs(dataset=dataset).values()
        return Response(s.ColumnDocSerializer(docs, many=True).data)


class VersionCroissant(APIView):
    """Croissant 1.0 (ML Commons) JSON-LD metadata for exactly this version: its files with their
    sha256, and a RecordSet whose fields are its columns."""

    @extend_schema(responses={(200, "application/ld+json"): OpenApiTypes.OBJECT})
    def get(self, request: Request, slug: str, ref: str) -> Response:
        version = _ready_version(request, slug, ref)
        document = version_croissant(version=version, absolute=request.build_absolute_uri)
        return Response(document, content_type="application/ld+json")


class AliasList(APIView):
    """A dataset's named aliases (`latest` and `certified` are computed and not listed)."""

    @extend_schema(responses=s.AliasSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        dataset, _ = selectors.dataset_get(user=_me(request), slug=slug)
        return Response(s.AliasSerializer(selectors.aliases_of(dataset=dataset), many=True).data)


class AliasDetail(APIView):
    """Read a named alias with its history; maintainers move it (PUT) or remove it (DELETE)."""

    @extend_schema(responses=s.AliasDetailSerializer)
    def get(self, request: Request, slug: str, name: str) -> Response:
        dataset, _ = selectors.dataset_get(user=_me(request), slug=slug)
        if name in COMPUTED_ALIASES:
            version = selectors.version_resolve(dataset=dataset, ref=name)
            return Response({**_computed_alias(version, name), "history": []})
        alias = selectors.alias_get(dataset=dataset, name=name)
        return Response(_alias_data(alias))

    @extend_schema(request=s.AliasWriteSerializer, responses={200: s.AliasDetailSerializer})
    def put(self, request: Request, slug: str, name: str) -> Response:
        dataset, _ = selectors.dataset_get(user=_me(request), slug=slug, need="write")
        data = _valid(s.AliasWriteSerializer, request)
        try:
            version = selectors.version_resolve(dataset=dataset, ref=data["version"])
        except NotFound as exc:
            raise InvalidInput(exc.detail, field="version") from None
        alias, _ = alias_set(dataset=dataset, user=_me(request), name=name, version=version)
        return Response(_alias_data(alias))

    @extend_schema(responses={204: None})
    def delete(self, request: Request, slug: str, name: str) -> Response:
        dataset, _ = selectors.dataset_get(user=_me(request), slug=slug, need="write")
        alias_delete(dataset=dataset, user=_me(request), name=name)
        return Response(status=204)


class AccessRequestList(APIView):
    """Access requests for a restricted dataset: its owners see them all, anyone else their own;
    a user who may see the dataset but not its data asks (POST) with a reason."""

    @extend_schema(responses=s.AccessRequestSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        me = _me(request)
        dataset, access = selectors.dataset_get(user=me, slug=slug, need="discover")
        found = selectors.access_requests_visible_to(user=me, dataset=dataset, access=access)
        return Response(s.AccessRequestSerializer(found, many=True).data)

    @extend_schema(request=s.AccessRequestWriteSerializer, responses={201: s.AccessRequestSerializer})
    def post(self, request: Request, slug: str) -> Response:
        dataset, access = selectors.dataset_get(user=_me(request), slug=slug, need="discover")
        data = _valid(s.AccessRequestWriteSerializer, request)
        made = access_request_create(user=_me(request), dataset=dataset, access=access, reason=data["reason"])
        return Response(s.AccessRequestSerializer(made).data, status=status.HTTP_201_CREATED)


class AccessRequestDecision(APIView):
    """A team owner approves or denies a pending access request, or revokes an approved one,
    with an optional note."""

    @extend_schema(request=s.AccessDecisionSerializer, responses={200: s.AccessRequestSerializer})
    def post(self, request: Request, slug: str, request_id: int) -> Response:
        me = _me(request)
        dataset, _ = selectors.dataset_get_to_decide_access(user=me, slug=slug)
        data = _valid(s.AccessDecisionSerializer, request)
        asked = selectors.access_request_get(dataset=dataset, request_id=request_id)
        decided = access_request_settle(user=me, request=asked, decision=data["decision"], note=data["note"])
        return Response(s.AccessRequestSerializer(decided).data)


def _alias_data(alias: Alias) -> dict[str, Any]:
    history = selectors.alias_history(dataset=alias.dataset, name=alias.name)
    return dict(s.AliasDetailSerializer(alias, context={"history": history}).data)


def _computed_alias(version: Version, name: str) -> dict[str, Any]:
    return {
        "dataset": version.dataset.slug,
        "name": name,
        "version": version.number,
        "sha256": version.sha256,
        "computed": True,
        "updated_by": None,
        "updated_at": version.status_changed_at,
    }


class CheckoutList(APIView):
    """Resolve references into a pinned manifest (a lock file) for a purpose, and record it."""

    @extend_schema(request=s.CheckoutCreateSerializer, responses={201: s.CheckoutSerializer})
    def post(self, request: Request) -> Response:
        data = _valid(s.CheckoutCreateSerializer, request)
        checkout = checkout_create(user=_me(request), **data)
        checkout = selectors.checkout_get(user=_me(request), checkout_id=checkout.pk)
        return Response(s.CheckoutSerializer(checkout, context={"request": request}).data, status=201)


class CheckoutDetail(APIView):
    """A checkout's manifest, exactly as when it was made."""

    @extend_schema(responses=s.CheckoutSerializer)
    def get(self, request: Request, checkout_id: UUID) -> Response:
        checkout = selectors.checkout_get(user=_me(request), checkout_id=checkout_id)
        return Response(s.CheckoutSerializer(checkout, context={"request": request}).data)


def _ready_version(request: Request, slug: str, ref: str) -> Version:
    dataset, _ = selectors.dataset_get(user=_me(request), slug=slug)
    return selectors.version_ready(version=selectors.version_resolve(dataset=dataset, ref=ref))


def _boolean(value: str | None) -> bool | None:
    if value is None or value == "":
        return None
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise InvalidInput(f"'{value}' is not true or false.", field="certified")


class Suite(APIView):
    """The dataset's expectation suite as Great Expectations suite JSON; PUT imports one (a new
    revision) and queues validation of `latest`."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, slug: str) -> Response:
        dataset, _ = selectors.dataset_get(user=_me(request), slug=slug)
        return Response(quality.suite_export(dataset=dataset))

    @extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT)
    def put(self, request: Request, slug: str) -> Response:
        dataset, _ = selectors.dataset_get(user=_me(request), slug=slug, need="write")
        quality.suite_import(dataset=dataset, user=_me(request), data=request.data)
        return Response(quality.suite_export(dataset=dataset))


class SuiteSuggestion(APIView):
    """A starter suite drafted from a version's profile (default: latest), to review and PUT."""

    @extend_schema(parameters=[OpenApiParameter("version", str)], responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, slug: str) -> Response:
        dataset, _ = selectors.dataset_get(user=_me(request), slug=slug)
        version = selectors.version_resolve(
            dataset=dataset, ref=request.query_params.get("version", "latest")
        )
        return Response({"name": dataset.slug, "expectations": quality.suite_suggest(version=version)})


class Validations(APIView):
    """A version's validation runs, newest first; POST queues a run of the current suite."""

    @extend_schema(responses=s.ValidationRunSerializer(many=True))
    def get(self, request: Request, slug: str, ref: str) -> Response:
        dataset, _ = selectors.dataset_get(user=_me(request), slug=slug)
        version = selectors.version_resolve(dataset=dataset, ref=ref)
        runs = selectors.validation_runs_of(version=version)[:50]
        return Response(s.ValidationRunSerializer(runs, many=True, context={"request": request}).data)

    @extend_schema(request=None, responses={202: s.ValidationRunSerializer})
    def post(self, request: Request, slug: str, ref: str) -> Response:
        dataset, _ = selectors.dataset_get(user=_me(request), slug=slug, need="write")
        version = selectors.version_resolve(dataset=dataset, ref=ref)
        run = quality.validation_queue(version=version, trigger="on demand", user=_me(request))
        return Response(s.ValidationRunSerializer(run, context={"request": request}).data, status=202)


class ValidationDetail(APIView):
    @extend_schema(responses=s.ValidationRunSerializer)
    def get(self, request: Request, slug: str, ref: str, run_id: int) -> Response:
        dataset, _ = selectors.dataset_get(user=_me(request), slug=slug)
        version = selectors.version_resolve(dataset=dataset, ref=ref)
        run = selectors.validation_run_get(version=version, run_id=run_id)
        return Response(s.ValidationRunSerializer(run, context={"request": request}).data)


def _valid(serializer_class: type[Any], request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _me(request: Any) -> User:
    """The signed-in user of a request that the gate (login or API permission) let through."""
    return cast(User, request.user)
