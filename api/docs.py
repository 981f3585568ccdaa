"""The API's documentation page: Swagger UI over the schema at /api/v1/schema/."""

from __future__ import annotations

from typing import Any

from django.views import View
from drf_spectacular.views import SpectacularSwaggerView


class SwaggerView(SpectacularSwaggerView):
    def options(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        # Django's answer (200 and Allow): DRF's would render its metadata through the page's
        # HTML template renderer, which has no template for it (a 500).
        return View.options(self, request, *args, **kwargs)
