"""A local stand-in for the Lambda runtime API, serving one function process.

It implements the four calls a runtime makes (next, response, error, init error) and
records, on one clock (time.perf_counter), when the process first asked for an event and
when each event was handed over. The bench starts one per function process, so the Rust
function and the Python baseline are timed by the same code.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from typing import Callable, Optional

from loopback_http import LoopbackServer, QuietHandler

PREFIX = "/2018-06-01/runtime"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:vendor-access"


class RuntimeApi:
    """Hands queued events to the function, one per `GET .../invocation/next`."""

    def __init__(self, timeout_s: float, on_finished: Optional[Callable[[str], None]] = None):
        """`on_finished(request_id)` is called when the function has finished an
        invocation (its response or error posted), from the server's thread."""
        self.timeout_s = timeout_s
        self.on_finished = on_finished
        self.first_next: Optional[float] = None
        self.handed: dict[str, float] = {}
        self.finished: dict[str, tuple[str, bytes]] = {}
        self.init_error: Optional[bytes] = None
        self._events: "queue.Queue[tuple[str, bytes]]" = queue.Queue()
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        api = self

        class Handler(QuietHandler):
            def do_GET(self):
                if self.path != f"{PREFIX}/invocation/next":
                    return self._answer(404)
                with api._changed:
                    if api.first_next is None:
                        api.first_next = time.perf_counter()
                        api._changed.notify_all()
                while not api._stopping.is_set():
                    try:
                        request_id, body = api._events.get(timeout=0.5)
                    except queue.Empty:
                        continue
                    deadline_ms = int((time.time() + api.timeout_s) * 1000)
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
                    self.send_header("Lambda-Runtime-Deadline-Ms", str(deadline_ms))
                    self.send_header("Lambda-Runtime-Invoked-Function-Arn", FUNCTION_ARN)
                    self.send_header("Lambda-Runtime-Trace-Id", f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}")
                    with api._changed:
                        api.handed[request_id] = time.perf_counter()
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.close_connection = True

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                parts = self.path[len(PREFIX):].strip("/").split("/")
                if parts == ["init", "error"]:
                    with api._changed:
                        api.init_error = body
                        api._changed.notify_all()
                    return self._answer(202)
                if len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                    with api._changed:
                        api.finished[parts[1]] = (parts[2], body)
                        api._changed.notify_all()
                    self._answer(202)
                    if api.on_finished is not None:
                        api.on_finished(parts[1])
                    return
                self._answer(404)

            def _answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = LoopbackServer(Handler)
        self.address = f"127.0.0.1:{self._server.port}"

    def invoke(self, event: dict) -> str:
        """Queues `event`; returns its request id."""
        request_id = str(uuid.uuid4())
        self._events.put((request_id, json.dumps(event).encode()))
        return request_id

    def wait_first_next(self, timeout: float) -> Optional[float]:
        """The time of the first `next` call, or None if none came within `timeout`."""
        with self._changed:
            self._changed.wait_for(
                lambda: self.first_next is not None or self.init_error is not None, timeout
            )
            return self.first_next

    def wait_finished(self, request_id: str, timeout: float) -> Optional[tuple[str, bytes]]:
        """("response" | "error", body) once the function has finished the invocation."""
        with self._changed:
            self._changed.wait_for(lambda: request_id in self.finished, timeout)
            return self.finished.get(request_id)

    def stop(self) -> None:
        self._stopping.set()
        self._server.stop()
