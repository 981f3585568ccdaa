"""One place that turns errors into the API's JSON: `{"code": ..., "detail": ...}`."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import (
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from api.parsers import body_too_large_message
from core.errors import GranaryError, UploadTooLarge


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, SuspiciousOperation):
        # Django answers these with its HTML 400 page; an API client gets JSON, and the security
        # log still hears of it, as Django's own handler would have told it.
        request = context.get("request")
        logging.getLogger(f"django.security.{exc.__class__.__name__}").error(
            str(exc), extra={"status_code": 400, "request": getattr(request, "_request", request)}
        )
        if isinstance(exc, RequestDataTooBig):
            exc = UploadTooLarge(body_too_large_message(), field="body")
        else:
            known = isinstance(exc, TooManyFieldsSent | TooManyFilesSent)
            detail = str(exc) if known else "The request was refused as malformed."
            return Response({"code": "bad_request", "detail": detail}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, GranaryError):
        body: dict[str, Any] = {"code": exc.code, "detail": exc.detail}
        if exc.field:
            body["field"] = exc.field
        answer = Response(body, status=exc.status)
        if exc.status == status.HTTP_401_UNAUTHORIZED:
            answer["WWW-Authenticate"] = "Bearer"
        return answer
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    if isinstance(exc, exceptions.ValidationError):
        response.data = {"code": "invalid", "detail": _summarise(exc.detail), "errors": exc.detail}
    else:
        codes = exc.get_codes()
        response.data = {
            "code": codes if isinstance(codes, str) else "error",
            "detail": str(exc.detail),
        }
    return response


def _summarise(detail: Any, prefix: str = "") -> str:
    """A one-line message naming every field that is wrong, e.g. "slug: This field is required."."""
    if isinstance(detail, dict):
        return " ".join(
            _summarise(value, f"{key}: " if key != "non_field_errors" else "")
            for key, value in detail.items()
        )
    if isinstance(detail, list):
        return " ".join(_summarise(item, prefix) for item in detail)
    return f"{prefix}{detail}"


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 404 handler (config.urls): JSON for an /api/ address no view answers (a path
    parameter of the wrong type, a typo), the portal's page anywhere else."""
    if request.path.startswith("/api/"):
        body = {"code": "not_found", "detail": "No API operation has this address: see /api/v1/docs/."}
        return JsonResponse(body, status=404)
    return defaults.page_not_found(request, exception)
