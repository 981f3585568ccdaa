"""The audit log: who did what, to which dataset, when and from where; paged, or exported whole."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.views import APIView

from audit.models import AuditEvent
from datasets.selectors import audit_events_visible_to

FILTERS = [
    OpenApiParameter("dataset", str, description="A dataset's slug (you must own it)"),
    OpenApiParameter("actor", str, description="A username"),
    OpenApiParameter(
        "action", str, description="An action, e.g. version.download, or a prefix ending in '.'"
    ),
]


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_name", help_text="Username; empty for the system")
    dataset = serializers.CharField(help_text="The dataset's slug, or empty")

    class Meta:
        model = AuditEvent
        fields = ["id", "at", "actor", "action", "dataset", "version", "target", "detail", "ip"]


def _events(request: Request) -> Any:
    params = request.query_params
    return audit_events_visible_to(
        user=request.user,
        dataset=params.get("dataset", ""),
        actor=params.get("actor", ""),
        action=params.get("action", ""),
    )


@extend_schema(parameters=FILTERS)
class AuditList(generics.ListAPIView):
    """The audit log you may read, newest first: your teams' and their datasets' events (owners),
    everything (administrators)."""

    serializer_class = AuditEventSerializer

    def get_queryset(self) -> Any:
        return _events(self.request)


class AuditExport(APIView):
    """The same events as JSON Lines, one event per line, streamed (for archiving or a SIEM)."""

    @extend_schema(
        parameters=FILTERS,
        responses={(200, "application/jsonl"): OpenApiResponse(OpenApiTypes.STR, description="JSON Lines")},
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        events = _events(request)

        def lines() -> Iterator[bytes]:
            for event in events.iterator(chunk_size=2000):
                yield json.dumps(AuditEventSerializer(event).data, default=str).encode() + b"\n"

        response = StreamingHttpResponse(lines(), content_type="application/jsonl; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="granary-audit.jsonl"'
        return response
