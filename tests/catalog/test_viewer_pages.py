"""The data viewer in the portal: the grid on the version and dataset pages (paged, sorted, filtered
and searched through the URL, checked against pyarrow and pandas on the same file), the grid alone
for htmx, the SQL console and its download, and what a reader without access gets."""

from __future__ import annotations

import csv
import io
import math
import re
from html import unescape
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from audit.models import AuditEvent
from datasets.models import Version
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ROWS = 230
LONG = "a long note " * 10
DASH = "\u2013"  # rows a\u2013b of n


def _table() -> pa.Table:
    names = [None if i % 7 == 0 else f"{'Ada' if i % 3 == 0 else 'grace'}-{i}" for i in range(ROWS)]
    return pa.table(
        {
            "id": pa.array(range(ROWS), pa.int64()),
            "name": pa.array(names, pa.string()),
            "score": pa.array([None if i % 11 == 0 else (i * 7919 % ROWS) / 10 for i in range(ROWS)]),
            "tags": pa.array([[i % 5, i % 3] for i in range(ROWS)], pa.list_(pa.int64())),
            "note": pa.array([LONG + str(i) if i == 1 else "short" for i in range(ROWS)]),
        }
    )


def _frame() -> pd.DataFrame:
    return _table().to_pandas()


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=64)
    return sink.getvalue()


@pytest.fixture
def version(public_dataset: Any, publish: Any) -> Version:
    version = publish(public_dataset, data=_parquet(_table()), filename="scores.parquet")
    assert version.status == Version.Status.READY, version.failure_reason
    return version


@pytest.fixture
def reader(client: Any, member: Any) -> Any:
    client.force_login(member)
    return client


