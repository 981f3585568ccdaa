"""Shapes of the API's requests and responses (field names per PRODUCT.md's REST contract)."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from rest_framework import serializers

from datasets import selectors
from datasets.models import (
    AccessRequest,
    Alias,
    AliasMove,
    Checkout,
    CheckoutItem,
    ColumnDoc,
    Dataset,
    Membership,
    Team,
    ValidationRun,
    Version,
)
from datasets.services.access import DECISIONS
from datasets.services.download import download_filename


class TeamSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField(help_text="Your role in this team, or null")

    class Meta:
        model = Team
        fields = ["slug", "name", "role", "created_at"]

    def get_role(self, team: Team) -> str | None:
        roles: dict[int, str] = self.context.get("roles", {})
        return roles.get(team.pk)


class TeamCreateSerializer(serializers.Serializer):
    slug = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class MemberSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")

    class Meta:
        model = Membership
        fields = ["username", "role", "created_at"]


class MemberWriteSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=Membership.Role.choices, default=Membership.Role.MEMBER)


class RoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Membership.Role.choices)


class VersionSerializer(serializers.ModelSerializer):
    dataset = serializers.CharField(source="dataset.slug", read_only=True)
    sha256 = serializers.CharField(read_only=True)
    created_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
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
        if hasattr(version, "quality_status"):
            return version.quality_status or (None if self.context.get("no_suite") else "unchecked")
        return selectors.version_quality_status(version=version)

    def get_aliases(self, version: Version) -> list[str]:
        named: dict[int, list[str]] | None = self.context.get("alias_names")
        if named is not None:  # from selectors.version_alias_names: computed and named
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
        return self._absolute(reverse("api-version-download", args=[version.dataset.slug, version.number]))

    def _absolute(self, path: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class DatasetSerializer(serializers.ModelSerializer):
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
            "readme",
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

    def get_latest_version(self, dataset: Dataset) -> int | None:
        if hasattr(dataset, "latest_number"):
            return dataset.latest_number  # annotated by dataset_search
        latest = self.context.get("latest_number")
        return int(latest) if latest is not None else None

    def get_certified_version(self, dataset: Dataset) -> int | None:
        if hasattr(dataset, "certified_number"):
            return dataset.certified_number  # annotated by dataset_search
        certified = selectors.version_certified(dataset=dataset)
        return certified.number if certified else None

    def get_version_count(self, dataset: Dataset) -> int:
        if hasattr(dataset, "version_count"):
            return int(dataset.version_count)
        return dataset.versions.count()

    def get_checkout_count(self, dataset: Dataset) -> int:
        if hasattr(dataset, "checkout_count"):
            return int(dataset.checkout_count)  # annotated by dataset_search
        return selectors.checkout_count(dataset=dataset)

    def get_url(self, dataset: Dataset) -> str:
        path = reverse("api-dataset-detail", args=[dataset.slug])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


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


class DatasetWriteSerializer(serializers.Serializer):
    slug = serializers.CharField(max_length=64)
    title = serializers.CharField(max_length=200)
    team = serializers.CharField(max_length=64, help_text="The owning team's slug")
    summary = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    readme = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    license = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    visibility = serializers.ChoiceField(choices=Dataset.Visibility.choices, default="internal")
    status = serializers.ChoiceField(choices=Dataset.Status.choices, default="active")
    tags = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, default=list, max_length=50
    )


class DatasetPatchSerializer(DatasetWriteSerializer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, partial=True, **kwargs)
        for name in ("slug", "team"):
            self.fields.pop(name)


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
        return selectors.version_refs_split(values)


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


class ColumnDocSerializer(serializers.ModelSerializer):
    class Meta:
        model = ColumnDoc
        fields = ["name", "description", "pii", "updated_at"]
        read_only_fields = ["updated_at"]
        extra_kwargs: dict[str, Any] = {"name": {"validators": []}}


class ExpectationResultSerializer(serializers.Serializer):
    type = serializers.CharField()
    kwargs = serializers.DictField()
    description = serializers.CharField(help_text="the expectation in words")
    success = serializers.BooleanField()
    observed_value = serializers.JSONField(allow_null=True)
    unexpected_count = serializers.IntegerField(allow_null=True)
    unexpected_percent = serializers.FloatField(allow_null=True)
    unexpected_examples = serializers.ListField(child=serializers.JSONField())
    error = serializers.CharField(allow_blank=True)


class ValidationRunSerializer(serializers.ModelSerializer):
    version = serializers.CharField(source="version.ref", read_only=True)
    suite_revision = serializers.IntegerField(source="revision.number", read_only=True)
    results = ExpectationResultSerializer(many=True, read_only=True)
    seconds = serializers.FloatField(read_only=True, allow_null=True)
    report_url = serializers.SerializerMethodField()

    class Meta:
        model = ValidationRun
        fields = [
            "id",
            "version",
            "suite_revision",
            "status",
            "trigger",
            "error",
            "evaluated",
            "successful",
            "results",
            "queued_at",
            "started_at",
            "finished_at",
            "seconds",
            "report_url",
        ]
        read_only_fields = fields

    def get_report_url(self, run: ValidationRun) -> str:
        request = self.context.get("request")
        path = run.get_absolute_url()
        return request.build_absolute_uri(path) if request else path


class AliasSerializer(serializers.ModelSerializer):
    dataset = serializers.CharField(source="dataset.slug", read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True)
    sha256 = serializers.CharField(source="version.sha256", read_only=True)
    updated_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
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
        slug_field="username", read_only=True
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


class AliasWriteSerializer(serializers.Serializer):
    version = serializers.CharField(
        max_length=300,
        help_text="The version to point at: its number (3), or any reference to it (latest, staging, sha256:…)",
    )


class CheckoutCreateSerializer(serializers.Serializer):
    refs = serializers.ListField(
        child=serializers.CharField(max_length=300),
        allow_empty=False,
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
        return download_filename(item.version)

    def get_parquet_size(self, item: CheckoutItem) -> int | None:
        blob = item.version.parquet_blob
        return blob.size if blob is not None else None

    def get_download_url(self, item: CheckoutItem) -> str:
        return self._absolute("api-version-download", item)

    def get_parquet_url(self, item: CheckoutItem) -> str | None:
        if not item.parquet_sha256:
            return None
        return self._absolute("api-version-download", item) + "?format=parquet"

    def get_croissant_url(self, item: CheckoutItem) -> str:
        return self._absolute("api-version-croissant", item)

    def _absolute(self, name: str, item: CheckoutItem) -> str:
        path = reverse(name, args=[item.dataset.slug, item.version.number])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class CheckoutSerializer(serializers.ModelSerializer):
    created_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
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


class AccessRequestSerializer(serializers.ModelSerializer):
    dataset = serializers.CharField(source="dataset.slug", read_only=True)
    user: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    decided_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    revoked_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
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


class AccessRequestWriteSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(max_length=2000, help_text="Why you need the data; the owners read it.")


class AccessDecisionSerializer(serializers.Serializer[Any]):
    decision = serializers.ChoiceField(
        choices=list(DECISIONS),
        help_text="approve or deny a pending request; revoke an approved one",
    )
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
