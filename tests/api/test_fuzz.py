"""Schemathesis fuzzes every operation of the OpenAPI schema at /api/v1/schema/, as a team owner,
against a live server on 127.0.0.1 with a seeded catalog, and fails on any 5xx or any answer the
schema does not describe. Select it with `-m fuzz`; GRANARY_FUZZ_EXAMPLES (default 15 per
operation) and GRANARY_FUZZ_SEED (default fixed, so CI is repeatable) tune it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from accounts.services import token_create
from datasets.access import dataset_access
from datasets.models import Dataset, Version
from datasets.services.access_requests import access_request_create
from datasets.services.aliases import alias_set
from datasets.services.checkouts import checkout_create
from lineage.services import external_name_link, run_event_record
from quality.services import suite_import, validation_queue
from tests.factories import DatasetFactory, MembershipFactory, UserFactory, run_event
from tests.integration.broker import broker_at

# About 2.5 minutes on PostgreSQL in CI: a slower machine could take it past the suite's limit.
pytestmark = [pytest.mark.fuzz, pytest.mark.django_db(transaction=True), pytest.mark.timeout(900)]

CONFIG = Path(__file__).with_name("schemathesis.toml")
EXAMPLES = int(os.environ.get("GRANARY_FUZZ_EXAMPLES", "15"))
SEED = int(os.environ.get("GRANARY_FUZZ_SEED", "20261129"))
SECOND = b"id,name,score,extra\n1,ada,0.5,x\n"


@pytest.fixture
def broker(redis_url: str) -> Any:
    """Validation runs the fuzzer asks for are queued on a real Redis (no worker runs them)."""
    with broker_at(redis_url):
        yield redis_url


@pytest.fixture
def catalog(team: Any, owner: Any, publish: Any, broker: str, live_server: Any) -> dict[str, Any]:
    """A team with an owner, a maintainer and a member; public, internal and restricted datasets
    with ready versions; an alias, a suite and a validation run, lineage, an access request and a
    checkout. Returns what the fuzzer's configuration needs: the owner's token and the ids."""
    from accounts.models import Membership

    MembershipFactory(team=team, user=UserFactory(username="mario"), role=Membership.Role.MAINTAINER)
    MembershipFactory(team=team, user=UserFactory(username="mina"), role=Membership.Role.MEMBER)
    outsider = UserFactory(username="oscar")
    visibility = Dataset.Visibility
    churn = DatasetFactory(slug="churn", team=team, visibility=visibility.PUBLIC, created_by=owner)
    first = publish(churn, user=owner)
    publish(churn, data=SECOND, user=owner)
    for slug, seen in (("payroll", visibility.INTERNAL), ("patients", visibility.RESTRICTED)):
        dataset = DatasetFactory(slug=slug, team=team, visibility=seen, created_by=owner)
        publish(dataset, user=owner)
        publish(dataset, data=SECOND, user=owner)  # two versions each: a schema diff by default
    assert not Version.objects.exclude(status=Version.Status.READY).exists()

    alias_set(dataset=churn, user=owner, name="prod", version=first)
    suite = {"expectations": [{"type": "expect_column_to_exist", "kwargs": {"column": "id"}}]}
    suite_import(dataset=churn, user=owner, data=suite)
    run = validation_queue(version=first, trigger="on demand", user=owner)
    external = external_name_link(dataset=churn, namespace="postgres://db:5432", name="public.churn")
    namespace = live_server.url
    event = run_event(inputs=[("postgres://db:5432", "public.users")], outputs=[(namespace, "churn")])
    run_event_record(user=owner, payload=event, namespace=namespace)
    patients = Dataset.objects.get(slug="patients")
    asked = access_request_create(
        user=outsider,
        dataset=patients,
        access=dataset_access(user=outsider, dataset=patients),
        reason="A study of readmissions",
    )
    checkout = checkout_create(user=owner, refs=["churn@prod", "payroll"], purpose="fuzzing")
    spare = token_create(user=owner, name="spare", scope="admin")
    return {
        "token": token_create(user=owner, name="fuzzer", scope="admin").secret,
        "request_ids": [asked.pk],
        "run_ids": [run.pk],
        "external_ids": [external.pk],
        "checkout_ids": [str(checkout.pk)],
        "spare_token_ids": [spare.token.pk],
    }


def _config(catalog: dict[str, Any], directory: Path) -> Path:
    """tests/api/schemathesis.toml with the seeded objects' ids as dictionaries."""
    ids = "".join(
        f"\n[dictionaries.{name}]\nvalues = {json.dumps(values)}\n"
        for name, values in catalog.items()
        if name != "token"
    )
    path = directory / "schemathesis.toml"
    path.write_text(CONFIG.read_text() + ids)
    return path


def test_the_api_answers_the_fuzzer_only_as_its_schema_says(live_server, catalog, tmp_path):
    command = [
        str(Path(sys.executable).with_name("st")),
        "--config-file",
        str(_config(catalog, tmp_path)),
        "--no-color",
        "run",
        f"{live_server.url}/api/v1/schema/",
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        str(SEED),
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
    ]
    started = time.monotonic()
    result = subprocess.run(
        command,
        env={**os.environ, "GRANARY_FUZZ_TOKEN": catalog["token"]},
        capture_output=True,
        text=True,
        timeout=1500,
        cwd=tmp_path,
        check=False,
    )
    seconds = time.monotonic() - started
    summary = _summary(result.stdout)
    print(f"schemathesis: {summary} in {seconds:.0f} s (seed {SEED}, {EXAMPLES} examples per operation)")
    (tmp_path / "schemathesis.txt").write_text(result.stdout)
    report = result.stdout[result.stdout.find("FAILURES") :] if "FAILURES" in result.stdout else result.stdout
    assert result.returncode == 0, f"{summary}\n\n{report[-200_000:]}\n{result.stderr[-5_000:]}"


def _summary(output: str) -> str:
    operations = re.search(r"Tested: (\d+)", output)
    cases = re.search(r"(\d+) generated", output)
    return (
        f"{operations.group(1) if operations else '?'} operations, "
        f"{cases.group(1) if cases else '?'} test cases"
    )
