"""Expectation suites and validation runs."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.common import me
from api.parsers import JSONParser
from datasets.access import dataset_get
from datasets.references import version_resolve
from quality.models import ValidationRun
from quality.selectors import validation_run_get, validation_runs_of
from quality.services import suite_export, suite_import, suite_suggest, validation_queue


class ExpectationResultSerializer(serializers.Serializer):
    type = serializers.CharField()
    kwargs = serializers.DictField()
    description = serializers.CharField(help_text="the expectation in words")
    success = serializers.BooleanField()
    observed_value = serializers.JSONField(allow_null=True)
    unexpected_count = serializers.IntegerField(allow_null=True)
    unexpected_percent = serializers.FloatField(allow_null=True)
    unexpected_examples = serializers.ListField(child=serializers.JSONField())
    error = serializers.CharField(allow_blank=True)


class ValidationRunSerializer(serializers.ModelSerializer):
    version = serializers.CharField(source="version.ref", read_only=True)
    suite_revision = serializers.IntegerField(source="revision.number", read_only=True)
    results = ExpectationResultSerializer(many=True, read_only=True)
    seconds = serializers.FloatField(read_only=True, allow_null=True)
    report_url = serializers.SerializerMethodField()

    class Meta:
        model = ValidationRun
        fields = [
            "id",
            "version",
            "suite_revision",
            "status",
            "trigger",
            "error",
            "evaluated",
            "successful",
            "results",
            "queued_at",
            "started_at",
            "finished_at",
            "seconds",
            "report_url",
        ]
        read_only_fields = fields

    def get_report_url(self, run: ValidationRun) -> str:
        request = self.context.get("request")
        path = run.get_absolute_url()
        return request.build_absolute_uri(path) if request else path


# Great Expectations suite JSON, as `suite.to_json_dict()` writes it; GX checks each expectation.
SUITE = {
    "type": "object",
    "required": ["expectations"],
    "properties": {
        "name": {},  # kept as GX wrote it, never read
        "expectations": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["type"],
                "properties": {
                    "type": {"type": "string", "minLength": 1, "example": "expect_column_to_exist"},
                    "kwargs": {"type": "object", "example": {"column": "id"}},
                    "meta": {"type": "object", "nullable": True},
                },
            },
        },
        "meta": {},
    },
}


class Suite(APIView):
    """The dataset's expectation suite as Great Expectations suite JSON; PUT imports one (a new
    revision) and queues validation of `latest`."""

    parser_classes = [JSONParser]  # a suite is a JSON document: a form cannot carry one

    @extend_schema(responses={200: SUITE})
    def get(self, request: Request, slug: str) -> Response:
        dataset, _ = dataset_get(user=me(request), slug=slug)
        return Response(suite_export(dataset=dataset))

    @extend_schema(request={"application/json": SUITE}, responses={200: SUITE})
    def put(self, request: Request, slug: str) -> Response:
        dataset, _ = dataset_get(user=me(request), slug=slug, need="write")
        suite_import(dataset=dataset, user=me(request), data=request.data)
        return Response(suite_export(dataset=dataset))


class SuiteSuggestion(APIView):
    """A starter suite drafted from a version's profile (default: latest), to review and PUT."""

    @extend_schema(parameters=[OpenApiParameter("version", str)], responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, slug: str) -> Response:
        dataset, _ = dataset_get(user=me(request), slug=slug)
        version = version_resolve(dataset=dataset, ref=request.query_params.get("version", "latest"))
        return Response({"name": dataset.slug, "expectations": suite_suggest(version=version)})


class Validations(APIView):
    """A version's validation runs, newest first; POST queues a run of the current suite."""

    @extend_schema(responses=ValidationRunSerializer(many=True))
    def get(self, request: Request, slug: str, ref: str) -> Response:
        dataset, _ = dataset_get(user=me(request), slug=slug)
        version = version_resolve(dataset=dataset, ref=ref)
        runs = validation_runs_of(version=version)[:50]
        return Response(ValidationRunSerializer(runs, many=True, context={"request": request}).data)

    @extend_schema(request=None, responses={202: ValidationRunSerializer})
    def post(self, request: Request, slug: str, ref: str) -> Response:
        dataset, _ = dataset_get(user=me(request), slug=slug, need="write")
        version = version_resolve(dataset=dataset, ref=ref)
        run = validation_queue(version=version, trigger="on demand", user=me(request))
        return Response(ValidationRunSerializer(run, context={"request": request}).data, status=202)


class ValidationDetail(APIView):
    @extend_schema(responses=ValidationRunSerializer)
    def get(self, request: Request, slug: str, ref: str, run_id: int) -> Response:
        dataset, _ = dataset_get(user=me(request), slug=slug)
        version = version_resolve(dataset=dataset, ref=ref)
        run = validation_run_get(version=version, run_id=run_id)
        return Response(ValidationRunSerializer(run, context={"request": request}).data)
