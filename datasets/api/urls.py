from django.urls import path

from datasets.api import views

urlpatterns = [
    path("teams/", views.TeamList.as_view(), name="api-team-list"),
    path("teams/<slug:slug>/", views.TeamDetail.as_view(), name="api-team-detail"),
    path("teams/<slug:slug>/members/", views.TeamMembers.as_view(), name="api-team-members"),
    path(
        "teams/<slug:slug>/members/<str:username>/",
        views.TeamMember.as_view(),
        name="api-team-member",
    ),
    path("datasets/", views.DatasetList.as_view(), name="api-dataset-list"),
    path("datasets/<slug:slug>/", views.DatasetDetail.as_view(), name="api-dataset-detail"),
    path("datasets/<slug:slug>/versions/", views.VersionList.as_view(), name="api-version-list"),
    path(
        "datasets/<slug:slug>/versions/<str:ref>/",
        views.VersionDetail.as_view(),
        name="api-version-detail",
    ),
    path(
        "datasets/<slug:slug>/access-requests/",
        views.AccessRequestList.as_view(),
        name="api-access-request-list",
    ),
    path(
        "datasets/<slug:slug>/access-requests/<int:request_id>/decision/",
        views.AccessRequestDecision.as_view(),
        name="api-access-request-decision",
    ),
    path("datasets/<slug:slug>/schema-diff/", views.SchemaDiff.as_view(), name="api-schema-diff"),
    path("datasets/<slug:slug>/suite/", views.Suite.as_view(), name="api-suite"),
    path("datasets/<slug:slug>/suite/suggest/", views.SuiteSuggestion.as_view(), name="api-suite-suggest"),
    path(
        "datasets/<slug:slug>/versions/<str:ref>/validations/",
        views.Validations.as_view(),
        name="api-validations",
    ),
    path(
        "datasets/<slug:slug>/versions/<str:ref>/validations/<int:run_id>/",
        views.ValidationDetail.as_view(),
        name="api-validation-detail",
    ),
    path("datasets/<slug:slug>/columns/", views.ColumnDocs.as_view(), name="api-column-docs"),
    path(
        "datasets/<slug:slug>/versions/<str:ref>/schema/",
        views.VersionSchema.as_view(),
        name="api-version-schema",
    ),
    path(
        "datasets/<slug:slug>/versions/<str:ref>/profile/",
        views.VersionProfile.as_view(),
        name="api-version-profile",
    ),
    path(
        "datasets/<slug:slug>/versions/<str:ref>/preview/",
        views.VersionPreview.as_view(),
        name="api-version-preview",
    ),
    path(
        "datasets/<slug:slug>/versions/<str:ref>/download/",
        views.VersionDownload.as_view(),
        name="api-version-download",
    ),
    path(
        "datasets/<slug:slug>/versions/<str:ref>/croissant/",
        views.VersionCroissant.as_view(),
        name="api-version-croissant",
    ),
    path("datasets/<slug:slug>/aliases/", views.AliasList.as_view(), name="api-alias-list"),
    path("datasets/<slug:slug>/aliases/<str:name>/", views.AliasDetail.as_view(), name="api-alias-detail"),
    path("checkouts/", views.CheckoutList.as_view(), name="api-checkout-list"),
    path("checkouts/<uuid:checkout_id>/", views.CheckoutDetail.as_view(), name="api-checkout-detail"),
]
