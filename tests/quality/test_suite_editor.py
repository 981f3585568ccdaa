"""The quality editor as a maintainer meets it: the add-check form's fields per check, errors under
the field they are about, descriptions with code, suggestions that respect the data and the suite,
no Great Expectations import for the form's checks, and what the pages say about quality."""

from __future__ import annotations

import re

import pytest

from quality import runner
from quality.models import SuiteRevision, ValidationRun
from quality.services import suite_extend, suite_import, suite_save, suite_suggest, validation_run

pytestmark = pytest.mark.django_db

WEATHER = b"date,precipitation,temp_min,weather\n2012-01-01,0.0,-1.1,sun\n2012-01-02,10.9,2.8,rain\n2012-01-03,55.9,-3.3,rain\n"
NOT_NULL = {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "precipitation"}}


@pytest.fixture
def weather(public_dataset, publish):
    version = publish(public_dataset, data=WEATHER)
    assert version.status == "ready", version.failure_reason
    return version


@pytest.fixture
def editor(client, maintainer, weather):
    client.force_login(maintainer)
    return client


def field_block(html: str, name: str) -> str:
    """The `.field` element that holds the input named `name`."""
    for block in html.split('<div class="field')[1:]:
        if f'name="{name}"' in block.split("</div>")[0]:
            return block.split("</div>")[0]
    raise AssertionError(f"no field {name}")


def test_each_parameter_field_names_the_checks_that_use_it(editor):
    html = editor.get("/datasets/churn/suite/").content.decode()

    regex = field_block(html, "regex")
    assert (
        'data-checks="expect_column_values_to_match_regex expect_column_values_to_not_match_regex"' in regex
    )
    assert "For: “matches a regular expression”; “never matches a regular expression”." in regex
    assert 'data-checks="expect_column_pair_values_a_to_be_greater_than_b"' in field_block(html, "column_b")
    assert "expect_table_row_count_to_be_between" in field_block(html, "max_value")
    assert "expect_table_row_count_to_be_between" not in field_block(html, "column")
    assert "data-checks" not in field_block(html, "notes")  # every check may carry notes


def test_checkboxes_sit_inside_their_label(editor):
    html = editor.get("/datasets/churn/suite/").content.decode()

    for name, label in (("or_equal", "Or equal"), ("exact_match", "No other columns")):
        block = field_block(html, name)
        assert "field-inline" in html.split(f'name="{name}"')[0].rsplit('<div class="field', 1)[1]
        assert re.search(rf'<label for="id_{name}"><input type="checkbox"[^>]*> {label}</label>', block)


def test_a_missing_column_is_an_error_under_the_column_field(editor):
    response = editor.post("/datasets/churn/suite/", {"type": "expect_column_values_to_not_be_null"})

    assert response.status_code == 400
    form = response.context["form"]
    assert form.errors == {"column": ["This check needs it: choose a column."]}
    assert "This check needs it: choose a column." in field_block(response.content.decode(), "column")
    assert "Expectation 1" not in response.content.decode()
    assert not SuiteRevision.objects.exists()


def test_a_bad_regex_is_shown_as_typed_under_its_field(editor):
    response = editor.post(
        "/datasets/churn/suite/",
        {"type": "expect_column_values_to_match_regex", "column": "weather", "regex": r"^\d+(["},
    )

    assert response.status_code == 400
    [error] = response.context["form"].errors["regex"]
    assert error.startswith(r"The regular expression /^\d+([/ does not compile")
    assert "\\\\" not in error


def test_a_check_is_added_without_loading_great_expectations(editor, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the form's checks must not need Great Expectations")

    monkeypatch.setattr(runner, "gx_check", refuse)
    response = editor.post(
        "/datasets/churn/suite/",
        {"type": "expect_column_values_to_be_between", "column": "precipitation", "min_value": "0"},
    )

    assert response.status_code == 302
    [revision] = SuiteRevision.objects.all()
    assert revision.expectations == [
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "precipitation", "min_value": 0}}
    ]


def test_an_expectation_outside_granarys_table_is_still_judged_by_great_expectations(
    public_dataset, maintainer, weather
):
    suite_import(
        dataset=public_dataset,
        user=maintainer,
        data={
            "expectations": [{"type": "expect_column_values_to_be_increasing", "kwargs": {"column": "date"}}]
        },
    )
    with pytest.raises(Exception, match="'expect_column_values_to_be_purple' is not an expectation"):
        suite_extend(
            dataset=public_dataset,
            user=maintainer,
            expectations=[{"type": "expect_column_values_to_be_purple", "kwargs": {"column": "date"}}],
        )


