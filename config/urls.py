"""Granary's URLs: the portal at /, the REST API under /api/v1/, the admin under /admin/."""

from django.contrib import admin
from django.urls import include, path

# An unknown address under /api/ answers JSON, as the API's other errors do.
handler404 = "api.errors.not_found"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("api.urls")),
    path("", include("catalog.urls")),
]
