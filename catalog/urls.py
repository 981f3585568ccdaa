from django.contrib.auth import views as auth_views
from django.urls import path

from catalog import views, views_quality

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("datasets/new/", views.dataset_new, name="dataset-new"),
    path("datasets/<slug:slug>/", views.dataset_detail, name="dataset-detail"),
    path("datasets/<slug:slug>/edit/", views.dataset_edit, name="dataset-edit"),
    path("datasets/<slug:slug>/usage/", views.dataset_usage, name="dataset-usage"),
    path("datasets/<slug:slug>/access/", views.dataset_access, name="dataset-access"),
    path("datasets/<slug:slug>/access/request/", views.dataset_access_request, name="dataset-access-request"),
    path(
        "datasets/<slug:slug>/access/<int:request_id>/decide/",
        views.dataset_access_decide,
        name="dataset-access-decide",
    ),
    path("datasets/<slug:slug>/aliases/", views.dataset_aliases, name="dataset-aliases"),
    path("datasets/<slug:slug>/aliases/set/", views.dataset_alias_set, name="dataset-alias-set"),
    path(
        "datasets/<slug:slug>/aliases/<str:name>/delete/",
        views.dataset_alias_delete,
        name="dataset-alias-delete",
    ),
    path("datasets/<slug:slug>/columns/", views.column_docs_edit, name="column-docs"),
    path("datasets/<slug:slug>/upload/", views.version_upload_form, name="version-upload"),
    path("datasets/<slug:slug>/lineage/", views.dataset_lineage, name="dataset-lineage"),
    path(
        "datasets/<slug:slug>/lineage/external-names/",
        views.external_name_add,
        name="external-name-add",
    ),
    path(
        "datasets/<slug:slug>/lineage/external-names/<int:external_id>/remove/",
        views.external_name_remove,
        name="external-name-remove",
    ),
    path("datasets/<slug:slug>/versions/<int:number>/", views.version_detail, name="version-detail"),
    path(
        "datasets/<slug:slug>/versions/<int:number>/status/",
        views.version_status,
        name="version-status",
    ),
    path("datasets/<slug:slug>/suite/", views_quality.suite_page, name="suite"),
    path(
        "datasets/<slug:slug>/suite/remove/<int:position>/", views_quality.suite_remove, name="suite-remove"
    ),
    path("datasets/<slug:slug>/suite/suggest/", views_quality.suite_suggest, name="suite-suggest"),
    path("datasets/<slug:slug>/suite/import/", views_quality.suite_import, name="suite-import"),
    path(
        "datasets/<slug:slug>/versions/<int:number>/validate/",
        views_quality.version_validate,
        name="version-validate",
    ),
    path(
        "datasets/<slug:slug>/versions/<int:number>/validations/<int:run_id>/",
        views_quality.validation_report,
        name="validation-report",
    ),
    path("teams/<slug:slug>/webhooks/", views_quality.team_webhooks, name="team-webhooks"),
    path(
        "datasets/<slug:slug>/versions/<int:number>/impact/",
        views.version_impact,
        name="version-impact",
    ),
    path("lineage/runs/<uuid:run_uuid>/", views.run_detail, name="run-detail"),
    path("teams/", views.team_list, name="team-list"),
    path("teams/<slug:slug>/", views.team_detail, name="team-detail"),
    path(
        "teams/<slug:slug>/members/<str:username>/remove/",
        views.team_member_remove,
        name="team-member-remove",
    ),
    path("tokens/", views.token_list, name="token-list"),
    path("tokens/<int:token_id>/revoke/", views.token_revoke_view, name="token-revoke"),
]
