"""REST API v1 for lineage: OpenLineage events in, the graph and impact analysis out, and the
external names that count as a dataset. Who may see what is decided by the selectors."""

from __future__ import annotations

import zlib
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ParseError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.common import NOT_BLANK, JsonTypes, me
from api.parsers import JSONParser, json_document
from api.permissions import TokenScope
from core.errors import InvalidInput, UploadTooLarge
from datasets.access import dataset_get
from datasets.references import version_resolve
from lineage.graph import DIRECTIONS, MAX_DEPTH, Graph, Node, lineage_graph, lineage_impact, lineage_params
from lineage.models import ExternalDataset
from lineage.openlineage import EVENT_TYPES, MAX_DATASETS, MAX_NAME, openlineage_namespace
from lineage.selectors import external_names_of
from lineage.services import external_name_link, external_name_unlink, run_event_record

MAX_EVENT_BYTES = 16 * 1024 * 1024


def node_data(request: Request, node: Node) -> dict[str, Any]:
    data: dict[str, Any] = {"id": node.id, "kind": node.kind, "side": node.side, "depth": node.depth}
    if node.kind != "restricted":
        data.update(label=node.label, url=request.build_absolute_uri(node.url) if node.url else None)
        data.update(node.fields)
    return data


def graph_data(request: Request, graph: Graph) -> dict[str, Any]:
    return {
        "nodes": [node_data(request, node) for node in graph.nodes],
        "edges": [{"source": e.source, "target": e.target, "kind": e.kind} for e in graph.edges],
    }


def _name() -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": MAX_NAME, "pattern": NOT_BLANK}


_DATASET = {
    "type": "object",
    "required": ["namespace", "name"],
    "properties": {
        "namespace": _name(),
        "name": {**_name(), "description": "in Granary's namespace: a dataset's slug, or slug@ref"},
        "facets": {
            "type": "object",
            "nullable": True,
            "description": "`version`, `schema` and `columnLineage` are read",
        },
    },
}
# What lineage.openlineage reads of a RunEvent (https://openlineage.io/spec/2-0-2/OpenLineage.json).
RUN_EVENT = {
    "type": "object",
    "required": ["eventTime", "producer", "schemaURL", "run", "job"],
    "properties": {
        # Missing, null or empty: OTHER.
        "eventType": {"type": "string", "enum": [*EVENT_TYPES, "", None], "nullable": True},
        "eventTime": {"type": "string", "format": "date-time"},
        "producer": _name(),
        "schemaURL": {
            **_name(),
            "example": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        },
        "run": {
            "type": "object",
            "required": ["runId"],
            "properties": {
                "runId": {"type": "string", "format": "uuid"},
                "facets": {"type": "object", "nullable": True},
            },
        },
        "job": {
            "type": "object",
            "required": ["namespace", "name"],
            "properties": {
                "namespace": _name(),
                "name": _name(),
                "facets": {"type": "object", "nullable": True},
            },
        },
        "inputs": {"type": "array", "nullable": True, "maxItems": MAX_DATASETS, "items": _DATASET},
        "outputs": {"type": "array", "nullable": True, "maxItems": MAX_DATASETS, "items": _DATASET},
    },
}


class LineageNodeSerializer(serializers.Serializer):
    """For the schema: a node; kinds add their own fields (a version's `ref`, a job's `run_id`…)."""

    id = serializers.CharField(help_text='"version:raw@3", "dataset:raw", "external:7", "job:<run id>"')
    kind = serializers.ChoiceField(["dataset", "version", "external", "job", "restricted"])
    side = serializers.ChoiceField(["center", "upstream", "downstream"])
    depth = serializers.IntegerField()
    label = serializers.CharField(required=False)  # type: ignore[assignment]  # a field, not its label
    url = serializers.URLField(
        required=False, allow_null=True, help_text="Its page in the portal, if it has one"
    )


class LineageEdgeSerializer(serializers.Serializer):
    source = serializers.CharField()  # type: ignore[assignment]
    target = serializers.CharField()
    kind = serializers.ChoiceField(["derived_from", "input", "output"])


class LineageGraphSerializer(serializers.Serializer):
    dataset = serializers.CharField()
    direction = serializers.CharField()
    depth = serializers.IntegerField()
    nodes = LineageNodeSerializer(many=True)
    edges = LineageEdgeSerializer(many=True)


