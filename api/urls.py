"""The REST API's addresses, under /api/v1/."""

from django.contrib.auth.decorators import login_not_required
from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from api import (
    access,
    accounts,
    aliases,
    audit,
    checkouts,
    datasets,
    direct_uploads,
    lineage,
    me,
    quality,
    search,
    versions,
    viewer,
)
from api.docs import SwaggerView
from datasets.models import VERSION_DOWNLOAD_API

urlpatterns = [
    path("auth/token/", accounts.TokenExchange.as_view(), name="api-token-exchange"),
    path("tokens/", accounts.TokenList.as_view(), name="api-token-list"),
    path("tokens/<int:token_id>/", accounts.TokenDetail.as_view(), name="api-token-detail"),
    path("schema/", login_not_required(SpectacularAPIView.as_view()), name="api-schema"),
    path(
        "docs/",
        login_not_required(SwaggerView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    path("lineage", lineage.LineageEvents.as_view(), name="api-lineage"),
    path("datasets/<slug:slug>/lineage/", lineage.DatasetLineage.as_view(), name="api-dataset-lineage"),
    path(
        "datasets/<slug:slug>/versions/<str:ref>/impact/",
        lineage.VersionImpact.as_view(),
        name="api-version-impact",
    ),
    path(
        "datasets/<slug:slug>/external-names/",
        lineage.ExternalNames.as_view(),
        name="api-dataset-external-names",
    ),
    path(
        "datasets/<slug:slug>/external-names/<int:external_id>/",
        lineage.ExternalName.as_view(),
        name="api-dataset-external-name",
    ),
    path("teams/", accounts.TeamList.as_view(), name="api-team-list"),
    path("teams/<slug:slug>/", accounts.TeamDetail.as_view(), name="api-team-detail"),
    path("teams/<slug:slug>/members/", accounts.TeamMembers.as_view(), name="api-team-members"),
    path(
        "teams/<slug:slug>/members/<str:username>/",
        accounts.TeamMember.as_view(),
        name="api-team-member",
    ),
    path("search/", search.Search.as_view(), name="api-search"),
    path("search/suggest/", search.Suggest.as_view(), name="api-search-suggest"),
    path("columns/", search.Columns.as_view(), name="api-columns"),
    path("datasets/", datasets.DatasetList.as_view(), name="api-dataset-list"),
    path("datasets/<slug:slug>/", datasets.DatasetDetail.as_view(), name="api-dataset-detail"),
    path("datasets/<slug:slug>/versions/", versions.VersionList.as_view(), name="api-version-list"),
    path(
        "datasets/<slug:slug>/uploads/",
        direct_uploads.DirectUploadList.as_view(),
        name="api-direct-upload-list",
    ),
    path(
        "datasets/<slug:slug>/uploads/<uuid:upload_id>/",
        direct_uploads.DirectUploadDetail.as_view(),
        name="api-direct-upload-detail",
    ),
    path(
        "datasets/<slug:slug>/uploads/<uuid:upload_id>/complete/",
        direct_uploads.DirectUploadComplete.as_view(),
        name="api-direct-upload-complete",
    ),
    path(
        "datasets/<slug:slug>/versions/<str:ref>/",
        versions.VersionDetail.as_view(),
        name="api-version-detail",
    ),
    path(
        "datasets/<slug:slug>/access-requests/",
        access.AccessRequestList.as_view(),
        name="api-access-request-list",
    ),
    path(
        "datasets/<slug:slug>/access-requests/<int:request_id>/decision/",
        access.AccessRequestDecision.as_view(),
        name="api-access-request-decision",
    ),
    path("datasets/<slug:slug>/schema-diff/", datasets.SchemaDiff.as_view(), name="api-schema-diff"),
    path("datasets/<slug:slug>/suite/", quality.Suite.as_view(), name="api-suite"),
    path("datasets/<slug:slug>/suite/suggest/", quality.SuiteSuggestion.as_view(), name="api-suite-suggest"),
    path(
        "datasets/<slug:slug>/versions/<str:ref>/validations/",
        quality.Validations.as_view(),
        name="api-validations",
    ),
    path(
        "datasets/<slug:slug>/versions/<str:ref>/validations/<int:run_id>/",
        quality.ValidationDetail.as_view(),
        name="api-validation-detail",
    ),
    path("datasets/<slug:slug>/columns/", datasets.ColumnDocs.as_view(), name="api-column-docs"),
    path(
        "datasets/<slug:slug>/versions/<str:ref>/schema/",
        versions.VersionSchema.as_view(),
        name="api-version-schema",
    ),
    path(
        "datasets/<slug:slug>/versions/<str:ref>/profile/",
        versions.VersionProfile.as_view(),
        name="api-version-profile",
    ),
    path(
        "datasets/<slug:slug>/versions/<str:ref>/preview/",
        versions.VersionPreview.as_view(),
        name="api-version-preview",
    ),
    path(
        "datasets/<slug:slug>/versions/<str:ref>/download/",
        versions.VersionDownload.as_view(),
        name=VERSION_DOWNLOAD_API,
    ),
    path(
        "datasets/<slug:slug>/versions/<str:ref>/rows/",
        viewer.VersionRows.as_view(),
        name="api-version-rows",
    ),
    path("query/", viewer.Query.as_view(), name="api-query"),
    path("query/saves/<int:save_id>/", viewer.QuerySaveDetail.as_view(), name="api-query-save"),
    path(
        "datasets/<slug:slug>/versions/<str:ref>/croissant/",
        versions.VersionCroissant.as_view(),
        name="api-version-croissant",
    ),
    path("datasets/<slug:slug>/aliases/", aliases.AliasList.as_view(), name="api-alias-list"),
    path("datasets/<slug:slug>/aliases/<str:name>/", aliases.AliasDetail.as_view(), name="api-alias-detail"),
    path("checkouts/", checkouts.CheckoutList.as_view(), name="api-checkout-list"),
    path("me/preferences/", me.Preferences.as_view(), name="api-preferences"),
    path("audit/", audit.AuditList.as_view(), name="api-audit-list"),
    path("audit/export/", audit.AuditExport.as_view(), name="api-audit-export"),
    path("checkouts/<uuid:checkout_id>/", checkouts.CheckoutDetail.as_view(), name="api-checkout-detail"),
]
