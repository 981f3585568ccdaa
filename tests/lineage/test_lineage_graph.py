"""The lineage graph and impact analysis: API, pages, depth and direction, visibility, cycles."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from accounts.models import Membership
from datasets.models import Dataset, Version
from lineage.models import Run
from lineage.services import run_event_record
from tests.conftest import upload
from tests.factories import DatasetFactory, MembershipFactory, TeamFactory, UserFactory, run_event

pytestmark = pytest.mark.django_db

GRANARY = "http://testserver"


def graph(client: Any, slug: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"/api/v1/datasets/{slug}/lineage/", params)
    assert response.status_code == 200, response.json()
    return response.json()


def ids(body: dict[str, Any], kind: str = "version") -> set[str]:
    return {node["id"] for node in body["nodes"] if node["kind"] == kind}


@pytest.fixture
def chain(team, publish) -> list[Version]:
    """a@1 → b@1 → c@1 → d@1, declared on upload."""
    versions: list[Version] = []
    for slug in "abcd":
        dataset = DatasetFactory(slug=slug, team=team)
        versions.append(publish(dataset, data=f"x\n{slug}\n".encode(), derived_from=versions[-1:]))
    return versions


def test_declared_upstreams_show_in_the_graph_and_on_both_datasets_pages(
    api, client, maintainer, member, team, publish
):
    raw = publish(DatasetFactory(slug="raw_events", team=team), data=b"id\n1\n")
    users = publish(DatasetFactory(slug="users", team=team), data=b"user\nada\n")
    DatasetFactory(slug="features", team=team)
    response = api(maintainer).post(
        "/api/v1/datasets/features/versions/",
        {
            "file": upload(),
            "derived_from": ["raw_events@1", "users@latest"],
            "code_url": "https://git.acme/f@abc",
        },
        format="multipart",
    )
    assert response.status_code == 202, response.json()

    body = graph(api(member), "features")
    assert ids(body) == {"version:features@1", "version:raw_events@1", "version:users@1"}
    assert {(e["source"], e["target"], e["kind"]) for e in body["edges"]} == {
        ("version:raw_events@1", "version:features@1", "derived_from"),
        ("version:users@1", "version:features@1", "derived_from"),
    }
    sides = {node["id"]: node["side"] for node in body["nodes"]}
    assert sides["version:raw_events@1"] == "upstream" and sides["version:features@1"] == "center"

    client.force_login(member)
    features_page = client.get("/datasets/features/")
    assert [n.label for n in features_page.context["lineage"].upstream] == ["raw_events@1", "users@1"]
    for upstream in (raw, users):
        page = client.get(f"/datasets/{upstream.dataset.slug}/")
        assert [n.label for n in page.context["lineage"].downstream] == ["features@1"]
        assert 'href="/datasets/features/versions/1/"' in page.content.decode()
    html = features_page.content.decode()
    assert 'href="/datasets/raw_events/versions/1/"' in html and 'href="/datasets/users/versions/1/"' in html


@pytest.mark.parametrize(
    ("direction", "depth", "expected"),
    [
        ("down", 1, {"b@1", "c@1"}),
        ("down", 2, {"b@1", "c@1", "d@1"}),
        ("up", 1, {"a@1", "b@1"}),
        ("both", 1, {"a@1", "b@1", "c@1"}),
        ("both", 5, {"a@1", "b@1", "c@1", "d@1"}),
    ],
)
def test_direction_and_depth_bound_the_graph(api, member, chain, direction, depth, expected):
    body = graph(api(member), "b", direction=direction, depth=depth)
    assert ids(body) == {f"version:{ref}" for ref in expected}


@pytest.mark.parametrize(
    ("params", "field"),
    [({"direction": "sideways"}, "direction"), ({"depth": "0"}, "depth"), ({"depth": "x"}, "depth")],
)
def test_a_bad_direction_or_depth_is_a_400(api, member, chain, params, field):
    response = api(member).get("/api/v1/datasets/b/lineage/", params)
    assert response.status_code == 400
    assert response.json()["field"] == field


def test_jobs_sit_between_what_they_read_and_wrote(api, maintainer, member, team, publish):
    users = publish(DatasetFactory(slug="users", team=team))
    report = DatasetFactory(slug="report", team=team)
    publish(report, data=b"r\n1\n")
    run_id = str(uuid.uuid4())
    run_event_record(
        user=maintainer,
        payload=run_event(
            run_id=run_id,
            inputs=[(GRANARY, "users"), ("s3://bucket", "clicks")],
            outputs=[(GRANARY, "report")],
        ),
        namespace=GRANARY,
    )
    body = graph(api(member), "users", direction="down", depth=1)
    job = f"job:{run_id}"
    edges = {(e["source"], e["target"], e["kind"]) for e in body["edges"]}
    assert edges == {(f"version:{users.ref}", job, "input"), (job, "version:report@1", "output")}
    node = next(n for n in body["nodes"] if n["id"] == job)
    assert (node["name"], node["state"], node["depth"]) == ("etl.features", "COMPLETE", 1)
    assert node["url"].endswith(f"/lineage/runs/{run_id}/")

    up = graph(api(member), "report", direction="up", depth=1)
    assert {n["name"] for n in up["nodes"] if n["kind"] == "external"} == {"clicks"}


@pytest.fixture
def mixed(team, publish) -> dict[str, Version]:
    """A public `report` derived from the team's internal and restricted datasets and a public one."""
    parts = {
        visibility: publish(DatasetFactory(slug=f"{visibility}-src", team=team, visibility=visibility))
        for visibility in ("public", "internal", "restricted")
    }
    report = DatasetFactory(slug="report", team=team, visibility=Dataset.Visibility.PUBLIC)
    parts["report"] = publish(report, data=b"r\n1\n", derived_from=list(parts.values()))
    return parts


