"""Behind TLS an app marks its session cookie Secure; the control plane talks to it over plain
HTTP on the instance's private network and must still send that cookie back (n8n's login, then
the calls that need it, as in the `rotate_credentials` hooks)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tenantry.instances.tenant_http import tenant_session


class _App(BaseHTTPRequestHandler):
    def do_POST(self):
        self.send_response(200)
        self.send_header("Set-Cookie", "n8n-auth=token123; Path=/; HttpOnly; Secure; SameSite=Lax")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        body = (self.headers.get("Cookie") or "").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_secure_cookie_of_the_app_is_sent_back_over_plain_http():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _App)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        session = tenant_session()
        base = f"http://127.0.0.1:{server.server_port}"
        session.post(f"{base}/rest/login", timeout=5)
        assert session.get(f"{base}/rest/me", timeout=5).text == "n8n-auth=token123"
    finally:
        server.shutdown()
