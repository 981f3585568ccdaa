"""In a real browser: a person pages, sorts, filters and searches a version's rows (htmx swaps the
grid and keeps the URL shareable), runs a query in the SQL console, and reads both at phone width."""

from __future__ import annotations

import io
import re
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from playwright.sync_api import expect

from datasets.models import Version
from tests.conftest import wait_for

pytestmark = [pytest.mark.e2e]

ROWS = 230
DASH = "\u2013"


def _table() -> pa.Table:
    return pa.table(
        {
            "id": pa.array(range(ROWS), pa.int64()),
            "city": pa.array([["Oslo", "Lima", "Pune", "Ada Town"][i % 4] for i in range(ROWS)]),
            "temp": pa.array([(i * 37 % ROWS) / 4 for i in range(ROWS)]),
            "tags": pa.array([[i % 5, i % 3] for i in range(ROWS)], pa.list_(pa.int64())),
            "note": pa.array(["a very long note that goes on " * 6 + str(i) for i in range(ROWS)]),
        }
    )


@pytest.fixture
def version(public_dataset: Any, publish: Any) -> Version:
    sink = io.BytesIO()
    pq.write_table(_table(), sink, row_group_size=64)
    version = publish(public_dataset, data=sink.getvalue(), filename="weather.parquet")
    assert version.status == Version.Status.READY, version.failure_reason
    return version


def _first_ids(page: Any, count: int = 3) -> list[str]:
    cells = page.locator("#viewer table.grid tbody tr td:first-child")
    return [cells.nth(i).inner_text() for i in range(count)]


def test_page_sort_filter_search_and_query(signed_in_page, live_server, version):
    page = signed_in_page
    url = f"{live_server.url}/datasets/churn/versions/{version.number}/"
    page.goto(url)
    pager = page.locator("#viewer .rows-count")
    expect(pager).to_have_text(f"rows 1{DASH}50 of 230")
    expect(page.locator("#viewer svg.mini-histogram")).to_have_count(2)  # id and temp

    page.click("#viewer a[rel=next]")
    expect(pager).to_have_text(f"rows 51{DASH}100 of 230")
    expect(page).to_have_url(re.compile(r"\?offset=50$"))  # htmx put the page's URL in the address bar
    assert _first_ids(page) == ["50", "51", "52"]

    page.click("#viewer th a.sort:text('temp')")  # ascending, back to the first page
    expect(page.locator("#viewer th[aria-sort=ascending]")).to_contain_text("temp")
    page.click("#viewer th a.sort:text('temp')")  # descending
    expect(page.locator("#viewer th[aria-sort=descending]")).to_contain_text("temp")
    temps = _table().to_pandas().sort_values("temp", ascending=False)
    assert page.locator("#viewer table.grid tbody tr").first.locator("td").nth(2).inner_text() == str(
        temps.temp.iloc[0]
    )

    page.select_option("#viewer select[name=fc]", "city")
    page.select_option("#viewer select[name=fo]", "=")
    page.fill("#viewer input[name=fv]", "Lima")
    page.click("#viewer button:text('Add filter')")
    expect(page.locator("#viewer .chip")).to_contain_text("city = Lima")
    expect(pager).to_have_text(f"rows 1{DASH}50 of 58")
    page.fill("#viewer input[name=q]", "goes on 13")  # the long notes are searched too
    page.click("#viewer button:text('Search')")
    expect(pager).to_have_text(f"rows 1{DASH}3 of 3")  # 13, 133 and 137 are in Lima
    assert sorted(_first_ids(page)) == ["13", "133", "137"]

    # The address is the view: opened afresh, it shows the same rows.
    shared = page.url
    assert "sort=-temp" in shared and "fc=city" in shared and "q=goes" in shared
    page.goto(shared)
    expect(pager).to_have_text(f"rows 1{DASH}3 of 3")

    # A long value opens whole; a bad filter is a message, not an error page.
    first_note = page.locator("#viewer details.cell-long").first
    first_note.locator("summary").click()
    expect(first_note.locator(".cell-full")).to_be_visible()
    page.goto(url + "?fc=temp&fo=%3E&fv=warm")
    expect(page.locator("#viewer .viewer-error")).to_contain_text("is not a value of its type")

    page.goto(url)
    page.click("a:text('Query with SQL')")
    page.fill("textarea[name=sql]", "SELECT city, count(*) AS n FROM data GROUP BY city ORDER BY city")
    page.click("button:text('Run')")
    result = page.locator("#console-result")
    expect(result).to_contain_text("4 rows in")
    expect(result.locator("table.grid tbody tr")).to_have_count(4)
    expect(result.locator("table.grid tbody tr").first).to_contain_text("Ada Town")
    page.fill("textarea[name=sql]", "COPY data TO '/tmp/x.csv'")
    page.click("button:text('Run')")
    expect(page.locator(".field-error")).to_contain_text("Only a SELECT")


def test_at_phone_width_the_grid_scrolls_in_its_box_and_the_page_does_not(
    signed_in_page, live_server, version
):
    page = signed_in_page
    page.set_viewport_size({"width": 390, "height": 844})
    sql = "SELECT * FROM data"
    for path in (
        "/datasets/churn/",
        f"/datasets/churn/versions/{version.number}/",
        f"/datasets/churn/versions/{version.number}/query/?sql={sql}",
    ):
        page.goto(live_server.url + path)
        box = page.locator("table.grid").first.locator("xpath=..")
        expect(box).to_be_visible()
        widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1] == 390, path
        assert box.evaluate("(el) => el.scrollWidth > el.clientWidth"), path  # the grid itself scrolls


@pytest.mark.integration
def test_a_query_saved_from_the_console_becomes_the_next_version_with_its_lineage(
    signed_in_page, live_server, version, celery_worker
):
    page = signed_in_page
    sql = "SELECT city, avg(temp) AS mean_temp FROM data GROUP BY city ORDER BY city"
    page.goto(f"{live_server.url}/datasets/churn/versions/{version.number}/query/")
    page.fill("textarea[name=sql]", sql)
    page.click("button:text('Run')")
    expect(page.locator("#console-result")).to_contain_text("4 rows in")

    save = page.locator("#console-save")
    save.locator("select[name=dataset]").select_option("churn")
    save.locator("input[name=message]").fill("Mean temperature per city")
    save.locator("button:text('Save as a version')").click()
    expect(page.locator("body")).to_contain_text("on its way to become the next version of churn")

    saved = wait_for(
        lambda: Version.objects.filter(
            dataset=version.dataset, number=version.number + 1, status=Version.Status.READY
        ).first(),
        timeout=90,
        what="the saved query's version to be ingested",
    )
    assert saved.row_count == 4
    assert saved.message == "Mean temperature per city"
    assert list(saved.derived_from.all()) == [version]  # its lineage: the version the SQL read

    page.goto(f"{live_server.url}/datasets/churn/versions/{saved.number}/")
    expect(page.locator("#viewer .rows-count")).to_have_text(f"rows 1{DASH}4 of 4")
    expect(page.locator("#viewer table.grid tbody tr").first).to_contain_text("Ada Town")
