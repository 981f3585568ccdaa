"""Expectation suites, validation runs with real Great Expectations, and certification."""

from __future__ import annotations

import pytest

from core.errors import InvalidInput
from datasets.references import version_certified, version_resolve
from quality import runner
from quality import services as quality_services
from quality.models import SuiteRevision, ValidationRun
from quality.services import (
    suite_extend,
    suite_import,
    suite_save,
    suite_suggest,
    validation_queue,
    validation_run,
)

pytestmark = pytest.mark.django_db

GOOD = b"id,age,country\n1,34,NO\n2,51,PE\n3,29,IN\n4,40,NO\n"
BAD = b"id,age,country\n1,34,NO\n2,-5,PE\n3,,IN\n4,240,XX\n"

SUITE = [
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "age"}},
    {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "age", "min_value": 0, "max_value": 120},
    },
    {
        "type": "expect_column_values_to_be_in_set",
        "kwargs": {"column": "country", "value_set": ["NO", "PE", "IN"]},
    },
    {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1, "max_value": 100}},
    {
        "type": "expect_table_columns_to_match_ordered_list",
        "kwargs": {"column_list": ["id", "age", "country"]},
    },
]


def run_now(version) -> ValidationRun:
    run = validation_queue(version=version, trigger="test")
    return validation_run(run_id=run.pk)


@pytest.fixture
def suited(public_dataset, publish, maintainer):
    version = publish(public_dataset, data=GOOD)
    suite_save(dataset=public_dataset, user=maintainer, expectations=SUITE)
    return version


def test_a_passing_version_becomes_certified(suited, public_dataset):
    run = run_now(suited)
    assert run.status == "passed", run.results
    assert (run.evaluated, run.successful) == (5, 5)
    assert version_certified(dataset=public_dataset) == suited
    assert version_resolve(dataset=public_dataset, ref="certified") == suited


def test_a_failing_version_does_not_move_certified_and_says_what_failed(suited, public_dataset, publish):
    run_now(suited)
    bad = publish(public_dataset, data=BAD)
    run = run_now(bad)
    assert run.status == "failed"
    by_type = {r["type"]: r for r in run.results}
    between = by_type["expect_column_values_to_be_between"]
    assert between["success"] is False
    assert between["unexpected_count"] == 2
    assert sorted(between["unexpected_examples"]) == [-5, 240]
    assert between["description"] == "`age` is between 0 and 120"
    assert by_type["expect_column_values_to_not_be_null"]["unexpected_count"] == 1
    assert by_type["expect_column_values_to_be_in_set"]["unexpected_examples"] == ["XX"]
    assert by_type["expect_table_row_count_to_be_between"]["observed_value"] == 4
    assert version_certified(dataset=public_dataset) == suited


def test_a_suite_change_decertifies_until_the_version_passes_the_new_revision(
    suited, public_dataset, maintainer
):
    run_now(suited)
    suite_extend(
        dataset=public_dataset,
        user=maintainer,
        expectations=[
            {"type": "expect_column_max_to_be_between", "kwargs": {"column": "age", "max_value": 45}}
        ],
    )
    assert version_certified(dataset=public_dataset) is None  # not yet run against r2
    run = ValidationRun.objects.filter(version=suited).order_by("-pk").first()
    assert run.trigger == "suite change" and run.revision.number == 2
    assert validation_run(run_id=run.pk).status == "failed"
    assert version_certified(dataset=public_dataset) is None


def test_mostly_lets_a_share_of_rows_fail(public_dataset, publish, maintainer):
    version = publish(public_dataset, data=BAD)
    suite_save(
        dataset=public_dataset,
        user=maintainer,
        expectations=[
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "age", "mostly": 0.7}}
        ],
    )
    run = run_now(version)
    assert run.status == "passed"
    assert run.results[0]["description"] == "`age` is never null, in at least 70% of rows"


def test_a_dataset_without_a_suite_has_no_certified_version(public_dataset, publish):
    publish(public_dataset, data=GOOD)
    assert version_certified(dataset=public_dataset) is None
    with pytest.raises(Exception, match="has no certified version yet"):
        version_resolve(dataset=public_dataset, ref="certified")


