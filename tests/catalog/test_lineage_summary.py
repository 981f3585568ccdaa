"""The lineage summary agrees with the graph beside it, the graph has one centre and arrows that
point downstream, and a page with no lineage says so once (issue 15)."""

from __future__ import annotations

import re

import pytest

from catalog.presentation.graph import BOX_W, graph_drawing
from lineage.graph import lineage_graph
from lineage.services import run_event_record
from tests.conftest import CSV
from tests.factories import DatasetFactory, run_event

pytestmark = pytest.mark.django_db

GRANARY = "http://testserver"  # this Granary's OpenLineage namespace in tests


@pytest.fixture
def churn_v2_from_v1(public_dataset, publish):
    """churn@2 declared as derived from churn@1: lineage inside one dataset."""
    first = publish(public_dataset)
    return first, publish(public_dataset, data=CSV + b"4,alan,0.1\n", derived_from=[first])


def summary_of(html: str) -> str:
    return re.search(r'<section class="lineage-summary".*?</section>', html, re.S).group(0)


def wire_ends(html: str) -> list[tuple[int, int]]:
    """(start x, end x) of each drawn edge."""
    return [
        (int(a), int(b)) for a, b in re.findall(r'<path class="wire[^"]*" d="M(\d+),\d+ .*? (\d+),\d+"', html)
    ]


def box_x(html: str, node_id: str) -> int:
    return int(re.search(rf'data-node-id="{re.escape(node_id)}" transform="translate\((\d+),', html).group(1))


def test_the_overview_summary_names_lineage_between_a_datasets_versions(client, member, churn_v2_from_v1):
    client.force_login(member)
    summary = summary_of(client.get("/datasets/churn/").content.decode())
    assert "Between its versions" in summary
    assert re.search(r">churn@1</a>.*→.*>churn@2</a>", summary, re.S)
    assert summary.count("nothing recorded") + summary.count("Nothing recorded") == 1


def test_the_lineage_tab_draws_v1_left_of_v2_with_the_arrow_pointing_right(client, member, churn_v2_from_v1):
    client.force_login(member)
    html = client.get("/datasets/churn/lineage/").content.decode()
    v1, v2 = box_x(html, "version:churn@1"), box_x(html, "version:churn@2")
    assert v1 + BOX_W < v2  # side by side, not stacked in one column
    assert wire_ends(html) == [(v1 + BOX_W, v2)]
    assert "Between its versions" in summary_of(html)


def test_a_chain_is_drawn_by_depth_from_one_centre(member, team, publish):
    a = publish(DatasetFactory(slug="a", team=team), data=b"x\n1\n")
    b = publish(DatasetFactory(slug="b", team=team), data=b"x\n2\n", derived_from=[a])
    publish(DatasetFactory(slug="c", team=team), data=b"x\n3\n", derived_from=[b])
    drawing = graph_drawing(lineage_graph(user=member, dataset=b.dataset))
    x = {box.node.id: box.x for box in drawing.boxes}
    assert x["version:a@1"] < x["version:b@1"] < x["version:c@1"]
    centres = [box for box in drawing.boxes if box.node.side == "center"]
    assert [box.node.id for box in centres] == ["version:b@1"]


def test_a_job_that_read_v1_and_wrote_v2_sits_between_them(maintainer, member, public_dataset, publish):
    first = publish(public_dataset)
    second = publish(public_dataset, data=CSV + b"4,alan,0.1\n")
    event = run_event(inputs=[(GRANARY, "churn@1")], outputs=[(GRANARY, "churn@2")])
    run_event_record(user=maintainer, payload=event, namespace=GRANARY)
    graph = lineage_graph(user=member, dataset=public_dataset)
    drawing = graph_drawing(graph)
    x = {box.node.id: box.x for box in drawing.boxes}
    job = next(box.node.id for box in drawing.boxes if box.node.kind == "job")
    assert x[f"version:{first.ref}"] < x[job] < x[f"version:{second.ref}"]
    assert all(start < end for start, end in (_ends(w.d) for w in drawing.wires))
    assert [(s.label, t.label) for s, t in graph.within] == [("churn@1", "churn@2")]


def _ends(d: str) -> tuple[int, int]:
    numbers = [int(n) for n in re.findall(r"-?\d+", d)]
    return numbers[0], numbers[-2]


def test_a_dataset_without_lineage_says_so_once(client, member, public_dataset, publish):
    publish(public_dataset)
    client.force_login(member)
    for url in ("/datasets/churn/", "/datasets/churn/lineage/", "/datasets/churn/versions/1/"):
        html = client.get(url).content.decode()
        said = html.count("No lineage recorded yet") + html.lower().count("nothing recorded")
        assert said == 1, url
