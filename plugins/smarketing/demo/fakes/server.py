"""The common part of the API fakes: a threaded HTTP server, auth, rate limits, injected faults."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Fault:
    """Answer ``times`` requests whose path starts with ``path`` with this instead, after letting
    the first ``after`` of them through.

    ``body`` is sent as is (so a truncated JSON document can be sent); ``delay`` stalls the
    answer (a timeout for a client with a shorter timeout).
    """

    status: int = 500
    times: int = 1
    path: str = ""
    after: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    delay: float = 0.0


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class FakeApi:
    """Subclasses implement ``route(method, path, query, body, headers) -> Reply``."""

    def __init__(self, rate_limit: tuple[int, float] | None = None) -> None:
        self.rate_limit = rate_limit  # (requests, per seconds) -> 429 beyond it
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str]] = []
        self.writes_sent: list[tuple[str, str, Any]] = []  # (method, path, JSON body) of every POST, PUT, DELETE
        self._recent: deque[float] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # --- lifecycle --------------------------------------------------------------------------
    def start(self, port: int = 0) -> str:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def setup(self) -> None:
                super().setup()
                # headers and body go out as separate writes: without this, Nagle's algorithm and
                # delayed ACKs add 40 ms to every keep-alive request
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                api._handle(self, method, raw)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def do_PUT(self) -> None:
                self._serve("PUT")

            def do_DELETE(self) -> None:
                self._serve("DELETE")

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self.url

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeApi:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- behaviour ----------------------------------------------------------------------------
    def inject(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    def calls(self, path_prefix: str = "") -> int:
        return sum(1 for _, path in self.requests if path.startswith(path_prefix))

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if path.startswith(fault.path) and fault.times > 0:
                    if fault.after > 0:
                        fault.after -= 1
                        continue
                    fault.times -= 1
                    return fault
        return None

    def _rate_limited(self) -> bool:
        if self.rate_limit is None:
            return False
        limit, window = self.rate_limit
        now = time.monotonic()
        with self._lock:
            while self._recent and now - self._recent[0] > window:
                self._recent.popleft()
            if len(self._recent) >= limit:
                return True
            self._recent.append(now)
        return False

    def too_many_requests(self) -> Reply:
        return Reply(429, {"message": "rate limit exceeded"}, {"Retry-After": "1"})

    def _handle(self, handler: BaseHTTPRequestHandler, method: str, raw: bytes) -> None:
        parts = urlsplit(handler.path)
        with self._lock:
            self.requests.append((method, parts.path))
        fault = self._take_fault(parts.path)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            body = fault.body if fault.body is not None else json.dumps({"message": f"injected {fault.status}"})
            self._send(handler, fault.status, body, fault.headers)
            return
        if self._rate_limited():
            reply = self.too_many_requests()
        else:
            try:
                payload = json.loads(raw) if raw and "json" in (handler.headers.get("Content-Type") or "") else raw
                query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
                if method != "GET":
                    with self._lock:
                        self.writes_sent.append((method, parts.path, query if method == "DELETE" else payload))
                reply = self.route(method, parts.path, query, payload, dict(handler.headers))
            except Exception as exc:  # noqa: BLE001 - a fake answers 500 like a real server would
                reply = Reply(500, {"message": f"fake server error: {exc}"})
        self._send(handler, reply.status, json.dumps(reply.body), reply.headers)

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, body: str, headers: dict[str, str]) -> None:
        """JSON, unless ``headers`` name another Content-Type (Mailchimp's errors: problem+json)."""
        headers = dict(headers)
        data = body.encode()
        handler.send_response(status)
        handler.send_header("Content-Type", headers.pop("Content-Type", "application/json;charset=UTF-8"))
        handler.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(data)

    def route(self, method: str, path: str, query: dict[str, str], body: Any, headers: dict[str, str]) -> Reply:
        raise NotImplementedError
