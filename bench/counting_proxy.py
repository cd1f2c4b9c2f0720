"""An HTTP proxy in front of moto that names and counts every AWS API call passing through.

Query-protocol services (IAM) carry the operation as `Action=` in the form body, JSON
services (KMS, Secrets Manager) in `X-Amz-Target`, and S3 in the method, path and
sub-resource of its REST request. A call is a read when its operation starts with
Get, List, Head or Describe; every other call writes.

With `latency_s`, every call is held that long before it is forwarded, so that moto (which
answers in a millisecond or two) costs what AWS costs: IAM's calls take about 100 ms, S3's
tens of milliseconds. The stack benchmark uses it; the call counts do not.
"""

from __future__ import annotations

import http.client
import threading
import time
import urllib.parse
from collections import Counter

from loopback_http import LoopbackServer, QuietHandler, no_delay

READ_PREFIXES = ("Get", "List", "Head", "Describe")

# S3 sub-resources the function and the baseline use, by (method, sub-resource).
S3_OPERATIONS = {
    ("GET", "encryption"): "GetBucketEncryption",
    ("GET", "cors"): "GetBucketCors",
    ("PUT", "cors"): "PutBucketCors",
    ("DELETE", "cors"): "DeleteBucketCors",
    ("GET", "policy"): "GetBucketPolicy",
    ("PUT", "policy"): "PutBucketPolicy",
    ("DELETE", "policy"): "DeleteBucketPolicy",
    ("GET", "location"): "GetBucketLocation",
    ("HEAD", ""): "HeadBucket",
    ("GET", ""): "ListObjects",
    ("PUT", ""): "CreateBucket",
}

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


def is_read(operation: str) -> bool:
    return operation.split(":", 1)[-1].startswith(READ_PREFIXES)


def operation_of(method: str, path: str, headers: http.client.HTTPMessage, body: bytes) -> str:
    """`service:Operation` for one request."""
    target = headers.get("X-Amz-Target")
    if target:
        service, _, operation = target.partition(".")
        return f"{service_name(headers) or service}:{operation}"
    form = urllib.parse.parse_qs(body.decode("utf-8", "replace")) if method == "POST" else {}
    if "Action" in form:
        return f"{service_name(headers) or 'query'}:{form['Action'][0]}"
    url = urllib.parse.urlsplit(path)
    subresources = [k for k in urllib.parse.parse_qs(url.query, keep_blank_values=True)
                    if not k.startswith(("x-id", "X-Amz-"))]
    key = (method, subresources[0] if subresources else "")
    return f"s3:{S3_OPERATIONS.get(key, f'{method} ?{key[1]}')}"


def service_name(headers: http.client.HTTPMessage) -> str:
    """The signing service from SigV4's credential scope (.../region/SERVICE/aws4_request)."""
    auth = headers.get("Authorization", "")
    _, _, credential = auth.partition("Credential=")
    scope = credential.split(",", 1)[0].split("/")
    return scope[3] if len(scope) >= 5 else ""


class CountingProxy:
    """Forwards to `upstream` (host:port) and counts operations in `self.calls`, holding
    each call `latency_s` first."""

    def __init__(self, upstream: str, latency_s: float = 0.0):
        self.calls: Counter[str] = Counter()
        self.latency_s = latency_s
        self._lock = threading.Lock()
        proxy = self
        local = threading.local()

        class Handler(QuietHandler):
            def _forward(self):
                body = self._read_body()
                with proxy._lock:
                    proxy.calls[operation_of(self.command, self.path, self.headers, body)] += 1
                if proxy.latency_s > 0:
                    time.sleep(proxy.latency_s)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                if body or self.command in ("POST", "PUT"):
                    headers["Content-Length"] = str(len(body))
                for attempt in (1, 2):
                    # One connection to moto per client connection, reopened once if moto
                    # closed it.
                    connection = getattr(local, "connection", None)
                    try:
                        if connection is None:
                            connection = local.connection = http.client.HTTPConnection(upstream, timeout=60)
                            connection.connect()
                            no_delay(connection.sock)
                        connection.request(self.command, self.path, body=body or None, headers=headers)
                        reply = connection.getresponse()
                        data = reply.read()
                        break
                    except (http.client.HTTPException, OSError):
                        if connection is not None:
                            connection.close()
                        local.connection = None
                        if attempt == 2:
                            raise
                self.send_response(reply.status, reply.reason)
                for key, value in reply.getheaders():
                    if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                        self.send_header(key, value)
                if self.command == "HEAD":
                    self.send_header("Content-Length", reply.getheader("Content-Length", "0"))
                    self.end_headers()
                    return
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _read_body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline().strip():
                                pass
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

        self._server = LoopbackServer(Handler)
        self.endpoint = f"http://127.0.0.1:{self._server.port}"

    def take(self) -> Counter:
        """The calls counted since the last take, and a fresh count."""
        with self._lock:
            calls, self.calls = self.calls, Counter()
        return calls

    def stop(self) -> None:
        self._server.stop()
