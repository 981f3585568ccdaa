"""Numbers in URLs and queries: a number no column can hold, or digits that are not ASCII, get the
same clear 4xx as any other wrong value, never a 500 (they used to reach int() or the database)."""

from __future__ import annotations

from typing import Any

import pytest

OVERFLOW = "9" * 30  # past a signed 64-bit integer
HUGE = "9" * 5000  # past Python's int() limit of 4,300 digits
NOT_ASCII = ["²", "١٢"]  # str.isdigit() says yes, int() says no (or reads Arabic-Indic digits)
WRONG = [OVERFLOW, HUGE, *NOT_ASCII]


@pytest.fixture
def owner_api(api: Any, owner: Any, public_dataset: Any, publish: Any) -> Any:
    publish(public_dataset)
    return api(owner)


@pytest.mark.parametrize("value", WRONG)
@pytest.mark.parametrize("path", ["/api/v1/datasets/?page={}", "/api/v1/audit/?page={}"])
def test_a_page_that_is_not_a_page_is_not_found(owner_api: Any, path: str, value: str) -> None:
    response = owner_api.get(path.format(value))
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("value", WRONG)
def test_a_version_number_no_version_can_have_is_not_found(owner_api: Any, value: str) -> None:
    response = owner_api.get(f"/api/v1/datasets/churn/versions/{value}/")
    assert response.status_code == 404
    assert "churn" in response.json()["detail"]


def test_version_one_is_still_found(owner_api: Any) -> None:
    assert owner_api.get("/api/v1/datasets/churn/versions/1/").json()["number"] == 1
    assert owner_api.get("/api/v1/datasets/churn/versions/0001/").json()["number"] == 1


@pytest.mark.parametrize("value", WRONG)
def test_a_lineage_depth_out_of_range_says_which_numbers_are_allowed(owner_api: Any, value: str) -> None:
    response = owner_api.get(f"/api/v1/datasets/churn/lineage/?depth={value}")
    assert response.status_code == 400
    assert "whole number from 1 to" in response.json()["detail"]
    assert len(response.content) < 1000  # the 5,000 digits are not echoed back


@pytest.mark.parametrize("value", [OVERFLOW, *NOT_ASCII])
def test_a_rows_filter_beyond_any_count_is_a_syntax_error(owner_api: Any, value: str) -> None:
    response = owner_api.get("/api/v1/search/", {"q": f"rows:>{value}"})
    assert response.status_code == 400
    assert "whole number of rows" in response.json()["detail"]


def test_a_rows_filter_with_separators_still_works(owner_api: Any) -> None:
    assert owner_api.get("/api/v1/search/", {"q": "rows:>1_000"}).status_code == 200