@pytest.mark.parametrize(
    ("expectation", "message"),
    [
        (
            {"type": "expect_column_values_to_be_purple", "kwargs": {"column": "age"}},
            "'expect_column_values_to_be_purple' is not an expectation",
        ),
        (
            {"type": "expect_column_values_to_be_between", "kwargs": {"column": "age", "min_value": "ten"}},
            "'min_value' (at least) must be a number, not 'ten'.",
        ),
        (
            {
                "type": "expect_column_values_to_match_regex",
                "kwargs": {"column": "country", "regex": "([A-Z"},
            },
            "does not compile",
        ),
        (
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "height"}},
            "there is no column 'height' (columns: id, age, country).",
        ),
        (
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "age", "mostly": 2}},
            "'mostly' must be a fraction between 0 and 1",
        ),
        (
            {
                "type": "expect_column_mean_to_be_between",
                "kwargs": {"column": "age", "min_value": 9, "max_value": 1},
            },
            "min_value 9 is greater than max_value 1.",
        ),
        (
            {"type": "expect_column_mean_to_be_between", "kwargs": {"column": "age"}},
            "give at least one of min_value and max_value.",
        ),
        (
            {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "age"}},
            "'value_set' (one of) is required.",
        ),
        (
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": "age", "value_set": []},
                "threshold": 3,
            },
            "unknown field 'threshold'",
        ),
    ],
)
def test_a_bad_expectation_is_refused_with_a_plain_message(
    public_dataset, publish, maintainer, expectation, message
):
    publish(public_dataset, data=GOOD)
    with pytest.raises(InvalidInput) as refused:
        suite_save(dataset=public_dataset, user=maintainer, expectations=[expectation])
    assert message in refused.value.detail
    assert refused.value.detail.startswith("Expectation 1")
    assert not SuiteRevision.objects.exists()


def test_suite_json_from_another_tool_is_refused_naming_its_fields(public_dataset, maintainer):
    with pytest.raises(InvalidInput, match="Unknown suite field 'checks', 'version'"):
        suite_import(dataset=public_dataset, user=maintainer, data={"version": 2, "checks": []})


def test_a_column_missing_at_run_time_ends_the_run_in_error_naming_the_expectation(
    public_dataset, publish, maintainer
):
    suite_save(
        dataset=public_dataset,
        user=maintainer,
        expectations=[{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "height"}}],
    )  # no version yet, so no schema to check against
    version = publish(public_dataset, data=GOOD)
    run = run_now(version)
    assert run.status == "error"
    assert (
        run.error
        == "Expectation 1 (expect_column_values_to_not_be_null): there is no column 'height' (columns: id, age, country)."
    )
    assert run.finished_at is not None


def test_a_run_left_running_by_a_dead_worker_finishes_when_redelivered(suited):
    run = validation_queue(version=suited, trigger="test")
    ValidationRun.objects.filter(pk=run.pk).update(status="running")  # the worker died here
    assert validation_run(run_id=run.pk).status == "passed"
    assert validation_run(run_id=run.pk).status == "passed"  # a second delivery changes nothing


