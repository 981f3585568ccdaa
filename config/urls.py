"""Granary's URLs: the portal at /, the REST API under /api/v1/, the admin under /admin/."""

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from config import health, metrics

# An unknown address under /api/ answers JSON, as the API's other errors do.
handler404 = "api.errors.not_found"
# A database or storage lost outside a view is a 503 too (config.health).
handler500 = "config.health.server_error"
# The portal's 403, 404 and 500 pages are templates/403.html, 404.html and 500.html, which Django's
# default handlers (and the two above, outside /api/) render in the portal's layout.


class FaviconRedirect(RedirectView):
    """/favicon.ico, which browsers and feed readers ask for whatever the page links: the static
    copy. Resolved per request, as the hashed name exists only once collectstatic has run."""

    permanent = False  # the hashed target changes with the icon

    def get_redirect_url(self, *args: object, **kwargs: object) -> str:
        return static("favicon.ico")


urlpatterns = [
    # For load balancers and Prometheus: no sign-in (metrics asks for its own token).
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics, name="metrics"),
    path("favicon.ico", FaviconRedirect.as_view(), name="favicon"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("api.urls")),
    path("", include("catalog.urls")),
]
