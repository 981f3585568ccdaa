"""Checkouts: references resolved once into a pinned manifest, and read back."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.common import JsonTypes, me, valid
from datasets.models import (
    VERSION_DOWNLOAD_API,
    Checkout,
    CheckoutItem,
)
from datasets.selectors import (
    checkout_get,
)
from datasets.services.checkouts import checkout_create


class CheckoutCreateSerializer(JsonTypes, serializers.Serializer):
    refs = serializers.ListField(
        child=serializers.CharField(max_length=300),
        allow_empty=False,
        min_length=1,  # allow_empty, as the schema says it (minItems)
        max_length=100,
        help_text="References: churn@3, churn@prod, churn@latest, churn@sha256:<12+ hex>, or churn",
    )
    purpose = serializers.CharField(max_length=500, help_text="What the data is for")
    model = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    run_id = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class CheckoutItemSerializer(serializers.ModelSerializer):
    dataset = serializers.CharField(source="dataset.slug", read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True)
    size = serializers.IntegerField(source="version.size", read_only=True)
    format = serializers.CharField(source="version.format", read_only=True)
    compression = serializers.CharField(source="version.compression", read_only=True)
    row_count = serializers.IntegerField(source="version.row_count", read_only=True)
    filename = serializers.SerializerMethodField(help_text="What the download is called")
    parquet_size = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField(help_text="The original bytes (sha256)")
    parquet_url = serializers.SerializerMethodField(help_text="The Parquet copy (parquet_sha256)")
    croissant_url = serializers.SerializerMethodField()

    class Meta:
        model = CheckoutItem
        fields = [
            "ref",
            "dataset",
            "version",
            "sha256",
            "size",
            "format",
            "compression",
            "row_count",
            "filename",
            "parquet_sha256",
            "parquet_size",
            "download_url",
            "parquet_url",
            "croissant_url",
        ]
        read_only_fields = fields

    def get_filename(self, item: CheckoutItem) -> str:
        return item.version.download_filename()

    def get_parquet_size(self, item: CheckoutItem) -> int | None:
        blob = item.version.parquet_blob
        return blob.size if blob is not None else None

    def get_download_url(self, item: CheckoutItem) -> str:
        return self._absolute(VERSION_DOWNLOAD_API, item)

    def get_parquet_url(self, item: CheckoutItem) -> str | None:
        if not item.parquet_sha256:
            return None
        return self._absolute(VERSION_DOWNLOAD_API, item) + "?format=parquet"

    def get_croissant_url(self, item: CheckoutItem) -> str:
        return self._absolute("api-version-croissant", item)

    def _absolute(self, name: str, item: CheckoutItem) -> str:
        path = reverse(name, args=[item.dataset.slug, item.version.number])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class CheckoutSerializer(serializers.ModelSerializer):
    created_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    refs = serializers.SerializerMethodField(help_text="The references as asked for, in order")
    items = CheckoutItemSerializer(many=True, read_only=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = Checkout
        fields = ["id", "url", "created_at", "created_by", "purpose", "model", "run_id", "refs", "items"]
        read_only_fields = fields

    def get_refs(self, checkout: Checkout) -> list[str]:
        return [item.ref for item in checkout.items.all()]

    def get_url(self, checkout: Checkout) -> str:
        path = reverse("api-checkout-detail", args=[checkout.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class CheckoutList(APIView):
    """Resolve references into a pinned manifest (a lock file) for a purpose, and record it."""

    @extend_schema(request=CheckoutCreateSerializer, responses={201: CheckoutSerializer})
    def post(self, request: Request) -> Response:
        data = valid(CheckoutCreateSerializer, request)
        checkout = checkout_create(user=me(request), **data)
        checkout = checkout_get(user=me(request), checkout_id=checkout.pk)
        return Response(CheckoutSerializer(checkout, context={"request": request}).data, status=201)


class CheckoutDetail(APIView):
    """A checkout's manifest, exactly as when it was made."""

    @extend_schema(responses=CheckoutSerializer)
    def get(self, request: Request, checkout_id: UUID) -> Response:
        checkout = checkout_get(user=me(request), checkout_id=checkout_id)
        return Response(CheckoutSerializer(checkout, context={"request": request}).data)
