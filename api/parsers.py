"""The API's request body parsers: JSON and forms read at most DATA_UPLOAD_MAX_MEMORY_SIZE bytes,
and JSON nested deeper than MAX_JSON_DEPTH is refused, both with a 4xx instead of a crash."""

from __future__ import annotations

import json
from typing import IO, Any

from django.conf import settings
from django.http import QueryDict
from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.parsers import get_encoding  # type: ignore[attr-defined]  # not in the stubs

from core.errors import UploadTooLarge

# Far deeper than any document the API takes (an OpenLineage event or a GX suite is under 15), and
# far below the interpreter's recursion limit: code that walks a parsed body recursively (DRF's
# fields, json.dumps into a JSONField) cannot hit a RecursionError on what got through.
MAX_JSON_DEPTH = 64


def body_too_large_message() -> str:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return f"The request body is larger than {limit:,} bytes; send files as multipart uploads."


def body_read(stream: IO[bytes] | None) -> bytes:
    """The body, or UploadTooLarge once it passes the limit (read no further than that)."""
    if stream is None:
        return b""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = stream.read(limit + 1)
    if len(body) > limit:
        raise UploadTooLarge(body_too_large_message(), field="body")
    return body


def json_document(body: bytes | str) -> Any:
    """A JSON body as Python values; ParseError (400) when it is not JSON or is nested too deep."""
    try:
        document = json.loads(body, parse_constant=_no_constants)
    except RecursionError:
        raise ParseError(_too_deep()) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ParseError(f"JSON parse error - {exc}") from None
    if _deeper_than(document, MAX_JSON_DEPTH):
        raise ParseError(_too_deep())
    return document


def _too_deep() -> str:
    return f"JSON parse error - the document is nested deeper than {MAX_JSON_DEPTH} levels."


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _deeper_than(document: Any, limit: int) -> bool:
    """Whether lists and objects nest deeper than `limit`; iterative, as the input may be hostile."""
    stack = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        encoding = get_encoding(parser_context or {})
        try:
            text = body_read(stream).decode(encoding)
        except UnicodeDecodeError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        return json_document(text)


class FormParser(parsers.FormParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        encoding = get_encoding(parser_context or {})
        return QueryDict(body_read(stream), encoding=encoding)
