"""The data viewer's pages: a version's rows as a grid (on the version page, on the dataset page for
@latest, and alone for htmx to swap in), and the SQL console with its downloads and its save."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import QuerySet
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from catalog.forms import QueryForm, QuerySaveForm
from catalog.presentation.viewer import GridState, grid_state, query_grid, version_grid
from catalog.views.common import form_submit, portal_page
from core.errors import GranaryError, InvalidInput, NotFound
from core.http import AuthenticatedHttpRequest
from datasets.access import dataset_get, datasets_writable_by
from datasets.models import DATASET_PAGE, VERSION_PAGE, Dataset, Version
from datasets.references import version_latest, version_resolve
from datasets.viewer.export import EXPORT_FORMATS, query_export
from datasets.viewer.pages import OPERATORS, RowsPage
from datasets.viewer.query import QueryResult, query_run
from datasets.viewer.rows import version_rows
from datasets.viewer.save import query_save

DEFAULT_SQL = "SELECT *\nFROM data\nLIMIT 100"


def viewer_context(
    request: HttpRequest, *, version: Version, page_url: str, grid_url: str
) -> tuple[dict[str, Any], int]:
    """The grid of `version` at the state in the request's query string, for a page to include, and
    the status the page answers with: 400 when the query string asks for what cannot be shown."""
    status, error, page = 200, "", None
    try:
        state = grid_state(request.GET)
    except InvalidInput as exc:
        state, error, status = GridState(), exc.detail, 400
    if not error:
        try:
            page = rows_of(version=version, state=state)
        except InvalidInput as exc:
            error, status = exc.detail, 400
        except GranaryError as exc:
            # No Parquet copy, storage down: no fault of the URL, nor of the page around the grid.
            error = exc.detail
    grid = version_grid(page=page, state=state, schema=version.schema, profile=version.profile)
    if error and not grid.reset:
        grid.reset = "?"
    viewer = {
        "grid": grid,
        "state": state,
        "error": error,
        "page_url": page_url,
        "grid_url": grid_url,
        "operators": OPERATORS,
        "version": version,
    }
    return {"viewer": viewer}, status


def rows_of(*, version: Version, state: GridState) -> RowsPage:
    return version_rows(
        version=version,
        offset=state.offset,
        limit=state.limit,
        sort=state.sort,
        descending=state.descending,
        filters=state.filters,
        q=state.q,
    )


def _grid_response(request: HttpRequest, version: Version, page_url: str, grid_url: str) -> HttpResponse:
    context, status = viewer_context(request, version=version, page_url=page_url, grid_url=grid_url)
    response = render(request, "catalog/_viewer.html", context, status=status)
    # htmx puts the page's own URL, not this fragment's, in the address bar: the view stays shareable.
    response["HX-Push-Url"] = page_url + ("?" + request.GET.urlencode() if request.GET else "")
    return response


@portal_page
def version_grid_part(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    """The grid alone, which htmx swaps into the version page when a link or form in it is used."""
    dataset, _ = dataset_get(user=request.user, slug=slug)
    version = version_resolve(dataset=dataset, ref=str(number))
    page_url = reverse(VERSION_PAGE, args=[slug, number])
    return _grid_response(request, version, page_url, reverse("version-rows", args=[slug, number]))


@portal_page
def dataset_grid_part(request: HttpRequest, slug: str) -> HttpResponse:
    """The grid of the newest ready version alone, for the dataset page."""
    dataset, _ = dataset_get(user=request.user, slug=slug)
    version = version_latest(dataset=dataset)
    if version is None:
        raise NotFound(f"'{slug}' has no ready version to show rows of.")
    page_url = reverse(DATASET_PAGE, args=[slug])
    return _grid_response(request, version, page_url, reverse("dataset-rows", args=[slug]))


@require_GET
def version_query(request: AuthenticatedHttpRequest, slug: str, number: int) -> HttpResponse:
    """The SQL console: a GET runs the SQL in its query string, so a query is a link to share."""
    version = _version(request, slug, number)
    form = QueryForm(request.GET if "sql" in request.GET else None, initial={"sql": DEFAULT_SQL})
    result, status = None, 200
    if form.is_bound:
        status = 400
        if form.is_valid():
            try:
                result = query_run(user=request.user, sql=form.cleaned_data["sql"], version=version)
                status = 200
            except GranaryError as exc:
                # A refused statement, a timeout, a version the user may not read: the form says which.
                form.add_service_error(exc)
                status = exc.status
    return _console(request, version=version, form=form, result=result, status=status)


@require_GET
def version_query_download(request: AuthenticatedHttpRequest, slug: str, number: int) -> HttpResponseBase:
    """A console query's whole result (up to GRANARY_QUERY_EXPORT_MAX_ROWS rows) as CSV or Parquet;
    a refused query shows the console with its message."""
    version = _version(request, slug, number)
    form = QueryForm(request.GET)
    status = 400
    if form.is_valid():
        sql, format = form.cleaned_data["sql"], request.GET.get("format", "csv")
        try:
            export = query_export(user=request.user, sql=sql, format=format, version=version)
        except GranaryError as exc:
            form.add_service_error(exc)
            status = exc.status
        else:
            response = FileResponse(
                export.file, as_attachment=True, filename=export.filename, content_type=export.content_type
            )
            response["X-Content-Type-Options"] = "nosniff"
            response["Cache-Control"] = "private, no-store"
            return response
    return _console(request, version=version, form=form, result=None, status=status)


@require_POST
def version_query_save(request: AuthenticatedHttpRequest, slug: str, number: int) -> HttpResponse:
    """Queue a console query's whole result to become the next version of a dataset the user may
    write; that dataset's page lists the version once a worker has made it."""
    version = _version(request, slug, number)
    save_form = QuerySaveForm(request.POST, datasets=_writable(request))
    save = form_submit(
        request,
        save_form,
        lambda data: query_save(user=request.user, version=version, **data),
        success=lambda save: (
            f"The result is on its way to become the next version of {save.dataset.slug}: a worker "
            "runs the query, then ingest and the checks run as for any upload."
        ),
    )
    if save is not None:
        return redirect(save.dataset)
    form = QueryForm(initial={"sql": request.POST.get("sql", "")})
    return _console(request, version=version, form=form, result=None, status=400, save_form=save_form)


