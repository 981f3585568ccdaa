"""The web portal's pages. Each parses the request, calls a selector or service, and renders."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.models import User
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from catalog import selectors as lineage
from catalog.forms import (
    AccessDecisionForm,
    AccessRequestForm,
    AliasForm,
    ColumnDocFormSet,
    DatasetEditForm,
    DatasetForm,
    ExternalNameForm,
    MemberForm,
    TeamForm,
    TokenForm,
    VersionUploadForm,
)
from catalog.graph import graph_drawing
from catalog.openlineage import openlineage_namespace
from catalog.services.charts import quality_bars
from catalog.services.lineage import external_name_link, external_name_unlink
from catalog.services.markdown import markdown_render
from catalog.services.tokens import token_create, token_revoke, tokens_of
from catalog.services.version_page import version_page_context, version_snippets
from datasets import selectors
from datasets.errors import GranaryError
from datasets.models import Dataset, Version
from datasets.services.access import access_request_create, access_request_settle
from datasets.services.aliases import alias_delete, alias_set
from datasets.services.columns import column_docs_set
from datasets.services.croissant import dataset_schema_org
from datasets.services.datasets import dataset_create, dataset_update
from datasets.services.teams import membership_remove, membership_set, team_create
from datasets.services.versions import version_upload
from datasets.uploads import too_large_message, upload_was_too_large

View = Callable[..., HttpResponseBase]


def portal_page(view: View) -> View:
    """A page readable without signing in when GRANARY_ANONYMOUS_READ is on."""

    @login_not_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not selectors.user_may_browse(request.user):
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return wrapped


def _redirect(request: HttpRequest, url: str) -> HttpResponse:
    """A redirect that htmx follows as a full page load."""
    if request.headers.get("HX-Request"):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


@portal_page
def home(request: HttpRequest) -> HttpResponse:
    params = request.GET
    datasets = selectors.dataset_search(
        user=_me(request),
        q=params.get("q", "").strip(),
        tag=params.get("tag", ""),
        team=params.get("team", ""),
        ordering=params.get("ordering", "slug"),
    )
    page = Paginator(datasets, 25).get_page(params.get("page"))
    access = selectors.dataset_access_map(user=_me(request), datasets=page)
    readable = {pk for pk, rights in access.items() if rights.read}
    context = {
        "page": page,
        "readable": readable,
        "q": params.get("q", ""),
        "tag": params.get("tag", ""),
        "ordering": params.get("ordering", "slug"),
    }
    return render(request, "catalog/home.html", context)


@portal_page
def dataset_detail(request: HttpRequest, slug: str) -> HttpResponse:
    dataset, access = selectors.dataset_get(user=_me(request), slug=slug, need="discover")
    return _detail_page(request, dataset, access, access_form=None)


def _detail_page(
    request: HttpRequest, dataset: Dataset, access: selectors.Access, *, access_form: AccessRequestForm | None
) -> HttpResponse:
    context: dict[str, Any] = {"dataset": dataset, "access": access}
    if access.restricted_only and _me(request).is_authenticated:
        mine = selectors.access_requests_by(user=_me(request), dataset=dataset)
        context["my_request"] = mine.first()
        context["access_form"] = access_form or AccessRequestForm()
    if access.read:
        latest = selectors.version_latest(dataset=dataset)
        context["readme_html"] = markdown_render(dataset.readme)
        context["versions"] = selectors.versions_with_quality(dataset=dataset)
        context["latest"] = latest
        context["certified"] = selectors.version_certified(dataset=dataset)
        context["suite"] = selectors.suite_revision_current(dataset=dataset)
        context["quality_bars"] = quality_bars(selectors.quality_history(dataset=dataset))
        context["lineage"] = lineage.lineage_graph(user=_me(request), dataset=dataset, depth=1)
        context["alias_names"] = selectors.version_alias_names(
            dataset=dataset, computed={"latest": latest, "certified": context["certified"]}
        )
        context["checkout_count"] = selectors.checkout_count(dataset=dataset)
        context["schema_org"] = dataset_schema_org(
            dataset=dataset, version=latest, absolute=request.build_absolute_uri
        )
    status = 400 if access_form is not None and access_form.errors else 200
    return render(request, "catalog/dataset_detail.html", context, status=status)


@require_POST
def dataset_access_request(request: HttpRequest, slug: str) -> HttpResponse:
    """Ask a restricted dataset's owners for its data, with a reason."""
    dataset, access = selectors.dataset_get(user=_me(request), slug=slug, need="discover")
    if access.read:  # the page shows no form to those who read already: say so there
        messages.info(request, f"You can already read '{dataset.slug}': there is nothing to ask for.")
        return redirect("dataset-detail", dataset.slug)
    form = AccessRequestForm(request.POST)
    if form.is_valid():
        try:
            access_request_create(
                user=_me(request), dataset=dataset, access=access, reason=form.cleaned_data["reason"]
            )
        except GranaryError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, f"Asked the {dataset.team.slug} team's owners for access.")
            return redirect("dataset-detail", dataset.slug)
    return _detail_page(request, dataset, access, access_form=form)


