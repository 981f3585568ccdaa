"""Dates as people write them are dates: `2012/01/01`, `01.02.2012` (day first), ISO with `T` or
a space, with or without a zone; a JSON Lines field of ISO dates is a date, not a timestamp."""

from __future__ import annotations

import datetime as dt
import gzip
import json

import pytest

from tests.blobs import parquet_file

pytestmark = pytest.mark.django_db

# The head of Seattle's daily weather (NOAA, as vega-datasets ships it), dates slashed.
SEATTLE = b"""date,precipitation,temp_max,temp_min,wind,weather
2012/01/01,0.0,12.8,5.0,4.7,drizzle
2012/01/02,10.9,10.6,2.8,4.5,rain
2012/01/03,0.8,11.7,7.2,2.3,rain
2012/01/04,20.3,12.2,5.6,4.7,rain
2012/01/05,1.3,8.9,2.8,6.1,rain
2012/01/06,2.5,4.4,2.2,2.2,rain
2012/01/07,0.0,7.2,2.8,2.3,rain
2012/01/08,0.0,10.0,2.8,2.0,sun
2012/01/09,4.3,9.4,5.0,3.4,rain
2012/01/10,1.0,6.1,0.6,3.4,rain
2012/01/11,0.0,6.1,-1.1,5.1,sun
"""


def types_of(version) -> dict[str, str]:
    return {c["name"]: c["type"] for c in version.schema}


def profile_of(version, name: str) -> dict:
    return next(c for c in version.profile["columns"] if c["name"] == name)


def first_values(version, name: str) -> list:
    return parquet_file(version.parquet_blob_id).read(columns=[name]).column(name).to_pylist()


def test_seattle_weathers_slashed_dates_profile_as_dates(public_dataset, publish):
    version = publish(public_dataset, data=SEATTLE)

    assert version.status == "ready", version.failure_reason
    assert types_of(version)["date"] == "date"
    profile = profile_of(version, "date")
    assert (profile["min"], profile["max"]) == ("2012-01-01", "2012-01-11")
    assert "top" not in profile or len(profile["top"]["values"]) < 10  # no longer ten "1"s
    assert first_values(version, "date")[:2] == [dt.date(2012, 1, 1), dt.date(2012, 1, 2)]
    assert version.preview["rows"][0][0] == "2012-01-01"


def test_dotted_dates_are_read_day_first(public_dataset, publish):
    version = publish(public_dataset, data=b"day,n\n01.02.2012,1\n31.12.2012,2\n,3\n")

    assert types_of(version)["day"] == "date"
    assert first_values(version, "day") == [dt.date(2012, 2, 1), dt.date(2012, 12, 31), None]


def test_slashed_dates_with_the_year_last_are_ambiguous_and_stay_text(public_dataset, publish):
    version = publish(public_dataset, data=b"day,n\n01/02/2012,1\n03/04/2012,2\n")

    assert types_of(version)["day"] == "string"


def test_a_dotted_month_first_date_is_not_misread(public_dataset, publish):
    version = publish(public_dataset, data=b"day,n\n01.02.2012,1\n02.13.2012,2\n")

    assert types_of(version)["day"] == "string"
    assert first_values(version, "day") == ["01.02.2012", "02.13.2012"]


@pytest.mark.parametrize(
    ("values", "expected", "first"),
    [
        (["2012-01-01T10:00:00", "2012-01-02T11:30:00"], "timestamp", dt.datetime(2012, 1, 1, 10)),
        (["2012-01-01 10:00:00", "2012-01-02 11:30:00"], "timestamp", dt.datetime(2012, 1, 1, 10)),
        (
            ["2012-01-01T10:00:00Z", "2012-01-02T11:30:00Z"],
            "timestamp with zone",
            dt.datetime(2012, 1, 1, 10, tzinfo=dt.UTC),
        ),
        (
            ["2012-01-01 10:00:00+02:00", "2012-01-02 11:30:00+02:00"],
            "timestamp with zone",
            dt.datetime(2012, 1, 1, 8, tzinfo=dt.UTC),
        ),
        (["2012-01-01", "2012-01-02"], "date", dt.date(2012, 1, 1)),
    ],
)
def test_iso_spellings_in_csv(public_dataset, publish, values, expected, first):
    data = "at,n\n" + "".join(f"{v},{i}\n" for i, v in enumerate(values))
    version = publish(public_dataset, data=data.encode())

    assert types_of(version)["at"] == expected
    assert first_values(version, "at")[0] == first


def test_midnight_timestamps_written_with_a_time_stay_timestamps(public_dataset, publish):
    version = publish(public_dataset, data=b"at,n\n2012-01-01 00:00:00,1\n2012/01/02,2\n")

    assert types_of(version)["at"] == "timestamp"


def test_a_column_of_mixed_non_dates_stays_text(public_dataset, publish):
    data = b"when,n\n2012/01/01,1\nsoon,2\n13.13.2012,3\n2012-01-04,4\n"
    version = publish(public_dataset, data=data)

    assert types_of(version)["when"] == "string"
    assert first_values(version, "when") == ["2012/01/01", "soon", "13.13.2012", "2012-01-04"]


def test_dates_then_a_time_of_day_past_the_head_are_read_again_as_text(public_dataset, publish):
    rows = [f"2012/01/{day % 28 + 1:02d},{day}\n" for day in range(40_000)]  # about 600 KiB
    data = ("day,n\n" + "".join(rows) + "2012-02-01T10:00:00,40000\n").encode()
    version = publish(public_dataset, data=data)

    assert version.status == "ready", version.failure_reason
    assert types_of(version)["day"] == "string"
    assert version.row_count == 40_001
    assert first_values(version, "day")[-1] == "2012-02-01T10:00:00"


def test_a_json_lines_field_of_dates_is_a_date_and_of_datetimes_a_timestamp(public_dataset, publish):
    lines = [
        {"day": "2012-01-01", "at": "2012-01-01T10:00:00", "n": 1},
        {"day": "2012-01-02", "at": "2012-01-02 00:00:00", "n": 2},
        {"day": None, "at": None, "n": 3},
    ]
    version = publish(public_dataset, data="".join(json.dumps(x) + "\n" for x in lines).encode())

    assert version.status == "ready", version.failure_reason
    assert types_of(version) == {"day": "date", "at": "timestamp", "n": "integer"}
    assert first_values(version, "day") == [dt.date(2012, 1, 1), dt.date(2012, 1, 2), None]


def test_json_lines_dates_then_a_timestamp_past_the_head_become_timestamps(public_dataset, publish):
    lines = [json.dumps({"day": f"2012-01-{i % 28 + 1:02d}", "n": i}) + "\n" for i in range(20_000)]
    lines.append(json.dumps({"day": "2012-02-01T10:30:00", "n": 20_000}) + "\n")
    version = publish(public_dataset, data=gzip.compress("".join(lines).encode()))

    assert version.status == "ready", version.failure_reason
    assert types_of(version)["day"] == "timestamp"
    values = first_values(version, "day")
    assert (values[0], values[-1]) == (dt.datetime(2012, 1, 1), dt.datetime(2012, 2, 1, 10, 30))
