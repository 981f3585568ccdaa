"""Named aliases of a dataset's versions, and their history."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.common import JsonTypes, VersionRefField, me, valid
from core.errors import InvalidInput, NotFound
from datasets.access import dataset_get
from datasets.models import (
    ALIAS_PATTERN,
    COMPUTED_ALIASES,
    Alias,
    AliasMove,
    Version,
    alias_validator,
)
from datasets.references import version_resolve
from datasets.selectors import (
    alias_get,
    alias_history,
    aliases_of,
)
from datasets.services.aliases import alias_delete, alias_set


class AliasSerializer(serializers.ModelSerializer):
    dataset = serializers.CharField(source="dataset.slug", read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True)
    sha256 = serializers.CharField(source="version.sha256", read_only=True)
    updated_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    computed = serializers.SerializerMethodField(help_text="latest and certified are computed, not set")

    class Meta:
        model = Alias
        fields = ["dataset", "name", "version", "sha256", "computed", "updated_by", "updated_at"]
        read_only_fields = fields

    def get_computed(self, alias: Alias) -> bool:
        return False


class AliasMoveSerializer(serializers.ModelSerializer):
    from_version = serializers.IntegerField(source="from_version.number", read_only=True, allow_null=True)
    to_version = serializers.IntegerField(source="to_version.number", read_only=True, allow_null=True)
    moved_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = AliasMove
        fields = ["name", "from_version", "to_version", "moved_by", "moved_at"]
        read_only_fields = fields


class AliasDetailSerializer(AliasSerializer):
    history = serializers.SerializerMethodField(help_text="Every move, newest first")

    class Meta(AliasSerializer.Meta):
        fields = [*AliasSerializer.Meta.fields, "history"]
        read_only_fields = fields

    def get_history(self, alias: Alias) -> list[dict[str, Any]]:
        return list(AliasMoveSerializer(self.context.get("history", []), many=True).data)


class AliasWriteSerializer(JsonTypes, serializers.Serializer):
    version = VersionRefField(
        max_length=300,
        help_text="The version to point at: its number (3), or any reference to it (latest, staging, sha256:…)",
    )


# PUT and DELETE name an alias that can be set: not a computed one, and in the alias pattern.
SETTABLE_NAME = OpenApiParameter(
    "name",
    str,
    OpenApiParameter.PATH,
    pattern="^(?!(?:" + "|".join(COMPUTED_ALIASES) + ")$)" + ALIAS_PATTERN.removeprefix("^"),
)


def _exact(name: str) -> None:
    """The service strips spaces from a name; in an address they are a mistake to point out."""
    if name != name.strip():
        raise InvalidInput(str(alias_validator.message), field="name")


class AliasList(APIView):
    """A dataset's named aliases (`latest` and `certified` are computed and not listed)."""

    @extend_schema(responses=AliasSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        dataset, _ = dataset_get(user=me(request), slug=slug)
        return Response(AliasSerializer(aliases_of(dataset=dataset), many=True).data)


class AliasDetail(APIView):
    """Read a named alias with its history; maintainers move it (PUT) or remove it (DELETE)."""

    @extend_schema(responses=AliasDetailSerializer)
    def get(self, request: Request, slug: str, name: str) -> Response:
        dataset, _ = dataset_get(user=me(request), slug=slug)
        if name in COMPUTED_ALIASES:
            version = version_resolve(dataset=dataset, ref=name)
            return Response({**_computed_alias(version, name), "history": []})
        alias = alias_get(dataset=dataset, name=name)
        return Response(_alias_data(alias))

    @extend_schema(
        parameters=[SETTABLE_NAME], request=AliasWriteSerializer, responses={200: AliasDetailSerializer}
    )
    def put(self, request: Request, slug: str, name: str) -> Response:
        dataset, _ = dataset_get(user=me(request), slug=slug, need="write")
        _exact(name)
        data = valid(AliasWriteSerializer, request)
        try:
            version = version_resolve(dataset=dataset, ref=data["version"])
        except NotFound as exc:
            raise InvalidInput(exc.detail, field="version") from None
        alias, _ = alias_set(dataset=dataset, user=me(request), name=name, version=version)
        return Response(_alias_data(alias))

    @extend_schema(parameters=[SETTABLE_NAME], responses={204: None})
    def delete(self, request: Request, slug: str, name: str) -> Response:
        dataset, _ = dataset_get(user=me(request), slug=slug, need="write")
        _exact(name)
        alias_delete(dataset=dataset, user=me(request), name=name)
        return Response(status=204)


def _alias_data(alias: Alias) -> dict[str, Any]:
    history = alias_history(dataset=alias.dataset, name=alias.name)
    return dict(AliasDetailSerializer(alias, context={"history": history}).data)


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
