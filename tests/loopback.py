"""A threaded HTTP server on 127.0.0.1 for the platform fakes (Slack, WhatsApp, Telegram)."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Server(ThreadingHTTPServer):
    """Remembers its open connections, so that stopping it cuts the kept-alive ones
    too: a platform that goes down closes them, it does not go on answering."""

    daemon_threads = True

    def __init__(self, *args: Any) -> None:
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(*args)

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, address = super().get_request()
        with self.connections_lock:
            self.connections.add(conn)
        return conn, address

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def cut(self) -> None:
        with self.connections_lock:
            open_now, self.connections = list(self.connections), set()
        for conn in open_now:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()


class LoopbackHandler(BaseHTTPRequestHandler):
    """A fake's request handler: logs nothing, reads the body, writes one answer."""

    def log_message(self, *args: Any) -> None:
        pass

    def body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def answer(
        self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class Loopback:
    """Serves a request handler class on a loopback port until ``stop``; ``url`` is
    where its API is (``url_path`` below the server's root)."""

    server: ThreadingHTTPServer | None = None
    url_path = ""

    def serve(self, handler: type[BaseHTTPRequestHandler], port: int = 0) -> int:
        self.server = _Server(("127.0.0.1", port), handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return int(self.server.server_address[1])

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.url_path}"

    def stop(self) -> None:
        """Stop listening and cut every open connection (kept-alive ones included)."""
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            if isinstance(self.server, _Server):
                self.server.cut()
