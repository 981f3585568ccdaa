"""The lineage graph around a dataset or a version, and impact analysis.

Lineage has two sources: the upstreams a version declares (`Version.derived_from`) and the
datasets of COMPLETE OpenLineage runs (`RunDataset`). The walk goes level by level with a fixed
number of queries per level, whatever the graph's size, and never visits a node twice, so a cycle
in reported lineage ends it instead of hanging it. A level (the `depth`) is one step from data to
data: a job sits half-way between the datasets it read and those it wrote.

What reaches a user passes through `datasets_readable_by`, the one visibility function: a version
or dataset whose data the user may not read is only "restricted"; a job is shown when the user may
read one of its Granary datasets (or it touched none), an external dataset when it is linked to a
dataset the user may read or sits next to a job the user may see.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q
from django.urls import reverse

from core.errors import InvalidInput, NotFound
from core.types import AnyUser
from core.validation import whole_number
from datasets.access import datasets_readable_by
from datasets.models import DATASET_PAGE, VERSION_PAGE, Dataset, Version
from lineage.models import RUN_PAGE, ExternalDataset, Run, RunDataset

Key = tuple[str, int]  # ("version" | "dataset" | "external" | "job", primary key; a job is a run)
RawEdge = tuple[Key, Key, str]

DIRECTIONS = ("up", "down", "both")
MAX_DEPTH = 20
# Keeps every IN (...) under SQLite's limit of bound parameters, however large a level is.
CHUNK = 5000
COMPLETE = Run.State.COMPLETE.value


@dataclass
class Node:
    id: str
    kind: str  # dataset, version, external, job, restricted
    side: str  # center, upstream, downstream
    depth: int
    label: str
    url: str = ""
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, order=True)
class Edge:
    source: str
    target: str
    kind: str  # derived_from (declared), input (dataset → job), output (job → dataset)


@dataclass
class Graph:
    nodes: list[Node]
    edges: list[Edge]

    def _linked(self, side: str, jobs: bool) -> list[Node]:
        ends = {end for edge in self.edges for end in (edge.source, edge.target)}
        return [
            node
            for node in self.nodes
            if node.side == side and node.id in ends and (node.kind == "job") == jobs
        ]

    @property
    def upstream(self) -> list[Node]:
        """The data it comes from (versions, external datasets, restricted nodes), nearest first."""
        return self._linked("upstream", jobs=False)

    @property
    def downstream(self) -> list[Node]:
        return self._linked("downstream", jobs=False)

    @property
    def upstream_jobs(self) -> list[Node]:
        return self._linked("upstream", jobs=True)

    @property
    def downstream_jobs(self) -> list[Node]:
        return self._linked("downstream", jobs=True)

    @property
    def within(self) -> list[tuple[Node, Node]]:
        """Lineage among the centre's own data, directly or through one job: a dataset's v2
        declared as derived from its v1. Neither upstream nor downstream of the dataset, it is
        lineage all the same, and the graph draws it."""
        by_id = {node.id: node for node in self.nodes}
        centre = {node.id for node in self.nodes if node.side == "center" and node.kind != "job"}
        pairs = {(e.source, e.target) for e in self.edges if e.source in centre and e.target in centre}
        read: dict[str, set[str]] = {}
        for edge in self.edges:
            if edge.kind == "input" and edge.source in centre:
                read.setdefault(edge.target, set()).add(edge.source)
        for edge in self.edges:
            if edge.kind == "output" and edge.target in centre:
                pairs |= {
                    (source, edge.target) for source in read.get(edge.source, ()) if source != edge.target
                }
        return [(by_id[a], by_id[b]) for a, b in sorted(pairs)]

    @property
    def unlinked_externals(self) -> list[Node]:
        """External datasets that no Granary dataset claims yet: candidates for a link."""
        return [node for node in self.nodes if node.kind == "external" and not node.fields["linked_dataset"]]


# --- the walk ------------------------------------------------------------------------------------


def _chunks(keys: Iterable[Any]) -> Iterator[list[Any]]:
    items = list(keys)
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def _data_key(version_id: int | None, dataset_id: int | None, external_id: int | None) -> Key:
    if version_id is not None:
        return ("version", version_id)
    if dataset_id is not None:
        return ("dataset", dataset_id)
    return ("external", int(external_id or 0))


def _ends_at(keys: Iterable[Key], role: str) -> Iterator[tuple[int, Key]]:
    """(run, data node) for each dataset of a COMPLETE run, in `role`, that is one of `keys`."""
    for chunk in _chunks(keys):
        condition = Q()
        for kind, column in (
            ("version", "version_id"),
            ("dataset", "dataset_id"),
            ("external", "external_id"),
        ):
            ids = [pk for k, pk in chunk if k == kind]
            if ids:
                extra = {"version_id__isnull": True} if kind == "dataset" else {}
                condition |= Q(**{f"{column}__in": ids}, **extra)
        if not condition:  # an empty Q would match every row
            continue
        rows = (
            RunDataset.objects.filter(condition, role=role, run__state=COMPLETE)
            .order_by()
            .values_list("run_id", "version_id", "dataset_id", "external_id")
        )
        for run_id, version_id, dataset_id, external_id in rows:
            yield run_id, _data_key(version_id, dataset_id, external_id)


def _ends_of(run_ids: Iterable[int], role: str) -> Iterator[tuple[int, Key]]:
    for chunk in _chunks(run_ids):
        rows = (
            RunDataset.objects.filter(run_id__in=chunk, role=role)
            .order_by()
            .values_list("run_id", "version_id", "dataset_id", "external_id")
        )
        for run_id, version_id, dataset_id, external_id in rows:
            yield run_id, _data_key(version_id, dataset_id, external_id)


def _declared(version_ids: Iterable[int], *, downstream: bool) -> Iterator[tuple[int, int]]:
    """(upstream, downstream) version ids of declared lineage next to `version_ids`."""
    through = Version.derived_from.through.objects
    for chunk in _chunks(version_ids):
        near = {"to_version_id__in": chunk} if downstream else {"from_version_id__in": chunk}
        yield from through.filter(**near).order_by().values_list("to_version_id", "from_version_id")


def _walk(start: set[Key], *, downstream: bool, depth: int | None) -> tuple[dict[Key, int], set[RawEdge]]:
    """Every node within `depth` levels of `start` in one direction (no limit when None), with the
    level where it was first reached, and the edges that reached them, in data-flow direction."""
    reached = dict.fromkeys(start, 0)
    edges: set[RawEdge] = set()
    near, far = (RunDataset.Role.INPUT, RunDataset.Role.OUTPUT)
    if not downstream:
        near, far = far, near
    frontier = set(start)
    level = 0
    while frontier and (depth is None or level < depth):
        level += 1
        following: set[Key] = set()

        def reach(key: Key, level: int = level, following: set[Key] = following) -> None:
            if key not in reached:
                reached[key] = level
                following.add(key)

        versions = [pk for kind, pk in frontier if kind == "version"]
        for upstream, derived in _declared(versions, downstream=downstream):
            edges.add((("version", upstream), ("version", derived), "derived_from"))
            reach(("version", derived if downstream else upstream))
        runs: list[int] = []
        for run_id, key in _ends_at(frontier, near):
            job = ("job", run_id)
            edges.add((key, job, "input") if downstream else (job, key, "output"))
            if job not in reached:
                reached[job] = level
                runs.append(run_id)
        for run_id, key in _ends_of(runs, far):
            job = ("job", run_id)
            edges.add((job, key, "output") if downstream else (key, job, "input"))
            reach(key)
        frontier = following
    return reached, edges


# --- what the user may see -----------------------------------------------------------------------


@dataclass
class _Facts:
    """Everything the nodes of a walk need, fetched in a handful of queries."""

    versions: dict[int, dict[str, Any]]
    externals: dict[int, dict[str, Any]]
    runs: dict[int, dict[str, Any]]
    run_datasets: dict[int, set[int]]
    readable: dict[int, dict[str, Any]]  # the datasets the user may read, by id

    @classmethod
    def fetch(cls, user: AnyUser, keys: Iterable[Key]) -> _Facts:
        ids: dict[str, list[int]] = {"version": [], "dataset": [], "external": [], "job": []}
        for kind, pk in keys:
            ids[kind].append(pk)
        versions = _rows(
            Version.objects.all(),
            ids["version"],
            *("pk", "number", "status", "dataset_id", "code_url", "quality_status"),
        )
        externals = _rows(ExternalDataset.objects, ids["external"], "pk", "namespace", "name", "dataset_id")
        runs = _rows(
            Run.objects,
            ids["job"],
            "pk",
            "run_id",
            "state",
            "started_at",
            "ended_at",
            "job__namespace",
            "job__name",
            "job__code_url",
        )
        run_datasets: dict[int, set[int]] = {pk: set() for pk in runs}
        for chunk in _chunks(runs):
            rows = RunDataset.objects.filter(run_id__in=chunk, dataset__isnull=False).order_by()
            for run_id, dataset_id in rows.values_list("run_id", "dataset_id"):
                run_datasets[run_id].add(dataset_id)
        dataset_ids = {
            *ids["dataset"],
            *(row["dataset_id"] for row in versions.values()),
            *(row["dataset_id"] for row in externals.values() if row["dataset_id"]),
            *(pk for linked in run_datasets.values() for pk in linked),
        }
        readable = _rows(datasets_readable_by(user), dataset_ids, "pk", "slug", "title")
        return cls(versions, externals, runs, run_datasets, readable)

    def job_visible(self, run_id: int) -> bool:
        touched = self.run_datasets.get(run_id, set())
        return not touched or any(pk in self.readable for pk in touched)


def _rows(queryset: Any, ids: Iterable[int], *columns: str) -> dict[int, dict[str, Any]]:
    found: dict[int, dict[str, Any]] = {}
    for chunk in _chunks(set(ids)):
        # No ORDER BY: a model's default ordering would join and sort for nothing.
        for row in queryset.filter(pk__in=chunk).order_by().values(*columns):
            found[row["pk"]] = row
    return found


class _Urls:
    """Page URLs for thousands of nodes: `reverse` once per kind, then fill in slugs (URL-safe by
    their validator), numbers and run ids; reversing every node took a quarter of a large query."""

    SLUG, NUMBER, RUN = "slug-placeholder", 987654321, "00000000-0000-0000-0000-000000000000"

    def __init__(self) -> None:
        self._dataset = reverse(DATASET_PAGE, args=[self.SLUG])
        self._version = reverse(VERSION_PAGE, args=[self.SLUG, self.NUMBER])
        self._run = reverse(RUN_PAGE, args=[self.RUN])

    def dataset(self, slug: str) -> str:
        return self._dataset.replace(self.SLUG, slug)

    def version(self, slug: str, number: int) -> str:
        return self._version.replace(self.SLUG, slug).replace(str(self.NUMBER), str(number))

    def run(self, run_id: Any) -> str:
        return self._run.replace(self.RUN, str(run_id))


def _graph(user: AnyUser, placed: dict[Key, tuple[str, int]], raw_edges: set[RawEdge]) -> Graph:
    """Nodes and edges as the user may see them; isolated starting points are left out."""
    urls = _Urls()
    linked = {key for source, target, _ in raw_edges for key in (source, target)}
    placed = {key: where for key, where in placed.items() if key in linked}
    facts = _Facts.fetch(user, placed)
    ids: dict[Key, str] = {}
    nodes: dict[str, Node] = {}
    hidden = 0

    def restricted(key: Key, side: str, depth: int) -> None:
        nonlocal hidden
        hidden += 1
        ids[key] = f"restricted:{hidden}"
        nodes[ids[key]] = Node(ids[key], "restricted", side, depth, "restricted")

    def dataset_node(dataset_id: int, side: str, depth: int) -> str:
        row = facts.readable[dataset_id]
        node_id = f"dataset:{row['slug']}"
        if node_id not in nodes:
            url = urls.dataset(row["slug"])
            fields = {"slug": row["slug"], "title": row["title"]}
            nodes[node_id] = Node(node_id, "dataset", side, depth, row["slug"], url, fields)
        return node_id

    order = sorted(placed.items(), key=lambda item: (item[1][1], item[0][0] == "external", item[0]))
    for key, (side, depth) in order:
        kind, pk = key
        if kind == "version":
            version = facts.versions[pk]
            dataset = facts.readable.get(version["dataset_id"])
            if dataset is None:
                restricted(key, side, depth)
                continue
            ref = f"{dataset['slug']}@{version['number']}"
            ids[key] = f"version:{ref}"
            fields = {
                "dataset": dataset_node(version["dataset_id"], side, depth),
                "ref": ref,
                "number": version["number"],
                "status": version["status"],
                "quality_status": version["quality_status"],
                "code_url": version["code_url"],
            }
            url = urls.version(dataset["slug"], version["number"])
            nodes[ids[key]] = Node(ids[key], "version", side, depth, ref, url, fields)
        elif kind == "dataset":
            if pk not in facts.readable:
                restricted(key, side, depth)
                continue
            ids[key] = dataset_node(pk, side, depth)
        elif kind == "job":
            run = facts.runs[pk]
            if not facts.job_visible(pk):
                restricted(key, side, depth)
                continue
            ids[key] = f"job:{run['run_id']}"
            fields = {
                "namespace": run["job__namespace"],
                "name": run["job__name"],
                "run_id": str(run["run_id"]),
                "state": run["state"],
                "started_at": run["started_at"],
                "ended_at": run["ended_at"],
                "code_url": run["job__code_url"],
            }
            url = urls.run(run["run_id"])
            nodes[ids[key]] = Node(ids[key], "job", side, depth, run["job__name"], url, fields)
    # External datasets last: whether one shows depends on the jobs next to it.
    visible_jobs = {key for key in placed if key[0] == "job" and not ids[key].startswith("restricted:")}
    beside_visible_job = {
        key
        for source, target, _ in raw_edges
        for key, other in ((source, target), (target, source))
        if other in visible_jobs
    }
    for key, (side, depth) in order:
        kind, pk = key
        if kind != "external":
            continue
        external = facts.externals[pk]
        linked_to = external["dataset_id"]
        if linked_to in facts.readable or (linked_to is None and key in beside_visible_job):
            ids[key] = f"external:{pk}"
            fields = {
                "namespace": external["namespace"],
                "name": external["name"],
                "linked_dataset": dataset_node(linked_to, side, depth) if linked_to else None,
            }
            url = urls.dataset(facts.readable[linked_to]["slug"]) if linked_to else ""
            nodes[ids[key]] = Node(ids[key], "external", side, depth, external["name"], url, fields)
        else:
            restricted(key, side, depth)
    edges = sorted({Edge(ids[source], ids[target], kind) for source, target, kind in raw_edges})
    return Graph(nodes=list(nodes.values()), edges=edges)


def lineage_params(params: Any) -> tuple[str, int]:
    """`direction` (up, down, both; default both) and `depth` (1 to MAX_DEPTH; default 3) of a query."""
    direction = params.get("direction") or "both"
    if direction not in DIRECTIONS:
        raise InvalidInput(f"direction={direction!r}: use up, down or both.", field="direction")
    raw = params.get("depth") or "3"
    depth = whole_number(raw)
    if depth is None or not 1 <= depth <= MAX_DEPTH:
        shown = raw if len(str(raw)) <= 20 else f"{str(raw)[:20]}…"
        raise InvalidInput(f"depth={shown!r}: use a whole number from 1 to {MAX_DEPTH}.", field="depth")
    return direction, depth


# --- the public reads ----------------------------------------------------------------------------


def _lineage(user: AnyUser, start: set[Key], direction: str, depth: int | None) -> Graph:
    if direction not in DIRECTIONS:
        raise NotFound(f"direction={direction!r}: use up, down or both.")
    placed: dict[Key, tuple[str, int]] = dict.fromkeys(start, ("center", 0))
    raw_edges: set[RawEdge] = set()
    for side, downstream in (("upstream", False), ("downstream", True)):
        if direction in ("both", side.removesuffix("stream")):
            reached, edges = _walk(start, downstream=downstream, depth=depth)
            raw_edges |= edges
            for key, level in reached.items():
                placed.setdefault(key, (side, level))
    return _graph(user, placed, raw_edges)


def lineage_graph(*, user: AnyUser, dataset: Dataset, direction: str = "both", depth: int = 3) -> Graph:
    """The lineage around every version of `dataset`, and the names linked to it, `depth` levels
    up, down or both. The caller has checked the user may read the dataset."""
    start: set[Key] = {("dataset", dataset.pk)}
    start |= {("version", pk) for pk in dataset.versions.order_by().values_list("pk", flat=True)}
    start |= {("external", pk) for pk in dataset.external_names.order_by().values_list("pk", flat=True)}
    return _lineage(user, start, direction, depth)


def lineage_graph_of_version(
    *, user: AnyUser, version: Version, direction: str = "both", depth: int = 1
) -> Graph:
    return _lineage(user, {("version", version.pk)}, direction, depth)


@dataclass
class Impact:
    """What depends on a version: every downstream version (by dataset), job and external dataset."""

    datasets: list[tuple[Node, list[Node]]]
    jobs: list[Node]
    externals: list[Node]
    restricted: int
    depth: int


def lineage_impact(*, user: AnyUser, version: Version) -> Impact:
    """Everything downstream of `version`, at any depth. The caller has checked read access."""
    start = ("version", version.pk)
    reached, edges = _walk({start}, downstream=True, depth=None)
    placed = {key: ("downstream", level) for key, level in reached.items() if key != start}
    graph = _graph(user, {start: ("center", 0), **placed}, edges)
    downstream = [node for node in graph.nodes if node.side == "downstream"]
    by_dataset: dict[str, list[Node]] = {}
    for node in downstream:
        if node.kind == "version":
            by_dataset.setdefault(node.fields["dataset"], []).append(node)
    datasets = [
        (
            next(n for n in graph.nodes if n.id == dataset_id),
            sorted(versions, key=lambda n: n.fields["number"]),
        )
        for dataset_id, versions in sorted(by_dataset.items())
    ]
    return Impact(
        datasets=datasets,
        jobs=[node for node in downstream if node.kind == "job"],
        externals=[node for node in downstream if node.kind == "external"],
        restricted=sum(1 for node in downstream if node.kind == "restricted"),
        depth=max((node.depth for node in downstream), default=0),
    )
