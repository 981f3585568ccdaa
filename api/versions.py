"""Versions: list, upload, read one, download its data, its schema, profile, preview and Croissant."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponseBase
from django.urls import reverse
from django.utils.datastructures import MultiValueDict
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.parsers import BaseParser, DataAndFiles, MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.common import me
from api.downloads import CONTENT_TYPES, version_download_response
from api.schema import ErrorSerializer
from core.errors import InvalidInput, UploadTooLarge
from datasets.access import dataset_get
from datasets.models import (
    VERSION_DOWNLOAD_API,
    Dataset,
    Version,
)
from datasets.references import version_certified, version_latest, version_refs_split, version_resolve
from datasets.selectors import (
    schema_documented,
    version_alias_names,
    version_ready,
    version_upstream_refs,
    versions_of,
)
from datasets.services.croissant import version_croissant
from datasets.services.downloads import version_download_record
from datasets.services.versions import version_upload
from datasets.uploads import (
    raw_body_receive,
    raw_filename,
    too_large_message,
    upload_refusal,
    upload_was_too_large,
)


class VersionSerializer(serializers.ModelSerializer):
    dataset = serializers.CharField(source="dataset.slug", read_only=True)
    sha256 = serializers.CharField(read_only=True)
    created_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    derived_from = serializers.SerializerMethodField(
        help_text='Declared upstream versions as references ("raw@12"); "restricted" for one you may not read'
    )
    quality_status = serializers.SerializerMethodField()
    aliases = serializers.SerializerMethodField()
    stuck = serializers.BooleanField(source="is_stuck", read_only=True)
    parquet_sha256 = serializers.CharField(source="parquet_blob_id", read_only=True, allow_null=True)
    progress = serializers.SerializerMethodField(help_text="bytes read of the file, 0 to 1, while processing")
    url = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Version
        fields = [
            "dataset",
            "number",
            "status",
            "failure_reason",
            "sha256",
            "size",
            "format",
            "row_count",
            "compression",
            "schema",
            "parquet_sha256",
            "bytes_read",
            "rows_processed",
            "progress",
            "message",
            "original_filename",
            "created_by",
            "created_at",
            "status_changed_at",
            "stuck",
            "derived_from",
            "code_url",
            "quality_status",
            "aliases",
            "url",
            "download_url",
        ]
        read_only_fields = fields

    def get_progress(self, version: Version) -> float:
        if version.status == Version.Status.READY:
            return 1.0
        return min(1.0, version.bytes_read / version.size) if version.size else 0.0

    def get_derived_from(self, version: Version) -> list[str]:
        upstreams: dict[int, list[str]] = self.context.get("upstreams", {})
        return upstreams.get(version.pk, [])

    def get_quality_status(self, version: Version) -> str | None:
        """passed, failed, error, queued, running, unchecked, or null when there is no suite."""
        return version.quality_status

    def get_aliases(self, version: Version) -> list[str]:
        named: dict[int, list[str]] | None = self.context.get("alias_names")
        if named is not None:  # from version_alias_names: computed and named
            return named.get(version.pk, [])
        aliases = []
        if self.context.get("latest_number") == version.number:
            aliases.append("latest")
        if self.context.get("certified_number") == version.number:
            aliases.append("certified")
        return aliases

    def get_url(self, version: Version) -> str:
        return self._absolute(reverse("api-version-detail", args=[version.dataset.slug, version.number]))

    def get_download_url(self, version: Version) -> str | None:
        if version.status != Version.Status.READY:
            return None
        return self._absolute(reverse(VERSION_DOWNLOAD_API, args=[version.dataset.slug, version.number]))

    def _absolute(self, path: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class VersionUploadSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True, help_text="CSV, TSV, Parquet or JSON Lines")
    message = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    derived_from = serializers.ListField(
        child=serializers.CharField(max_length=300),
        required=False,
        default=list,
        help_text="Upstream versions: raw@12, users@latest, x@sha256:<12+ hex>; repeated or comma-separated",
    )
    code_url = serializers.CharField(
        max_length=500,
        required=False,
        allow_blank=True,
        default="",
        help_text="The code that produced it: repository URL and commit, or any URL",
    )

    def validate_derived_from(self, values: list[str]) -> list[str]:
        return version_refs_split(values)


class ColumnSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField(
        help_text="integer, float, boolean, string, date, timestamp, decimal, list<…>, struct<…>"
    )
    nullable = serializers.BooleanField()
    arrow_type = serializers.CharField()
    description = serializers.CharField()
    pii = serializers.BooleanField()
    documented = serializers.BooleanField()


class SchemaSerializer(serializers.Serializer):
    version = serializers.CharField()
    columns = ColumnSerializer(many=True)


def _version_context(dataset: Dataset) -> dict[str, Any]:
    """What version rows need to name their aliases and quality, computed once per request."""
    latest = version_latest(dataset=dataset)
    certified = version_certified(dataset=dataset)
    return {
        "latest_number": latest.number if latest else None,
        "certified_number": certified.number if certified else None,
        "alias_names": version_alias_names(
            dataset=dataset, computed={"latest": latest, "certified": certified}
        ),
    }


class RawFileParser(BaseParser):
    """A file sent as the whole body (`application/octet-stream`), named by `Content-Disposition`
    or `?filename=`; the form's other fields come from the query string."""

    media_type = "application/octet-stream"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> DataAndFiles:
        request: Request = parser_context["request"]
        fields = request.query_params.copy()
        fields.pop("filename", None)
        upload = raw_body_receive(request._request, stream, filename=raw_filename(request._request))
        return DataAndFiles(fields, MultiValueDict({"file": [upload]} if upload is not None else {}))