def test_descriptions_show_column_names_as_code(editor, public_dataset, maintainer):
    suite_save(dataset=public_dataset, user=maintainer, expectations=[NOT_NULL])
    html = editor.get("/datasets/churn/suite/").content.decode()

    assert "<code>precipitation</code> is never null" in html
    assert "`precipitation`" not in html


def test_suggested_ranges_do_not_cross_zero(weather):
    draft = suite_suggest(version=weather)
    between = {
        e["kwargs"]["column"]: (e["kwargs"]["min_value"], e["kwargs"]["max_value"])
        for e in draft
        if e["type"] == "expect_column_values_to_be_between"
    }

    low, high = between["precipitation"]
    assert low == 0 and high > 55.9
    low, high = between["temp_min"]  # negative values: the margin still widens below them
    assert low < -3.3 and high > 2.8


def test_suggestions_leave_out_checks_the_suite_already_has(weather, public_dataset, maintainer, editor):
    suite_save(dataset=public_dataset, user=maintainer, expectations=[NOT_NULL])
    draft = suite_suggest(version=weather)

    subjects = [(e["type"], e["kwargs"].get("column")) for e in draft]
    assert ("expect_column_values_to_not_be_null", "precipitation") not in subjects
    assert ("expect_column_values_to_not_be_null", "temp_min") in subjects
    html = editor.get("/datasets/churn/suite/suggest/").content.decode()
    assert '<label class="check-label"><input type="checkbox" name="keep"' in html
    assert "<code>temp_min</code> is never null" in html


def run_all(version):
    for run in ValidationRun.objects.filter(version=version, status="queued"):
        validation_run(run_id=run.pk)


def test_a_version_validated_under_an_earlier_suite_says_why_it_is_not_certified(
    client, editor, member, weather, public_dataset, maintainer
):
    suite_save(dataset=public_dataset, user=maintainer, expectations=[NOT_NULL])
    run_all(weather)
    suite_save(
        dataset=public_dataset,
        user=maintainer,
        expectations=[NOT_NULL, {"type": "expect_column_to_exist", "kwargs": {"column": "date"}}],
    )
    ValidationRun.objects.filter(status="queued").delete()  # the run of r2 has not happened yet

    html = editor.get(weather.get_absolute_url()).content.decode()
    assert "Not certified: validated under suite r1 (passed); the suite is now r2: revalidate it" in html
    assert "Run checks now" in html
    client.force_login(member)
    html = client.get(weather.get_absolute_url()).content.decode()
    assert "the suite is now r2, and it has not been checked against it yet" in html
    assert "Run checks now" not in html


def test_the_quality_chart_has_axes_and_version_numbers(editor, weather, public_dataset, maintainer, publish):
    suite_save(dataset=public_dataset, user=maintainer, expectations=[NOT_NULL])
    run_all(weather)
    second = publish(public_dataset, data=WEATHER.replace(b"10.9", b""))
    suite_extend(dataset=public_dataset, user=maintainer, expectations=[])
    run_all(second)

    html = editor.get("/datasets/churn/").content.decode()
    chart = html.split('<svg class="quality-chart"', 1)[1].split("</svg>", 1)[0]
    labels = re.findall(r"<text[^>]*>([^<]+)</text>", chart)
    assert labels[:3] == ["0%", "50%", "100%"]
    assert [x for x in labels if x.startswith("v") and x != "version"] == ["v1", "v2"]
    assert "version" in labels and "checks passed" in labels
    assert chart.count('<line class="axis"') == 2


def test_a_dataset_without_checks_says_so_and_readers_get_no_prompt_to_add_them(
    client, member, editor, weather
):
    html = editor.get("/datasets/churn/").content.decode()
    assert '<span class="muted">no checks</span>' in html
    assert ">Add checks</a>" in html

    client.force_login(member)
    html = client.get("/datasets/churn/").content.decode()
    assert '<span class="muted">no checks</span>' in html
    assert "Add checks" not in html and "Its maintainers can add them" in html
    version_page = client.get(weather.get_absolute_url()).content.decode()
    assert "no checks yet." in version_page and "add some" not in version_page
