"""Twenty uploads to one dataset at the same moment, through a real HTTP server: ten of the same
bytes and ten different files. Consecutive version numbers, no 5xx, one blob per digest."""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from accounts.services import token_create
from datasets.models import Blob, Version

pytestmark = [pytest.mark.django_db(transaction=True)]

SAME = b"id,label\n" + b"".join(b"%d,same\n" % i for i in range(2000))


def different(n: int) -> bytes:
    return b"id,label\n" + b"".join(b"%d,file-%d\n" % (i, n) for i in range(2000))


def test_twenty_concurrent_uploads_get_consecutive_numbers_and_one_blob_per_digest(
    live_server, maintainer, public_dataset
):
    token = token_create(user=maintainer, name="uploads", scope="admin").secret
    url = f"{live_server.url}/api/v1/datasets/{public_dataset.slug}/versions/"
    files = [SAME] * 10 + [different(n) for n in range(10)]
    start = threading.Barrier(len(files))

    def post(data: bytes) -> requests.Response:
        start.wait()  # all twenty requests in flight together
        return requests.post(
            url,
            headers={"Authorization": f"Bearer {token}"},
            files={"file": ("d.csv", data, "text/csv")},
            timeout=120,
        )

    with ThreadPoolExecutor(len(files)) as pool:
        responses = list(pool.map(post, files))

    statuses = [r.status_code for r in responses]
    assert all(status < 500 for status in statuses), [r.text for r in responses if r.status_code >= 500]
    same, others = statuses[:10], statuses[10:]
    assert sorted(same) == [202] + [409] * 9
    assert others == [202] * 10
    first = next(r.json() for r in responses[:10] if r.status_code == 202)
    for refused in (r for r in responses[:10] if r.status_code == 409):
        assert f"already version {first['number']}" in refused.json()["detail"]

    numbers = sorted(Version.objects.filter(dataset=public_dataset).values_list("number", flat=True))
    assert numbers == list(range(1, 12))
    digests = {hashlib.sha256(data).hexdigest() for data in files}
    assert set(Version.objects.values_list("blob_id", flat=True)) == digests
    assert Blob.objects.filter(sha256__in=digests).count() == len(digests) == 11
