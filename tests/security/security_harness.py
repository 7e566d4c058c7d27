"""Shared parts of the adversarial suite (tests/security): the serve process and registry from the
integration harness, plus the attackers' tools: a registry that accepts TCP and never answers, a
recording HTTP server that must never be contacted, slow clients, and images with a key in every
metadata field.

Standard library only. Every server listens on loopback and is stopped by its test's cleanup.
"""

import http.server
import json
import socket
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration"))

import helpers as h  # noqa: E402
import registry_harness as rh  # noqa: E402
from test_serve import Serve, admission_review, image_review, push  # noqa: E402,F401

KEY = h.SECRET_KEY
KEY_2 = h.SECRET_KEY_2
SCAN_TIMEOUT = 60


def start_serve(testcase, workdir, *extra, token=True):
    serve = Serve(workdir, *extra, token=token).start()
    testcase.addCleanup(serve.stop)
    return serve


def start_registry(testcase, workdir):
    registry = rh.Registry(Path(workdir) / "registry").start()
    testcase.addCleanup(registry.stop)
    return registry


class SilentServer:
    """Accepts TCP connections and never sends a byte (a registry that hangs after connect)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(512)
        self.port = self.sock.getsockname()[1]
        self.accepted = []
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def host(self):
        return f"127.0.0.1:{self.port}"

    def _accept(self):
        self.sock.settimeout(0.2)
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
                self.accepted.append(conn)
            except (socket.timeout, OSError):
                continue

    def stop(self):
        self.stopping = True
        self.thread.join(timeout=2)
        for conn in self.accepted:
            conn.close()
        self.sock.close()


class RecordingServer(http.server.ThreadingHTTPServer):
    """An HTTP server that records every request (and its Authorization header) and answers 401 with a
    Bearer realm, as a registry would: the place credentials must never reach."""

    daemon_threads = True

    def __init__(self):
        self.requests = []
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                recorder.requests.append((self.path, self.headers.get("Authorization")))
                body = b'{"errors":[{"code":"UNAUTHORIZED","message":"internal realm"}]}'
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Bearer realm="http://10.1.2.3/token",service="internal"')
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        super().__init__(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def host(self):
        return f"127.0.0.1:{self.server_address[1]}"

    def stop(self):
        self.shutdown()
        self.server_close()


def slow_clients(count, port, source="127.0.0.2", tls=False):
    """`count` connections from `source` that send a request line one byte at a time (slowloris)."""
    conns = []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((source, 0))
        s.settimeout(2)
        try:
            s.connect(("127.0.0.1", port))
            if not tls:
                s.send(b"G")
        except OSError:
            s.close()
            continue
        conns.append(s)
    return conns


def trickle(conns, stop_event, interval=1.0):
    """Sends one more header byte on each connection every `interval` seconds until stopped."""
    while not stop_event.wait(interval):
        for s in conns:
            try:
                s.send(b"E")
            except OSError:
                pass


def timed_status(url, timeout=5.0):
    started = time.monotonic()
    status = rh.http_status(url, timeout=timeout)
    return status, time.monotonic() - started


def leaky_metadata_image(root, name="meta"):
    """An image with the key in a BuildKit ARG history step, a label, an Env entry, a manifest annotation
    and a directory name (its file content is harmless), and a plain .env finding."""
    spec = {"images": [{
        "repo_tags": [f"example/{name}:1"],
        "env": ["PATH=/usr/bin", f"SCW_SECRET_KEY={KEY}"],
        "labels": {"org.example.deploy": f"SCW_SECRET_KEY={KEY}"},
        "annotations": {"org.example.note": f"scaleway secret_key={KEY}"},
        "layers": [
            {"compression": "gzip", "created_by": f"RUN |1 SCW_SECRET_KEY={KEY} /bin/sh -c make",
             "entries": [{"type": "dir", "path": "srv"},
                         {"type": "file", "path": f"srv/SCW_SECRET_KEY={KEY}/readme.txt", "content": "hello\n"}]},
            {"compression": "gzip", "created_by": "COPY .env /app/",
             "entries": [{"type": "file", "path": "app/.env", "content": f"SCW_SECRET_KEY={KEY_2}\n"}]},
        ]}]}
    return str(h.build_fixture(spec, Path(root) / f"{name}.tar", "oci-archive"))


def simple_image(root, name, content):
    spec = {"images": [{"repo_tags": [f"example/{name}:1"], "layers": [
        {"compression": "gzip", "created_by": f"COPY {name} /app/",
         "entries": [{"type": "file", "path": "app/config", "content": content}]}]}]}
    return str(h.build_fixture(spec, Path(root) / f"{name}.tar", "oci-archive"))


def wait_for(predicate, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def all_text(*values):
    """Everything given, as one string (JSON documents dumped), to search for a secret."""
    parts = []
    for v in values:
        if isinstance(v, (bytes, bytearray)):
            parts.append(v.decode("utf-8", errors="replace"))
        elif isinstance(v, str):
            parts.append(v)
        else:
            parts.append(json.dumps(v))
    return "\n".join(parts)
