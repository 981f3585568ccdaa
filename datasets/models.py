"""The data plane: datasets, their immutable versions and the blobs that hold their bytes, column
documentation, aliases, checkouts and access requests."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from accounts.models import Team
from core.validators import SHA256_HEX, slug_validator

# The portal pages and API addresses this app links to (models' get_absolute_url, Croissant, the
# lineage graph). catalog/urls.py and api/urls.py register their views under these names.
DATASET_PAGE = "dataset-detail"
VERSION_PAGE = "version-detail"
ACCESS_PAGE = "dataset-access"
VERSION_DOWNLOAD_API = "api-version-download"


class Tag(models.Model):
    name = models.CharField(max_length=64, unique=True, validators=[slug_validator])

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Dataset(models.Model):
    class Visibility(models.TextChoices):
        PUBLIC = "public", "Public: every signed-in user"
        INTERNAL = "internal", "Internal: the team only"
        RESTRICTED = "restricted", "Restricted: title and summary visible, data on request"

    class Status(models.TextChoices):
        ACTIVE = "active"
        DEPRECATED = "deprecated"

    slug = models.CharField(max_length=64, unique=True, validators=[slug_validator])
    title = models.CharField(max_length=200)
    summary = models.CharField(max_length=500, blank=True)
    readme = models.TextField(blank=True, help_text="Markdown")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="datasets")
    tags = models.ManyToManyField(Tag, blank=True, related_name="datasets")
    license = models.CharField(max_length=100, blank=True, help_text="An SPDX id, e.g. CC-BY-4.0")
    visibility = models.CharField(max_length=16, choices=Visibility.choices, default=Visibility.INTERNAL)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # What a list row shows, kept here by datasets.services.summary (from the versions and
    # checkouts, by every service that changes them) so lists read columns, not per-row subqueries.
    latest_version = models.ForeignKey(
        "Version", on_delete=models.SET_NULL, null=True, blank=True, editable=False, related_name="+"
    )
    certified_version = models.ForeignKey(
        "Version", on_delete=models.SET_NULL, null=True, blank=True, editable=False, related_name="+"
    )
    version_count = models.PositiveIntegerField(default=0, editable=False, help_text="all versions")
    checkout_count = models.PositiveIntegerField(default=0, editable=False, help_text="distinct checkouts")
    checkouts_90d = models.PositiveIntegerField(
        default=0, editable=False, help_text="distinct checkouts of the last 90 days"
    )
    last_version_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="when the newest ready version became ready"
    )

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(
                condition=Q(visibility__in=["public", "internal", "restricted"]),
                name="dataset_visibility_valid",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["active", "deprecated"]), name="dataset_status_valid"
            ),
        ]
        indexes = [
            # The visibility rule's columns, so that counting what a user may see (every page of
            # the dataset list) reads this narrow index and not the wide rows: 73 -> 5 ms on SQLite
            # at 100,000 datasets. The team first: led by the visibility, SQLite (no statistics)
            # took it for the page too, gathered the 83,000 visible rows and sorted them by slug
            # (9 -> 317 ms) instead of walking the slug's index.
            models.Index(fields=["team", "visibility"], name="dataset_team_visibility_idx"),
        ]

    def __str__(self) -> str:
        return self.slug

    def get_absolute_url(self) -> str:
        return reverse(DATASET_PAGE, args=[self.slug])


class Blob(models.Model):
    """Bytes stored once under their sha256; versions point at them, never the reverse."""

    class Damage(models.TextChoices):
        NONE = "", "whole"
        CORRUPT = "corrupt"
        MISSING = "missing"

    sha256 = models.CharField(primary_key=True, max_length=64)
    size = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    # Set by fsck, ingest or a download that found the bytes missing or hashing wrong (services.
    # integrity); a damaged blob is not served until a verified copy restores it.
    damage = models.CharField(max_length=16, choices=Damage.choices, blank=True, default="")
    damage_detail = models.CharField(max_length=500, blank=True, default="")
    damaged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(sha256__regex=SHA256_HEX), name="blob_sha256_hex"),
            models.CheckConstraint(condition=Q(size__gt=0), name="blob_size_positive"),
            models.CheckConstraint(
                condition=Q(damage="", damaged_at__isnull=True)
                | (~Q(damage="") & Q(damaged_at__isnull=False)),
                name="blob_damage_dated",
            ),
        ]

    def __str__(self) -> str:
        return f"sha256:{self.sha256}"


class Version(models.Model):
    class Status(models.TextChoices):
        PROCESSING = "processing"
        READY = "ready"
        FAILED = "failed"

    class Format(models.TextChoices):
        UNKNOWN = "", "not detected yet"
        CSV = "csv", "CSV"
        TSV = "tsv", "TSV"
        PARQUET = "parquet", "Parquet"
        JSONL = "jsonl", "JSON Lines"

    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    blob = models.ForeignKey(Blob, on_delete=models.PROTECT, related_name="versions")
    size = models.BigIntegerField()
    original_filename = models.CharField(max_length=255, blank=True)
    format = models.CharField(max_length=16, choices=Format.choices, blank=True, default="")
    compression = models.CharField(max_length=16, blank=True, default="", help_text="gzip, or empty")
    row_count = models.BigIntegerField(null=True, blank=True)
    # What ingest learned, set once with `ready` and never changed after.
    schema = models.JSONField(default=list, blank=True, help_text="[{name, type, nullable, arrow_type}]")
    profile = models.JSONField(default=dict, blank=True)
    preview = models.JSONField(default=dict, blank=True, help_text="{columns, rows}: the first rows")
    parquet_blob = models.ForeignKey(
        Blob, on_delete=models.PROTECT, null=True, blank=True, related_name="+", help_text="normalized copy"
    )
    # Progress while processing: how far the worker has read.
    bytes_read = models.BigIntegerField(default=0)
    rows_processed = models.BigIntegerField(default=0)
    # Ingest's delivery (core.leases, versions_requeue): when its task last reached the broker
    # (null: not yet, e.g. Redis was down at upload), and the worker holding it while it runs.
    sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    lease_owner = models.CharField(max_length=32, blank=True, default="", editable=False)
    message = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PROCESSING)
    failure_reason = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    status_changed_at = models.DateTimeField(auto_now_add=True)
    # Declared lineage, fixed when the version is published like the rest of it.
    derived_from = models.ManyToManyField(
        "self", symmetrical=False, blank=True, related_name="derivatives", help_text="Upstream versions"
    )
    code_url = models.CharField(
        max_length=500,
        blank=True,
        help_text="The code that produced it: repository URL and commit, or any URL",
    )
    # Written by the quality app alone: the status of this version's latest validation run against
    # its dataset's current suite ("unchecked" before any; null while the dataset has no suite).
    # Kept on the version so `@certified` and lists need nothing from quality's tables.
    quality_status = models.CharField(max_length=16, null=True, blank=True, default=None, editable=False)  # noqa: DJ001

    class Meta:
        ordering = ["dataset", "-number"]
        get_latest_by = "number"
        constraints = [
            models.UniqueConstraint(fields=["dataset", "number"], name="version_unique_number"),
            models.UniqueConstraint(fields=["dataset", "blob"], name="version_unique_sha256"),
            models.CheckConstraint(condition=Q(number__gte=1), name="version_number_positive"),
            models.CheckConstraint(
                condition=Q(status__in=["processing", "ready", "failed"]),
                name="version_status_valid",
            ),
            models.CheckConstraint(
                condition=~Q(status="failed") | ~Q(failure_reason=""),
                name="version_failure_has_reason",
            ),
        ]
        indexes = [models.Index(fields=["status", "status_changed_at"], name="version_status_idx")]

    def __str__(self) -> str:
        return f"{self.dataset_id and self.dataset.slug}@{self.number}"

    def get_absolute_url(self) -> str:
        return reverse(VERSION_PAGE, args=[self.dataset.slug, self.number])

    @property
    def sha256(self) -> str:
        return self.blob_id

    @property
    def is_stuck(self) -> bool:
        """Processing for longer than any ingest should take: its task was probably lost."""
        if self.status != self.Status.PROCESSING:
            return False
        limit = timedelta(minutes=settings.GRANARY_STUCK_AFTER_MINUTES)
        return timezone.now() - self.status_changed_at > limit

    @property
    def ref(self) -> str:
        return f"{self.dataset.slug}@{self.number}"

    def download_filename(self, format: str = "original") -> str:
        """The name a download of it gets: `churn-v3.csv`, `churn-v3.parquet`, `churn-v3.jsonl.gz`."""
        if format != "original":
            return f"{self.dataset.slug}-v{self.number}.{format}"
        extension = self.format if self.format in ("csv", "tsv", "parquet", "jsonl") else "bin"
        suffix = ".gz" if self.compression == "gzip" else ""
        return f"{self.dataset.slug}-v{self.number}.{extension}{suffix}"


class ColumnDoc(models.Model):
    """What a dataset's maintainers say about a column; it follows the column by name across versions."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="column_docs")
    name = models.CharField(max_length=1024)
    description = models.TextField(blank=True)
    pii = models.BooleanField(default=False, help_text="Holds personal data")
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["dataset", "name"]
        constraints = [models.UniqueConstraint(fields=["dataset", "name"], name="columndoc_unique_name")]

    def __str__(self) -> str:
        return f"{self.dataset.slug}.{self.name}"