def _version(request: AuthenticatedHttpRequest, slug: str, number: int) -> Version:
    dataset, _ = dataset_get(user=request.user, slug=slug)
    return version_resolve(dataset=dataset, ref=str(number))


def _writable(request: AuthenticatedHttpRequest) -> QuerySet[Dataset]:
    """The datasets offered as a save's target; query_save checks the right to write again."""
    return datasets_writable_by(request.user).order_by("slug")


def _console(
    request: AuthenticatedHttpRequest,
    *,
    version: Version,
    form: QueryForm,
    result: QueryResult | None,
    status: int,
    save_form: QuerySaveForm | None = None,
) -> HttpResponse:
    context: dict[str, Any] = {
        "form": form,
        "version": version,
        "dataset": version.dataset,
        "result": result,
        "max_rows": settings.GRANARY_QUERY_MAX_ROWS,
        "export_rows": settings.GRANARY_QUERY_EXPORT_MAX_ROWS,
        "timeout": settings.GRANARY_QUERY_TIMEOUT_SECONDS,
        "save_form": save_form,
    }
    if result is not None:
        sql = form.cleaned_data["sql"]
        context["grid"] = query_grid(columns=result.columns, rows=result.rows, elapsed_ms=result.elapsed_ms)
        context["downloads"] = [(fmt, urlencode({"sql": sql, "format": fmt})) for fmt in EXPORT_FORMATS]
        writable = _writable(request)
        if save_form is None and writable.exists():
            context["save_form"] = QuerySaveForm(initial={"sql": sql}, datasets=writable)
    return render(request, "catalog/query_console.html", context, status=status)
