"""A small HTTP proxy for tests that misbehaves on purpose: it cuts download responses short
(a dropped connection) or flips a byte in them (corruption in transit), and records each
request's first line and headers."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Faults:
    cut_after: int = 0  # bytes of body to relay before dropping the connection
    cuts: int = 0  # how many download responses to cut
    stall: float = 0  # seconds a cut connection stays open and silent before it drops
    flips: int = 0  # how many download responses get one byte changed
    silent_close: bool = False  # close after each response without saying so (idle timeouts do)
    match: str = "/download/"  # what in a GET's path makes it a download (S3: "/blobs/")
    requests: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def downloads(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if self.match in r["path"] and r["method"] == "GET"]


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        try:
            self._handle()
        except Exception as exc:
            self.server.faults.errors.append(repr(exc))
            raise

    def _handle(self) -> None:
        client: socket.socket = self.request
        head, leftover = _read_head(client)
        if not head:
            return
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        faults = self.server.faults
        faults.requests.append({"method": method, "path": path, "headers": headers})
        # One request per connection, so each response can be cut on its own.
        kept = [line for line in lines[1:] if line and not line.lower().startswith("connection:")]
        request = "\r\n".join([lines[0], *kept, "Connection: close", "", ""]).encode("latin-1")
        length = int(headers.get("Content-Length", 0))
        body = leftover + _read_exact(client, length - len(leftover)) if length else b""
        upstream = socket.create_connection(self.server.upstream)
        with upstream:
            upstream.sendall(request + body)
            download = faults.match in path and method == "GET"
            cut = download and faults.cuts > 0
            flip = download and faults.flips > 0
            if cut:
                faults.cuts -= 1
            if flip:
                faults.flips -= 1
            self._relay(upstream, client, cut=cut, flip=flip)

    def _relay(self, upstream: socket.socket, client: socket.socket, *, cut: bool, flip: bool) -> None:
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            chunk = upstream.recv(65536)
            if not chunk:
                client.sendall(buffer)
                return
            buffer += chunk
        head, _, body = buffer.partition(b"\r\n\r\n")
        if not self.server.faults.silent_close:
            # This proxy closes each connection after one response, and says so.
            lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"connection:")]
            head = b"\r\n".join([*lines, b"Connection: close"])
        client.sendall(head + b"\r\n\r\n")
        sent = 0
        flipped = not flip
        while True:
            if body:
                if not flipped:
                    body = bytes([body[0] ^ 0xFF]) + body[1:]
                    flipped = True
                if cut and sent + len(body) >= self.server.faults.cut_after:
                    client.sendall(body[: self.server.faults.cut_after - sent])
                    time.sleep(self.server.faults.stall)  # a server that hangs, then gives up
                    client.shutdown(socket.SHUT_RDWR)  # the connection drops mid-body
                    return
                client.sendall(body)
                sent += len(body)
            body = upstream.recv(65536)
            if not body:
                return


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    """The request's head, and whatever of its body came with it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return b"", b""
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _read_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(min(65536, size - len(data)))
        if not chunk:
            break
        data += chunk
    return data


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, upstream: tuple[str, int], faults: Faults) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream = upstream
        self.faults = faults


class FaultyProxy:
    """`with FaultyProxy(live_server.url) as proxy:` then talk to `proxy.url`."""

    def __init__(self, upstream_url: str) -> None:
        host_port = upstream_url.split("://", 1)[1].rstrip("/")
        host, port = host_port.rsplit(":", 1)
        self.faults = Faults()
        self._server = _Server((host if host != "localhost" else "127.0.0.1", int(port)), self.faults)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FaultyProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