# Alias names: lowercase, URL-safe, at most 64 characters, not a bare number (that is a version
# number) and never one of the computed names.
ALIAS_CHARS = r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$"
ALIAS_PATTERN = r"^(?![0-9]+$)" + ALIAS_CHARS.removeprefix("^")
COMPUTED_ALIASES = ("latest", "certified")
alias_validator = RegexValidator(
    ALIAS_PATTERN,
    "Use 1 to 64 lowercase letters, digits, '.', '-' or '_', starting and ending with a letter or "
    "digit, and not only digits (a number names a version).",
    code="invalid_alias",
)


class Alias(models.Model):
    """A named pointer to one version of a dataset (`churn@prod`), moved by its maintainers.

    `latest` and `certified` are computed from the versions and never stored here.
    """

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="aliases")
    name = models.CharField(max_length=64, validators=[alias_validator])
    version = models.ForeignKey(Version, on_delete=models.PROTECT, related_name="aliases")
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["dataset", "name"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "name"], name="alias_unique_name"),
            models.CheckConstraint(
                condition=~Q(name__in=COMPUTED_ALIASES)
                & Q(name__regex=ALIAS_CHARS)
                & ~Q(name__regex=r"^[0-9]+$"),
                name="alias_name_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dataset.slug}@{self.name}"


class AliasMove(models.Model):
    """One change of a named alias: set, moved or removed; kept when the alias itself goes."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="alias_moves")
    name = models.CharField(max_length=64)
    from_version = models.ForeignKey(
        Version, on_delete=models.PROTECT, null=True, blank=True, related_name="+", help_text="None: created"
    )
    to_version = models.ForeignKey(
        Version, on_delete=models.PROTECT, null=True, blank=True, related_name="+", help_text="None: removed"
    )
    moved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    moved_at = models.DateTimeField()

    class Meta:
        ordering = ["dataset", "name", "-moved_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(from_version__isnull=False) | Q(to_version__isnull=False),
                name="aliasmove_changes_something",
            ),
        ]
        indexes = [models.Index(fields=["dataset", "-moved_at"], name="aliasmove_dataset_idx")]

    def __str__(self) -> str:
        before = self.from_version.number if self.from_version else "∅"
        after = self.to_version.number if self.to_version else "∅"
        return f"{self.dataset.slug}@{self.name}: {before} → {after}"


class Checkout(models.Model):
    """A pull of pinned versions for a purpose (a training run): the references resolved once.

    Its items name exact versions and digests, so reading it back years later, after aliases
    moved and new versions arrived, gives the same manifest.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    purpose = models.CharField(max_length=500)
    model = models.CharField(max_length=200, blank=True, help_text="The model trained on it")
    run_id = models.CharField(max_length=200, blank=True, help_text="The training run, e.g. an MLflow run id")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="checkouts"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["-created_at"], name="checkout_created_idx")]

    def __str__(self) -> str:
        return f"checkout {self.id}"


