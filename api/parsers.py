"""The API's JSON body parser: it reads at most DATA_UPLOAD_MAX_MEMORY_SIZE bytes and refuses JSON
nested deeper than MAX_JSON_DEPTH or holding NUL characters, with a 4xx instead of a crash.
(Uploads are multipart.)"""

from __future__ import annotations

import json
from typing import IO, Any

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.parsers import get_encoding  # type: ignore[attr-defined]  # not in the stubs

from core.errors import UploadTooLarge

# Far deeper than any document the API takes (an OpenLineage event or a GX suite is under 15), and
# far below the interpreter's recursion limit: code that walks a parsed body recursively (DRF's
# fields, json.dumps into a JSONField) cannot hit a RecursionError on what got through.
MAX_JSON_DEPTH = 64
_TOO_DEEP = f"JSON parse error - the document is nested deeper than {MAX_JSON_DEPTH} levels."
_NUL = "JSON parse error - a string holds a NUL character (\\u0000), which Granary cannot store."


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
    """A JSON body as Python values; ParseError (400) when it is not JSON, is nested too deep, or
    holds a NUL character (PostgreSQL stores none, in text or in JSON)."""
    try:
        document = json.loads(body, parse_constant=_no_constants)
    except RecursionError:
        raise ParseError(_TOO_DEEP) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ParseError(f"JSON parse error - {exc}") from None
    problem = _problem(document)
    if problem:
        raise ParseError(problem)
    return document


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _problem(document: Any) -> str | None:
    """Lists and objects nested deeper than MAX_JSON_DEPTH, or a NUL in a string or a key; walked
    without recursion, as the input may be hostile."""
    stack = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return _NUL
            continue
        if isinstance(value, dict):
            if any("\x00" in key for key in value):
                return _NUL
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > MAX_JSON_DEPTH:
            return _TOO_DEEP
        stack.extend((child, depth + 1) for child in children)
    return None


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        encoding = get_encoding(parser_context or {})
        try:
            text = body_read(stream).decode(encoding)
        except UnicodeDecodeError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        return json_document(text)
