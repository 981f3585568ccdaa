"""Upgrading an existing install across the restructuring into one app per domain.

Models moved from `datasets` and `catalog` into `accounts`, `webhooks`, `quality` and `lineage`
with SeparateDatabaseAndState, keeping their tables, and data migrations moved their content types
and filled the new `Version.quality_status`. This test proves that a database made by the code
from before the move survives `migrate`:

- it migrates the test database back to where the old code left it (datasets 0009, catalog 0002,
  none of the new apps), and fills it through the OLD historical models as a real install would
  have: users with passwords and permissions, a team, datasets with versions whose bytes are real
  blobs in storage, a suite and its runs, an alias and its history, declared and OpenLineage
  lineage, a checkout, an approved and a denied access request, an API token, a webhook and a
  delivery;
- it migrates forward to the latest migrations and checks, with the current code, that every row
  of every model is still there with the same ids and values, that the content types kept their
  ids under their new app labels (so permissions, and the admin, still work), that each version's
  quality status was filled from its runs, and that the app serves the old data over HTTP: the old
  token authenticates, downloads match their sha256, `@certified`, `@prod`, lineage, checkouts,
  access grants and the old password all work.

The database is left at the latest migrations whatever happens, so later tests are unaffected.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps as current_apps
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken, Membership, Team
from accounts.services import token_create
from datasets import storage
from datasets.ingest.reader import ingest_file
from datasets.ingest.sources import local_source
from datasets.models import AccessRequest, Alias, AliasMove, Checkout, CheckoutItem, Dataset, Version
from lineage.models import ExternalDataset, Job, Run, RunDataset, RunEvent
from quality.models import SuiteRevision, ValidationRun
from tests.conftest import CSV, sha256_of
from tests.factories import run_event
from tests.migrating import migrate, migrate_to_latest
from webhooks.models import Webhook, WebhookDelivery

# Where the code from before the restructuring left the migration graph.
OLD_NODES = [("datasets", "0009_access_request_one_open"), ("catalog", "0002_lineage")]
BEFORE = [*OLD_NODES, ("accounts", None), ("webhooks", None), ("quality", None), ("lineage", None)]

# The migrations of the restructuring itself: rows are compared here, before any later migration
# reshapes them; the app is then used at the latest migration.
RESTRUCTURED = [
    ("accounts", "0001_teams_and_tokens_move_here"),
    ("webhooks", "0001_webhooks_move_here"),
    ("quality", "0002_version_quality_status_filled"),
    ("lineage", "0001_lineage_moves_here"),
    ("datasets", "0011_version_quality_status"),
    ("catalog", "0003_models_move_to_their_apps"),
]

# (old app, model) -> the app it lives in now.
MOVED = {
    ("datasets", "team"): "accounts",
    ("datasets", "membership"): "accounts",
    ("catalog", "apitoken"): "accounts",
    ("datasets", "webhook"): "webhooks",
    ("datasets", "webhookdelivery"): "webhooks",
    ("datasets", "suiterevision"): "quality",
    ("datasets", "validationrun"): "quality",
    ("catalog", "externaldataset"): "lineage",
    ("catalog", "job"): "lineage",
    ("catalog", "run"): "lineage",
    ("catalog", "runevent"): "lineage",
    ("catalog", "rundataset"): "lineage",
}

PASSWORD = "an-old-password-1"
SECRET = "gra_" + "k" * 43  # what the old token_create would have shown once
V2 = CSV + b"4,alan,0.1\n"
V3 = b"\x00\x01 not a table \xff"
FEATURES = b"id,churn_score\n1,0.2\n2,0.4\n"
PATIENTS = b"patient,age\np1,41\np2,67\n"
T0 = timezone.now() - timedelta(days=30)


def at(days: int) -> Any:
    return T0 + timedelta(days=days)


@dataclass
class OldInstall:
    """What the old install held, as the old models saw it."""

    ids: dict[str, Any] = field(default_factory=dict)
    rows: dict[tuple[str, str], dict[Any, dict[str, Any]]] = field(default_factory=dict)
    through: dict[str, set[tuple[Any, Any]]] = field(default_factory=dict)
    content_types: dict[tuple[str, str], int] = field(default_factory=dict)
    permissions: dict[tuple[str, str], set[int]] = field(default_factory=dict)


def store(data: bytes, workdir: Path) -> tuple[str, dict[str, Any]]:
    """Store `data` as a blob, as an upload did, and return its sha256 and the fields ingest set on
    its version (the Parquet copy of a table is stored too; anything else failed ingest)."""
    source = storage.tmp_dir() / f"upgrade-{os.urandom(6).hex()}"
    source.write_bytes(data)
    sha256 = sha256_of(data)
    fields: dict[str, Any] = {"status": "failed", "failure_reason": "Not a table: no format recognised."}
    try:
        if data != V3:
            workdir = workdir / sha256  # its own: the Parquet copy is stored by a hard link
            workdir.mkdir()
            ingested = ingest_file(source=local_source(source), workdir=workdir, progress=lambda *_: None)
            parquet_sha256 = sha256_of(ingested.parquet_path.read_bytes())
            storage.blob_put(source=ingested.parquet_path, sha256=parquet_sha256)
            fields = {
                "status": "ready",
                "format": ingested.detected.format,
                "compression": ingested.detected.compression,
                "row_count": ingested.rows,
                "schema": ingested.schema,
                "profile": ingested.profile,
                "preview": ingested.preview,
                "parquet_sha256": parquet_sha256,
                "parquet_size": ingested.parquet_path.stat().st_size,
                "rows_processed": ingested.rows,
                "bytes_read": len(data),
            }
        storage.blob_put(source=source, sha256=sha256)
    finally:
        source.unlink(missing_ok=True)
    return sha256, fields


def fill_old_install(old_apps: Any, workdir: Path) -> OldInstall:
    """A database as the code from before the restructuring would have filled it."""
    model = old_apps.get_model
    User = model("auth", "User")
    ContentType_ = model("contenttypes", "ContentType")
    Permission_ = model("auth", "Permission")
    old = OldInstall()

    # Content types and permissions of the models that move, as post_migrate made them.
    olivia = User.objects.create(
        username="olivia", password=make_password(PASSWORD), is_staff=True, email="olivia@acme.test"
    )
    for (app_label, name), _ in MOVED.items():
        content_type, _ = ContentType_.objects.get_or_create(app_label=app_label, model=name)
        view, _ = Permission_.objects.get_or_create(
            content_type=content_type, codename=f"view_{name}", defaults={"name": f"Can view {name}"}
        )
        olivia.user_permissions.add(view)
        old.content_types[app_label, name] = content_type.pk
        old.permissions[app_label, name] = set(
            Permission_.objects.filter(content_type=content_type).values_list("pk", flat=True)
        )
    oscar = User.objects.create(username="oscar", password=make_password("pw-oscar-1"))
    tess = User.objects.create(username="tess", password=make_password("pw-tess-1"))

    team = model("datasets", "Team").objects.create(slug="ml-core", name="ML Core")
    model("datasets", "Membership").objects.create(team=team, user=olivia, role="owner")
    tag = model("datasets", "Tag").objects.create(name="churn")

    Dataset_ = model("datasets", "Dataset")
    Blob = model("datasets", "Blob")
    Version_ = model("datasets", "Version")

    def dataset(slug: str, visibility: str) -> Any:
        return Dataset_.objects.create(
            slug=slug, title=f"The {slug} data", team=team, visibility=visibility, created_by=olivia
        )

    def version(dataset: Any, number: int, data: bytes, **extra: Any) -> Any:
        sha256, fields = store(data, workdir)
        parquet_sha256 = fields.pop("parquet_sha256", None)
        parquet_size = fields.pop("parquet_size", None)
        Blob.objects.create(sha256=sha256, size=len(data))
        if parquet_sha256:
            Blob.objects.get_or_create(sha256=parquet_sha256, defaults={"size": parquet_size})
        return Version_.objects.create(
            dataset=dataset,
            number=number,
            blob_id=sha256,
            size=len(data),
            original_filename=f"{dataset.slug}.csv",
            parquet_blob_id=parquet_sha256,
            created_by=olivia,
            **fields,
            **extra,
        )

    churn = dataset("churn", "public")
    churn.tags.add(tag)
    model("datasets", "ColumnDoc").objects.create(
        dataset=churn, name="score", description="Churn risk, 0 to 1", updated_by=olivia
    )
    v1 = version(churn, 1, CSV)
    v2 = version(churn, 2, V2)
    v3 = version(churn, 3, V3)  # its ingest failed

    # Suite revision 2 is the current one: v1's latest run against it passed (after a failure), v2
    # passed the old revision 1 but fails revision 2, v3 was never validated.
    SuiteRevision_ = model("datasets", "SuiteRevision")
    ValidationRun_ = model("datasets", "ValidationRun")
    expect = {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}}
    r1 = SuiteRevision_.objects.create(dataset=churn, number=1, expectations=[expect], created_by=olivia)
    r2 = SuiteRevision_.objects.create(
        dataset=churn,
        number=2,
        expectations=[expect, {"type": "expect_table_row_count_to_be_between", "kwargs": {"max_value": 3}}],
        created_by=olivia,
    )
    runs = [(v1, r2, "failed", 2), (v1, r2, "passed", 3), (v2, r1, "passed", 4), (v2, r2, "failed", 5)]
    for run_version, revision, status, day in runs:
        run = ValidationRun_.objects.create(
            version=run_version,
            revision=revision,
            status=status,
            trigger="ingest",
            evaluated=len(revision.expectations),
            successful=len(revision.expectations) - (status == "failed"),
            results=[{"success": status == "passed", "expectation_config": revision.expectations[0]}],
            started_at=at(day),
            finished_at=at(day) + timedelta(seconds=2),
            attempts=1,
            created_by=olivia,
        )
        ValidationRun_.objects.filter(pk=run.pk).update(queued_at=at(day))

    Alias_ = model("datasets", "Alias")
    Alias_.objects.create(dataset=churn, name="prod", version=v2, updated_by=olivia, updated_at=at(6))
    AliasMove_ = model("datasets", "AliasMove")
    AliasMove_.objects.create(dataset=churn, name="prod", to_version=v1, moved_by=olivia, moved_at=at(3))
    AliasMove_.objects.create(
        dataset=churn, name="prod", from_version=v1, to_version=v2, moved_by=olivia, moved_at=at(6)
    )

    features = dataset("features", "public")
    f1 = version(features, 1, FEATURES, code_url="https://git.acme.test/features@abc123")
    f1.derived_from.add(v1)

    # Reported lineage: a training job read churn@2 and wrote a model outside Granary.
    linked = model("catalog", "ExternalDataset").objects.create(
        namespace="postgres://warehouse:5432", name="public.churn", dataset=churn
    )
    model_out = model("catalog", "ExternalDataset").objects.create(
        namespace="s3://models", name="churn-model/7"
    )
    job = model("catalog", "Job").objects.create(
        namespace="airflow", name="train.churn_model", code_url="https://git.acme.test/train"
    )
    run_id = uuid.uuid4()
    run = model("catalog", "Run").objects.create(
        job=job,
        run_id=run_id,
        state="COMPLETE",
        state_time=at(7),
        started_at=at(7) - timedelta(minutes=5),
        ended_at=at(7),
        created_by=olivia,
    )
    payload = run_event(
        run_id=str(run_id),
        job="train.churn_model",
        inputs=[("http://testserver", "churn")],
        outputs=[("s3://models", "churn-model/7")],
    )
    old.ids["event"] = payload
    model("catalog", "RunEvent").objects.create(
        run=run,
        event_type="COMPLETE",
        event_time=at(7),
        digest=hashlib.sha256(
            json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        ).hexdigest(),
        payload=payload,
        received_by=olivia,
    )
    RunDataset_ = model("catalog", "RunDataset")
    RunDataset_.objects.create(
        run=run, role="input", namespace="http://testserver", name="churn", dataset=churn, version=v2
    )
    RunDataset_.objects.create(
        run=run,
        role="output",
        namespace="s3://models",
        name="churn-model/7",
        external=model_out,
        schema=[{"name": "weights", "type": "binary"}],
    )

    checkout = model("datasets", "Checkout").objects.create(
        purpose="Train churn model 7", model="churn-xgb", run_id="mlflow-42", created_by=olivia
    )
    model("datasets", "CheckoutItem").objects.create(
        checkout=checkout,
        position=0,
        ref="churn@certified",
        dataset=churn,
        version=v1,
        sha256=v1.blob_id,
        parquet_sha256=v1.parquet_blob_id,
    )

    patients = dataset("patients", "restricted")
    p1 = version(patients, 1, PATIENTS)
    AccessRequest_ = model("datasets", "AccessRequest")
    for user, status in ((oscar, "approved"), (tess, "denied")):
        AccessRequest_.objects.create(
            dataset=patients,
            user=user,
            reason="Survival model",
            status=status,
            decided_by=olivia,
            decided_at=at(8),
            note="" if status == "approved" else "Not for this purpose.",
        )

    model("catalog", "ApiToken").objects.create(
        user=olivia,
        name="laptop",
        key_hash=hashlib.sha256(SECRET.encode()).hexdigest(),
        prefix=SECRET[:10],
        expires_at=timezone.now() + timedelta(days=60),
    )
    webhook = model("datasets", "Webhook").objects.create(
        team=team, url="https://hooks.acme.test/granary", secret="whsec-1"
    )
    model("datasets", "WebhookDelivery").objects.create(
        webhook=webhook,
        event="version.certified",
        payload={"event": "version.certified", "dataset": "churn", "version": 1},
        status="delivered",
        attempts=1,
        response_status=200,
        response_body="ok",
        delivered_at=at(3),
    )

    old.ids |= {
        "olivia": olivia.pk,
        "oscar": oscar.pk,
        "tess": tess.pk,
        "team": team.pk,
        "churn": churn.pk,
        "v1": v1.pk,
        "v2": v2.pk,
        "v3": v3.pk,
        "f1": f1.pk,
        "p1": p1.pk,
        "linked": linked.pk,
        "model_out": model_out.pk,
        "run_id": str(run_id),
        "checkout": checkout.pk,
        "sha256": v1.blob_id,
        "parquet_sha256": v1.parquet_blob_id,
    }
    # Every row of every model of the old apps, and of the many-to-many tables, field by field.
    old_models = [
        old_apps.get_model("auth", "User"),
        *old_apps.get_app_config("datasets").get_models(),
        *old_apps.get_app_config("catalog").get_models(),
    ]
    for old_model in old_models:
        attnames = [f.attname for f in old_model._meta.concrete_fields]
        label = (old_model._meta.app_label, old_model._meta.model_name)
        old.rows[label] = {row["pk"]: row for row in old_model.objects.values("pk", *attnames)}
    old.through = {
        "tags": set(Dataset_.tags.through.objects.values_list("dataset_id", "tag_id")),
        "derived_from": set(
            Version_.derived_from.through.objects.values_list("from_version_id", "to_version_id")
        ),
        "user_permissions": set(
            User.user_permissions.through.objects.values_list("user_id", "permission_id")
        ),
    }
    return old


def check_every_row_is_kept(old: OldInstall, apps: Any) -> None:
    """Every old row, column by column, read through the models as the restructuring left them."""
    for (app_label, name), rows in old.rows.items():
        moved = apps.get_model(MOVED.get((app_label, name), app_label), name)
        attnames = [key for key in next(iter(rows.values()), {"pk": None}) if key != "pk"]
        now = {row["pk"]: row for row in moved.objects.values("pk", *attnames)}
        assert now == rows, f"{app_label}.{name} changed in the upgrade"
    assert sum(len(rows) for rows in old.rows.values()) > 40


def check_the_moved_models_read_back(old: OldInstall) -> None:
    """The same rows through today's models, at the latest migration."""
    assert Team.objects.get(pk=old.ids["team"]).members.get().username == "olivia"
    assert Membership.objects.get().role == Membership.Role.OWNER
    assert [run.status for run in ValidationRun.objects.order_by("queued_at")] == [
        "failed",
        "passed",
        "passed",
        "failed",
    ]
    assert SuiteRevision.objects.filter(dataset_id=old.ids["churn"]).count() == 2
    assert Webhook.objects.get().deliveries.get().response_status == 200
    assert WebhookDelivery.objects.get().payload["dataset"] == "churn"
    assert Job.objects.get().runs.get().run_id == uuid.UUID(old.ids["run_id"])
    assert RunEvent.objects.get().payload["run"]["runId"] == old.ids["run_id"]
    assert RunDataset.objects.filter(version_id=old.ids["v2"], role="input").exists()
    assert ExternalDataset.objects.get(pk=old.ids["linked"]).dataset_id == old.ids["churn"]
    assert Run.objects.get().state == Run.State.COMPLETE
    assert ApiToken.objects.get().prefix == SECRET[:10]
    assert Alias.objects.get().version_id == old.ids["v2"]
    assert AliasMove.objects.count() == 2
    assert CheckoutItem.objects.get().checkout_id == old.ids["checkout"]
    assert Checkout.objects.get(pk=old.ids["checkout"]).purpose == "Train churn model 7"
    assert AccessRequest.objects.filter(status="approved").get().user_id == old.ids["oscar"]
    assert {
        "tags": set(Dataset.tags.through.objects.values_list("dataset_id", "tag_id")),
        "derived_from": set(
            Version.derived_from.through.objects.values_list("from_version_id", "to_version_id")
        ),
        "user_permissions": set(
            get_user_model().user_permissions.through.objects.values_list("user_id", "permission_id")
        ),
    } == old.through


