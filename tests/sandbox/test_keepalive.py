"""The sandbox's servers keep HTTP/1.1 connections open as AWS endpoints and the Kubernetes API
server do, and still close them whenever an answer's or a request's end cannot be told."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from flexmigrate.sandbox.keepalive import KeepAliveHandler, KeepAliveServer


def _app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    path = environ["PATH_INFO"]
    if path == "/boom":
        raise RuntimeError("the application failed")
    port = str(environ["REMOTE_PORT"]).encode()
    if path == "/ignore-body":  # answers without reading what was sent
        start_response("200 OK", [("Content-Length", str(len(port)))])
        return [port]
    if path == "/read-body":
        data = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Length", str(len(data)))])
        return [data]
    if path == "/endless":  # far more than a socket buffer holds
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return (b"x" * 65536 for _ in range(1000))
    if path == "/streamed":  # no Content-Length: chunked for HTTP/1.1
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"one,", b"two,", port]
    start_response("200 OK", [("Content-Length", str(len(port)))])
    return [port]


@pytest.fixture
def server() -> Iterator[KeepAliveServer]:
    running = KeepAliveServer("127.0.0.1", 0, _app, KeepAliveHandler)
    thread = threading.Thread(target=running.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield running
    running.shutdown()
    running.close_connections()
    running.server_close()
    thread.join(5)


@pytest.fixture
def connect(server: KeepAliveServer) -> Iterator[Callable[[], http.client.HTTPConnection]]:
    made: list[http.client.HTTPConnection] = []

    def new() -> http.client.HTTPConnection:
        made.append(http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=5))
        return made[-1]

    yield new
    for conn in made:
        conn.close()


def _get(conn: http.client.HTTPConnection, path: str, **kwargs: Any) -> tuple[int, bytes, Any]:
    conn.request(kwargs.pop("method", "GET"), path, **kwargs)
    response = conn.getresponse()
    return response.status, response.read(), response


def test_one_connection_carries_many_requests_without_delay(
    server: KeepAliveServer, connect: Callable[[], http.client.HTTPConnection]
) -> None:
    conn = connect()
    _, first, response = _get(conn, "/")
    assert response.getheader("Connection") is None
    started = time.perf_counter()
    ports = {_get(conn, "/")[1] for _ in range(20)}
    elapsed = time.perf_counter() - started
    assert ports == {first}  # the same client port: one connection
    # No Nagle stall between head and body (a delayed ACK is 40 ms a request).
    assert elapsed < 20 * 0.04


def test_a_body_the_application_left_unread_is_not_read_as_the_next_request(
    server: KeepAliveServer, connect: Callable[[], http.client.HTTPConnection]
) -> None:
    conn = connect()
    status, port, _ = _get(conn, "/ignore-body", method="POST", body=b"x" * 70_000)
    assert status == 200
    assert _get(conn, "/read-body", method="PUT", body=b"second")[:2] == (200, b"second")
    assert _get(conn, "/")[1] == port


def test_an_answer_without_length_is_chunked_and_the_connection_kept(
    server: KeepAliveServer, connect: Callable[[], http.client.HTTPConnection]
) -> None:
    conn = connect()
    status, body, response = _get(conn, "/streamed")
    assert (status, response.getheader("Transfer-Encoding")) == (200, "chunked")
    port = body.split(b",")[2]
    assert body == b"one,two," + port
    assert _get(conn, "/")[1] == port


def test_closed_when_the_client_asks_or_speaks_http_1_0(
    server: KeepAliveServer, connect: Callable[[], http.client.HTTPConnection]
) -> None:
    conn = connect()
    _, _, response = _get(conn, "/", headers={"Connection": "close"})
    assert response.getheader("Connection") == "close"
    assert response.will_close

    with socket.create_connection(("127.0.0.1", server.server_port), timeout=5) as raw:
        raw.sendall(b"GET /streamed HTTP/1.0\r\nHost: sandbox\r\n\r\n")
        answer = b""
        while chunk := raw.recv(65536):  # the server closes: that is the answer's end
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding" not in head
    assert body.startswith(b"one,two,")


def test_a_failing_application_answers_500_and_closes(
    server: KeepAliveServer, connect: Callable[[], http.client.HTTPConnection]
) -> None:
    conn = connect()
    status, _, response = _get(conn, "/boom")
    assert status == 500
    assert response.will_close


def test_close_connections_ends_an_idle_kept_connection(server: KeepAliveServer) -> None:
    with socket.create_connection(("127.0.0.1", server.server_port), timeout=5) as raw:
        raw.sendall(b"GET / HTTP/1.1\r\nHost: sandbox\r\n\r\n")
        assert raw.recv(65536).startswith(b"HTTP/1.1 200")
        server.close_connections()
        assert raw.recv(65536) == b""  # closed by the server, not left waiting


def test_a_client_gone_mid_answer_is_not_an_application_error(
    server: KeepAliveServer, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.create_connection(("127.0.0.1", server.server_port), timeout=5) as raw:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        raw.sendall(b"GET /endless HTTP/1.1\r\nHost: sandbox\r\n\r\n")
        assert raw.recv(65536).startswith(b"HTTP/1.1 200")
    # closed with a reset while the server still writes: it stops, and logs no failure
    time.sleep(0.5)
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
