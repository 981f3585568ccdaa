"""Granary's URLs: the portal at /, the REST API under /api/v1/, the admin under /admin/."""

from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from catalog import api as catalog_api
from catalog import lineage_api

api_v1: list[URLPattern | URLResolver] = [
    path("auth/token/", catalog_api.TokenExchange.as_view(), name="api-token-exchange"),
    path("tokens/", catalog_api.TokenList.as_view(), name="api-token-list"),
    path("tokens/<int:token_id>/", catalog_api.TokenDetail.as_view(), name="api-token-detail"),
    path("schema/", login_not_required(SpectacularAPIView.as_view()), name="api-schema"),
    path(
        "docs/",
        login_not_required(SpectacularSwaggerView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    path("lineage", lineage_api.LineageEvents.as_view(), name="api-lineage"),
    path("datasets/<slug:slug>/lineage/", lineage_api.DatasetLineage.as_view(), name="api-dataset-lineage"),
    path(
        "datasets/<slug:slug>/versions/<str:ref>/impact/",
        lineage_api.VersionImpact.as_view(),
        name="api-version-impact",
    ),
    path(
        "datasets/<slug:slug>/external-names/",
        lineage_api.ExternalNames.as_view(),
        name="api-dataset-external-names",
    ),
    path(
        "datasets/<slug:slug>/external-names/<int:external_id>/",
        lineage_api.ExternalName.as_view(),
        name="api-dataset-external-name",
    ),
    path("", include("datasets.api.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("", include("catalog.urls")),
]
