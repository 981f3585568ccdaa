"""What drf-spectacular needs beyond the views' own annotations: how Bearer tokens authenticate,
and the error answers (`{"code", "detail"}`) every operation can give, documented once here."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import AllowAny


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token: Authorization: Bearer <token>",
        }


class ErrorSerializer(serializers.Serializer):
    """An error, as api.errors writes every one."""

    code = serializers.CharField(help_text="invalid, parse_error, not_authenticated, not_found, …")
    detail = serializers.CharField(help_text="What went wrong, in a sentence for people")
    field = serializers.CharField(required=False, help_text="The field or parameter at fault")
    errors = serializers.JSONField(  # type: ignore[assignment]  # a field, not Serializer.errors
        required=False, help_text="Each field's messages, for an invalid body"
    )


BODY_METHODS = ("POST", "PUT", "PATCH")

# Statuses that only a few operations answer, by path; the rules in AutoSchema give the rest.
EXTRA_ERRORS: dict[str, dict[int, str]] = {
    "/api/v1/auth/token/": {429: "locked_out: too many failed sign-ins for the account or address"},
}


class AutoSchema(SpectacularAutoSchema):
    """Adds to each operation the errors it can answer, unless its view documents them itself."""

    def _get_request_body(self, direction: Any = "request") -> dict[str, Any] | None:
        body: dict[str, Any] | None = super()._get_request_body(direction)
        # A schema given as a dict (a RunEvent, a suite) with required properties needs a body.
        if body and any(media["schema"].get("required") for media in body["content"].values()):
            body["required"] = True
        return body

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        for status, description in self._errors().items():
            if str(status) not in responses:
                answer = OpenApiResponse(ErrorSerializer, description=description)
                responses[str(status)] = self._get_response_for_code(answer, str(status), direction=direction)
        return dict(sorted(responses.items()))

    def _errors(self) -> dict[int, str]:
        has_body = self.method in BODY_METHODS and self.get_request_serializer() is not None
        has_parameters = "{" in self.path or bool(self.get_override_parameters()) or self._paginated()
        errors = {
            401: "not_authenticated: no API token or session, or a token that is unknown, expired or revoked"
        }
        if has_body or has_parameters:
            errors[400] = "invalid or parse_error: `field` names the wrong field or parameter"
        if not all(isinstance(p, AllowAny) for p in self.view.get_permissions()):
            errors[403] = "permission_denied: signed in, but not allowed to do this"
        if has_body or has_parameters:
            errors[404] = "not_found: no such object (or one you may not see), or no such page"
        if self.method in (*BODY_METHODS, "DELETE") or "{ref}" in self.path:
            errors[409] = "conflict or not_ready: the object's state does not allow it"
        if has_body:
            errors[413] = "too_large: the body is over the limit"
            errors[415] = "unsupported_media_type: a body type this operation does not read"
        errors.update(EXTRA_ERRORS.get(self.path, {}))
        return errors

    def _paginated(self) -> bool:
        return self.method == "GET" and self._is_list_view() and self._get_paginator() is not None
