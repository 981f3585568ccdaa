"""Direct uploads: big files go from the client to object storage in presigned parts, then
`complete` makes them a version (processing, verified by its ingest) like any upload."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.common import JsonTypes, me, valid
from api.schema import ErrorSerializer
from api.versions import VersionSerializer
from datasets import storage
from datasets.access import dataset_get
from datasets.models import DirectUpload
from datasets.references import version_refs_split
from datasets.selectors import version_upstream_refs
from datasets.services.direct_uploads import (
    Started,
    direct_upload_abort,
    direct_upload_complete,
    direct_upload_create,
    direct_upload_get,
    direct_upload_refresh,
)
from datasets.storage.multipart import TARGET_PARTS, bucket_of


class UploadOptionsSerializer(serializers.Serializer):
    direct = serializers.BooleanField(
        help_text="Whether files may go straight to storage (object storage only)"
    )
    direct_threshold_bytes = serializers.IntegerField(help_text="Clients upload directly above this size")
    part_bytes = serializers.IntegerField(help_text="The preferred part size (larger for huge files)")
    max_bytes = serializers.IntegerField(help_text="The largest file accepted (GRANARY_MAX_UPLOAD_BYTES)")


class DirectUploadCreateSerializer(JsonTypes, serializers.Serializer):
    filename = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    size = serializers.IntegerField(min_value=1, max_value=2**62, help_text="The file's size in bytes")
    sha256 = serializers.RegexField(
        r"^[0-9a-f]{64}$", help_text="The file's sha256 (lowercase hex): ingest checks the bytes against it"
    )
    message = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    derived_from = serializers.ListField(
        child=serializers.CharField(max_length=300),
        required=False,
        default=list,
        help_text="Upstream versions: raw@12, users@latest, x@sha256:<12+ hex>",
    )
    code_url = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    part_size = serializers.IntegerField(
        min_value=1,
        required=False,
        help_text="Bytes per part, the client's choice (5 MiB to 5 GiB, at most 1,000 parts); else the server's",
    )
    part_crc32 = serializers.ListField(
        child=serializers.RegexField(
            r"^[A-Za-z0-9+/]{6}==$",
            error_messages={"invalid": "Send a CRC32 as base64 of its 4 big-endian bytes."},
        ),
        required=False,
        default=list,
        max_length=TARGET_PARTS,
        help_text="Each part's CRC32 (base64 of 4 big-endian bytes, as S3's x-amz-checksum-crc32): "
        "signed into its URL, so storage refuses a part whose bytes differ",
    )

    def validate_derived_from(self, values: list[str]) -> list[str]:
        return version_refs_split(values)


class PartSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    url = serializers.URLField(help_text="PUT the part's bytes here, without an Authorization header")
    headers = serializers.DictField(
        child=serializers.CharField(),
        help_text="Send these headers with the PUT: they are signed into the URL (the part's CRC32, if declared)",
    )


class DirectUploadSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    state = serializers.CharField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    part_size = serializers.IntegerField()
    parts = PartSerializer(many=True, help_text="Empty when these bytes are stored already: just complete")
    complete_url = serializers.URLField()
    abort_url = serializers.URLField(help_text="DELETE it to abort")
    expires_at = serializers.DateTimeField()


class CompletedPartSerializer(JsonTypes, serializers.Serializer):
    number = serializers.IntegerField(min_value=1, max_value=10_000)
    etag = serializers.CharField(max_length=200, help_text="The ETag the part's PUT answered")


class CompleteSerializer(JsonTypes, serializers.Serializer):
    parts = CompletedPartSerializer(many=True, required=False, default=list)

    def validate_parts(self, parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        numbers = [part["number"] for part in parts]
        if numbers != list(range(1, len(parts) + 1)):
            raise serializers.ValidationError("List the parts in order, numbered 1 to N, each once.")
        return parts


def _started(request: Request, slug: str, started: Started) -> dict[str, Any]:
    upload = started.upload
    detail = request.build_absolute_uri(reverse("api-direct-upload-detail", args=[slug, upload.id]))
    return DirectUploadSerializer(
        {
            "id": upload.id,
            "state": upload.state,
            "size": upload.size,
            "sha256": upload.sha256,
            "part_size": upload.part_size,
            "parts": [
                {"number": part.number, "url": part.url, "headers": part.headers} for part in started.parts
            ],
            "complete_url": request.build_absolute_uri(
                reverse("api-direct-upload-complete", args=[slug, upload.id])
            ),
            "abort_url": detail,
            "expires_at": upload.expires_at,
        }
    ).data


class DirectUploadList(APIView):
    """GET: how files may be uploaded to this dataset. POST: start a direct upload (object
    storage only; 409 `direct_upload_unsupported` on the filesystem, upload through the app)."""

    @extend_schema(operation_id="datasets_uploads_options", responses=UploadOptionsSerializer)
    def get(self, request: Request, slug: str) -> Response:
        dataset_get(user=me(request), slug=slug, need="write")
        options = {
            "direct": bucket_of(storage.backend()) is not None,
            "direct_threshold_bytes": settings.GRANARY_DIRECT_UPLOAD_BYTES,
            "part_bytes": settings.GRANARY_DIRECT_UPLOAD_PART_BYTES,
            "max_bytes": settings.GRANARY_MAX_UPLOAD_BYTES,
        }
        return Response(UploadOptionsSerializer(options).data)

    @extend_schema(
        request=DirectUploadCreateSerializer,
        responses={
            201: DirectUploadSerializer,
            429: OpenApiResponse(
                ErrorSerializer,
                description="too_many_uploads: GRANARY_DIRECT_UPLOADS_OPEN_MAX uploads are open already",
            ),
        },
    )
    def post(self, request: Request, slug: str) -> Response:
        dataset, _ = dataset_get(user=me(request), slug=slug, need="write")
        data = valid(DirectUploadCreateSerializer, request)
        started = direct_upload_create(dataset=dataset, user=me(request), **data)
        return Response(_started(request, slug, started), status=status.HTTP_201_CREATED)


class DirectUploadDetail(APIView):
    """GET: the open upload with fresh part URLs. DELETE: abort it, dropping the parts sent."""

    @extend_schema(responses=DirectUploadSerializer)
    def get(self, request: Request, slug: str, upload_id: uuid.UUID) -> Response:
        upload = _upload(request, slug, upload_id)
        return Response(_started(request, slug, direct_upload_refresh(upload=upload)))

    @extend_schema(responses={204: None})
    def delete(self, request: Request, slug: str, upload_id: uuid.UUID) -> Response:
        direct_upload_abort(upload=_upload(request, slug, upload_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class DirectUploadComplete(APIView):
    """Join the parts (each part's ETag, in order) into a new version, answered 202 in
    `processing`; its ingest checks the declared sha256 and fails the version if it differs."""

    @extend_schema(request=CompleteSerializer, responses={202: VersionSerializer})
    def post(self, request: Request, slug: str, upload_id: uuid.UUID) -> Response:
        upload = _upload(request, slug, upload_id)
        parts = valid(CompleteSerializer, request)["parts"]
        version = direct_upload_complete(upload=upload, user=me(request), etags=[p["etag"] for p in parts])
        context = {
            "request": request,
            "upstreams": version_upstream_refs(user=request.user, versions=[version]),
        }
        return Response(VersionSerializer(version, context=context).data, status=status.HTTP_202_ACCEPTED)


def _upload(request: Request, slug: str, upload_id: uuid.UUID) -> DirectUpload:
    dataset, _ = dataset_get(user=me(request), slug=slug, need="write")
    return direct_upload_get(dataset=dataset, user=me(request), upload_id=upload_id)
