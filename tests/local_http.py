"""A local HTTP file server on 127.0.0.1 for the tests of downloads (``tests/download/conftest.py``, the LPIPS
weights).

It supports ``Range`` (or ignores it, or drops the connection half way, on demand) and records every request, so the
tests can prove what went over the wire.
"""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class Request:
    path: str
    range: str | None
    sent: int = 0


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
    drop_after: int | None = None  # close the connection after this many body bytes (once)
    status: int | None = None  # answer every request with this error status
    requests: list[Request] = field(default_factory=list)
    port: int = 0

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"


def _handler(server: FileServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:
            request = Request(self.path, self.headers.get("Range"))
            server.requests.append(request)
            if server.status is not None:
                self.send_error(server.status)
                return
            data = server.files.get(self.path.lstrip("/"))
            if data is None:
                self.send_error(404)
                return
            start = 0
            if request.range and server.honour_range:
                start = int(request.range.removeprefix("bytes=").split("-")[0])
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Type", server.content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if server.drop_after is not None:
                body, server.drop_after = body[: server.drop_after], None
                self.close_connection = True
            self.wfile.write(body)
            request.sent = len(body)

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
