"""A storage outage is not a bad file: when object storage stops answering in the middle of an
ingest or before a validation, the version stays `processing` (the run `queued`) with nothing
left on disk, and the sweeper's next pass, once the store answers again, brings it to ready
(passed). The store is moto's S3 server behind a forwarder that closes its port mid-read."""

from __future__ import annotations

import gzip
import io
import os
import random
import socket
import socketserver
import threading
from datetime import timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.utils import timezone

from datasets import storage
from datasets.models import Blob, Version
from datasets.services import versions
from datasets.storage import StorageUnavailable
from quality import services as quality
from quality.models import ValidationRun
from tests.factories import DatasetFactory
from tests.services import S3_TEST_BUCKET

pytestmark = pytest.mark.django_db

ROWS = 40_000


class Outage:
    """A TCP forwarder to the S3 server, one request per connection, that goes down (its port
    closed: connections are refused, as when the store stops) once it has relayed `after` body
    bytes of the first GET whose path holds `match` (streamed only: without a Range), and comes
    back up on the same port."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.split("://", 1)[1].rstrip("/").rsplit(":", 1)
        self.upstream = (host, int(port))
        self.match = ""
        self.after = 0
        self.streamed_only = True
        self.gets: list[tuple[str, str | None]] = []  # (path, Range) of each GET relayed
        self._server: socketserver.ThreadingTCPServer | None = None
        self.port = 0
        self.up()
        self.url = f"http://127.0.0.1:{self.port}"

    def up(self) -> None:
        outage = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                outage._relay(self.request)

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        server = socketserver.ThreadingTCPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._server = server

    def down(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def down_during(self, match: str, *, after: int, streamed_only: bool = True) -> None:
        self.match, self.after, self.streamed_only = match, after, streamed_only

    def _relay(self, client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(65536)
            if not chunk:
                return
            head += chunk
        head, _, body = head.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {k.lower(): v for k, _, v in (line.partition(": ") for line in lines[1:])}
        while len(body) < int(headers.get("content-length", 0)):
            body += client.recv(65536)
        kept = [line for line in lines[1:] if line and not line.lower().startswith("connection:")]
        request = "\r\n".join([lines[0], *kept, "Connection: close", "", ""]).encode("latin-1") + body
        cut = False
        if method == "GET":
            self.gets.append((path, headers.get("range")))
            if self.match and self.match in path and not (self.streamed_only and "range" in headers):
                cut, self.match = True, ""
        with socket.create_connection(self.upstream) as upstream:
            upstream.sendall(request)
            response = b""
            while b"\r\n\r\n" not in response and (chunk := upstream.recv(65536)):
                response += chunk
            response_head, _, rest = response.partition(b"\r\n\r\n")
            client.sendall(response_head + b"\r\n\r\n")
            sent = 0
            while True:
                if cut and sent + len(rest) >= self.after:
                    client.sendall(rest[: self.after - sent])
                    self.down()  # the store stops answering; this read is cut short
                    client.shutdown(socket.SHUT_RDWR)
                    return
                client.sendall(rest)
                sent += len(rest)
                if not (rest := upstream.recv(65536)):
                    return


@pytest.fixture
def outage(settings: Any, s3_endpoint: str) -> Any:
    """Storage on a fresh prefix of the S3 bucket, reached through an Outage."""
    forwarder = Outage(s3_endpoint)
    settings.GRANARY_S3_ENDPOINT_URL = forwarder.url
    settings.GRANARY_STORAGE_URL = f"s3://{S3_TEST_BUCKET}/outage-{os.urandom(6).hex()}"
    yield forwarder
    forwarder.down()


def csv_bytes() -> bytes:
    rng = random.Random(3)  # noqa: S311 (test data, seeded)
    lines = ["id,city,score"] + [
        f"{n},{rng.choice(['Oslo', 'Lima'])},{rng.random():.6f}" for n in range(ROWS)
    ]
    return ("\n".join(lines) + "\n").encode()


def parquet_bytes() -> bytes:
    rng = random.Random(4)  # noqa: S311 (test data, seeded)
    table = pa.table({"id": range(ROWS), "text": [f"{rng.getrandbits(64):x}" for _ in range(ROWS)]})
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=ROWS // 4, compression="none")
    return sink.getvalue()


FILES = {"csv": csv_bytes, "csv.gz": lambda: gzip.compress(csv_bytes(), mtime=0), "parquet": parquet_bytes}


def sweep_sends(version: Version) -> list[int]:
    """What the sweeper sends now, the version's send grace past (it was created a moment ago)."""
    Version.objects.filter(pk=version.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    return versions.versions_requeue()


@pytest.mark.parametrize("kind", sorted(FILES))
def test_an_outage_in_the_middle_of_an_ingest_leaves_the_version_processing_until_the_store_returns(
    kind, team, owner, publish, outage
):
    data = FILES[kind]()
    version = publish(DatasetFactory(team=team), data=data, user=owner, ingest=False)
    outage.down_during(version.sha256, after=min(len(data) // 3, 256 * 1024))

    with pytest.raises(StorageUnavailable):
        versions.version_ingest_leased(version_id=version.pk)

    version.refresh_from_db()
    assert (version.status, version.failure_reason) == ("processing", "")
    assert list(storage.tmp_dir().iterdir()) == [], "the working directory is removed"
    assert Blob.objects.get(sha256=version.sha256).damage == "", "an outage is not damage"
    streamed = [r for p, r in outage.gets if version.sha256 in p and r is None]
    assert streamed, "the outage came in the middle of the streamed read"

    outage.up()
    assert sweep_sends(version) == [version.pk]
    versions.version_ingest_leased(version_id=version.pk)

    version.refresh_from_db()
    assert (version.status, version.failure_reason) == ("ready", "")
    assert version.row_count == ROWS


def test_a_store_down_before_ingest_leaves_the_version_processing(team, owner, publish, outage):
    version = publish(DatasetFactory(team=team), data=csv_bytes(), user=owner, ingest=False)
    outage.down()

    with pytest.raises(StorageUnavailable):
        versions.version_ingest_leased(version_id=version.pk)

    version.refresh_from_db()
    assert version.status == "processing"
    assert sweep_sends(version) == [version.pk], "sent again while the store is still down"
    with pytest.raises(StorageUnavailable):
        versions.version_ingest_leased(version_id=version.pk)
    outage.up()
    versions.version_ingest_leased(version_id=version.pk)
    version.refresh_from_db()
    assert version.status == "ready"


def test_an_outage_during_validation_leaves_the_run_queued_for_the_sweeper(
    team, owner, publish, outage, monkeypatch
):
    dataset = DatasetFactory(team=team)
    version = publish(dataset, data=parquet_bytes(), user=owner)
    assert version.status == "ready", version.failure_reason
    quality.suite_save(
        dataset=dataset,
        user=owner,
        expectations=[{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}}],
    )
    run = quality.validation_queue(version=version, trigger="manual", user=owner)
    # pyarrow's first read of the Parquet copy (after boto3's HEAD) is cut and the store stops.
    outage.down_during(version.parquet_blob.sha256, after=0, streamed_only=False)

    with pytest.raises(StorageUnavailable):
        quality.validation_run_leased(run_id=run.pk)

    run.refresh_from_db()
    assert (run.status, run.error, run.sent_at) == ("queued", "", None)
    version.refresh_from_db()
    assert version.quality_status == "queued"

    outage.up()
    sent: list[int] = []
    monkeypatch.setattr(quality.validate_version, "delay", sent.append)
    ValidationRun.objects.filter(pk=run.pk).update(queued_at=timezone.now() - timedelta(minutes=5))
    assert quality.runs_requeue() == [run.pk] == sent
    quality.validation_run_leased(run_id=run.pk)

    run.refresh_from_db()
    assert (run.status, run.evaluated, run.successful) == ("passed", 1, 1)