RAW_FIELD = "with a raw `application/octet-stream` body (the multipart form has it as a field)"


class VersionList(generics.ListAPIView):
    """A dataset's versions, newest first; POST uploads a new one (multipart, or the file as the
    whole body) and answers 202."""

    serializer_class = VersionSerializer
    # A file: a JSON body or a plain form cannot carry one.
    parser_classes = [MultiPartParser, RawFileParser]

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular inspecting the view
            return Version.objects.none()
        self.dataset, _ = dataset_get(user=self.request.user, slug=self.kwargs["slug"])
        return versions_of(dataset=self.dataset)

    def get_serializer_class(self) -> type[serializers.Serializer]:
        # OPTIONS describes each method's body: an upload's fields for POST.
        return VersionUploadSerializer if self.request.method == "POST" else VersionSerializer

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        assert page is not None
        context = {
            **self.get_serializer_context(),
            **_version_context(self.dataset),
            "upstreams": version_upstream_refs(user=request.user, versions=page),
        }
        return self.get_paginated_response(VersionSerializer(page, many=True, context=context).data)

    @extend_schema(
        request={
            "multipart/form-data": VersionUploadSerializer,
            "application/octet-stream": OpenApiTypes.BINARY,
        },
        parameters=[
            OpenApiParameter(
                "Repr-Digest",
                str,
                location=OpenApiParameter.HEADER,
                description="The file's sha256 as RFC 9530 says, sha-256=:<base64>:. Checked against the "
                "bytes; on object storage a large file is then sent on to storage while it arrives.",
            ),
            OpenApiParameter(
                "Content-Disposition",
                str,
                location=OpenApiParameter.HEADER,
                description='The file\'s name with a raw body, as RFC 6266 says: attachment; filename="x.csv"',
            ),
            OpenApiParameter(
                "filename", str, description=f"the file's name {RAW_FIELD}, if not in Content-Disposition"
            ),
            OpenApiParameter("message", str, description=f"the version's message {RAW_FIELD}"),
            OpenApiParameter("derived_from", str, many=True, description=f"upstream versions {RAW_FIELD}"),
            OpenApiParameter("code_url", str, description=f"the code that made it {RAW_FIELD}"),
        ],
        responses={
            202: VersionSerializer,
            400: OpenApiResponse(ErrorSerializer, description="digest_mismatch: not the declared sha256"),
        },
    )
    def post(self, request: Request, slug: str) -> Response:
        dataset, _ = dataset_get(user=me(request), slug=slug, need="write")
        serializer = VersionUploadSerializer(data=request.data)
        if upload_was_too_large(request):
            raise UploadTooLarge(too_large_message(), field="file")
        if (refusal := upload_refusal(request)) is not None:  # the disk filled up
            raise refusal
        if request.content_type.startswith(RawFileParser.media_type) and not request.FILES:
            # DRF reads no body without a Content-Length (a chunked one): say so, not "no file".
            raise InvalidInput(
                "The body is empty: send the file's bytes with a Content-Length.", field="file"
            )
        serializer.is_valid(raise_exception=True)
        upload_data = dict(serializer.validated_data)
        version = version_upload(
            dataset=dataset, user=me(request), upload=upload_data.pop("file"), **upload_data
        )
        context = {
            "request": request,
            "upstreams": version_upstream_refs(user=request.user, versions=[version]),
        }
        data = VersionSerializer(version, context=context).data
        return Response(data, status=status.HTTP_202_ACCEPTED)


