"""The daemon's control port (loopback): status, fault injection, shutdown. JSON over HTTP."""

from __future__ import annotations

import json
import threading
from typing import Any

from flexmigrate.sandbox.faults import FaultSpecError


class ControlServer:
    def __init__(self, sandbox: Any) -> None:
        self._sandbox = sandbox
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def _app(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        status = "404 Not Found"
        body: dict[str, Any] = {"error": f"no route {method} {path}"}
        try:
            if method == "GET" and path == "/status":
                status, body = "200 OK", self._sandbox.status()
            elif method == "POST" and path == "/faults":
                length = int(environ.get("CONTENT_LENGTH") or 0)
                request = json.loads(environ["wsgi.input"].read(length) or b"{}")
                if request.get("clear"):
                    self._sandbox.faults.clear()
                faults = self._sandbox.faults.inject(list(request.get("specs", [])))
                status, body = "200 OK", {"faults": faults.as_dict()}
            elif method == "POST" and path == "/shutdown":
                self._sandbox.stop_requested.set()
                status, body = "202 Accepted", {"stopping": True}
        except FaultSpecError as exc:
            status, body = "400 Bad Request", {"error": str(exc)}
        data = json.dumps(body, default=str).encode()
        start_response(
            status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
        )
        return [data]

    def start(self) -> None:
        from werkzeug.serving import make_server

        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)