def check_content_types_moved_with_their_ids(old: OldInstall) -> None:
    ContentType.objects.clear_cache()
    for (app_label, name), new_app in MOVED.items():
        content_type = ContentType.objects.get(app_label=new_app, model=name)
        assert content_type.pk == old.content_types[app_label, name], (app_label, name)
        assert content_type.model_class() is current_apps.get_model(new_app, name)
        assert not ContentType.objects.filter(app_label=app_label, model=name).exists()
        assert (
            set(content_type.permission_set.values_list("pk", flat=True)) == old.permissions[app_label, name]
        )
    olivia = get_user_model().objects.get(pk=old.ids["olivia"])
    for (_, name), new_app in MOVED.items():
        assert olivia.has_perm(f"{new_app}.view_{name}"), f"{new_app}.view_{name}"
    assert Permission.objects.filter(content_type__app_label="catalog").count() == 0


def check_quality_status_was_filled(old: OldInstall) -> None:
    status = dict(Version.objects.values_list("pk", "quality_status"))
    assert status[old.ids["v1"]] == "passed"
    assert status[old.ids["v2"]] == "failed"
    assert status[old.ids["v3"]] == "unchecked"
    assert status[old.ids["f1"]] is None  # no suite
    assert status[old.ids["p1"]] is None


