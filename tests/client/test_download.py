"""The Python client against a live server: verified, cached, resumable downloads and read()."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import stat

import pandas as pd
import pyarrow as pa
import pytest
from granary import Client, Conflict, IntegrityError, NotFound, TransferError, transfer
from granary.progress import Progress

from tests.client.conftest import big_csv
from tests.client.proxy import FaultyProxy
from tests.conftest import sha256_of

pytestmark = pytest.mark.django_db(transaction=True)

DATA = big_csv(50_000)  # about 2.6 MiB: several 1 MiB chunks


@pytest.fixture
def version(public_dataset, publish):
    return publish(public_dataset, data=DATA, message="sensors")


@pytest.fixture
def client(live_server, member, token):
    return Client(live_server.url, token(member))


@pytest.fixture(params=["splice", "copy"])
def body_path(request, monkeypatch):
    """Both ways a body reaches the disk: spliced from the socket (Linux, plain HTTP) and
    copied through a buffer (TLS, other systems)."""
    if request.param == "copy":
        monkeypatch.setattr(transfer, "_splice_source", lambda response: None)
        yield "copy"
        return
    if not hasattr(os, "splice"):
        pytest.skip("splice(2) is Linux-only")
    spliced = []
    real = transfer._splice_body
    monkeypatch.setattr(transfer, "_splice_body", lambda *a, **k: spliced.append(1) or real(*a, **k))
    yield "splice"
    assert spliced, "the download did not take the splice path"


def test_read_returns_the_dataframe_of_the_original_file(client, version):
    expected = pd.read_csv(io.BytesIO(DATA))
    frame = client.read("churn@1")
    pd.testing.assert_frame_equal(frame, expected)


def test_read_picks_columns_and_returns_arrow_on_request(client, version):
    table = client.read("churn", columns=["id", "ok"], engine="arrow")
    assert isinstance(table, pa.Table)
    assert table.column_names == ["id", "ok"]
    assert table.num_rows == 50_000
    assert table.column("ok").to_pylist()[:3] == [False, True, True]


def test_download_verifies_and_caches_by_digest(client, version, body_path, client_home, tmp_path):
    path = client.download("churn@latest", format="original")
    assert path.read_bytes() == DATA
    assert path == client_home / "cache" / "sha256" / version.sha256[:2] / version.sha256
    assert not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)  # read-only

    copy = client.download("churn@1", tmp_path / "out.csv", format="original")
    assert copy == tmp_path / "out.csv" and sha256_of(copy.read_bytes()) == version.sha256

    parquet = client.download("churn@1")  # the default: the verified Parquet copy
    assert sha256_of(parquet.read_bytes()) == version.parquet_blob_id


def test_a_copy_goes_where_it_is_asked_even_into_directories_not_made_yet(client, version, tmp_path):
    copy = client.download("churn@1", tmp_path / "data" / "churn.csv", format="original")
    assert copy == tmp_path / "data" / "churn.csv" and copy.read_bytes() == DATA
    into = client.download("churn@1", f"{tmp_path / 'new'}/")  # a trailing slash names a directory
    assert into == tmp_path / "new" / "churn-v1.parquet"
    assert sha256_of(into.read_bytes()) == version.parquet_blob_id


def test_a_body_that_arrives_with_the_headers_is_kept_whole(client, public_dataset, publish, body_path):
    tiny = b"id,label\n1,a\n2,b\n"  # http.client reads it along with the headers
    version = publish(public_dataset, data=tiny)
    path = client.download(f"churn@{version.number}", format="original")
    assert path.read_bytes() == tiny


def test_a_second_pull_of_the_same_bytes_transfers_nothing(live_server, member, token, version):
    with FaultyProxy(live_server.url) as proxy:
        client = Client(proxy.url, token(member))
        first = client.download("churn@1", format="original")
        second = client.download("churn@1", format="original")
        assert first == second
        assert len(proxy.faults.downloads()) == 1  # the second one only resolved the reference


def test_an_interrupted_download_resumes_with_a_range_request(live_server, member, token, version, body_path):
    with FaultyProxy(live_server.url) as proxy:
        proxy.faults.cut_after = 1_000_000
        proxy.faults.cuts = 2  # two drops in a row, then the rest arrives
        client = Client(proxy.url, token(member))
        path = client.download("churn@1", format="original")

    assert sha256_of(path.read_bytes()) == version.sha256
    first, second, third = proxy.faults.downloads()
    assert "Range" not in first["headers"]
    assert second["headers"]["Range"] == "bytes=1000000-"
    assert second["headers"]["If-Range"] == f'"{version.sha256}"'
    assert third["headers"]["Range"] == "bytes=2000000-"


def test_a_download_stopped_by_the_user_resumes_on_the_next_pull(
    client, version, body_path, client_home, monkeypatch
):
    class Stop(Exception):
        pass

    def stop_after_first_chunk(self, count):
        self.done += count
        raise Stop

    with monkeypatch.context() as patch:
        patch.setattr(Progress, "update", stop_after_first_chunk)
        with pytest.raises(Stop):
            client.download("churn@1", format="original")
    partial = client_home / "cache" / "partial" / f"{version.sha256}.part"
    assert partial.stat().st_size == 1024 * 1024  # one chunk arrived and was kept

    ranges = []
    client.session.hooks["response"].append(lambda r, *a, **k: ranges.append(r.request.headers.get("Range")))
    path = client.download("churn@1", format="original")
    assert path.read_bytes() == DATA
    assert f"bytes={1024 * 1024}-" in ranges
    assert not partial.exists()


def test_a_corrupted_cache_file_is_detected_and_fetched_again(live_server, member, token, version):
    with FaultyProxy(live_server.url) as proxy:
        client = Client(proxy.url, token(member))
        path = client.download("churn@1", format="original")
        os.chmod(path, 0o644)
        with open(path, "r+b") as handle:  # one byte changes on disk
            handle.seek(1234)
            handle.write(b"X")
        again = client.download("churn@1", format="original")
        assert again.read_bytes() == DATA
        assert len(proxy.faults.downloads()) == 2


def test_bytes_corrupted_in_transit_are_refused_and_nothing_is_kept(
    live_server, member, token, version, client_home, body_path
):
    with FaultyProxy(live_server.url) as proxy:
        proxy.faults.flips = 2  # the first download and its retry are both damaged
        client = Client(proxy.url, token(member))
        with pytest.raises(IntegrityError, match=f"not {version.sha256}"):
            client.download("churn@1", format="original")
        assert not list((client_home / "cache").rglob(version.sha256))
        assert client.download("churn@1", format="original").read_bytes() == DATA  # the third is clean


def test_a_connection_that_keeps_dropping_gives_up_and_keeps_what_arrived(
    live_server, member, token, version, client_home
):
    with FaultyProxy(live_server.url) as proxy:
        proxy.faults.cut_after = 100_000
        proxy.faults.cuts = 100
        client = Client(proxy.url, token(member))
        with pytest.raises(TransferError, match="the next pull resumes"):
            client.download("churn@1", format="original")
    partial = client_home / "cache" / "partial" / f"{version.sha256}.part"
    assert partial.stat().st_size == 500_000  # five attempts of 100,000 bytes each


def test_a_download_that_stalls_times_out_and_resumes(live_server, member, token, version, body_path):
    with FaultyProxy(live_server.url) as proxy:
        proxy.faults.cut_after = 1_500_000
        proxy.faults.cuts = 1
        proxy.faults.stall = 5  # the connection stays open and silent
        client = Client(proxy.url, token(member), timeout=0.5)
        path = client.download("churn@1", format="original")

    assert sha256_of(path.read_bytes()) == version.sha256
    _, second = proxy.faults.downloads()
    # What was written is kept: all of it when spliced, whole MiB when copied through a buffer.
    assert second["headers"]["Range"] == ("bytes=1500000-" if body_path == "splice" else "bytes=1048576-")


@pytest.mark.skipif(not hasattr(os, "splice"), reason="splice(2) is Linux-only")
def test_a_file_system_that_refuses_splice_gets_the_bytes_written(client, version, monkeypatch):
    real = os.splice

    def splice(source, destination, count, *args, **kwargs):
        if stat.S_ISREG(os.fstat(destination).st_mode):  # as from a file system without splice_write
            raise OSError(errno.EINVAL, "Invalid argument")
        return real(source, destination, count, *args, **kwargs)

    monkeypatch.setattr(os, "splice", splice)
    assert client.download("churn@1", format="original").read_bytes() == DATA


def test_reads_survive_a_server_that_drops_idle_connections(live_server, member, token, version):
    """Load balancers close idle keep-alive connections without notice: a GET on such a
    connection is retried on a new one instead of failing."""
    with FaultyProxy(live_server.url) as proxy:
        proxy.faults.silent_close = True
        client = Client(proxy.url, token(member))
        for _ in range(10):
            assert client.resolve("churn@1").sha256 == version.sha256
        assert client.download("churn@1", format="original").read_bytes() == DATA


def test_exports_stream_to_a_file(client, version, tmp_path):
    path = client.download("churn@1", tmp_path / "two.csv", format="csv", columns=["id", "label"])
    lines = path.read_text().splitlines()
    assert lines[0] == '"id","label"'
    assert len(lines) == 50_001


def test_references_that_do_not_resolve_say_why(client, version, restricted_dataset, publish):
    with pytest.raises(NotFound, match="'churn' has no certified version yet"):
        client.resolve("churn@certified")
    with pytest.raises(NotFound, match="has no alias 'prod'"):
        client.resolve("churn@prod")
    with pytest.raises(NotFound, match="No dataset 'nope'"):
        client.read("nope")


def test_a_version_still_processing_cannot_be_downloaded(client, public_dataset, version, publish):
    publish(public_dataset, data=DATA + b"1,x,2.0,y,true\n", ingest=False)
    with pytest.raises(Conflict, match="churn@2 is processing: only ready versions"):
        client.download("churn@2")


def test_the_sha256_of_a_download_is_the_one_the_server_states(client, version):
    resolved = client.resolve("churn")
    assert resolved.sha256 == hashlib.sha256(DATA).hexdigest()
    assert resolved.number == 1 and resolved.aliases == ["latest"]


@pytest.mark.skipif(not hasattr(os, "splice"), reason="splice(2) is Linux-only")
def test_a_spliced_body_cut_short_is_a_dropped_connection_whatever_the_caller_knows(tmp_path):
    # A 206 whose Content-Range ends in "/*" gives the caller no total to check a short file
    # against: the splice path must say the body was cut, as http.client does on the copy path.
    import socket

    import requests

    server, client = socket.socketpair()
    client.settimeout(5)
    server.sendall(b"x" * 100)
    server.close()
    announced = []
    with (
        client,
        client.makefile("rb") as buffered,
        open(tmp_path / "partial", "wb", buffering=0) as out,
        pytest.raises(requests.exceptions.ChunkedEncodingError, match="900 of the body's 1,000"),
    ):
        transfer._splice_body(buffered, client, 1000, out, announced.append)
    assert sum(announced) == 100 == (tmp_path / "partial").stat().st_size  # kept, to resume from


# --- downloads redirected to object storage (presigned URLs) --------------------------------------


@pytest.fixture
def s3_behind_proxy(settings, s3_endpoint):
    """The S3 server behind the recording proxy, so the tests see what reaches storage."""
    from tests.services import S3_TEST_BUCKET

    with FaultyProxy(s3_endpoint) as proxy:
        proxy.faults.match = "/blobs/"
        settings.GRANARY_DOWNLOAD_MODE = "redirect"
        settings.GRANARY_S3_ENDPOINT_URL = proxy.url
        settings.GRANARY_STORAGE_URL = f"s3://{S3_TEST_BUCKET}/t-{os.urandom(8).hex()}"
        yield proxy


@pytest.fixture
def stored_version(s3_behind_proxy, public_dataset, publish):
    version = publish(public_dataset, data=DATA)
    s3_behind_proxy.faults.requests.clear()  # ingest's own reads
    return version


def test_a_redirected_download_reaches_storage_without_the_token(
    client, stored_version, s3_behind_proxy, body_path
):
    path = client.download("churn@1", format="original")

    assert sha256_of(path.read_bytes()) == stored_version.sha256
    (fetch,) = s3_behind_proxy.faults.downloads()
    assert "X-Amz-Signature=" in fetch["path"]
    assert "Authorization" not in fetch["headers"]  # the URL's signature is the credential
    assert "If-Range" not in fetch["headers"]


def test_a_redirected_download_cut_short_resumes_from_storage_with_range(
    client, stored_version, s3_behind_proxy, body_path
):
    s3_behind_proxy.faults.cut_after = 1_000_000
    s3_behind_proxy.faults.cuts = 1
    path = client.download("churn@1", format="original")

    assert sha256_of(path.read_bytes()) == stored_version.sha256
    first, second = s3_behind_proxy.faults.downloads()
    assert "Range" not in first["headers"]
    assert second["headers"]["Range"] == "bytes=1000000-"
    assert "Authorization" not in second["headers"]


def test_bytes_from_storage_are_verified_against_the_sha256(
    client, stored_version, s3_behind_proxy, client_home
):
    s3_behind_proxy.faults.flips = 2  # storage serves a flipped byte, twice
    with pytest.raises(IntegrityError, match=f"not {stored_version.sha256}"):
        client.download("churn@1", format="original")
    assert not list((client_home / "cache").rglob(stored_version.sha256))
    assert client.download("churn@1", format="original").read_bytes() == DATA


def test_a_blob_corrupted_on_the_server_is_cut_off_and_never_cached(client, version, settings, client_home):
    from granary import GranaryError

    from tests.blobs import blob_tamper

    settings.GRANARY_DOWNLOAD_MODE = "stream"
    blob_tamper(version.sha256, DATA[:-1] + b"X")
    with pytest.raises(GranaryError) as raised:
        client.download("churn@1", format="original")
    # The server dropped the connection before the last chunk; the resume found the blob marked.
    assert raised.value.status == 503 and raised.value.code == "blob_corrupt"
    assert not list((client_home / "cache").rglob(version.sha256))
