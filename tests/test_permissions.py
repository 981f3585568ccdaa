"""Who gets what, for every URL of the project.

The routes come from the URL resolver, so a new route without an entry in EXPECTED fails
`test_every_route_has_an_entry`. Each entry gives, per persona, the status for a public, an
internal and a restricted dataset (one number when the dataset does not matter).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Membership, Team
from accounts.services import token_create
from datasets.models import AccessRequest, Dataset, QuerySave
from datasets.services.aliases import alias_set
from datasets.services.checkouts import checkout_create
from lineage.models import ExternalDataset, Job, Run, RunDataset
from quality.models import ValidationRun
from quality.services import suite_save
from tests.conftest import built_once, publish_now, storage_settings
from tests.factories import DatasetFactory, MembershipFactory, TeamFactory, UserFactory
from webhooks.models import Webhook

pytestmark = pytest.mark.django_db

NO_BROKER = "redis://127.0.0.1:1/0"  # nothing listens: /readyz fails alike for all
PERSONAS = ["anonymous", "anonymous_read", "outsider", "member", "owner"]
VISIBILITIES = ["public", "internal", "restricted"]

# (route name, method): {persona: status or (public, internal, restricted)}
READ_DATA = {
    "anonymous": 401,
    "anonymous_read": (200, 404, 404),
    "outsider": (200, 404, 403),
    "member": 200,
    "owner": 200,
}
PAGE_DATA = {
    "anonymous": 302,
    "anonymous_read": (200, 404, 404),
    "outsider": (200, 404, 403),
    "member": 200,
    "owner": 200,
}
PAGE_WRITE = {
    "anonymous": 302,
    "anonymous_read": 302,
    "outsider": (403, 404, 403),
    "member": 403,
    "owner": 200,
}
SIGNED_IN_PAGE = {"anonymous": 302, "anonymous_read": 302, "outsider": 200, "member": 200, "owner": 200}
SIGNED_IN_API = {"anonymous": 401, "anonymous_read": 401, "outsider": 200, "member": 200, "owner": 200}
OWNER_ONLY_API = {"anonymous": 401, "anonymous_read": 401, "outsider": 403, "member": 403}
# What a GET that needs the right to write answers (anonymous readers find the dataset).
WRITE_GET = {**OWNER_ONLY_API, "anonymous_read": (403, 404, 404), "outsider": (403, 404, 403)}
DIRECT_OPEN = 201 if os.environ.get("GRANARY_TEST_STORAGE") == "s3" else 409

EXPECTED: dict[tuple[str, str], dict[str, Any]] = {
    ("home", "GET"): {**SIGNED_IN_PAGE, "anonymous_read": 200},
    # Type-ahead under the portal's search boxes: open to whoever may browse, filtered like search.
    ("search-suggest", "GET"): {**SIGNED_IN_PAGE, "anonymous_read": 200},
    ("search-facets", "GET"): {**SIGNED_IN_PAGE, "anonymous_read": 200},
    ("login", "GET"): dict.fromkeys(PERSONAS, 200),
    ("logout", "POST"): dict.fromkeys(PERSONAS, 302),
    ("dataset-new", "GET"): SIGNED_IN_PAGE,
    ("dataset-detail", "GET"): {**PAGE_DATA, "outsider": (200, 404, 200)},
    ("dataset-edit", "GET"): PAGE_WRITE,
    ("version-upload", "GET"): PAGE_WRITE,
    ("column-docs", "GET"): PAGE_WRITE,
    ("suite", "GET"): PAGE_DATA,
    ("suite-remove", "POST"): {**PAGE_WRITE, "owner": 302},
    ("suite-suggest", "GET"): PAGE_WRITE,
    ("suite-import", "POST"): {**PAGE_WRITE, "owner": 302},
    ("version-validate", "POST"): {**PAGE_WRITE, "owner": 302},
    ("validation-report", "GET"): PAGE_DATA,
    ("team-webhooks", "GET"): {**SIGNED_IN_PAGE, "outsider": 403, "member": 403},
    ("team-webhook-delete", "POST"): {**SIGNED_IN_PAGE, "outsider": 403, "member": 403, "owner": 302},
    ("version-detail", "GET"): PAGE_DATA,
    ("version-status", "GET"): PAGE_DATA,
    # The data viewer's grid alone (htmx swaps it in) reads like the page; the SQL console runs
    # queries, which are audited per user, so anonymous readers are sent to sign in.
    ("version-rows", "GET"): PAGE_DATA,
    ("dataset-rows", "GET"): PAGE_DATA,
    ("version-query", "GET"): {**PAGE_DATA, "anonymous_read": 302},
    ("version-query-download", "GET"): {**PAGE_DATA, "anonymous_read": 302},
    # Saving a result: readers may ask, only writers of the target dataset get past the form.
    ("version-query-save", "POST"): {**PAGE_WRITE, "outsider": (400, 404, 403), "member": 400, "owner": 302},
    ("team-list", "GET"): SIGNED_IN_PAGE,
    ("team-detail", "GET"): SIGNED_IN_PAGE,
    ("team-member-remove", "POST"): {**PAGE_WRITE, "outsider": 403, "owner": 302},
    ("token-list", "GET"): SIGNED_IN_PAGE,
    ("token-revoke", "POST"): {**SIGNED_IN_PAGE, "outsider": 404, "member": 404, "owner": 302},
    ("api-token-exchange", "POST"): dict.fromkeys(PERSONAS, 401),
    ("api-token-list", "GET"): SIGNED_IN_API,
    ("api-token-detail", "DELETE"): {**SIGNED_IN_API, "outsider": 404, "member": 404, "owner": 204},
    ("api-schema", "GET"): dict.fromkeys(PERSONAS, 200),
    ("api-docs", "GET"): dict.fromkeys(PERSONAS, 200),
    ("api-team-list", "GET"): SIGNED_IN_API,
    ("api-team-list", "POST"): {**SIGNED_IN_API, "outsider": 201, "member": 201, "owner": 201},
    ("api-team-detail", "GET"): SIGNED_IN_API,
    ("api-team-detail", "PATCH"): {**OWNER_ONLY_API, "owner": 200},
    # Search answers whoever may browse; what each persona finds is checked against LISTED.
    ("api-search", "GET"): {**SIGNED_IN_API, "anonymous_read": 200},
    ("api-search-suggest", "GET"): {**SIGNED_IN_API, "anonymous_read": 200},
    ("api-columns", "GET"): {**SIGNED_IN_API, "anonymous_read": 200},
    ("api-team-members", "GET"): {**SIGNED_IN_API, "outsider": 403},  # members see members
    ("api-team-members", "POST"): {**OWNER_ONLY_API, "owner": 201},
    ("api-team-member", "PATCH"): {**OWNER_ONLY_API, "owner": 200},
    ("api-team-member", "DELETE"): {**OWNER_ONLY_API, "owner": 204},
    ("api-dataset-list", "GET"): {**SIGNED_IN_API, "anonymous_read": 200},
    ("api-dataset-list", "POST"): {**OWNER_ONLY_API, "owner": 201},
    ("api-dataset-detail", "GET"): {**READ_DATA, "outsider": (200, 404, 200)},
    ("api-dataset-detail", "PATCH"): {**OWNER_ONLY_API, "outsider": (403, 404, 403), "owner": 200},
    ("api-version-list", "GET"): READ_DATA,
    ("api-version-list", "POST"): {**OWNER_ONLY_API, "outsider": (403, 404, 403), "owner": 202},
    # Direct uploads: the filesystem backend refuses them (409); the S3 leg opens one (201). A
    # random upload id is nobody's, so even the owner finds none.
    ("api-direct-upload-list", "GET"): {**WRITE_GET, "owner": 200},
    ("api-direct-upload-list", "POST"): {**OWNER_ONLY_API, "outsider": (403, 404, 403), "owner": DIRECT_OPEN},
    ("api-direct-upload-detail", "GET"): {**WRITE_GET, "owner": 404},
    ("api-direct-upload-detail", "DELETE"): {**OWNER_ONLY_API, "outsider": (403, 404, 403), "owner": 404},
    ("api-direct-upload-complete", "POST"): {**OWNER_ONLY_API, "outsider": (403, 404, 403), "owner": 404},
    ("api-version-detail", "GET"): READ_DATA,
    ("api-version-download", "GET"): READ_DATA,
    ("api-version-schema", "GET"): READ_DATA,
    ("api-version-profile", "GET"): READ_DATA,
    ("api-version-preview", "GET"): READ_DATA,
    ("api-version-rows", "GET"): READ_DATA,
    # The SQL console reads the version it names; a POST, so anonymous readers are not let in.
    ("api-query", "POST"): {**READ_DATA, "anonymous_read": 401},
    # A pending save (the owner's here) is its author's alone; the others find none.
    ("api-query-save", "GET"): {**SIGNED_IN_API, "anonymous_read": 404, "outsider": 404, "member": 404},
    ("api-schema-diff", "GET"): READ_DATA,
    ("api-column-docs", "GET"): READ_DATA,
    ("api-suite", "GET"): READ_DATA,
    ("api-suite", "PUT"): {**OWNER_ONLY_API, "outsider": (403, 404, 403), "owner": 200},
    ("api-suite-suggest", "GET"): READ_DATA,
    ("api-validations", "GET"): READ_DATA,
    ("api-validations", "POST"): {**OWNER_ONLY_API, "outsider": (403, 404, 403), "owner": 202},
    ("api-validation-detail", "GET"): READ_DATA,
    ("api-column-docs", "PUT"): {**OWNER_ONLY_API, "outsider": (403, 404, 403), "owner": 200},
    ("dataset-lineage", "GET"): PAGE_DATA,
    ("external-name-add", "POST"): {**PAGE_WRITE, "owner": 302},
    ("external-name-remove", "POST"): {**PAGE_WRITE, "owner": 302},
    ("version-impact", "GET"): PAGE_DATA,
    # A run shows to whoever may read one of its datasets; to others it does not exist.
    ("run-detail", "GET"): {**PAGE_DATA, "outsider": (200, 404, 404)},
    # Reading an internal dataset one cannot see records an external name; a restricted one is refused.
    ("api-lineage", "POST"): {**SIGNED_IN_API, "outsider": (201, 201, 403), "member": 201, "owner": 201},
    ("api-dataset-lineage", "GET"): READ_DATA,
    ("api-version-impact", "GET"): READ_DATA,
    ("api-dataset-external-names", "GET"): READ_DATA,
    ("api-dataset-external-names", "POST"): {**OWNER_ONLY_API, "outsider": (403, 404, 403), "owner": 201},
    ("api-dataset-external-name", "DELETE"): {**OWNER_ONLY_API, "outsider": (403, 404, 403), "owner": 204},
    ("api-version-croissant", "GET"): READ_DATA,
    ("api-alias-list", "GET"): READ_DATA,
    ("api-alias-detail", "GET"): READ_DATA,
    ("api-alias-detail", "PUT"): {**OWNER_ONLY_API, "outsider": (403, 404, 403), "owner": 200},
    ("api-alias-detail", "DELETE"): {**OWNER_ONLY_API, "outsider": (403, 404, 403), "owner": 204},
    ("api-checkout-list", "POST"): {
        "anonymous": 401,
        "anonymous_read": 401,
        "outsider": (201, 404, 403),
        "member": 201,
        "owner": 201,
    },
    ("api-checkout-detail", "GET"): READ_DATA,
    ("dataset-usage", "GET"): PAGE_DATA,
    ("dataset-aliases", "GET"): PAGE_DATA,
    ("dataset-alias-set", "POST"): {**PAGE_WRITE, "owner": 302},
    ("dataset-alias-delete", "POST"): {**PAGE_WRITE, "owner": 302},
    ("dataset-alias-delete", "GET"): PAGE_WRITE,  # asks to confirm
    # Every access request waiting for the user's decision (none, for most people).
    ("access-requests", "GET"): SIGNED_IN_PAGE,
    # A checkout's portal page shows only the readable part; none readable: it does not exist.
    ("checkout-detail", "GET"): {**PAGE_DATA, "outsider": (200, 404, 404)},
    # Access requests: whoever may find a dataset may list their own requests (owners see all);
    # asking makes sense only for a restricted dataset one cannot read yet.
    ("api-access-request-list", "GET"): {**READ_DATA, "outsider": (200, 404, 200)},
    ("api-access-request-list", "POST"): {
        "anonymous": 401,
        "anonymous_read": 401,
        "outsider": (409, 404, 201),
        "member": 409,
        "owner": 409,
    },
    # Only a restricted dataset's requests can be approved: elsewhere an approval would lie dormant.
    ("api-access-request-decision", "POST"): {
        **OWNER_ONLY_API,
        "outsider": (403, 404, 403),
        "owner": (409, 409, 200),
    },
    ("dataset-access", "GET"): {
        "anonymous": 302,
        "anonymous_read": (403, 404, 404),
        "outsider": (403, 404, 403),
        "member": 403,
        "owner": 200,
    },
    ("dataset-access-request", "POST"): {
        "anonymous": 302,
        "anonymous_read": 302,
        "outsider": (302, 404, 302),
        "member": 302,
        "owner": 302,
    },
    ("dataset-access-decide", "POST"): {**PAGE_WRITE, "owner": (400, 400, 302)},
    # The audit log: a dataset's tab for its team's owners; the API lists what the caller may read.
    ("dataset-audit", "GET"): PAGE_WRITE,
    ("api-audit-list", "GET"): SIGNED_IN_API,
    ("api-audit-export", "GET"): SIGNED_IN_API,
    ("preferences", "GET"): SIGNED_IN_PAGE,
    ("api-preferences", "GET"): SIGNED_IN_API,
    # Health and metrics (config/health.py, config/metrics.py): the same for everyone. /readyz is a
    # 503 here because `world` points the broker at a closed port; /metrics is off without a token.
    ("healthz", "GET"): dict.fromkeys(PERSONAS, 200),
    ("readyz", "GET"): dict.fromkeys(PERSONAS, 503),
    ("metrics", "GET"): dict.fromkeys(PERSONAS, 404),
    # The favicon (config/urls.py): a redirect to its static file, for everyone.
    ("favicon", "GET"): dict.fromkeys(PERSONAS, 302),
}
# Query strings for the GET routes that need one.
QUERIES: dict[str, dict[str, str]] = {
    "api-columns": {"q": "a"},
    "api-search-suggest": {"q": "dat"},
    "version-query-download": {"sql": "SELECT * FROM data"},
}

# The admin is Django's own; non-staff users are sent to its login page.
ADMIN = dict.fromkeys(PERSONAS, 302)

# Which datasets each persona finds in lists, by visibility.
LISTED = {
    "anonymous": set(),
    "anonymous_read": {"public"},
    "outsider": {"public", "restricted"},
    "member": set(VISIBILITIES),
    "owner": set(VISIBILITIES),
}


def all_routes() -> set[tuple[str, str]]:
    """(name, pattern) of every named route; admin routes as ('admin:*', ...)."""
    found: set[tuple[str, str]] = set()

    def walk(patterns: list[Any], namespace: str = "") -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, pattern.namespace or namespace)
            elif isinstance(pattern, URLPattern):
                if namespace == "admin":
                    found.add(("admin:*", ""))
                elif pattern.name:
                    found.add((pattern.name, str(pattern.pattern)))
                else:
                    found.add((f"<unnamed {pattern.pattern}>", str(pattern.pattern)))

    walk(get_resolver().url_patterns)
    return found


def test_every_route_has_an_entry():
    names = {name for name, _ in all_routes()} - {"admin:*"}
    covered = {name for name, _ in EXPECTED}
    assert names - covered == set(), "add these routes to EXPECTED in tests/test_permissions.py"
    assert covered - names == set(), "EXPECTED names routes that no longer exist"


@pytest.fixture(scope="module")
def walked(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    django_db_setup: None,
    django_db_blocker: Any,
) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """The world every walk reads, built once for the module (`built_once`: it publishes six
    versions, which was two thirds of each walk's time), with the storage settings its blobs were
    written under, which every test takes (data_dir below, which also refuses tests that commit).

    Built before any test's autouse fixtures (_no_broker): what it sends to a broker goes through
    on_commit, which its transaction, rolled back, never reaches."""
    storage = storage_settings(request, tmp_path_factory.mktemp("granary-data"))
    with override_settings(**storage, CELERY_BROKER_URL=NO_BROKER), built_once(django_db_blocker):
        team = TeamFactory(slug="ml-core")
        users = {
            "outsider": UserFactory(username="oscar"),
            "member": UserFactory(username="mina"),
            "owner": UserFactory(username="olivia"),
            "target": UserFactory(username="tess"),
            "requester": UserFactory(username="rita"),
        }
        MembershipFactory(team=team, user=users["member"], role=Membership.Role.MEMBER)
        MembershipFactory(team=team, user=users["owner"], role=Membership.Role.OWNER)
        datasets = {v: DatasetFactory(slug=f"{v}-data", team=team, visibility=v) for v in VISIBILITIES}
        world = {"team": team, "users": users, "datasets": datasets}
        _publish_versions(world)
        yield world, storage


@pytest.fixture
def data_dir(
    request: pytest.FixtureRequest, walked: tuple[dict[str, Any], dict[str, Any]], settings: Any
) -> Path:
    if committing := {"transactional_db", "live_server"} & set(request.fixturenames):
        pytest.fail(f"{sorted(committing)} would flush the walk's world: test it in another module")
    for name, value in walked[1].items():
        setattr(settings, name, value)
    return walked[1]["GRANARY_DATA_DIR"]


@pytest.fixture
def world(walked: tuple[dict[str, Any], dict[str, Any]], db: None, settings: Any) -> dict[str, Any]:
    """The walk's world read afresh: a test signs its users in (force_login sets their
    last_login), and what the database rolls back must not stay on the objects."""
    settings.CELERY_BROKER_URL = NO_BROKER
    built = walked[0]
    users = get_user_model().objects.in_bulk([user.pk for user in built["users"].values()])
    datasets = Dataset.objects.in_bulk([dataset.pk for dataset in built["datasets"].values()])
    return {
        **built,
        "team": Team.objects.get(pk=built["team"].pk),
        "users": {persona: users[user.pk] for persona, user in built["users"].items()},
        "datasets": {visibility: datasets[d.pk] for visibility, d in built["datasets"].items()},
    }


def client_for(persona: str, world: dict[str, Any], settings: Any, api: bool) -> Client:
    settings.GRANARY_ANONYMOUS_READ = persona == "anonymous_read"
    client: Client = APIClient() if api else Client()
    if persona.startswith("anonymous"):
        return client
    user = world["users"][persona]
    if api:
        secret = token_create(user=user, name="perm", scope="admin").secret  # the user's every right
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")  # type: ignore[attr-defined]
    else:
        client.force_login(user)
    return client


def call(
    client: Client, name: str, method: str, dataset: Dataset, world: dict[str, Any], persona: str
) -> Any:
    owner_token = token_create(user=world["users"]["owner"], name="target").token
    target = world["users"]["target"]
    if not target.memberships.exists():
        MembershipFactory(team=world["team"], user=target, role=Membership.Role.MEMBER)
    run = ValidationRun.objects.filter(version__dataset=dataset, version__number=1).first()
    kwargs_by_arg = {
        "position": 1,
        "slug": dataset.slug,
        "number": 1,
        "ref": "1",
        "username": "tess",
        "token_id": owner_token.pk,
        "webhook_id": Webhook.objects.create(team=world["team"], url="https://hooks.example.org/x").pk,
        "run_id": run.pk if run else 0,
        "external_id": ExternalDataset.objects.get(dataset=dataset).pk,
        "run_uuid": Run.objects.get(job__name=f"reads-{dataset.slug}").run_id,
        "name": "prod",
        "checkout_id": world["checkouts"][dataset.slug].pk,
        "request_id": world["access_requests"][dataset.slug].pk,
        "upload_id": uuid.uuid4(),
        "save_id": QuerySave.objects.create(
            dataset=dataset, created_by=world["users"]["owner"], sql="SELECT 1", reads={}
        ).pk,
    }
    if name.startswith("team-") or name.startswith("api-team-"):
        kwargs_by_arg["slug"] = world["team"].slug
    # The arguments the route takes, read from the resolver itself.
    args = get_resolver().reverse_dict.getlist(name)[0][0][0][1]
    url = reverse(name, kwargs={arg: kwargs_by_arg[arg] for arg in args})
    unique = os.urandom(4).hex()
    payloads: dict[str, Any] = {
        "api-token-exchange": {"username": "nobody", "password": "wrong"},
        "api-team-list": {"slug": f"t-{unique}", "name": "T"},
        "api-team-members": {"username": "oscar", "role": "member"},
        "api-team-member": {"role": "maintainer"},
        "api-dataset-list": {"slug": f"d-{unique}", "title": "D", "team": "ml-core"},
        "api-dataset-detail": {"title": "Renamed"},
        "api-team-detail": {"name": "Renamed"},
        "api-column-docs": [{"name": "a", "description": "the first column"}],
        "external-name-add": {"namespace": "postgres://db:5432", "name": f"public.t{unique}"},
        "api-dataset-external-names": {"namespace": "postgres://db:5432", "name": f"public.t{unique}"},
        "api-lineage": {
            "eventType": "COMPLETE",
            "eventTime": "2026-11-27T10:00:00Z",
            "producer": "https://example.org/tests",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "run": {"runId": str(uuid.uuid4())},
            "job": {"namespace": "tests", "name": f"reads-{unique}"},  # each persona its own job
            "inputs": [{"namespace": "http://testserver", "name": dataset.slug}],
        },
        "suite-import": {"suite": "{}"},
        "api-suite": {
            "expectations": [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a"}}]
        },
        "api-alias-detail": {"version": 2},
        "api-checkout-list": {"refs": [f"{dataset.slug}@latest"], "purpose": "permissions walk"},
        "dataset-alias-set": {"name": "prod", "version": "2", "confirm": "1"},
        "api-access-request-list": {"reason": "training the churn model"},
        "api-query": {"sql": f'SELECT * FROM "{dataset.slug}@1"'},  # noqa: S608 (our own slug)
        "version-query-save": {"sql": "SELECT * FROM data", "dataset": dataset.slug, "message": "walk"},
        "api-direct-upload-list": {"size": 100, "sha256": "ab" * 32, "filename": f"{unique}.csv"},
        "api-access-request-decision": {"decision": "approve"},
        "dataset-access-request": {"reason": "training the churn model"},
        "dataset-access-decide": {"decision": "approve"},
    }
    if name == "api-version-list" and method == "POST":
        from django.core.files.uploadedfile import SimpleUploadedFile

        upload = SimpleUploadedFile("x.csv", f"a,b\n{unique},1\n".encode())
        return client.post(url, {"file": upload}, format="multipart")  # type: ignore[call-arg]
    data = payloads.get(name, {})
    if method == "GET":
        return client.get(url, QUERIES.get(name, {}))
    if isinstance(client, APIClient):
        return getattr(client, method.lower())(url, data, format="json")
    return getattr(client, method.lower())(url, data)


def _publish_versions(world: dict[str, Any]) -> None:
    """A version of each dataset, a finished job run that read it, an external name of it,
    alias `prod` on the first version and a checkout of it."""
    owner = world["users"]["owner"]
    world["checkouts"] = {}
    world["access_requests"] = {}
    for dataset in world["datasets"].values():
        first = publish_now(dataset, data=f"a,b\n{dataset.slug},1\n".encode())
        run = Run.objects.create(
            job=Job.objects.get_or_create(namespace="tests", name=f"reads-{dataset.slug}")[0],
            run_id=uuid.uuid4(),
            state=Run.State.COMPLETE,
            state_time=timezone.now(),
        )
        RunDataset.objects.create(
            run=run, role="input", namespace="tests", name=dataset.slug, dataset=dataset, version=first
        )
        ExternalDataset.objects.create(
            namespace="postgres://db:5432", name=f"public.{dataset.slug}", dataset=dataset
        )
        publish_now(dataset, data=f"a,b,c\n{dataset.slug},2,3\n".encode())
        revision = suite_save(
            dataset=dataset,
            user=None,
            expectations=[{"type": "expect_column_to_exist", "kwargs": {"column": "a"}}],
        )
        ValidationRun.objects.create(version=first, revision=revision, trigger="test")
        alias_set(dataset=dataset, user=owner, name="prod", version=first)
        world["checkouts"][dataset.slug] = checkout_create(
            user=owner, refs=[f"{dataset.slug}@prod"], purpose="train"
        )
        world["access_requests"][dataset.slug] = AccessRequest.objects.create(
            dataset=dataset, user=world["users"]["requester"], reason="a pending request to decide"
        )


@pytest.mark.parametrize(("name", "method"), sorted(EXPECTED))
def test_who_gets_what(name, method, world, settings):
    # Fifteen wrong passwords in one walk: more than the sign-in limits allow (tests/accounts/test_login_limits.py).
    settings.AXES_FAILURE_LIMIT = 100
    api = name.startswith("api-")
    wrong = []
    for persona in PERSONAS:
        for index, visibility in enumerate(VISIBILITIES):
            expected = EXPECTED[(name, method)][persona]
            status = expected[index] if isinstance(expected, tuple) else expected
            client = client_for(persona, world, settings, api)
            response = call(client, name, method, world["datasets"][visibility], world, persona)
            if response.status_code != status:
                wrong.append(f"{persona} on {visibility}: got {response.status_code}, expected {status}")
            if response.status_code == 200 and name in {"home", "api-dataset-list", "api-search"}:
                body = response.content.decode()
                listed = {v for v in VISIBILITIES if f"{v}-data" in body}
                if listed != LISTED[persona]:
                    wrong.append(f"{persona} lists {sorted(listed)}, expected {sorted(LISTED[persona])}")
            restricted_card = (name, persona, visibility) == ("api-dataset-detail", "outsider", "restricted")
            if restricted_card and response.status_code == 200 and "readme" in response.json():
                wrong.append("an outsider sees more than the title and summary of a restricted dataset")
    assert not wrong, f"{method} {name}:\n" + "\n".join(sorted(set(wrong)))


def test_admin_pages_send_non_staff_to_the_admin_login(world, settings):
    for persona in PERSONAS:
        client = client_for(persona, world, settings, api=False)
        response = client.get("/admin/datasets/dataset/")
        assert response.status_code == ADMIN[persona]
        login = "/accounts/login/" if persona.startswith("anonymous") else "/admin/login/"
        assert response["Location"].startswith(login)
