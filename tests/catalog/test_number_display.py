"""Numbers as the portal writes them: a profile's statistics with the precision they have, and
byte sizes in one convention (IEC: KiB, MiB, GiB) on the pages and in the upload progress."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from catalog.presentation.numbers import bytes_text

pytestmark = pytest.mark.django_db

JS = Path(__file__).resolve().parents[2] / "static" / "granary.js"

# event_id: mean 1999999.5 and population std 1000000.5, which six significant digits turned into
# 2000000.0000 and 1000000.0000; ratio: mean 2.333…, std 1.2472…
EVENTS = b"event_id,ratio\n999999,1\n3000000,2\n999999,4\n3000000,\n"


def stats_of(html: str, column: str) -> dict[str, str]:
    block = html.split(f"<h3><code>{column}</code>", 1)[1].split('<div class="column-profile">', 1)[0]
    return dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]*)</dd>", block))


@pytest.fixture
def version_page(client, member, public_dataset, publish):
    version = publish(public_dataset, data=EVENTS)
    assert version.status == "ready", version.failure_reason
    client.force_login(member)
    return version, client.get(version.get_absolute_url()).content.decode()


def test_the_profile_shows_a_large_mean_and_std_exactly_as_the_api_has_them(version_page, client):
    version, html = version_page
    event_id = stats_of(html, "event_id")
    assert (event_id["mean"], event_id["std"]) == ("1999999.5", "1000000.5")
    assert (event_id["min"], event_id["max"]) == ("999999", "3000000")  # integers stay whole
    api = client.get(f"/api/v1/datasets/churn/versions/{version.number}/profile/").json()
    profile = next(c for c in api["columns"] if c["name"] == "event_id")
    assert (profile["mean"], profile["std"]) == (1999999.5, 1000000.5)


def test_small_floats_keep_four_decimals_without_padding(version_page):
    _, html = version_page
    ratio = stats_of(html, "ratio")
    assert (ratio["mean"], ratio["std"]) == ("2.3333", "1.2472")
    assert (ratio["min"], ratio["max"]) == ("1", "4")
    assert ".0000" not in html


def test_the_version_page_and_the_dataset_page_write_sizes_in_iec_units(version_page, client):
    version, html = version_page
    assert f"<dd>{version.size} bytes ({version.size} bytes)</dd>" in html
    big = 240_326_656
    type(version).objects.filter(pk=version.pk).update(size=big)
    html = client.get(version.get_absolute_url()).content.decode()
    assert "229.2 MiB" in html and " MB" not in html
    listing = client.get("/datasets/churn/").content.decode()
    assert ">229.2 MiB</td>" in listing and " MB<" not in listing


SIZES = [0, 1, 512, 1023, 1024, 47_800, 48_537, 1_048_575, 240_326_656, 5 * 1024**3 + 123, 3 * 1024**4]


@pytest.mark.skipif(shutil.which("node") is None, reason="node runs the page's script")
def test_the_upload_progress_writes_sizes_with_the_same_strings_as_the_pages():
    script = JS.read_text()
    function = re.search(r"function formatBytes\(n\) \{.*?\n  \}", script, re.S)
    assert function, "static/granary.js has no formatBytes"
    program = f"{function.group(0)}\nconsole.log(JSON.stringify({json.dumps(SIZES)}.map(formatBytes)));"
    shown = json.loads(subprocess.run(["node", "-e", program], capture_output=True, check=True).stdout)
    assert shown == [bytes_text(size) for size in SIZES]
    assert shown[5] == "46.7 KiB" and shown[8] == "229.2 MiB"