class VersionDetail(APIView):
    @extend_schema(responses=VersionSerializer)
    def get(self, request: Request, slug: str, ref: str) -> Response:
        dataset, _ = dataset_get(user=me(request), slug=slug)
        version = version_resolve(dataset=dataset, ref=ref)
        context = {
            "request": request,
            **_version_context(dataset),
            "upstreams": version_upstream_refs(user=request.user, versions=[version]),
        }
        return Response(VersionSerializer(version, context=context).data)


# The original's type by its format (gzip when compressed), else the export's.
DOWNLOAD_TYPES = sorted(
    {media.split(";")[0] for media in CONTENT_TYPES.values()}
    | {"application/gzip", "application/octet-stream"}
)


class VersionDownload(APIView):
    """The version's data: `format=original` (the default) is the uploaded file as is, `parquet`
    the normalized copy; `columns=` picks columns; csv and jsonl are exported from the copy."""

    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=["original", "parquet", "csv", "jsonl"], default="original"),
            OpenApiParameter("columns", str, description="comma-separated column names (not with original)"),
        ],
        responses={
            **{(200, media): OpenApiResponse(OpenApiTypes.BINARY) for media in DOWNLOAD_TYPES},
            **{(206, media): OpenApiResponse(OpenApiTypes.BINARY) for media in DOWNLOAD_TYPES},
            304: OpenApiResponse(description="If-None-Match named these bytes"),
            307: OpenApiResponse(description="a short-lived URL of the bytes in object storage (Location)"),
            409: OpenApiResponse(ErrorSerializer, description="the version is not ready"),
            416: OpenApiResponse(description="the Range is outside the file"),
            503: OpenApiResponse(
                ErrorSerializer, description="the stored bytes are damaged, or storage is down"
            ),
        },
    )
    def get(self, request: Request, slug: str, ref: str) -> HttpResponseBase:
        dataset, _ = dataset_get(user=me(request), slug=slug)
        version = version_resolve(dataset=dataset, ref=ref)
        columns = [c.strip() for c in request.query_params.get("columns", "").split(",") if c.strip()]
        format = request.query_params.get("format", "original")
        response = version_download_response(request=request, version=version, format=format, columns=columns)
        if response.status_code in (200, 206, 307):  # bytes go out, from here or the store
            version_download_record(
                user=request.user,
                version=version,
                format=format,
                columns=columns,
                status=response.status_code,
                range=request.headers.get("Range", ""),
            )
        return response


class VersionSchema(APIView):
    """The version's columns (name, type, nullable) with the dataset's documentation."""

    @extend_schema(responses=SchemaSerializer)
    def get(self, request: Request, slug: str, ref: str) -> Response:
        version = _ready_version(request, slug, ref)
        return Response({"version": version.ref, "columns": schema_documented(version=version)})


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


class JsonLdRenderer(JSONRenderer):
    media_type = "application/ld+json"
    format = "jsonld"


class VersionCroissant(APIView):
    """Croissant 1.0 (ML Commons) JSON-LD metadata for exactly this version: its files with their
    sha256, and a RecordSet whose fields are its columns."""

    # The document itself whatever the Accept header: a browser following the portal's link got
    # DRF's browsable HTML page labelled application/ld+json, shown as text.
    renderer_classes = [JsonLdRenderer, JSONRenderer]

    @extend_schema(responses={(200, "application/ld+json"): OpenApiTypes.OBJECT})
    def get(self, request: Request, slug: str, ref: str) -> Response:
        version = _ready_version(request, slug, ref)
        document = version_croissant(version=version, absolute=request.build_absolute_uri)
        return Response(document, content_type="application/ld+json")


def _ready_version(request: Request, slug: str, ref: str) -> Version:
    dataset, _ = dataset_get(user=me(request), slug=slug)
    return version_ready(version=version_resolve(dataset=dataset, ref=ref))
