"""An HTTP proxy in front of moto that records the DynamoDB action of every call it forwards,
and can refuse some actions as IAM does when the role does not allow them."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

_WRITES = frozenset({"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"})


class _Server(ThreadingHTTPServer):
    # socketserver's default backlog of 5 drops the SYNs of a 16-thread pool connecting at
    # once (each retried a second later); an endpoint has no such limit.
    request_queue_size = 128


class RecordingProxy:
    """Forwards DynamoDB calls to moto and records each call's action (``X-Amz-Target``);
    actions in ``refused`` get DynamoDB's AccessDeniedException instead of being forwarded.

    ``hang()`` makes it hold every call it receives without ever answering it (an endpoint that
    accepts and never replies); calls after ``release()`` are forwarded again.
    ``lose_next_write()`` lets the next write through and drops its answer: the write took
    effect, and the client sees the connection close (it retries, as over a real network).
    """

    def __init__(self, upstream: str) -> None:
        self.actions: list[str] = []
        self.refused: set[str] = set()
        self._answers_to_lose = 0
        # One pooled client: a connection per call made each forwarded call cost a handshake.
        self.upstream = httpx.Client(timeout=10, limits=httpx.Limits(max_connections=64))
        #: Calls whose body names one of these (a key) are refused, as by a denying policy.
        self.refused_keys: set[str] = set()
        #: Seconds each call waits before it is forwarded (a slow network or endpoint).
        self.delay_s = 0.0
        self._answering = threading.Event()
        self._answering.set()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                target = self.headers.get("X-Amz-Target", "")
                action = "dynamodb:" + target.rpartition(".")[2]
                proxy.actions.append(action)
                if not proxy._answering.is_set():
                    # Held, then dropped unanswered: its client gave up long ago, and
                    # forwarding it late would only queue it before the calls that follow.
                    proxy._answering.wait(timeout=60)
                    self.close_connection = True
                    return
                if action in proxy.refused or any(
                    key.encode() in body for key in proxy.refused_keys
                ):
                    self._deny(action)
                    return
                if proxy.delay_s:
                    time.sleep(proxy.delay_s)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                reply = proxy.upstream.post(upstream, content=body, headers=headers)
                if action in _WRITES and proxy._answers_to_lose:
                    proxy._answers_to_lose -= 1
                    self.close_connection = True
                    return
                self.send_response(reply.status_code)
                for name, value in reply.headers.items():
                    if name.lower() not in {"content-length", "transfer-encoding", "connection"}:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.content)))
                self.end_headers()
                self.wfile.write(reply.content)

            def _deny(self, action: str) -> None:
                denial = json.dumps(
                    {
                        "__type": "com.amazon.coral.service#AccessDeniedException",
                        "Message": f"not authorized to perform: {action}",
                    }
                ).encode()
                self.send_response(400)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("Content-Length", str(len(denial)))
                self.end_headers()
                self.wfile.write(denial)

            def log_message(self, *args: object) -> None:
                return None

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def lose_next_write(self) -> None:
        self._answers_to_lose += 1

    def hang(self) -> None:
        self._answering.clear()

    def release(self) -> None:
        self._answering.set()

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.upstream.close()
