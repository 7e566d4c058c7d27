"""A fake Scaleway IAM API on loopback, for `layerleak scan --verify` tests. Standard library only.

It answers GET /iam/v1alpha1/api-keys/{access_key} and GET /iam/v1alpha1/api-keys?page_size=N the way the real
API does (field names and error bodies of api.scaleway.com), chosen by the X-Auth-Token it receives:

- a key registered with behaviour "live": 200 with the API key object (list: {"api_keys": [...], "total_count"});
- "forbidden": 403 {"type": "permissions_denied", "message": "insufficient permissions", "details": [...]};
- any unregistered token, or "revoked": 401 {"type": "denied_authentication", "method": "api_key",
  "reason": "invalid_argument", "message": "authentication is denied"} ("expired" gives reason "expired");
- hostile or broken behaviours for the client's own tests: "error" (500), "hang" (never answers),
  "redirect" (302 to `redirect_to`), "deep" (401 with 200 KiB of '['), "impostor" (200
  describing another access key), "ratelimit" (429 with Retry-After: 1 once, then as "live"), "huge"
  (a 5 MiB body), "drip" (a byte a second), "badjson" (200 with a broken body), "escapes" (200 whose
  description holds terminal escape sequences and a newline).

Every request is recorded (method, path with query, headers in order, body length) in `requests`.

Run as a script for a manual demo: `python3 fake_scaleway_api.py KEYS.json` prints the port; KEYS.json maps
secret keys to {"behaviour", "access_key", ...}.
"""

import http.server
import json
import sys
import threading
import time
from urllib.parse import urlsplit, parse_qs

API_KEYS_PATH = "/iam/v1alpha1/api-keys"


def api_key_object(access_key, meta):
    """The JSON of an IAM API key as GET /iam/v1alpha1/api-keys/{access_key} returns it (no secret_key)."""
    obj = {
        "access_key": access_key,
        "secret_key": None,
        "description": meta.get("description", ""),
        "created_at": meta.get("created_at", "2025-06-02T09:14:27.513871Z"),
        "updated_at": meta.get("updated_at", "2025-06-02T09:14:27.513871Z"),
        "expires_at": meta.get("expires_at"),
        "default_project_id": meta.get("default_project_id", "6d9e3bbe-0b40-4f2f-a3a0-7c9d2c3e1f10"),
        "editable": True,
        "deletable": True,
        "managed": False,
        "creation_ip": meta.get("creation_ip", "198.51.100.23"),
    }
    if "user_id" in meta:
        obj["user_id"] = meta["user_id"]
    else:
        obj["application_id"] = meta.get("application_id", "2c1f7a5e-8b3d-4e6f-9a0b-1c2d3e4f5a6b")
    return obj


DENIED = {"message": "authentication is denied", "method": "api_key", "reason": "invalid_argument",
          "type": "denied_authentication"}
FORBIDDEN = {"message": "insufficient permissions", "type": "permissions_denied",
             "details": [{"resource": "api_key", "action": "read"}]}


class FakeScalewayApi:
    """Serves on 127.0.0.1:<port> in a thread. `keys` maps a secret key to a dict with "behaviour" and
    optional "access_key" and metadata (description, user_id or application_id, default_project_id, ...)."""

    def __init__(self, keys=None, redirect_to=None):
        self.keys = dict(keys or {})
        self.redirect_to = redirect_to
        self.requests = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ratelimited = set()
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _record(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length > 0 else b""
                with api._lock:
                    api.requests.append({"method": self.command, "path": self.path,
                                         "headers": list(self.headers.items()), "body_length": len(body)})

            def _send(self, status, body, extra=()):
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in extra:
                    self.send_header(name, value)
                self.end_headers()
                try:
                    self.wfile.write(data)
                except OSError:  # the client gave up (a body larger than it reads): expected
                    pass

            def _any(self):
                self._record()
                api._answer(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _any

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def snapshot(self):
        with self._lock:
            return list(self.requests)

    def _answer(self, h):
        url = urlsplit(h.path)
        token = h.headers.get("X-Auth-Token", "")
        key = self.keys.get(token)
        behaviour = key["behaviour"] if key else "revoked"
        if behaviour == "ratelimit" and token not in self._ratelimited:
            self._ratelimited.add(token)
            return h._send(429, {"message": "rate limit exceeded", "type": "too_many_requests"}, [("Retry-After", "1")])
        if behaviour in ("revoked", "expired"):
            body = dict(DENIED)
            if behaviour == "expired":
                body["reason"] = "expired"
            return h._send(401, body)
        if behaviour == "forbidden":
            return h._send(403, FORBIDDEN)
        if behaviour == "error":
            return h._send(500, {"message": "internal error", "type": "internal"})
        if behaviour == "hang":
            self._stop.wait(120)
            return None
        if behaviour == "redirect":
            return h._send(302, b"", [("Location", self.redirect_to + h.path)])
        if behaviour == "huge":
            return h._send(200, b"{\"access_key\": \"" + b"A" * (5 << 20) + b"\"}")
        if behaviour == "drip":
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", "1000")
            h.end_headers()
            for _ in range(1000):
                if self._stop.wait(1):
                    return None
                try:
                    h.wfile.write(b" ")
                    h.wfile.flush()
                except OSError:
                    return None
            return None
        if behaviour == "deep":  # 200 KiB of nesting: a recursive parser or destructor would overflow its stack
            return h._send(401, b"[" * (200 << 10))
        if behaviour == "impostor":  # a 200 that describes some other key: its metadata must not be reported
            return h._send(200, api_key_object("SCWZZZZZZZZZZZZZZZZZ", {"description": "not this key"}))
        if behaviour == "badjson":
            return h._send(200, b"{\"access_key\": [1, 2, {")
        # live (and ratelimit after its one 429, escapes)
        meta = dict(key)
        if behaviour == "escapes":
            meta["description"] = "ci\x1b[2J\x1b]0;pwned\x07 key\nSECOND LINE"
        access_key = key.get("access_key", "")
        if url.path == API_KEYS_PATH:
            page_size = int(parse_qs(url.query).get("page_size", ["20"])[0])
            keys = [api_key_object(access_key or "SCWAAAAAAAAAAAAAAAAA", meta)][:page_size]
            return h._send(200, {"api_keys": keys, "total_count": 1})
        if url.path.startswith(API_KEYS_PATH + "/"):
            wanted = url.path[len(API_KEYS_PATH) + 1:]
            if wanted != access_key:
                return h._send(404, {"message": "resource is not found", "resource": "api_key",
                                     "resource_id": wanted, "type": "not_found"})
            return h._send(200, api_key_object(access_key, meta))
        return h._send(404, {"message": "resource is not found", "type": "not_found"})


if __name__ == "__main__":
    api = FakeScalewayApi(json.loads(open(sys.argv[1]).read()))
    api.start()
    print(api.port, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        api.stop()