def check_the_app_serves_the_old_data(old: OldInstall) -> None:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {SECRET}")

    listed = api.get("/api/v1/datasets/")
    assert listed.status_code == 200, listed.content
    by_slug = {row["slug"]: row for row in listed.json()["results"]}
    assert {"churn", "features", "patients"} <= set(by_slug)
    assert by_slug["churn"]["certified_version"] == 1
    assert ApiToken.objects.get().last_used_at is not None

    download = api.get("/api/v1/datasets/churn/versions/1/download/")
    assert download.status_code == 200
    data = b"".join(download.streaming_content)
    assert data == CSV and sha256_of(data) == old.ids["sha256"]
    assert download["ETag"] == f'"{old.ids["sha256"]}"'
    parquet = api.get("/api/v1/datasets/churn/versions/1/download/", {"format": "parquet"})
    assert parquet.status_code == 200
    assert sha256_of(b"".join(parquet.streaming_content)) == old.ids["parquet_sha256"]

    certified = api.get("/api/v1/datasets/churn/versions/certified/")
    assert certified.status_code == 200, certified.content
    assert certified.json()["number"] == 1
    prod = api.get("/api/v1/datasets/churn/versions/prod/")
    assert prod.status_code == 200, prod.content
    assert prod.json()["number"] == 2 and "prod" in prod.json()["aliases"]
    assert api.get("/api/v1/datasets/churn/versions/latest/").json()["number"] == 2
    schema = api.get("/api/v1/datasets/churn/versions/1/schema/").json()["columns"]
    assert {c["name"]: c["description"] for c in schema}["score"] == "Churn risk, 0 to 1"

    lineage = api.get("/api/v1/datasets/churn/lineage/", {"direction": "down"})
    assert lineage.status_code == 200, lineage.content
    nodes = {node["id"]: node for node in lineage.json()["nodes"]}
    assert nodes["version:features@1"]["side"] == "downstream"
    assert {node["kind"] for node in nodes.values()} >= {"version", "job", "external"}
    edges = {(e["source"], e["target"], e["kind"]) for e in lineage.json()["edges"]}
    assert ("version:churn@1", "version:features@1", "derived_from") in edges
    assert ("version:churn@2", "input") in {(source, kind) for source, _, kind in edges}
    again = api.post("/api/v1/lineage", old.ids["event"], format="json")
    assert again.status_code == 200, again.content  # known: the same event is stored once
    assert RunEvent.objects.count() == 1
    names = api.get("/api/v1/datasets/churn/external-names/").json()
    assert "public.churn" in str(names)

    checkout = api.get(f"/api/v1/checkouts/{old.ids['checkout']}/")
    assert checkout.status_code == 200, checkout.content
    item = checkout.json()["items"][0]
    assert (item["version"], item["sha256"]) == (1, old.ids["sha256"])

    # An approval made before the upgrade still grants; a denial still does not.
    oscar = get_user_model().objects.get(username="oscar")
    outsider = APIClient()
    outsider.credentials(HTTP_AUTHORIZATION=f"Bearer {token_create(user=oscar, name='new laptop').secret}")
    versions = outsider.get("/api/v1/datasets/patients/versions/")
    assert versions.status_code == 200, versions.content
    assert [row["number"] for row in versions.json()["results"]] == [1]
    assert (
        b"".join(outsider.get("/api/v1/datasets/patients/versions/1/download/").streaming_content) == PATIENTS
    )
    tess = APIClient()
    tess.force_authenticate(get_user_model().objects.get(username="tess"))
    refused = tess.get("/api/v1/datasets/patients/versions/")
    assert refused.status_code == 403, refused.content

    # The old password signs in to the portal, and the admin's permissions followed the models.
    browser = Client()
    # Through the form: passwords are checked with the request (the failed sign-in limits need it).
    signed_in = browser.post("/accounts/login/", {"username": "olivia", "password": PASSWORD})
    assert signed_in.status_code == 302, signed_in.content
    assert browser.get("/datasets/churn/").status_code == 200
    teams = browser.get("/admin/accounts/team/")
    assert teams.status_code == 200 and b"ml-core" in teams.content
    assert browser.get("/admin/lineage/run/").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_database_from_before_the_restructuring_migrates_and_keeps_working(tmp_path: Path) -> None:
    try:
        executor = migrate(BEFORE)
        assert set(OLD_NODES) <= set(executor.loader.applied_migrations)
        assert not {app for app, _ in executor.loader.applied_migrations} & set(MOVED.values())
        # The models as the database now stands: project_state(OLD_NODES) alone would leave out
        # later migrations of apps those nodes do not depend on (contenttypes 0002, for one).
        old_apps = executor.loader.project_state(list(executor.loader.applied_migrations)).apps
        old = fill_old_install(old_apps, tmp_path)

        executor = migrate(RESTRUCTURED)
        restructured = executor.loader.project_state(list(executor.loader.applied_migrations)).apps
        check_every_row_is_kept(old, restructured)
        check_content_types_moved_with_their_ids(old)
        check_quality_status_was_filled(old)

        migrate_to_latest()
        check_the_moved_models_read_back(old)
        check_the_app_serves_the_old_data(old)
    finally:
        migrate_to_latest()