@portal_page
def dataset_access(request: HttpRequest, slug: str) -> HttpResponse:
    """The Access tab, for the team's owners: requests for the data, and every decision."""
    dataset, access = selectors.dataset_get_to_decide_access(user=_me(request), slug=slug)
    return _access_page(request, dataset, access, form=None)


@require_POST
def dataset_access_decide(request: HttpRequest, slug: str, request_id: int) -> HttpResponse:
    dataset, access = selectors.dataset_get_to_decide_access(user=_me(request), slug=slug)
    asked = selectors.access_request_get(dataset=dataset, request_id=request_id)
    form = AccessDecisionForm(request.POST)
    if form.is_valid():
        try:
            decided = access_request_settle(
                user=_me(request),
                request=asked,
                decision=form.cleaned_data["decision"],
                note=form.cleaned_data["note"],
            )
        except GranaryError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, f"{decided.user.username}'s request is {decided.status}.")
            return redirect("dataset-access", dataset.slug)
    return _access_page(request, dataset, access, form=form)


def _access_page(
    request: HttpRequest,
    dataset: Dataset,
    access: Any,
    *,
    form: AccessDecisionForm | None,
) -> HttpResponse:
    context = {
        "dataset": dataset,
        "access": access,
        "requests": selectors.access_requests_of(dataset=dataset)[:200],
        "form": form,
    }
    return render(request, "catalog/dataset_access.html", context, status=400 if form is not None else 200)


@portal_page
def dataset_lineage(request: HttpRequest, slug: str) -> HttpResponse:
    """The lineage tab: the graph, with depth and direction controls, and the external names."""
    dataset, access = selectors.dataset_get(user=_me(request), slug=slug)
    return _lineage_page(request, dataset, access)


def _lineage_page(
    request: HttpRequest, dataset: Any, access: selectors.Access, form: ExternalNameForm | None = None
) -> HttpResponse:
    direction, depth = lineage.lineage_params(request.GET)
    graph = lineage.lineage_graph(user=_me(request), dataset=dataset, direction=direction, depth=depth)
    context = {
        "dataset": dataset,
        "access": access,
        "graph": graph,
        "drawing": graph_drawing(graph),
        "direction": direction,
        "depth": depth,
        "depths": range(1, 11),
        "external_names": lineage.external_names_of(dataset=dataset),
        "form": form or ExternalNameForm(),
    }
    return render(request, "catalog/dataset_lineage.html", context, status=400 if form else 200)


@require_POST
def external_name_add(request: HttpRequest, slug: str) -> HttpResponse:
    dataset, access = selectors.dataset_get(user=_me(request), slug=slug, need="write")
    form = ExternalNameForm(request.POST)
    if form.is_valid():
        try:
            external = external_name_link(dataset=dataset, **form.cleaned_data)
        except GranaryError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, f"Events naming {external} now count as {dataset.slug}.")
            return redirect("dataset-lineage", dataset.slug)
    return _lineage_page(request, dataset, access, form=form)


