"""A local HTTP file server on 127.0.0.1 for the tests of downloads (``tests/download/conftest.py``, the LPIPS
weights).

It answers as a real file server does: ``ETag`` and ``Last-Modified`` of the current content, ``Range`` with
``If-Range`` (RFC 9110: a validator that does not match the current file gets the whole file with 200). On demand it
ignores ``Range`` or ``If-Range``, sends weaker or no validators, drops the connection half way, or swaps a file's
content once the dropped answer is sent. It records every request, so the tests can prove what went over the wire.
A test changes a file between two calls by assigning ``server.files[name]``.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class Request:
    path: str
    range: str | None
    sent: int = 0  # body bytes sent
    if_range: str | None = None
    status: int = 0  # the status answered


class _QuietServer(http.server.ThreadingHTTPServer):
    """Connections the tests drop on purpose are expected: do not print their tracebacks."""

    def handle_error(self, request: object, client_address: object) -> None:
        pass


@dataclass
class FileServer:
    """What the test server serves and how; ``requests`` records what it was asked."""

    files: dict[str, bytes] = field(default_factory=dict)
    content_type: str = "application/octet-stream"
    honour_range: bool = True
    honour_if_range: bool = True  # False: serve the range even for another version (a broken server or proxy)
    validators: tuple[str, ...] = ("etag", "last-modified")  # sent with each file; "weak-etag" sends W/"…"
    drop_after: int | None = None  # close the connection after this many body bytes (once)
    replace_after_drop: dict[str, bytes] = field(default_factory=dict)  # new contents once the drop happened
    status: int | None = None  # answer every request with this error status
    requests: list[Request] = field(default_factory=list)
    port: int = 0

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def etag(self, name: str) -> str:
        """The strong ETag of the current content of ``name`` (what ``validators=("etag",)`` sends)."""
        return '"' + hashlib.sha256(self.files[name]).hexdigest()[:16] + '"'

    def last_modified(self, name: str) -> str:
        """The Last-Modified of the current content: a date in 2001–2010 that changes with it, like a file's mtime."""
        seconds = 1_000_000_000 + int(hashlib.sha256(self.files[name]).hexdigest()[:7], 16)
        return email.utils.formatdate(seconds, usegmt=True)

    def validator_headers(self, name: str) -> dict[str, str]:
        headers = {}
        if "etag" in self.validators:
            headers["ETag"] = self.etag(name)
        elif "weak-etag" in self.validators:
            headers["ETag"] = "W/" + self.etag(name)
        if "last-modified" in self.validators:
            headers["Last-Modified"] = self.last_modified(name)
        return headers

    def if_range_holds(self, name: str, value: str | None) -> bool:
        """RFC 9110 §13.2.2: without ``If-Range``, or when it names the current version (strong comparison: a weak
        ETag never matches), the range is served; otherwise the whole file is."""
        if value is None or not self.honour_if_range:
            return True
        current = self.validator_headers(name)
        if value.startswith(('"', "W/")):
            return not value.startswith("W/") and current.get("ETag") == value
        return current.get("Last-Modified") == value


def _handler(server: FileServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:
            request = Request(self.path, self.headers.get("Range"), if_range=self.headers.get("If-Range"))
            server.requests.append(request)
            if server.status is not None:
                request.status = server.status
                self.send_error(server.status)
                return
            name = self.path.lstrip("/")
            data = server.files.get(name)
            if data is None:
                request.status = 404
                self.send_error(404)
                return
            validators = server.validator_headers(name)
            start = 0
            if request.range and server.honour_range and server.if_range_holds(name, request.if_range):
                start = int(request.range.removeprefix("bytes=").split("-")[0])
                if start >= len(data):
                    request.status = 416
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    for key, value in validators.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                request.status = 206
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                request.status = 200
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Type", server.content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in validators.items():
                self.send_header(key, value)
            self.end_headers()
            if server.drop_after is not None:
                body, server.drop_after = body[: server.drop_after], None
                server.files.update(server.replace_after_drop)  # before the client can see the drop and retry
                server.replace_after_drop = {}
                self.close_connection = True
            request.sent = len(body)  # before writing: the client may check the log as soon as it has the bytes
            self.wfile.write(body)

    return Handler


@contextlib.contextmanager
def serving(state: FileServer) -> Iterator[FileServer]:
    """Serve ``state`` on a free port of 127.0.0.1 for the duration of the block."""
    httpd = _QuietServer(("127.0.0.1", 0), _handler(state))
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