class CheckoutItem(models.Model):
    """One reference of a checkout and the exact version it resolved to, with its digests."""

    checkout = models.ForeignKey(Checkout, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField()
    ref = models.CharField(max_length=300, help_text="As asked for, e.g. churn@prod")
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="checkout_items")
    version = models.ForeignKey(Version, on_delete=models.PROTECT, related_name="checkout_items")
    # Copied from the version when resolved: a version never changes once ready, but the
    # manifest should not depend on that promise alone.
    sha256 = models.CharField(max_length=64)
    parquet_sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["checkout", "position"]
        constraints = [
            models.UniqueConstraint(fields=["checkout", "position"], name="checkoutitem_unique_position"),
            models.CheckConstraint(condition=Q(sha256__regex=SHA256_HEX), name="checkoutitem_sha256_hex"),
        ]
        indexes = [models.Index(fields=["dataset", "checkout"], name="checkoutitem_dataset_idx")]

    def __str__(self) -> str:
        return f"{self.ref} → {self.version}"


class AccessRequest(models.Model):
    """A user's request to read a restricted dataset's data, and the team owner's decision.

    Approved, it lets that user read the dataset as the team does (selectors.dataset_access),
    until an owner revokes it. Requests are never deleted: each one, with who decided what and
    when, is the record.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        DENIED = "denied"
        REVOKED = "revoked"  # approved, then withdrawn by an owner

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="access_requests")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_requests"
    )
    reason = models.TextField(max_length=2000)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(max_length=2000, blank=True, help_text="The owner's word on the decision.")
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoke_note = models.TextField(max_length=2000, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            # One open request (pending, or approved and not revoked) per user and dataset: a
            # second approval would outlive the revocation of the first.
            models.UniqueConstraint(
                fields=["dataset", "user"],
                condition=Q(status__in=["pending", "approved"]),
                name="access_request_one_open",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} → {self.dataset.slug}: {self.status}"


class DirectUpload(models.Model):
    """A large file on its way from a client straight to object storage (presigned multipart).

    Its bytes land at `staging_key`, never under a digest: the client's sha256 is a claim until
    ingest hashes them. `completed` links the version made of them; ingest then moves them to
    their content-addressed key (`verified`) or deletes them (`rejected`).
    """

    class State(models.TextChoices):
        OPEN = "open"
        COMPLETED = "completed"
        VERIFIED = "verified"
        REJECTED = "rejected"
        ABORTED = "aborted"
        EXPIRED = "expired"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="direct_uploads")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    filename = models.CharField(max_length=255, blank=True)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64, validators=[RegexValidator(SHA256_HEX)])
    message = models.CharField(max_length=500, blank=True)
    derived_from = models.JSONField(default=list, blank=True, help_text="references, resolved at complete")
    code_url = models.CharField(max_length=500, blank=True)
    # Empty for a file whose bytes this user can already read here: nothing to upload.
    staging_key = models.CharField(max_length=300, blank=True)
    upload_id = models.CharField(max_length=1024, blank=True)
    part_size = models.BigIntegerField()
    # Each part's CRC32 (base64), declared by the client and signed into its URL; empty: none.
    part_crc32 = models.JSONField(default=list, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    version = models.OneToOneField(
        Version, on_delete=models.SET_NULL, null=True, blank=True, related_name="direct_upload"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(size__gt=0), name="direct_upload_size_positive"),
            models.CheckConstraint(condition=Q(sha256__regex=SHA256_HEX), name="direct_upload_sha256_hex"),
        ]
        indexes = [models.Index(fields=["state", "expires_at"], name="direct_upload_state_idx")]

    def __str__(self) -> str:
        return f"{self.dataset.slug} ← {self.filename or self.id} ({self.state})"


class QuerySave(models.Model):
    """A SQL console query on its way to becoming a version of `dataset` (datasets.viewer.save).

    The SQL was checked when it was asked for, against versions pinned then (`reads`: table name ->
    version id), so `weather@latest` means the version the user was shown, whenever a worker runs
    it. The row is its own outbox (`sent_at`, a lease while a worker runs it), like a version's
    ingest; `version` is what it became, `error` why it did not.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        DONE = "done"
        FAILED = "failed"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="query_saves")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    sql = models.TextField()
    message = models.CharField(max_length=500, blank=True)
    reads = models.JSONField(default=dict, help_text="{table name in the SQL: version id}, pinned when asked")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True)
    version = models.OneToOneField(
        Version, on_delete=models.SET_NULL, null=True, blank=True, related_name="query_save"
    )
    sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    lease_owner = models.CharField(max_length=32, blank=True, default="", editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "done", "failed"]), name="query_save_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status="failed") | ~Q(error=""), name="query_save_failure_has_error"
            ),
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="query_save_status_idx")]

    def __str__(self) -> str:
        return f"query save {self.pk} → {self.dataset.slug} ({self.status})"