def test_a_run_is_not_left_running_when_gx_blows_up(suited, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(runner, "_run_gx", explode)
    run = run_now(suited)
    assert (run.status, run.error) == ("error", "Great Expectations failed: boom")


def test_a_version_beyond_the_memory_budget_gets_the_same_results_from_the_sql_engine(
    public_dataset, publish, maintainer, settings, data_dir
):
    bad = publish(public_dataset, data=BAD)
    suite_save(dataset=public_dataset, user=maintainer, expectations=SUITE)
    in_memory = run_now(bad)
    settings.GRANARY_VALIDATION_MEMORY_BYTES = 100  # far too little for pandas: use SQLite
    on_disk = run_now(bad)
    assert in_memory.status == on_disk.status == "failed"
    keys = ("type", "success", "unexpected_count", "observed_value")
    assert [{k: r[k] for k in keys} for r in on_disk.results] == [
        {k: r[k] for k in keys} for r in in_memory.results
    ]
    assert sorted(on_disk.results[1]["unexpected_examples"]) == [-5, 240]
    assert not list((data_dir / "tmp").iterdir())  # the SQLite copy is gone


def test_suggestions_from_the_profile_make_a_suite_the_version_passes(public_dataset, publish, maintainer):
    version = publish(public_dataset, data=GOOD)
    draft = suite_suggest(version=version)
    types = [e["type"] for e in draft]
    assert types.count("expect_column_values_to_not_be_null") == 3
    assert "expect_table_row_count_to_be_between" in types
    between = next(
        e
        for e in draft
        if e["type"] == "expect_column_values_to_be_between" and e["kwargs"]["column"] == "age"
    )
    assert between["kwargs"]["min_value"] < 29 and between["kwargs"]["max_value"] > 51
    in_set = next(e for e in draft if e["type"] == "expect_column_values_to_be_in_set")
    assert sorted(in_set["kwargs"]["value_set"]) == ["IN", "NO", "PE"]
    suite_save(dataset=public_dataset, user=maintainer, expectations=draft)
    assert run_now(version).status == "passed"


def test_every_expectation_of_the_form_runs_in_gx(public_dataset, publish, maintainer):
    from quality.expectations import CATALOG

    version = publish(public_dataset, data=GOOD)
    samples = {
        "column": "age",
        "column_A": "age",
        "column_B": "id",
        "min_value": 0,
        "max_value": 1000,
        "value_set": [34, 51, 29, 40],
        "regex": "^[0-9]+$",
        "type_": "int64",
        "column_set": ["id", "age", "country"],
        "column_list": ["id", "age", "country"],
        "or_equal": True,
        "exact_match": True,
    }
    expectations = []
    for spec in CATALOG.values():
        kwargs = {p.name: samples[p.name] for p in spec.params}
        if spec.type.endswith("proportion_of_unique_values_to_be_between"):
            kwargs |= {"min_value": 0, "max_value": 1}
        if spec.type == "expect_column_values_to_match_regex" or spec.type.endswith("not_match_regex"):
            kwargs["column"] = "country"
            kwargs["regex"] = "^[A-Z]{2}$"
        expectations.append({"type": spec.type, "kwargs": kwargs})
    assert len(expectations) >= 20
    suite_save(dataset=public_dataset, user=maintainer, expectations=expectations)
    run = run_now(version)
    assert run.status in ("passed", "failed"), run.error
    assert all(not r["error"] for r in run.results), [r for r in run.results if r["error"]]
    assert len(run.results) == len(expectations)


def test_requeue_stuck_sends_lost_runs_again(suited, monkeypatch):
    import io

    from django.core.management import call_command

    sent: list[int] = []
    monkeypatch.setattr(quality_services.validate_version, "delay", sent.append)
    run = validation_queue(version=suited, trigger="test")
    ValidationRun.objects.filter(pk=run.pk).update(queued_at=run.queued_at.replace(year=2020))
    out = io.StringIO()
    call_command("requeue_stuck", stdout=out)
    assert sent == [run.pk]
    assert f"Requeued 1 stuck validation runs: [{run.pk}]" in out.getvalue()


@pytest.fixture
def nul_version(public_dataset, publish, maintainer):
    """A Parquet version whose text holds a NUL character (which PostgreSQL's JSON cannot), under a
    suite that reports it as an unexpected value."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(pa.table({"country": ["NO", "X\x00X"]}), sink)
    version = publish(public_dataset, data=sink.getvalue())
    suite_save(
        dataset=public_dataset,
        user=maintainer,
        expectations=[
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": "country", "value_set": ["NO"]},
            }
        ],
    )
    return version


def test_unexpected_text_holding_a_nul_character_is_reported_and_the_run_ends(nul_version):
    """The NUL becomes U+FFFD in the results. Before, PostgreSQL could not save them, and the run
    stayed `running` for the sweeper to send again."""
    run = run_now(nul_version)
    assert run.status == "failed"
    assert run.results[0]["unexpected_examples"] == ["X\ufffdX"]


@pytest.mark.skipif(
    __import__("django.db").db.connection.vendor != "postgresql", reason="SQLite's JSON holds a NUL"
)
def test_a_result_the_database_refuses_ends_the_run_instead_of_retrying_it_for_ever(nul_version, monkeypatch):
    """Results PostgreSQL refuses (here NUL characters, let through on purpose) are refused on
    every retry: the run ends in error rather than staying `running` for the sweeper."""
    monkeypatch.setattr(runner, "without_nul", lambda value: value)
    run = run_now(nul_version)
    assert run.status == "error"
    assert "internal error" in run.error
    assert run.finished_at is not None and run.lease_owner == ""