class _Grid(HTMLParser):
    """The first column's text of each row of the page's grid, its column names and its links."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.headers: list[str] = []
        self.links: dict[str, str] = {}
        self._in_grid = self._in_body = self._in_th_link = False
        self._cell = -1
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "table" and "grid" in (found.get("class") or ""):
            self._in_grid = True
        elif self._in_grid and tag == "tbody":
            self._in_body = True
        elif self._in_body and tag == "tr":
            self._cell = -1
        elif self._in_body and tag == "td":
            self._cell += 1
            self._text = ""
        elif self._in_grid and tag == "a" and "sort" in (found.get("class") or ""):
            self._in_th_link, self._text = True, ""
        if tag == "a" and found.get("href") and found.get("rel") in ("next", "prev"):
            self.links[str(found["rel"])] = unescape(str(found["href"]))

    def handle_data(self, data: str) -> None:
        self._text += data

    def handle_endtag(self, tag: str) -> None:
        if self._in_body and tag == "td" and self._cell == 0:
            self.ids.append(self._text.strip())
        elif self._in_th_link and tag == "a":
            self.headers.append(self._text.replace("▲", "").replace("▼", "").strip())
            self._in_th_link = False
        elif tag == "table":
            self._in_grid = self._in_body = False


def _grid(html: str) -> _Grid:
    parsed = _Grid()
    parsed.feed(html)
    return parsed


def _plain(value: Any) -> Any:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _ids(frame: pd.DataFrame) -> list[str]:
    return [str(value) for value in frame["id"].tolist()]


def test_the_version_page_shows_the_first_page_with_typed_headers_and_the_profile(reader, version):
    response = reader.get(version.get_absolute_url())
    html = response.content.decode()
    grid = _grid(html)
    assert response.status_code == 200
    assert grid.headers == ["id", "name", "score", "tags", "note"]
    assert grid.ids == _ids(_frame().iloc[:50])
    assert f"rows 1{DASH}50 of 230" in html
    assert '<span class="col-type">float</span>' in html
    assert "14% null" in html  # name: every seventh is null
    assert html.count('<svg class="mini-histogram"') == 2  # id and score
    assert '<ul class="col-top">' in html  # name's top values
    assert '<td class="num">' in html  # numbers on the right


@pytest.mark.parametrize("offset", [0, 100, 200])
def test_a_page_at_an_offset_is_pyarrows_own_slice(reader, version, offset):
    html = reader.get(version.get_absolute_url(), {"offset": offset}).content.decode()
    assert _grid(html).ids == _ids(_table().slice(offset, 50).to_pandas())
    assert f"rows {offset + 1}{DASH}{min(offset + 50, ROWS)} of 230" in html


@pytest.mark.parametrize("sort", ["score", "-score", "-name"])
def test_sorting_matches_pandas_with_nulls_last(reader, version, sort):
    html = reader.get(version.get_absolute_url(), {"sort": sort}).content.decode()
    frame = _frame().sort_values(
        [sort.lstrip("-"), "id"], ascending=[not sort.startswith("-"), True], na_position="last"
    )
    column = sort.lstrip("-")
    by_id = _frame().set_index("id")[column]
    # Ties may come in either order: the sorted column's values say whether the order is right.
    shown = [_plain(by_id[int(i)]) for i in _grid(html).ids]
    assert shown == [_plain(value) for value in frame[column].iloc[:50]]
    arrow = "▼" if sort.startswith("-") else "▲"
    assert f"{column} {arrow}</a>" in html


def test_filters_and_search_combine_with_and_like_pandas(reader, version):
    query = {"fc": ["score", "name"], "fo": [">=", "is not null"], "fv": ["5", ""], "q": "GRACE"}
    html = reader.get(version.get_absolute_url(), query).content.decode()
    frame = _frame()
    expected = frame[(frame.score >= 5) & frame.name.notna() & frame.name.str.lower().str.contains("grace")]
    assert 50 < len(expected) < ROWS  # more than a page, fewer than all
    assert _grid(html).ids == _ids(expected.iloc[:50])
    assert f"rows 1{DASH}50 of {len(expected)}" in html
    assert "score &gt;= 5" in html and "name is not null" in html  # the active filters, each removable


def test_in_and_contains_filters(reader, version):
    html = reader.get(version.get_absolute_url(), {"fc": "id", "fo": "in", "fv": "3, 5,8"}).content.decode()
    assert _grid(html).ids == ["3", "5", "8"]
    html = reader.get(
        version.get_absolute_url(), {"fc": "name", "fo": "contains", "fv": "GRACE-1"}
    ).content.decode()
    frame = _frame()
    assert _grid(html).ids == _ids(frame[frame.name.str.contains("grace-1", na=False)].iloc[:50])


def test_the_next_link_keeps_sort_filters_and_search_and_walks_to_the_end(reader, version):
    url = version.get_absolute_url()
    state = {"sort": "-score", "fc": "score", "fo": ">", "fv": "2", "q": "grace"}
    html = reader.get(url, state).content.decode()
    frame = _frame()
    matching = frame[(frame.score > 2) & frame.name.str.contains("grace", na=False)]
    seen: list[str] = []
    for _ in range(10):
        grid = _grid(html)
        seen += grid.ids
        if "next" not in grid.links:
            break
        link = grid.links["next"]
        assert urlsplit(link).path == url
        params = parse_qs(urlsplit(link).query)
        assert params["sort"] == ["-score"] and params["q"] == ["grace"] and params["fv"] == ["2"]
        html = reader.get(link).content.decode()
    assert sorted(seen, key=int) == sorted(_ids(matching), key=int)  # every match once, none else
    assert "prev" in _grid(html).links


def test_long_nested_and_null_cells(reader, version):
    html = reader.get(version.get_absolute_url()).content.decode()
    assert '<code class="nested">[1,1]</code>' in html  # row 1's tags, as compact JSON
    assert '<details class="cell-long">' in html
    assert f'<div class="cell-full">{LONG}1</div>' in html  # the whole value, one click away
    assert '<span class="null">null</span>' in html  # row 0's name


def test_the_grid_alone_answers_htmx_and_pushes_the_page_url(reader, version):
    rows_url = f"/datasets/churn/versions/{version.number}/rows/"
    response = reader.get(rows_url, {"offset": 50, "sort": "id"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="viewer"') and "<html" not in html
    assert _grid(html).ids == [str(i) for i in range(50, 100)]
    assert response["HX-Push-Url"] == f"{version.get_absolute_url()}?offset=50&sort=id"


def test_the_dataset_page_shows_the_rows_of_latest(reader, version, public_dataset, publish):
    newer = publish(public_dataset, data=_parquet(_table().slice(0, 10)), filename="ten.parquet")
    response = reader.get("/datasets/churn/", {"sort": "-id"})
    html = response.content.decode()
    assert response.status_code == 200
    assert f"v{newer.number}</a> <span" in html and "(@latest)" in html
    assert _grid(html).ids == [str(i) for i in range(9, -1, -1)]
    assert f"rows 1{DASH}10 of 10" in html
    grid_part = reader.get("/datasets/churn/rows/", {"offset": 5}, HTTP_HX_REQUEST="true")
    assert _grid(grid_part.content.decode()).ids == ["5", "6", "7", "8", "9"]
    assert grid_part["HX-Push-Url"] == "/datasets/churn/?offset=5"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"fc": "nope", "fo": "=", "fv": "1"}, "&#x27;nope&#x27; is not a column"),
        ({"fc": "score", "fo": "=", "fv": "high"}, "is not a value of its type"),
        ({"fc": "score", "fo": "~", "fv": "1"}, "&#x27;~&#x27; is not an operator"),
        ({"fc": "score", "fo": "="}, "each needs a column"),
        ({"sort": "nope"}, "sort: &#x27;nope&#x27; is not a column"),
        ({"offset": "-3"}, "offset=&#x27;-3&#x27; is not a whole number"),
        ({"limit": "100000"}, "give 1 to"),
    ],
)
def test_a_bad_view_is_a_message_above_the_grid_not_an_error_page(reader, version, query, message):
    response = reader.get(version.get_absolute_url(), query)
    html = response.content.decode()
    assert response.status_code == 400
    assert message in html
    assert '<p class="failure viewer-error" role="alert">' in html
    assert _grid(html).ids == []  # no rows shown under a refused view
    assert "Show all rows" in html  # and the way back
    assert '<section class="card" id="schema">' in html  # the rest of the page is there


def test_a_reader_without_access_gets_no_rows_anywhere(client, outsider, restricted_dataset, publish):
    secret = pa.table({"id": [1, 2], "secret": ["launch-code-alpha", "launch-code-beta"]})
    version = publish(restricted_dataset, data=_parquet(secret), filename="secret.parquet")
    assert version.status == Version.Status.READY
    slug = restricted_dataset.slug
    urls = [
        f"/datasets/{slug}/versions/1/",
        f"/datasets/{slug}/versions/1/rows/?sort=secret",
        f"/datasets/{slug}/rows/",
        f"/datasets/{slug}/versions/1/query/?sql=SELECT+*+FROM+data",
        f"/datasets/{slug}/versions/1/query/download/?sql=SELECT+*+FROM+data",
    ]
    client.force_login(outsider)
    for url in urls:
        response = client.get(url)
        assert response.status_code == 403, url
        assert b"launch-code" not in response.content
    client.logout()
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), url
    assert not AuditEvent.objects.filter(action="query.run").exists()  # nothing ran


def test_the_console_runs_a_query_and_shows_it_in_the_grid(reader, version):
    sql = "SELECT id, score * 2 AS double_score FROM data WHERE score IS NOT NULL ORDER BY id LIMIT 5"
    response = reader.get(f"/datasets/churn/versions/{version.number}/query/", {"sql": sql})
    html = response.content.decode()
    frame = _frame()
    expected = frame[frame.score.notna()].sort_values("id").iloc[:5]
    assert response.status_code == 200
    assert _grid(html).ids == _ids(expected)
    assert "double_score" in html and "DOUBLE" in html
    assert re.search(r'5 rows in <span class="elapsed">\d+ ms</span> · read churn@1', html)
    assert "Download CSV" in html


def test_the_console_joins_another_readable_version_by_reference(reader, version, internal_dataset, publish):
    publish(internal_dataset, data=b"id,label\n3,three\n4,four\n")
    sql = f'SELECT d.id, o.label FROM data d JOIN "{internal_dataset.slug}@1" o USING (id) ORDER BY d.id'  # noqa: S608
    html = reader.get(f"/datasets/churn/versions/{version.number}/query/", {"sql": sql}).content.decode()
    assert _grid(html).ids == ["3", "4"] and "three" in html and "four" in html


@pytest.mark.parametrize(
    ("sql", "status", "message"),
    [
        ("DROP TABLE data", 400, "Only a SELECT"),
        ("SELECT * FROM read_csv('/etc/passwd')", 400, "read_csv() is not allowed"),
        ("SELECT * FROM data; SELECT 1", 400, "Run one SELECT at a time"),
        ("SELECT nope FROM data", 400, "The query failed"),
        ('SELECT * FROM "patients@1"', 403, "is restricted"),
        ('SELECT * FROM "nowhere@1"', 404, "nowhere"),
    ],
)
def test_a_refused_query_is_a_form_error(reader, version, restricted_dataset, publish, sql, status, message):
    publish(restricted_dataset, data=b"id,secret\n1,launch-code-gamma\n")
    reader.force_login(UserFactory(username="stranger"))  # may read churn (public), not patients
    response = reader.get(f"/datasets/churn/versions/{version.number}/query/", {"sql": sql})
    html = response.content.decode()
    assert response.status_code == status
    assert 'role="alert"' in html and message in html  # on the SQL field, or the form's own
    assert "launch-code" not in html
    assert 'id="console-result"' not in html


def test_a_query_past_the_time_limit_is_cancelled_with_a_message(reader, version, settings):
    settings.GRANARY_QUERY_TIMEOUT_SECONDS = 0.2
    sql = "SELECT count(*) FROM range(100000000000) a"
    response = reader.get(f"/datasets/churn/versions/{version.number}/query/", {"sql": sql})
    assert response.status_code == 400
    assert "The query was cancelled after 0.2 s" in response.content.decode()


def _download_links(reader: Any, version: Version, sql: str) -> dict[str, str]:
    page = reader.get(f"/datasets/churn/versions/{version.number}/query/", {"sql": sql}).content.decode()
    links = re.findall(r'href="([^"]*/query/download/[^"]*)"', page)
    return {parse_qs(urlsplit(unescape(link)).query)["format"][0]: unescape(link) for link in links}


def test_the_whole_result_downloads_as_csv_and_parquet(reader, version):
    sql = "SELECT id, name, tags FROM data WHERE id >= 1 ORDER BY id"  # more rows than on screen
    links = _download_links(reader, version, sql)
    assert set(links) == {"csv", "parquet"}

    response = reader.get(links["csv"])
    assert response.status_code == 200
    assert re.fullmatch(r'attachment; filename="query-[\d-]+\.csv"', response["Content-Disposition"])
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[:3] == [["id", "name", "tags"], ["1", "grace-1", "[1,1]"], ["2", "grace-2", "[2,2]"]]
    assert rows[7] == ["7", "", "[2,1]"]  # a null is an empty field
    assert len(rows) == ROWS  # the header and every row but id 0

    response = reader.get(links["parquet"])
    assert response.status_code == 200
    table = pq.read_table(io.BytesIO(b"".join(response.streaming_content)))
    assert table.to_pylist() == _table().select(["id", "name", "tags"]).slice(1).to_pylist()


def test_a_refused_download_shows_the_console_with_the_message(reader, version):
    response = reader.get(
        f"/datasets/churn/versions/{version.number}/query/download/",
        {"sql": "DELETE FROM data", "format": "csv"},
    )
    assert response.status_code == 400
    assert "Only a SELECT" in response.content.decode()


def test_a_maintainer_saves_a_query_as_a_version_of_a_dataset_they_may_write(
    client, maintainer, version, internal_dataset, monkeypatch
):
    from datasets.models import QuerySave
    from datasets.tasks import save_query

    monkeypatch.setattr(
        save_query, "delay", lambda save_id: None
    )  # the worker's part is the save helper's test
    client.force_login(maintainer)
    sql = "SELECT id, score FROM data WHERE score > 20"
    page = client.get(f"/datasets/churn/versions/{version.number}/query/", {"sql": sql}).content.decode()
    assert 'id="console-save"' in page and '<option value="payroll">payroll</option>' in page

    url = f"/datasets/churn/versions/{version.number}/query/save/"
    response = client.post(url, {"sql": sql, "dataset": "payroll", "message": "high scores"}, follow=True)
    assert response.redirect_chain == [("/datasets/payroll/", 302)]
    assert "on its way to become the next version of payroll" in response.content.decode()
    save = QuerySave.objects.get()
    assert (save.dataset, save.message, save.status) == (internal_dataset, "high scores", "pending")
    assert save.reads == {"data": version.pk}


def test_a_reader_who_may_write_nothing_gets_no_save_form_and_a_refused_save(reader, version):
    sql = "SELECT id FROM data LIMIT 1"
    page = reader.get(f"/datasets/churn/versions/{version.number}/query/", {"sql": sql}).content.decode()
    assert 'id="console-save"' not in page
    url = f"/datasets/churn/versions/{version.number}/query/save/"
    response = reader.post(url, {"sql": sql, "dataset": "churn", "message": ""})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