@pytest.mark.parametrize(
    ("persona", "named", "hidden"),
    [
        ("anonymous_read", {"public-src@1", "report@1"}, 2),
        ("outsider", {"public-src@1", "report@1"}, 2),
        ("member", {"public-src@1", "internal-src@1", "restricted-src@1", "report@1"}, 0),
        ("owner", {"public-src@1", "internal-src@1", "restricted-src@1", "report@1"}, 0),
    ],
)
def test_nodes_a_persona_may_not_read_are_only_restricted(
    api, settings, mixed, persona, named, hidden, owner, member, outsider
):
    settings.GRANARY_ANONYMOUS_READ = persona == "anonymous_read"
    user = {"anonymous_read": None, "outsider": outsider, "member": member, "owner": owner}[persona]
    body = graph(api(user), "report")
    assert {node["ref"] for node in body["nodes"] if node["kind"] == "version"} == named
    restricted = [node for node in body["nodes"] if node["kind"] == "restricted"]
    assert len(restricted) == hidden
    for node in restricted:
        assert set(node) == {"id", "kind", "side", "depth"}
    text = str(body)
    for secret in ("internal-src", "restricted-src"):
        assert (secret in text) == (hidden == 0)
    assert len(body["edges"]) == 3


def test_anonymous_visitors_get_no_graph(api, mixed):
    assert api(None).get("/api/v1/datasets/report/lineage/").status_code == 401


def test_a_job_the_user_may_not_see_is_restricted_and_so_are_its_external_names(
    api, outsider, maintainer, team, publish
):
    secret = publish(DatasetFactory(slug="salaries", team=team, visibility="internal"))
    public = DatasetFactory(slug="bonus", team=team, visibility="public")
    publish(public)
    run_event_record(
        user=maintainer,
        payload=run_event(
            job="payroll.secret", inputs=[(GRANARY, "salaries"), ("postgres://hr", "public.pay")]
        ),
        namespace=GRANARY,
    )
    run_event_record(
        user=maintainer,
        payload=run_event(job="bonus.calc", inputs=[(GRANARY, "bonus"), ("postgres://hr", "public.pay")]),
        namespace=GRANARY,
    )
    assert secret.dataset.visibility == "internal"
    body = graph(api(outsider), "bonus")
    assert {n.get("name") for n in body["nodes"] if n["kind"] == "job"} == {"bonus.calc"}
    assert "payroll.secret" not in str(body)


