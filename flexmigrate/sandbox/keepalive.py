"""HTTP/1.1 persistent connections for the sandbox's HTTP servers (the AWS front, the
Kubernetes API emulator).

Werkzeug's development server answers every request with ``Connection: close``: http.server
cannot tell where a body the application did not read ends, so it never reads a second
request. AWS endpoints and the Kubernetes API server keep connections open (HTTP/1.1
persistent connections, RFC 9112 section 9.3) and their clients pool them. Against werkzeug,
every call a migration made opened a new connection — against the Kubernetes API, a TLS
handshake on both ends — about a tenth of a rehearsal's CPU, and unlike the real services.

This handler keeps the connection. The application reads the body through a stream limited
to the request's ``Content-Length``; whatever it left unread is read before the next request.
The connection closes when that cannot be done (a chunked request body, or more than
``_DRAIN_LIMIT`` bytes left unread), when the client asks (``Connection: close``, HTTP/1.0
without keep-alive), after an error, or after ``IDLE_SECONDS`` without a request.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any, cast

from werkzeug.exceptions import InternalServerError
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler
from werkzeug.wsgi import LimitedStream

# An idle connection is closed after this long, as servers do; a pooled client opens another.
IDLE_SECONDS = 60.0
_DRAIN_LIMIT = 1 << 20
_DROPPED = (ConnectionError, socket.timeout)

StartResponse = Callable[..., Callable[[bytes], None]]


class KeepAliveHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_SECONDS  # socketserver sets it on the connection: the wait for a request
    # Head and body are separate writes; with Nagle's algorithm the body waits for the
    # client's delayed ACK of the head (40 ms) once the connection is reused.
    disable_nagle_algorithm = True
    _head_sent = False

    def run_wsgi(self) -> None:
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            self._send(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.environ = environ = self.make_environ()
        body: LimitedStream | None = None
        if environ.get("wsgi.input_terminated"):  # a chunked body: its end is the app's to find
            self.close_connection = True
        else:
            body = LimitedStream(cast("IO[bytes]", self.rfile), _content_length(environ))
            environ["wsgi.input"] = body
        self._head_sent = False
        try:
            delimited = self._respond(self.server.app, environ)
        except _DROPPED as exc:
            self.close_connection = True
            self.connection_dropped(exc, environ)
            return
        except Exception as exc:  # noqa: BLE001 - the application failed: a 500, then close
            self.close_connection = True
            self.server.log("error", f"error on request {self.requestline!r}: {exc!r}")
            if not self._head_sent:
                with contextlib.suppress(*_DROPPED):
                    self._respond(InternalServerError(), environ)
            return
        if not delimited:
            self.close_connection = True
        if body is not None and not self.close_connection:
            left = body.limit - body.tell()
            if left > _DRAIN_LIMIT:
                self.close_connection = True
            elif left > 0:
                body.exhaust()

    def flush_headers(self) -> None:
        with _connection_errors():
            super().flush_headers()

    def _send(self, data: bytes) -> None:
        with _connection_errors():
            self.wfile.write(data)

    def _respond(self, app: Callable[..., Iterable[bytes]], environ: dict[str, Any]) -> bool:
        """Run ``app`` and write its answer; False when the answer's end cannot be told
        without closing the connection."""
        status: list[str] = []
        headers: list[tuple[str, str]] = []
        state = {"chunked": False, "delimited": True}

        def send_head() -> None:
            code, _, reason = status[0].partition(" ")
            self.send_response(int(code), reason)
            keys = set()
            for key, value in headers:
                if key.lower() == "connection":
                    continue  # the connection is this server's to keep or close
                self.send_header(key, value)
                keys.add(key.lower())
            bodiless = environ["REQUEST_METHOD"] == "HEAD" or int(code) in (204, 304)
            if "content-length" not in keys and not bodiless and not 100 <= int(code) < 200:
                if self.request_version >= "HTTP/1.1":
                    state["chunked"] = True
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    state["delimited"] = False
            if self.close_connection or not state["delimited"]:
                self.send_header("Connection", "close")
            self.end_headers()
            self._head_sent = True

        def write(data: bytes) -> None:
            if not self._head_sent:
                send_head()
            if data and state["chunked"]:
                self._send(b"%x\r\n%b\r\n" % (len(data), data))
            elif data:
                self._send(data)

        def start_response(
            new_status: str, new_headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            if exc_info is not None and self._head_sent:
                raise exc_info[1].with_traceback(exc_info[2])
            status[:] = [new_status]
            headers[:] = new_headers
            return write

        iterable = app(environ, start_response)
        try:
            for data in iterable:
                write(data)
            if not self._head_sent:
                write(b"")
            if state["chunked"]:
                self._send(b"0\r\n\r\n")
        finally:
            close = getattr(iterable, "close", None)
            if close is not None:
                close()
        return bool(state["delimited"])


@contextlib.contextmanager
def _connection_errors() -> Iterator[None]:
    """A failed write is the client's connection gone (a reset, a broken TLS stream), not the
    application's failure: no 500 is attempted on it."""
    try:
        yield
    except ConnectionError:
        raise
    except OSError as exc:
        raise ConnectionAbortedError(f"the connection failed: {exc}") from exc


def _content_length(environ: dict[str, Any]) -> int:
    try:
        return max(0, int(environ.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0


class KeepAliveServer(ThreadedWSGIServer):
    """Werkzeug's threaded server that can end its open connections: a kept-alive connection
    waiting for its next request outlives ``shutdown``, which only stops accepting."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._connections_lock:
                self._connections.discard(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        shut_down(connections)


def shut_down(connections: Iterable[socket.socket]) -> None:
    """End each connection both ways; its thread, blocked reading, sees the end at once."""
    for connection in connections:
        with contextlib.suppress(OSError):
            connection.shutdown(socket.SHUT_RDWR)
