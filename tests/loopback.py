"""A threaded HTTP server on 127.0.0.1 for the platform fakes (Slack, WhatsApp)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Loopback:
    """Serves a request handler class on a loopback port until ``stop``."""

    server: ThreadingHTTPServer | None = None

    def serve(self, handler: type[BaseHTTPRequestHandler], port: int = 0) -> int:
        self.server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return int(self.server.server_address[1])

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.server_address[1])

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