class LineageEvents(APIView):
    """Receive an OpenLineage RunEvent (what the OpenLineage HTTP transport posts; its `api_key`
    is a Granary API token). 201 when stored, 200 when the same event was already stored."""

    permission_classes = [IsAuthenticated, TokenScope]
    parser_classes = [JSONParser]  # documents the body; it is read below, gzip or not

    @extend_schema(
        request={"application/json": RUN_EVENT},
        responses={
            201: inline_serializer(
                "LineageEventStored",
                {
                    "stored": serializers.BooleanField(),
                    "run_id": serializers.UUIDField(),
                    "job": serializers.CharField(),
                    "state": serializers.CharField(),
                },
            ),
            200: OpenApiResponse(description="the same event had been received before"),
            400: OpenApiResponse(description="not a RunEvent: `field` names what is wrong"),
        },
    )
    def post(self, request: Request) -> Response:
        recorded = run_event_record(
            user=me(request), payload=_json_body(request), namespace=openlineage_namespace(request)
        )
        run = recorded.run
        body = {"stored": recorded.created, "run_id": run.run_id, "job": str(run.job), "state": run.state}
        return Response(body, status=201 if recorded.created else 200)


def _json_body(request: Request) -> Any:
    body = request.body
    if request.headers.get("Content-Encoding", "").lower() in ("gzip", "deflate"):
        try:
            inflater = zlib.decompressobj(wbits=47)  # 32 + 15: gzip or zlib, told apart by the header
            body = inflater.decompress(body, MAX_EVENT_BYTES)
        except zlib.error:
            raise InvalidInput("body: the gzip stream is corrupt.", field="body") from None
        if inflater.unconsumed_tail:
            raise UploadTooLarge(f"The event is larger than {MAX_EVENT_BYTES:,} bytes.", field="body")
    try:
        return json_document(body)
    except ParseError as exc:
        raise InvalidInput(f"body: not JSON ({exc.detail}).", field="body") from None


class DatasetLineage(APIView):
    """The lineage graph around a dataset: nodes (datasets, versions, external datasets, jobs) and
    edges, `depth` levels `up`, `down` or `both`. Nodes you may not see are only "restricted"."""

    @extend_schema(
        parameters=[
            OpenApiParameter("direction", str, enum=list(DIRECTIONS), default="both"),
            OpenApiParameter("depth", {"type": "integer", "minimum": 1, "maximum": MAX_DEPTH, "default": 3}),
        ],
        responses=LineageGraphSerializer,
    )
    def get(self, request: Request, slug: str) -> Response:
        dataset, _ = dataset_get(user=me(request), slug=slug)
        direction, depth = lineage_params(request.query_params)
        graph = lineage_graph(user=me(request), dataset=dataset, direction=direction, depth=depth)
        return Response(
            {"dataset": slug, "direction": direction, "depth": depth, **graph_data(request, graph)}
        )


class VersionImpact(APIView):
    """What depends on a version, at any depth: downstream versions by dataset, jobs and external
    datasets. Nodes you may not see are counted in `restricted`."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, slug: str, ref: str) -> Response:
        dataset, _ = dataset_get(user=me(request), slug=slug)
        version = version_resolve(dataset=dataset, ref=ref)
        impact = lineage_impact(user=me(request), version=version)
        return Response(
            {
                "version": version.ref,
                "datasets": [
                    {
                        **node_data(request, dataset_node),
                        "versions": [node_data(request, node) for node in versions],
                    }
                    for dataset_node, versions in impact.datasets
                ],
                "jobs": [node_data(request, node) for node in impact.jobs],
                "external_datasets": [node_data(request, node) for node in impact.externals],
                "restricted": impact.restricted,
                "depth": impact.depth,
            }
        )


class ExternalNameSerializer(serializers.ModelSerializer):
    class Meta:
        model = ExternalDataset
        fields = ["id", "namespace", "name", "created_at"]
        read_only_fields = fields


class ExternalNameWriteSerializer(JsonTypes, serializers.Serializer):
    namespace = serializers.CharField(max_length=1000, help_text="e.g. postgres://db:5432")
    name = serializers.CharField(max_length=1000, help_text="e.g. public.users")


class ExternalNames(APIView):
    """The OpenLineage names (namespace + name) that count as this dataset; POST links one (an
    external dataset that events already named becomes part of this dataset's lineage)."""

    @extend_schema(responses=ExternalNameSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        dataset, _ = dataset_get(user=me(request), slug=slug)
        return Response(ExternalNameSerializer(external_names_of(dataset=dataset), many=True).data)

    @extend_schema(request=ExternalNameWriteSerializer, responses={201: ExternalNameSerializer})
    def post(self, request: Request, slug: str) -> Response:
        dataset, _ = dataset_get(user=me(request), slug=slug, need="write")
        serializer = ExternalNameWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        external = external_name_link(dataset=dataset, **serializer.validated_data)
        return Response(ExternalNameSerializer(external).data, status=201)


class ExternalName(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request: Request, slug: str, external_id: int) -> Response:
        dataset, _ = dataset_get(user=me(request), slug=slug, need="write")
        external_name_unlink(dataset=dataset, external_id=external_id)
        return Response(status=204)