def test_a_run_page_shows_what_it_read_and_wrote(client, maintainer, member, outsider, team, publish):
    publish(DatasetFactory(slug="users", team=team, visibility="internal"))
    run_id = str(uuid.uuid4())
    run_event_record(
        user=maintainer,
        payload=run_event(run_id=run_id, inputs=[(GRANARY, "users"), ("s3://raw", "clicks")]),
        namespace=GRANARY,
    )
    client.force_login(member)
    page = client.get(f"/lineage/runs/{run_id}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'href="/datasets/users/versions/1/"' in html and "clicks" in html
    client.force_login(outsider)
    assert client.get(f"/lineage/runs/{run_id}/").status_code == 404


# --- impact analysis ----------------------------------------------------------------------------


def test_impact_lists_every_downstream_version_and_job_at_any_depth(api, maintainer, member, team, publish):
    versions = [publish(DatasetFactory(slug="s0", team=team))]
    for n in range(1, 30):  # deeper than any graph query may go
        versions.append(publish(DatasetFactory(slug=f"s{n}", team=team), derived_from=[versions[-1]]))
    run_event_record(
        user=maintainer, payload=run_event(job="train", inputs=[(GRANARY, "s29")]), namespace=GRANARY
    )
    body = api(member).get("/api/v1/datasets/s0/versions/1/impact/").json()
    assert [d["slug"] for d in body["datasets"]] == sorted(f"s{n}" for n in range(1, 30))
    assert [j["name"] for j in body["jobs"]] == ["train"]
    assert body["depth"] == 30
    assert body["datasets"][0]["versions"][0]["ref"] in {f"s{n}@1" for n in range(1, 30)}


def test_cycles_in_reported_lineage_do_not_hang_the_walk(api, maintainer, member, chain):
    # A job that reads d and writes a closes a → b → c → d → a.
    run_event_record(
        user=maintainer,
        payload=run_event(inputs=[(GRANARY, "d@1")], outputs=[(GRANARY, "a@1")]),
        namespace=GRANARY,
    )
    impact = api(member).get("/api/v1/datasets/a/versions/1/impact/").json()
    assert {d["slug"] for d in impact["datasets"]} == {"b", "c", "d"}
    assert [j["name"] for j in impact["jobs"]] == ["etl.features"]
    body = graph(api(member), "b", depth=20)
    assert ids(body) == {f"version:{slug}@1" for slug in "abcd"}


def test_impact_hides_what_the_user_may_not_see(api, outsider, team, publish):
    source = publish(DatasetFactory(slug="source", team=team, visibility="public"))
    hidden = publish(DatasetFactory(slug="hidden", team=team, visibility="internal"), derived_from=[source])
    publish(DatasetFactory(slug="shown", team=team, visibility="public"), derived_from=[hidden])
    body = api(outsider).get("/api/v1/datasets/source/versions/1/impact/").json()
    assert [d["slug"] for d in body["datasets"]] == ["shown"]
    assert body["restricted"] == 1
    assert "hidden" not in str(body)


def test_the_impact_page_lists_the_downstream(client, member, chain):
    client.force_login(member)
    page = client.get("/datasets/a/versions/1/impact/")
    assert page.status_code == 200
    html = page.content.decode()
    for slug in "bcd":
        assert f'href="/datasets/{slug}/versions/1/"' in html
    assert 'href="/datasets/a/versions/1/impact/"' in client.get("/datasets/a/versions/1/").content.decode()


# --- the lineage tab ----------------------------------------------------------------------------


def test_the_lineage_tab_draws_the_graph_with_links(client, member, chain):
    client.force_login(member)
    page = client.get("/datasets/b/lineage/", {"direction": "down", "depth": "2"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html
    for slug in "bcd":
        assert f'data-node-id="version:{slug}@1"' in html
        assert f'<a href="/datasets/{slug}/versions/1/">' in html
    assert 'data-node-id="version:a@1"' not in html
    boxes = {box.node.id: box for box in page.context["drawing"].boxes}
    assert boxes["version:b@1"].x < boxes["version:c@1"].x < boxes["version:d@1"].x


def test_the_lineage_tab_says_when_there_is_none(client, member, public_dataset, publish):
    publish(public_dataset)
    client.force_login(member)
    assert "No lineage recorded yet" in client.get("/datasets/churn/lineage/").content.decode()


def test_maintainers_link_an_external_name_from_the_lineage_tab(client, maintainer, member, team, publish):
    publish(DatasetFactory(slug="users", team=team))
    run_event_record(
        user=maintainer, payload=run_event(inputs=[("postgres://db:5432", "public.users")]), namespace=GRANARY
    )
    client.force_login(maintainer)
    response = client.post(
        "/datasets/users/lineage/external-names/", {"namespace": "postgres://db:5432", "name": "public.users"}
    )
    assert response.status_code == 302
    page = client.get("/datasets/users/lineage/").content.decode()
    assert "public.users" in page and "unlink" in page
    client.force_login(member)
    refused = client.post("/datasets/users/lineage/external-names/", {"namespace": "x://y", "name": "z"})
    assert refused.status_code == 403


def test_the_link_form_says_what_is_missing(client, maintainer, team):
    DatasetFactory(slug="users", team=team)
    client.force_login(maintainer)
    response = client.post("/datasets/users/lineage/external-names/", {"namespace": "", "name": "x"})
    assert response.status_code == 400
    assert response.context["form"].errors["namespace"] == ["This field is required."]


def test_the_graph_costs_the_same_number_of_queries_whatever_its_size(
    api, member, team, publish, django_assert_num_queries, settings
):
    def build(prefix: str, width: int) -> None:
        roots = [
            publish(DatasetFactory(slug=f"{prefix}r{n}", team=team), data=f"{prefix}{n}\n".encode())
            for n in range(width)
        ]
        center = publish(
            DatasetFactory(slug=f"{prefix}center", team=team),
            data=f"{prefix}c\n".encode(),
            derived_from=roots,
        )
        for n in range(width):
            publish(
                DatasetFactory(slug=f"{prefix}leaf{n}", team=team),
                data=f"{prefix}l{n}\n".encode(),
                derived_from=[center],
            )

    build("s", 2)
    build("l", 12)
    client = api(member)
    client.get("/api/v1/datasets/scenter/lineage/")  # warm the token's last-used stamp
    client.get("/api/v1/datasets/lcenter/lineage/")
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        graph(client, "scenter", depth=5)
    with CaptureQueriesContext(connection) as large:
        graph(client, "lcenter", depth=5)
    assert len(small) == len(large)
    assert len(large) <= 25


def test_only_members_see_a_new_team_members_graph(api, team, chain):
    stranger_team = TeamFactory(slug="other")
    user = UserFactory(username="sam")
    MembershipFactory(team=stranger_team, user=user, role=Membership.Role.OWNER)
    Dataset.objects.filter(slug="c").update(visibility="internal")
    body = graph(api(user), "b", direction="down", depth=2)
    assert {n["kind"] for n in body["nodes"]} == {"version", "dataset", "restricted"}
    assert "version:d@1" in ids(body)
    assert not Run.objects.exists()


def test_version_nodes_carry_their_quality_badge(api, client, member, chain):
    from quality.models import ValidationRun
    from quality.services import suite_save, versions_quality_refresh

    revision = suite_save(
        dataset=chain[0].dataset,
        user=None,
        expectations=[{"type": "expect_column_to_exist", "kwargs": {"column": "x"}}],
    )
    ValidationRun.objects.create(version=chain[0], revision=revision, trigger="test", status="passed")
    versions_quality_refresh(dataset_id=chain[0].dataset_id)  # as a run's end records it
    suite_save(
        dataset=chain[2].dataset,
        user=None,
        expectations=[{"type": "expect_column_to_exist", "kwargs": {"column": "x"}}],
    )
    body = graph(api(member), "b", depth=1)
    quality = {node["ref"]: node["quality_status"] for node in body["nodes"] if node["kind"] == "version"}
    assert quality == {"a@1": "passed", "b@1": None, "c@1": "queued"}  # saving a suite queues a run
    client.force_login(member)
    html = client.get("/datasets/b/lineage/").content.decode()
    assert 'class="quality-dot quality-dot-passed"' in html
    assert "✓ passed" in html
