"""The portal's pages. Some names are owned by the apps that link to them (datasets.models,
quality.models, lineage.models, accounts.models): those apps reverse them without importing this."""

from django.contrib.auth import views as auth_views
from django.urls import path

from accounts.models import TEAM_PAGE
from catalog.views import (
    access,
    accounts,
    aliases,
    audit,
    datasets,
    discovery,
    lineage,
    quality,
    versions,
    viewer,
)
from datasets.models import ACCESS_PAGE, DATASET_PAGE, VERSION_PAGE
from lineage.models import RUN_PAGE
from quality.models import VALIDATION_REPORT_PAGE

urlpatterns = [
    path("", discovery.home, name="home"),
    path("search/suggest/", discovery.suggestions, name="search-suggest"),
    path("search/facets/", discovery.facets, name="search-facets"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("datasets/new/", datasets.dataset_new, name="dataset-new"),
    path("datasets/<slug:slug>/", datasets.dataset_detail, name=DATASET_PAGE),
    path("datasets/<slug:slug>/edit/", datasets.dataset_edit, name="dataset-edit"),
    path("datasets/<slug:slug>/usage/", datasets.dataset_usage, name="dataset-usage"),
    path("datasets/<slug:slug>/access/", access.dataset_access, name=ACCESS_PAGE),
    path(
        "datasets/<slug:slug>/access/request/", access.dataset_access_request, name="dataset-access-request"
    ),
    path(
        "datasets/<slug:slug>/access/<int:request_id>/decide/",
        access.dataset_access_decide,
        name="dataset-access-decide",
    ),
    path("access-requests/", access.access_requests_waiting, name="access-requests"),
    path("checkouts/<uuid:checkout_id>/", datasets.checkout_detail, name="checkout-detail"),
    path("datasets/<slug:slug>/audit/", audit.dataset_audit, name="dataset-audit"),
    path("datasets/<slug:slug>/aliases/", aliases.dataset_aliases, name="dataset-aliases"),
    path("datasets/<slug:slug>/aliases/set/", aliases.dataset_alias_set, name="dataset-alias-set"),
    path(
        "datasets/<slug:slug>/aliases/<str:name>/delete/",
        aliases.dataset_alias_delete,
        name="dataset-alias-delete",
    ),
    path("datasets/<slug:slug>/columns/", datasets.column_docs_edit, name="column-docs"),
    path("datasets/<slug:slug>/upload/", versions.version_upload_form, name="version-upload"),
    path("datasets/<slug:slug>/lineage/", lineage.dataset_lineage, name="dataset-lineage"),
    path(
        "datasets/<slug:slug>/lineage/external-names/",
        lineage.external_name_add,
        name="external-name-add",
    ),
    path(
        "datasets/<slug:slug>/lineage/external-names/<int:external_id>/remove/",
        lineage.external_name_remove,
        name="external-name-remove",
    ),
    path("datasets/<slug:slug>/versions/<int:number>/", versions.version_detail, name=VERSION_PAGE),
    # The data viewer: the grid alone (htmx swaps it in) and the SQL console with its download.
    path("datasets/<slug:slug>/rows/", viewer.dataset_grid_part, name="dataset-rows"),
    path("datasets/<slug:slug>/versions/<int:number>/rows/", viewer.version_grid_part, name="version-rows"),
    path("datasets/<slug:slug>/versions/<int:number>/query/", viewer.version_query, name="version-query"),
    path(
        "datasets/<slug:slug>/versions/<int:number>/query/download/",
        viewer.version_query_download,
        name="version-query-download",
    ),
    path(
        "datasets/<slug:slug>/versions/<int:number>/query/save/",
        viewer.version_query_save,
        name="version-query-save",
    ),
    path(
        "datasets/<slug:slug>/versions/<int:number>/status/",
        versions.version_status,
        name="version-status",
    ),
    path("datasets/<slug:slug>/suite/", quality.suite_page, name="suite"),
    path("datasets/<slug:slug>/suite/remove/<int:position>/", quality.suite_remove, name="suite-remove"),
    path("datasets/<slug:slug>/suite/suggest/", quality.suite_suggest, name="suite-suggest"),
    path("datasets/<slug:slug>/suite/import/", quality.suite_import, name="suite-import"),
    path(
        "datasets/<slug:slug>/versions/<int:number>/validate/",
        quality.version_validate,
        name="version-validate",
    ),
    path(
        "datasets/<slug:slug>/versions/<int:number>/validations/<int:run_id>/",
        quality.validation_report,
        name=VALIDATION_REPORT_PAGE,
    ),
    path("teams/<slug:slug>/webhooks/", accounts.team_webhooks, name="team-webhooks"),
    path(
        "teams/<slug:slug>/webhooks/<int:webhook_id>/delete/",
        accounts.team_webhook_delete,
        name="team-webhook-delete",
    ),
    path(
        "datasets/<slug:slug>/versions/<int:number>/impact/",
        lineage.version_impact,
        name="version-impact",
    ),
    path("lineage/runs/<uuid:run_uuid>/", lineage.run_detail, name=RUN_PAGE),
    path("teams/", accounts.team_list, name="team-list"),
    path("teams/<slug:slug>/", accounts.team_detail, name=TEAM_PAGE),
    path(
        "teams/<slug:slug>/members/<str:username>/remove/",
        accounts.team_member_remove,
        name="team-member-remove",
    ),
    path("tokens/", accounts.token_list, name="token-list"),
    path("settings/", accounts.preferences, name="preferences"),
    path("tokens/<int:token_id>/revoke/", accounts.token_revoke_view, name="token-revoke"),
]