@require_POST
def external_name_remove(request: HttpRequest, slug: str, external_id: int) -> HttpResponse:
    dataset, _ = selectors.dataset_get(user=_me(request), slug=slug, need="write")
    external = external_name_unlink(dataset=dataset, external_id=external_id)
    messages.success(request, f"{external} is an external dataset again.")
    return redirect("dataset-lineage", dataset.slug)


@portal_page
def dataset_usage(request: HttpRequest, slug: str) -> HttpResponse:
    """The Usage tab: who checked out which version of the dataset, for what and which model."""
    dataset, access = selectors.dataset_get(user=_me(request), slug=slug)
    page = Paginator(selectors.checkouts_of(dataset=dataset), 50).get_page(request.GET.get("page"))
    context = {
        "dataset": dataset,
        "access": access,
        "page": page,
        "checkout_count": selectors.checkout_count(dataset=dataset),
    }
    return render(request, "catalog/dataset_usage.html", context)


@portal_page
def dataset_aliases(request: HttpRequest, slug: str) -> HttpResponse:
    """Named aliases and their history; maintainers also get the form to set or move one."""
    dataset, access = selectors.dataset_get(user=_me(request), slug=slug)
    return _aliases_page(request, dataset, access, form=None)


@require_POST
def dataset_alias_set(request: HttpRequest, slug: str) -> HttpResponse:
    dataset, access = selectors.dataset_get(user=_me(request), slug=slug, need="write")
    form = AliasForm(request.POST, versions=selectors.versions_ready(dataset=dataset))
    if form.is_valid():
        try:
            version = selectors.version_resolve(dataset=dataset, ref=str(form.cleaned_data["version"]))
            alias, changed = alias_set(
                dataset=dataset, user=_me(request), name=form.cleaned_data["name"], version=version
            )
        except GranaryError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, f"{alias} now names v{version.number}." if changed else "No change.")
            return redirect("dataset-aliases", dataset.slug)
    return _aliases_page(request, dataset, access, form=form)


def _aliases_page(
    request: HttpRequest, dataset: Dataset, access: Any, *, form: AliasForm | None
) -> HttpResponse:
    if form is None and access.write:
        form = AliasForm(versions=selectors.versions_ready(dataset=dataset))
    context = {
        "dataset": dataset,
        "access": access,
        "form": form,
        "aliases": selectors.aliases_of(dataset=dataset),
        "latest": selectors.version_latest(dataset=dataset),
        "certified": selectors.version_certified(dataset=dataset),
        "history": selectors.alias_history(dataset=dataset)[:200],
    }
    status = 400 if form is not None and form.errors else 200
    return render(request, "catalog/dataset_aliases.html", context, status=status)


@require_POST
def dataset_alias_delete(request: HttpRequest, slug: str, name: str) -> HttpResponse:
    dataset, _ = selectors.dataset_get(user=_me(request), slug=slug, need="write")
    alias_delete(dataset=dataset, user=_me(request), name=name)
    messages.success(request, f"Removed {dataset.slug}@{name}.")
    return redirect("dataset-aliases", dataset.slug)


@require_http_methods(["GET", "POST"])
def dataset_new(request: HttpRequest) -> HttpResponse:
    teams = selectors.teams_writable_by(user=request.user)
    form = DatasetForm(request.POST or None, teams=teams)
    if request.method == "POST" and form.is_valid():
        try:
            dataset = dataset_create(user=_me(request), **form.cleaned_data)
        except GranaryError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, f"Registered {dataset.slug}. Upload its first version.")
            return redirect("version-upload", dataset.slug)
    status = 400 if form.errors else 200
    return render(request, "catalog/dataset_form.html", {"form": form, "teams": teams}, status=status)


