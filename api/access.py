"""Access requests for restricted datasets, and their owners' decisions."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.common import JsonTypes, me, valid
from datasets.access import dataset_get
from datasets.models import (
    AccessRequest,
)
from datasets.selectors import (
    access_request_get,
    access_requests_visible_to,
)
from datasets.services.access_requests import DECISIONS, access_request_create, access_request_settle


class AccessRequestSerializer(serializers.ModelSerializer):
    dataset = serializers.CharField(source="dataset.slug", read_only=True)
    user: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    decided_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    revoked_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = AccessRequest
        fields = [
            "id",
            "dataset",
            "user",
            "reason",
            "status",
            "created_at",
            "decided_by",
            "decided_at",
            "note",
            "revoked_by",
            "revoked_at",
            "revoke_note",
        ]
        read_only_fields = fields


class AccessRequestWriteSerializer(JsonTypes, serializers.Serializer[Any]):
    reason = serializers.CharField(max_length=2000, help_text="Why you need the data; the owners read it.")


class AccessDecisionSerializer(JsonTypes, serializers.Serializer[Any]):
    decision = serializers.ChoiceField(
        choices=list(DECISIONS),
        help_text="approve or deny a pending request; revoke an approved one",
    )
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class AccessRequestList(APIView):
    """Access requests for a restricted dataset: its owners see them all, anyone else their own;
    a user who may see the dataset but not its data asks (POST) with a reason."""

    @extend_schema(responses=AccessRequestSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        user = me(request)
        dataset, access = dataset_get(user=user, slug=slug, need="discover")
        found = access_requests_visible_to(user=user, dataset=dataset, access=access)
        return Response(AccessRequestSerializer(found, many=True).data)

    @extend_schema(request=AccessRequestWriteSerializer, responses={201: AccessRequestSerializer})
    def post(self, request: Request, slug: str) -> Response:
        dataset, access = dataset_get(user=me(request), slug=slug, need="discover")
        data = valid(AccessRequestWriteSerializer, request)
        made = access_request_create(user=me(request), dataset=dataset, access=access, reason=data["reason"])
        return Response(AccessRequestSerializer(made).data, status=status.HTTP_201_CREATED)


class AccessRequestDecision(APIView):
    """A team owner approves or denies a pending access request, or revokes an approved one,
    with an optional note."""

    @extend_schema(request=AccessDecisionSerializer, responses={200: AccessRequestSerializer})
    def post(self, request: Request, slug: str, request_id: int) -> Response:
        user = me(request)
        dataset, _ = dataset_get(user=user, slug=slug, need="decide")
        data = valid(AccessDecisionSerializer, request)
        asked = access_request_get(dataset=dataset, request_id=request_id)
        decided = access_request_settle(
            user=user, request=asked, decision=data["decision"], note=data["note"]
        )
        return Response(AccessRequestSerializer(decided).data)
