"""Storage full or failing: an upload that fills the disk (a real tiny tmpfs, and a fault injected
at the write) is a 507 with nothing left behind, and the next small upload works; a failing S3
(injected errors, a stopped server) is a 503 with no version; ingest that runs out of room leaves
its version to be sent again, with its working directory gone."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import EndpointConnectionError

from core.errors import InsufficientStorage
from datasets import storage
from datasets.models import Blob, Version
from datasets.services.versions import version_ingest
from datasets.uploads import IncomingFile
from tests.blobs import stored_digests
from tests.conftest import CSV, sha256_of, upload
from tests.services import S3_TEST_BUCKET

pytestmark = pytest.mark.django_db

UPLOAD = "/api/v1/datasets/churn/versions/"
BIG = b"".join(b"%08d,reading,%d\n" % (i, i * 7) for i in range(200_000))  # about 3.4 MB


@contextlib.contextmanager
def mounted_tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A real tmpfs of `size` at `path`; skips the test where mounting is not allowed."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8); the injected-fault tests cover the rest")
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.fixture
def tiny_disk(settings, tmp_path: Path) -> Iterator[Path]:
    """GRANARY_DATA_DIR on a 2 MiB tmpfs: blobs (on the filesystem leg) and working files."""
    with mounted_tmpfs(tmp_path / "tiny", "2m") as path:
        settings.GRANARY_DATA_DIR = path
        yield path


def working_files() -> list[str]:
    return sorted(p.name for p in storage.tmp_dir().iterdir())


def post(api, user, data: bytes, name: str = "scores.csv"):
    return api(user).post(UPLOAD, {"file": upload(name=name, data=data)}, format="multipart")


def test_an_upload_that_fills_a_real_disk_is_a_507_and_the_next_one_works(
    api, maintainer, public_dataset, tiny_disk
):
    response = post(api, maintainer, BIG)

    assert response.status_code == 507
    body = response.json()
    assert body["code"] == "insufficient_storage"
    assert "no room" in body["detail"] and "Nothing was kept" in body["detail"]
    assert working_files() == []  # the partial file is gone, its space free again
    assert not Version.objects.exists() and not Blob.objects.exists()

    small = post(api, maintainer, CSV)
    assert small.status_code == 202
    assert stored_digests() == [sha256_of(CSV)]
    assert working_files() == []


def test_the_web_form_shows_a_full_disk_as_a_form_error(client, maintainer, public_dataset, tiny_disk):
    client.force_login(maintainer)
    response = client.post("/datasets/churn/upload/", {"file": upload(data=BIG)})
    assert response.status_code == 507
    assert b"no room for this file" in response.content
    assert working_files() == []


@pytest.fixture
def disk_fills_after(monkeypatch):
    """IncomingFile's writes fail with ENOSPC once `limit` bytes are written (a fault injected at
    the write call, as on any file system that fills up)."""

    def arm(limit: int, error: int = errno.ENOSPC) -> None:
        written = {"bytes": 0}

        def write(self, data):
            written["bytes"] += len(data)
            if written["bytes"] > limit:
                raise OSError(error, os.strerror(error))
            return self.file.write(data)

        monkeypatch.setattr(IncomingFile, "write", write)

    return arm


def test_an_injected_enospc_is_a_507_with_no_temporary_file(
    api, maintainer, public_dataset, disk_fills_after
):
    disk_fills_after(1024 * 1024)
    response = post(api, maintainer, BIG)
    assert response.status_code == 507
    assert response.json()["code"] == "insufficient_storage"
    assert response.json()["field"] == "file"
    assert working_files() == []
    assert not Version.objects.exists()


def test_a_failing_disk_is_a_503_not_a_500(api, maintainer, public_dataset, disk_fills_after):
    disk_fills_after(0, errno.EIO)
    response = post(api, maintainer, CSV)
    assert response.status_code == 503
    assert response.json()["code"] == "storage_unavailable"
    assert working_files() == []


def test_a_full_disk_at_the_final_sync_is_a_507(api, maintainer, public_dataset, monkeypatch):
    def no_room(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("datasets.uploads.os.fsync", no_room)
    response = post(api, maintainer, CSV)
    assert response.status_code == 507
    assert working_files() == []
    monkeypatch.undo()
    assert post(api, maintainer, CSV).status_code == 202


@pytest.fixture
def on_s3(settings, s3_endpoint):
    settings.GRANARY_S3_ENDPOINT_URL = s3_endpoint
    settings.GRANARY_STORAGE_URL = f"s3://{S3_TEST_BUCKET}/t-{os.urandom(8).hex()}"


def test_an_s3_put_that_fails_is_a_503_with_nothing_left(api, maintainer, public_dataset, on_s3, monkeypatch):
    from datasets.storage.s3 import S3Storage

    real_put = S3Storage._put_single

    def unreachable(self, source, key):
        with monkeypatch.context() as patch:
            patch.setattr(
                self.client,
                "put_object",
                lambda **kw: (_ for _ in ()).throw(EndpointConnectionError(endpoint_url="http://s3")),
            )
            return real_put(self, source, key)

    monkeypatch.setattr(S3Storage, "_put_single", unreachable)
    response = post(api, maintainer, CSV)

    assert response.status_code == 503
    assert response.json()["code"] == "storage_unavailable"
    assert not Version.objects.exists() and not Blob.objects.exists()
    assert stored_digests() == []
    assert working_files() == []
    monkeypatch.undo()
    assert post(api, maintainer, CSV).status_code == 202  # healthy again


def test_a_stopped_s3_server_is_a_503_and_the_app_recovers(api, maintainer, public_dataset, settings):
    from moto.server import ThreadedMotoServer

    from datasets.storage import s3

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    import boto3

    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=S3_TEST_BUCKET)
    settings.GRANARY_S3_ENDPOINT_URL = endpoint
    settings.GRANARY_STORAGE_URL = f"s3://{S3_TEST_BUCKET}/stopped"
    s3._clients.clear()  # no pooled connection to the server from before
    server.stop()
    try:
        response = post(api, maintainer, CSV)
        assert response.status_code == 503
        assert response.json()["code"] == "storage_unavailable"
        assert not Version.objects.exists()
        assert working_files() == []
    finally:
        s3._clients.clear()


def test_ingest_out_of_room_keeps_the_version_to_be_sent_again_and_removes_its_workdir(
    public_dataset, publish, monkeypatch
):
    import pyarrow.parquet as pq

    version = publish(public_dataset, data=BIG, ingest=False)

    def no_room(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "Error writing bytes to file. Detail: [errno 28] No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(pq.ParquetWriter, "write_table", no_room)
        with pytest.raises(InsufficientStorage, match="is full"):
            version_ingest(version_id=version.pk)

    version.refresh_from_db()
    assert version.status == Version.Status.PROCESSING  # not failed: the file is fine
    assert working_files() == []
    assert version_ingest(version_id=version.pk).status == Version.Status.READY  # room again


def test_ingest_on_a_real_full_disk_stays_retriable(public_dataset, publish, data_dir, tmp_path):
    version = publish(public_dataset, data=BIG, ingest=False)
    with mounted_tmpfs(storage.tmp_dir(), "64k"):
        with pytest.raises(InsufficientStorage):
            version_ingest(version_id=version.pk)
        assert working_files() == []
    version.refresh_from_db()
    assert version.status == Version.Status.PROCESSING
    assert version_ingest(version_id=version.pk).status == Version.Status.READY