@require_http_methods(["GET", "POST"])
def dataset_edit(request: HttpRequest, slug: str) -> HttpResponse:
    dataset, _ = selectors.dataset_get(user=_me(request), slug=slug, need="write")
    initial = {
        "title": dataset.title,
        "summary": dataset.summary,
        "readme": dataset.readme,
        "tags": ", ".join(tag.name for tag in dataset.tags.all()),
        "license": dataset.license,
        "visibility": dataset.visibility,
        "status": dataset.status,
    }
    form = DatasetEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            dataset_update(dataset=dataset, changes=form.cleaned_data)
        except GranaryError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, "Saved.")
            return redirect(dataset)
    status = 400 if form.errors else 200
    return render(request, "catalog/dataset_form.html", {"form": form, "dataset": dataset}, status=status)


@require_http_methods(["GET", "POST"])
def version_upload_form(request: HttpRequest, slug: str) -> HttpResponse:
    dataset, _ = selectors.dataset_get(user=_me(request), slug=slug, need="write")
    form = VersionUploadForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        if upload_was_too_large(request):
            form.is_valid()  # the file field is empty: replace its error with the real one
            form.errors["file"] = form.error_class([too_large_message()])
            status = 413
        elif form.is_valid():
            data = dict(form.cleaned_data)
            try:
                version = version_upload(dataset=dataset, user=_me(request), upload=data.pop("file"), **data)
            except GranaryError as exc:
                form.add_service_error(exc)
                status = exc.status
            else:
                return _redirect(request, version.get_absolute_url())
        if form.errors and status == 200:
            status = 400
    context = {"form": form, "dataset": dataset, "max_bytes": settings.GRANARY_MAX_UPLOAD_BYTES}
    return render(request, "catalog/version_upload.html", context, status=status)


def _version(request: HttpRequest, slug: str, number: int) -> tuple[Any, Version]:
    dataset, access = selectors.dataset_get(user=_me(request), slug=slug)
    return access, selectors.version_resolve(dataset=dataset, ref=str(number))


