"""The API's pages: `page` is a page number, as the schema says, or the answer is a 404."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination

from core.validation import whole_number


class Pages(PageNumberPagination):
    def get_page_number(self, request: Any, paginator: Any) -> Any:
        # DRF reads an empty `page` as the first and `last` as the last; both are outside the
        # documented integer, so they get the same 404 as a page past the end.
        raw = request.query_params.get(self.page_query_param)
        if raw is not None and not whole_number(raw):
            raise NotFound(self.invalid_page_message)
        return super().get_page_number(request, paginator)
