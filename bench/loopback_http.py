"""What every HTTP server of the bench shares: loopback only, one thread per connection,
TCP_NODELAY, and quiet about clients that hang up.

TCP_NODELAY matters for timing: http.server writes a response's headers and body in two
writes, and without it Nagle's algorithm holds the body back until the client's delayed
ACK (about 40 ms on Linux), which would be measured as the function's latency. Lambda's
runtime API (written in Go, where sockets are NODELAY by default) has no such delay.
"""

from __future__ import annotations

import http.server
import socket
import threading


def no_delay(connection: socket.socket) -> None:
    try:
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive, as the clients expect; no request log on stderr."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass


class LoopbackServer(http.server.ThreadingHTTPServer):
    """Serves `handler` on a free port of 127.0.0.1, in a background thread."""

    daemon_threads = True

    def __init__(self, handler):
        super().__init__(("127.0.0.1", 0), handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def get_request(self):
        connection, address = super().get_request()
        no_delay(connection)
        return connection, address

    def handle_error(self, request, client_address):
        """A function process stopped mid-request is expected at the end of each run."""


def tune(server: http.server.HTTPServer) -> None:
    """The same behaviour for a server made elsewhere (tools/demo.py's catcher)."""
    accept = server.get_request

    def get_request():
        connection, address = accept()
        no_delay(connection)
        return connection, address

    server.get_request = get_request
    server.handle_error = lambda request, client_address: None