@portal_page
def version_detail(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    access, version = _version(request, slug, number)
    context = {
        "version": version,
        "dataset": version.dataset,
        "access": access,
        "snippets": version_snippets(version=version, absolute=request.build_absolute_uri),
        "aliases": selectors.version_alias_names(dataset=version.dataset).get(version.pk, []),
    }
    context.update(version_page_context(version=version))
    context["quality_status"] = selectors.version_quality_status(version=version)
    context["runs"] = selectors.validation_runs_of(version=version)[:5]
    context["certified"] = selectors.version_certified(dataset=version.dataset)
    graph = lineage.lineage_graph_of_version(user=_me(request), version=version)
    reported = lineage.version_reported_schema(
        user=_me(request), version=version, namespace=openlineage_namespace(request)
    )
    context.update(lineage=graph, drawing=graph_drawing(graph), reported=reported)
    if "columns" in context:
        context["columns"] = lineage.columns_with_lineage(context["columns"], reported)
    return render(request, "catalog/version_detail.html", context)


@portal_page
def version_impact(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    """What depends on this version, at any depth."""
    _, version = _version(request, slug, number)
    impact = lineage.lineage_impact(user=_me(request), version=version)
    return render(
        request,
        "catalog/version_impact.html",
        {"version": version, "dataset": version.dataset, "impact": impact},
    )


@portal_page
def run_detail(request: HttpRequest, run_uuid: str) -> HttpResponse:
    """A job's run as OpenLineage reported it: state, times, code, what it read and wrote."""
    found = lineage.run_get(user=_me(request), run_id=run_uuid)
    return render(request, "catalog/run_detail.html", {"lineage": found})


@portal_page
def version_status(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    """The status panel alone, which the version page polls while the version is processing."""
    _, version = _version(request, slug, number)
    response = render(request, "catalog/_version_status.html", {"version": version})
    if version.status != Version.Status.PROCESSING:
        # Finished: reload the page, which now has the schema, profile and preview to show.
        response["HX-Refresh"] = "true"
    return response


@require_http_methods(["GET", "POST"])
def column_docs_edit(request: HttpRequest, slug: str) -> HttpResponse:
    """Maintainers describe the latest version's columns; descriptions follow columns by name."""
    dataset, _ = selectors.dataset_get(user=_me(request), slug=slug, need="write")
    latest = selectors.version_latest(dataset=dataset)
    docs = selectors.column_docs(dataset=dataset)
    names = [c["name"] for c in latest.schema] if latest else []
    names += [name for name in docs if name not in names]  # documented, but not in the latest
    initial = [
        {"name": n, "description": docs[n].description if n in docs else "", "pii": n in docs and docs[n].pii}
        for n in names
    ]
    formset = ColumnDocFormSet(request.POST or None, initial=initial)
    if request.method == "POST" and formset.is_valid():
        column_docs_set(dataset=dataset, user=_me(request), docs=[f.cleaned_data for f in formset.forms])
        messages.success(request, "Column documentation saved.")
        return redirect(dataset)
    types = {c["name"]: c["type"] for c in latest.schema} if latest else {}
    rows = [
        (form, types.get(form.initial.get("name", ""), "not in the latest version")) for form in formset.forms
    ]
    context = {"dataset": dataset, "formset": formset, "rows": rows, "latest": latest}
    return render(
        request,
        "catalog/column_docs.html",
        context,
        status=400 if formset.errors and any(formset.errors) else 200,
    )


@require_http_methods(["GET", "POST"])
def team_list(request: HttpRequest) -> HttpResponse:
    form = TeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            team = team_create(user=_me(request), **form.cleaned_data)
        except GranaryError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, f"Created {team.slug}. You are its owner.")
            return redirect(team)
    context = {
        "form": form,
        "teams": selectors.teams_visible_to(user=request.user),
        "mine": set(selectors.teams_of(user=request.user).values_list("pk", flat=True)),
    }
    return render(request, "catalog/team_list.html", context, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
def team_detail(request: HttpRequest, slug: str) -> HttpResponse:
    team = selectors.team_get(user=_me(request), slug=slug)
    form = MemberForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            membership_set(actor=_me(request), team=team, **form.cleaned_data)
        except GranaryError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, f"{form.cleaned_data['username']} is now {form.cleaned_data['role']}.")
            return redirect(team)
    role = selectors.team_role(user=_me(request), team=team)
    context = {
        "team": team,
        "form": form,
        "role": role,
        "members": selectors.team_members(team=team),
        "datasets": selectors.dataset_search(user=_me(request), team=team.slug),
    }
    return render(request, "catalog/team_detail.html", context, status=400 if form.errors else 200)


@require_POST
def team_member_remove(request: HttpRequest, slug: str, username: str) -> HttpResponse:
    team = selectors.team_get(user=_me(request), slug=slug)
    membership_remove(actor=_me(request), team=team, username=username)
    messages.success(request, f"Removed {username} from {team.slug}.")
    return redirect(team)


@require_http_methods(["GET", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST or None, initial={"days": settings.GRANARY_TOKEN_DAYS})
    issued = None
    if request.method == "POST" and form.is_valid():
        try:
            issued = token_create(user=_me(request), **form.cleaned_data)
        except GranaryError as exc:
            form.add_service_error(exc)
        else:
            form = TokenForm(initial={"days": settings.GRANARY_TOKEN_DAYS})
    context = {"form": form, "issued": issued, "tokens": tokens_of(user=_me(request))}
    return render(request, "catalog/token_list.html", context, status=400 if form.errors else 200)


@require_POST
def token_revoke_view(request: HttpRequest, token_id: int) -> HttpResponse:
    token = token_revoke(user=_me(request), token_id=token_id)
    messages.success(request, f"Revoked '{token.name}'.")
    return redirect("token-list")


def _me(request: Any) -> User:
    """The signed-in user of a request that the gate (login or API permission) let through."""
    return cast(User, request.user)
