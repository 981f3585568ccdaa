"""Granary's URLs: the portal at /, the REST API under /api/v1/, the admin under /admin/."""

from django.contrib import admin
from django.urls import include, path

from config import health, metrics

# An unknown address under /api/ answers JSON, as the API's other errors do.
handler404 = "api.errors.not_found"
# A database or storage lost outside a view is a 503 too (config.health).
handler500 = "config.health.server_error"

urlpatterns = [
    # For load balancers and Prometheus: no sign-in (metrics asks for its own token).
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("api.urls")),
    path("", include("catalog.urls")),
]
