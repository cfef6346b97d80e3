"""Real local alert receivers for tests: an SMTP server (aiosmtpd) and an HTTP server that records POSTs."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Mailbox:
    messages: list[email.message.EmailMessage] = field(default_factory=list)

    def texts(self) -> list[str]:
        out = []
        for msg in self.messages:
            body = msg.get_body(preferencelist=("plain", "html"))
            out.append(f"{msg['Subject']}\n{body.get_content() if body else ''}")
        return out


@contextmanager
def smtp_server() -> Iterator[tuple[int, Mailbox]]:
    """An SMTP server on 127.0.0.1 that keeps every message it receives."""
    from aiosmtpd.controller import Controller

    box = Mailbox()

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
            box.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, box
    finally:
        controller.stop()


@contextmanager
def webhook_server(status: int = 200) -> Iterator[tuple[int, list[dict]]]:
    """An HTTP server on 127.0.0.1 that records the JSON body of every POST."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's hook name)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            received.append({"path": self.path, "json": json.loads(body or b"{}")})
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args):  # keep test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], received
    finally:
        server.shutdown()
        server.server_close()


def mail_url(port: int) -> str:
    """An Apprise URL for the local SMTP server, plain SMTP, no login."""
    return (f"mailto://127.0.0.1:{port}?smtp=127.0.0.1&mode=insecure"
            f"&from=alerts@energystat.example&to=governance@energystat.example")


def webhook_url(port: int) -> str:
    return f"json://127.0.0.1:{port}/energystat-alerts"
