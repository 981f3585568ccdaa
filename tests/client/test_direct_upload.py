"""The client and CLI take the direct path on their own: a file over the server's threshold goes
to object storage (moto's S3 server) in presigned parts without the Granary token, a smaller one
through the server, and on a server that stores files itself everything goes through it."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import zlib
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from granary import Client

from datasets.models import DirectUpload, Version
from tests.client.conftest import big_csv
from tests.client.proxy import FaultyProxy
from tests.services import S3_TEST_BUCKET

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

MIB = 1024**2
BIG = big_csv(190_000)  # about 10 MiB: 5 MiB parts
SMALL = big_csv(20_000)


@pytest.fixture
def s3_proxy(settings: Any, s3_endpoint: str) -> Any:
    """Blobs on S3 through a recording proxy (so the test sees each part's headers), a 6 MiB
    threshold and 5 MiB parts."""
    with FaultyProxy(s3_endpoint) as proxy:
        settings.GRANARY_S3_ENDPOINT_URL = proxy.url
        settings.GRANARY_STORAGE_URL = f"s3://{S3_TEST_BUCKET}/client-{os.urandom(6).hex()}/"
        settings.GRANARY_DIRECT_UPLOAD_BYTES = 6 * MIB
        settings.GRANARY_DIRECT_UPLOAD_PART_BYTES = 5 * MIB
        yield proxy


def part_puts(proxy: FaultyProxy) -> list[dict[str, Any]]:
    return [r for r in proxy.faults.requests if r["method"] == "PUT" and "partNumber=" in r["path"]]


def test_a_big_file_goes_straight_to_storage_and_a_small_one_through_the_server(
    live_server, maintainer, public_dataset, celery_worker, token, tmp_path, s3_proxy
):
    (tmp_path / "big.csv").write_bytes(BIG)
    (tmp_path / "small.csv").write_bytes(SMALL)
    client = Client(live_server.url, token(maintainer))

    big = client.upload("churn", tmp_path / "big.csv", message="big", wait=True, timeout=120)
    small = client.upload("churn", tmp_path / "small.csv", message="small", wait=True, timeout=120)

    assert (big.status, big.sha256, big.row_count) == ("ready", hashlib.sha256(BIG).hexdigest(), 190_000)
    assert (small.status, small.sha256) == ("ready", hashlib.sha256(SMALL).hexdigest())
    upload = DirectUpload.objects.get()
    assert (upload.version.number, upload.state) == (big.number, "verified")
    puts = part_puts(s3_proxy)
    assert len(puts) == math.ceil(len(BIG) / (5 * MIB)) > 1
    assert not any("Authorization" in r["headers"] for r in puts), "the token must not go to storage"
    # Each part carries the CRC32 its URL signs, hashed from its own bytes in the sha256's read.
    sent = {int(parse_qs(urlsplit(r["path"]).query)["partNumber"][0]): r["headers"] for r in puts}
    for number, headers in sent.items():
        part = BIG[(number - 1) * 5 * MIB : number * 5 * MIB]
        assert (
            headers["x-amz-checksum-crc32"] == base64.b64encode(zlib.crc32(part).to_bytes(4, "big")).decode()
        )
    assert upload.part_crc32 == [sent[n]["x-amz-checksum-crc32"] for n in sorted(sent)]


def test_the_cli_pushes_a_big_file_directly_unless_told_not_to(
    cli, live_server, maintainer, public_dataset, celery_worker, token, tmp_path, s3_proxy
):
    (tmp_path / "big.csv").write_bytes(BIG)
    env = {"GRANARY_URL": live_server.url, "GRANARY_TOKEN": token(maintainer)}

    pushed = json.loads(cli("push", "churn", str(tmp_path / "big.csv"), "--json", env=env).stdout)
    again = cli("push", "other", str(tmp_path / "big.csv"), "--no-direct", env=env, check=3)

    assert pushed["status"] == "ready" and pushed["sha256"] == hashlib.sha256(BIG).hexdigest()
    assert len(part_puts(s3_proxy)) == math.ceil(len(BIG) / (5 * MIB)) and DirectUpload.objects.count() == 1
    assert "No dataset 'other'" in again.stderr


def test_on_the_filesystem_backend_a_big_file_goes_through_the_server(
    live_server, maintainer, public_dataset, celery_worker, token, tmp_path, settings
):
    settings.GRANARY_STORAGE_URL = ""
    settings.GRANARY_DIRECT_UPLOAD_BYTES = 6 * MIB
    (tmp_path / "big.csv").write_bytes(BIG)
    client = Client(live_server.url, token(maintainer))

    version = client.upload("churn", tmp_path / "big.csv", wait=True, timeout=120, direct=True)

    assert (version.status, version.sha256) == ("ready", hashlib.sha256(BIG).hexdigest())
    assert DirectUpload.objects.count() == 0 and Version.objects.count() == 1
