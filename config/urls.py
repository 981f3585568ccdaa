"""Granary's URLs: the portal at /, the REST API under /api/v1/, the admin under /admin/."""

from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from catalog import api as catalog_api

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
    path("", include("datasets.api.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("", include("catalog.urls")),
]
