"""Lays a lineage graph out for an SVG drawn on the server, so the page needs no JavaScript library.

Columns follow the data flow: the dataset (or version) at the centre, what it came from to the
left, what depends on it to the right, jobs half-way between the data they read and wrote. The
centre is one block; lineage inside it (v2 of a dataset derived from its v1, maybe through a job)
spreads it over several columns by depth, so every arrow points right. Within a column, nodes
sit near the average row of their neighbours closer to the centre, which keeps most edges from
crossing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from lineage.graph import Edge, Graph, Node

BOX_W, BOX_H, COL_GAP, ROW_GAP, PAD = 190, 42, 64, 14, 16
MAX_LABEL = 26


@dataclass
class Box:
    node: Node
    x: int
    y: int
    label: str
    sublabel: str
    title: str


@dataclass
class Wire:
    d: str
    kind: str


@dataclass
class Drawing:
    width: int
    height: int
    boxes: list[Box]
    wires: list[Wire]
    omitted: int  # nodes left out to keep the drawing readable
    box_w: int = BOX_W
    box_h: int = BOX_H


def _short(text: str, limit: int = MAX_LABEL) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


Column = tuple[int, int]  # (side and depth, depth inside the centre)


def _column(node: Node, is_job: bool) -> int:
    sign = {"upstream": -1, "downstream": 1}.get(node.side, 0)
    return sign * (2 * node.depth - 1 if is_job else 2 * node.depth)


def _centre_depths(centre: set[str], edges: list[Edge]) -> dict[str, int]:
    """Each centre node's longest path from a centre node nothing inside the centre feeds.

    Reported lineage may hold a cycle: a node is raised at most once per node in the centre, so
    a cycle stops the rise instead of looping, and its back edge is drawn as one."""
    inside = [(e.source, e.target) for e in edges if e.source in centre and e.target in centre]
    depth = dict.fromkeys(centre, 0)
    for _ in range(len(centre)):
        changed = False
        for source, target in inside:
            if depth[target] < depth[source] + 1 <= len(centre):
                depth[target] = depth[source] + 1
                changed = True
        if not changed:
            break
    return depth


def _sublabel(node: Node) -> str:
    if node.kind == "version":
        quality = node.fields.get("quality_status")
        return f"{node.fields['status']} · quality {quality}" if quality else str(node.fields["status"])
    if node.kind == "job":
        return f"job · {node.fields['state'].lower()}"
    if node.kind == "external":
        return str(node.fields["namespace"])
    if node.kind == "restricted":
        return "you may not see this"
    return node.kind


def graph_drawing(graph: Graph, *, max_nodes: int = 150) -> Drawing:
    ends = {end for edge in graph.edges for end in (edge.source, edge.target)}
    # A job is what an input edge points to or an output edge comes from, restricted or not.
    jobs = {e.target for e in graph.edges if e.kind == "input"} | {
        e.source for e in graph.edges if e.kind == "output"
    }
    nodes = [node for node in graph.nodes if node.id in ends]
    side = {node.id: _column(node, node.id in jobs) for node in nodes}
    # A job between two centre nodes (it read v1 and wrote v2) belongs to the centre block too.
    feeds: dict[str, set[int]] = defaultdict(set)
    for edge in graph.edges:
        if edge.source in side and edge.target in side:
            feeds[edge.source].add(side[edge.target])
            feeds[edge.target].add(side[edge.source])
    centre = {n for n in side if side[n] == 0 or (n in jobs and feeds[n] == {0})}
    inner = _centre_depths(centre, list(graph.edges))
    column: dict[str, Column] = {n: (0, inner[n]) if n in centre else (side[n], 0) for n in side}
    nodes.sort(key=lambda node: (abs(column[node.id][0]), column[node.id][1], node.label))
    omitted = max(0, len(nodes) - max_nodes)
    nodes = nodes[:max_nodes]
    kept = {node.id for node in nodes}
    edges = [edge for edge in graph.edges if edge.source in kept and edge.target in kept]

    neighbours: dict[str, list[str]] = defaultdict(list)
    for edge in edges:
        neighbours[edge.source].append(edge.target)
        neighbours[edge.target].append(edge.source)
    columns: dict[Column, list[Node]] = defaultdict(list)
    for node in nodes:
        columns[column[node.id]].append(node)
    row: dict[str, float] = {}
    # From the centre outwards, each column ordered by where its already placed neighbours sit.
    for col in sorted(columns, key=lambda c: (abs(c[0]), c[0], c[1])):

        def weight(node: Node) -> tuple[float, str]:
            rows = [row[n] for n in neighbours[node.id] if n in row]
            return (sum(rows) / len(rows) if rows else float("inf"), node.label)

        columns[col].sort(key=weight)
        for index, node in enumerate(columns[col]):
            row[node.id] = index

    # Used columns only, side by side: declared lineage alone needs no room for jobs.
    place = {col: index for index, col in enumerate(sorted(columns))}
    tallest = max((len(c) for c in columns.values()), default=0)
    height = PAD * 2 + tallest * (BOX_H + ROW_GAP) - (ROW_GAP if tallest else 0)
    width = PAD * 2 + len(place) * (BOX_W + COL_GAP) - (COL_GAP if place else 0)
    boxes: dict[str, Box] = {}
    for col, members in columns.items():
        offset = (tallest - len(members)) * (BOX_H + ROW_GAP) // 2
        for index, node in enumerate(members):
            x = PAD + place[col] * (BOX_W + COL_GAP)
            y = PAD + offset + index * (BOX_H + ROW_GAP)
            title = node.label
            if node.kind == "external":
                title = f"{node.fields['namespace']}/{node.fields['name']}"
            boxes[node.id] = Box(node, x, y, _short(node.label), _short(_sublabel(node), 30), title)
    wires = [Wire(_path(boxes[e.source], boxes[e.target]), e.kind) for e in edges]
    return Drawing(max(width, 0), max(height, 0), list(boxes.values()), wires, omitted)


def _path(source: Box, target: Box) -> str:
    x1, y1 = source.x + BOX_W, source.y + BOX_H // 2
    x2, y2 = target.x, target.y + BOX_H // 2
    if x2 > x1:
        middle = (x1 + x2) // 2
        return f"M{x1},{y1} C{middle},{y1} {middle},{y2} {x2},{y2}"
    # Back or sideways edges (cycles in reported lineage) loop around under the boxes.
    low = max(source.y, target.y) + BOX_H + ROW_GAP // 2
    return f"M{x1},{y1} C{x1 + 60},{low} {x2 - 60},{low} {x2},{y2}"
