"""The registry client at volume (issue 16): listing a registry's repositories and tags page by page,
resolving tags to digests, reusing connections, bounding transfers in flight per registry, honouring 429 and
Retry-After, and refusing what a hostile registry answers.

Against a real docker-registry (distribution 2.8, filled by tests/support/registry_population.py, once for
the module) driven through layerleak_registry_probe (tests/support/registry_probe.cpp, oci::RegistryCatalog
from the command line) and the layerleak binary:
- /v2/_catalog and tags/list with n=2 over 11 repositories and 6-7 tags each give exactly what was pushed;
  the namespace filter keeps NS and NS/…; resolved digests are those the population pushed and skopeo reports;
- a counting TCP relay in front of the registry: the scan of an image with >= 3 layers and the resolution of
  20 tags use a handful of connections for many more requests; 8 threads bounded to 2 transfers in flight
  through a slow relay never have more than 2 (+1) connections;
- --registry-concurrency accepts 1..64 only.

Against a small fake registry (http.server) for what a real one cannot be made to do: 429 and 503 with
Retry-After (seconds and HTTP-date: the wait happens, the request then succeeds), a Link to another host,
a Link that loops, a Link outside the endpoint, a page larger than 16 MiB, names outside the grammar, a
registry that omits Docker-Content-Digest (the manifest is hashed) or gives a wrong one.

Environment (set by CTest): LAYERLEAK_BIN, LAYERLEAK_REGISTRY_PROBE; docker-registry and skopeo installed.
Missing ones are failures, never skips. Standard library only.
"""

import email.utils
import hashlib
import http.client
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import unittest
from pathlib import Path

import helpers as h
import registry_harness as rh

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "support"))
import registry_population  # noqa: E402

TIMEOUT = 120
MANIFEST_TYPES = ("application/vnd.docker.distribution.manifest.v2+json", "application/vnd.oci.image.manifest.v1+json")


def probe_bin():
    path = os.environ.get("LAYERLEAK_REGISTRY_PROBE")
    if not path or not os.access(path, os.X_OK):
        raise AssertionError("LAYERLEAK_REGISTRY_PROBE must name the built layerleak_registry_probe (set by CTest)")
    return path


def clean_env(home):
    env = {k: v for k, v in os.environ.items()
           if k not in ("DOCKER_CONFIG", "REGISTRY_AUTH_FILE", "LAYERLEAK_REGISTRY_PASSWORD", "XDG_RUNTIME_DIR")}
    env["HOME"] = str(home)
    return env


def probe(home, *args, timeout=TIMEOUT):
    """Runs the probe; (exit status, parsed JSON of standard output, standard error text)."""
    proc = subprocess.run([probe_bin(), *[str(a) for a in args]], capture_output=True, timeout=timeout,
                          env=clean_env(home), check=False)
    out = proc.stdout.decode("utf-8", "replace")
    try:
        doc = json.loads(out) if out.strip() else None
    except json.JSONDecodeError:
        doc = None
    return proc.returncode, doc, proc.stderr.decode("utf-8", "replace")


class CountingRelay:
    """A TCP relay on 127.0.0.1 in front of `upstream_port`: counts the connections it accepts, the HTTP
    requests that go through, the connections that start with a TLS ClientHello and those of them that
    resume an earlier session, and (with `delay`) holds each answer back that long."""

    def __init__(self, upstream_port, delay=0.0):
        self.upstream_port = upstream_port
        self.delay = delay
        self.accepted = 0
        self.requests = 0
        self.handshakes = 0  # connections that start with a TLS ClientHello
        self.resumed = 0  # connections whose ClientHello offers a session to resume
        self.open_now = 0
        self.open_peak = 0
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = self._sock.getsockname()[1]
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def host(self):
        return f"127.0.0.1:{self.port}"

    def reset(self):
        with self._lock:
            self.accepted = self.requests = self.open_peak = self.resumed = self.handshakes = 0

    def stop(self):
        self._stop = True
        try:
            self._sock.close()
        except OSError:
            pass

    def _accept(self):
        while not self._stop:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                self.open_now += 1
                self.open_peak = max(self.open_peak, self.open_now)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        except OSError:
            client.close()
            return
        done = threading.Event()

        def pump(src, dst, count_requests):
            tail = b""
            first = count_requests
            try:
                while True:
                    data = src.recv(65536)
                    if not data:
                        break
                    if first:
                        first = False
                        with self._lock:
                            self.handshakes += self._client_hello(data)
                            self.resumed += self._resumes(data)
                    if count_requests:
                        seen = tail + data
                        with self._lock:
                            self.requests += seen.count(b" HTTP/1.1\r\n") - tail.count(b" HTTP/1.1\r\n")
                        tail = seen[-16:]
                    elif self.delay:
                        time.sleep(self.delay)
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                done.set()

        threading.Thread(target=pump, args=(client, upstream, True), daemon=True).start()
        pump(upstream, client, False)
        done.wait(5)
        client.close()
        upstream.close()
        with self._lock:
            self.open_now -= 1

    @staticmethod
    def _client_hello(record):
        """True when `record` starts a TLS handshake (a handshake record holding a ClientHello)."""
        return len(record) > 5 and record[0] == 0x16 and record[5] == 0x01

    @staticmethod
    def _resumes(record):
        """True when `record` is a ClientHello that offers a session to resume (RFC 8446 §4.1.2: TLS 1.3
        pre_shared_key, or a TLS 1.2 session ticket)."""
        if len(record) < 44 or record[0] != 0x16 or record[5] != 0x01:
            return False
        at = 5 + 4 + 2 + 32
        session_id = record[at]
        at += 1 + session_id
        at += 2 + int.from_bytes(record[at:at + 2], "big")  # cipher suites
        at += 1 + record[at]                                  # compression methods
        end = at + 2 + int.from_bytes(record[at:at + 2], "big")
        at += 2
        while at + 4 <= min(end, len(record)):
            kind, size = int.from_bytes(record[at:at + 2], "big"), int.from_bytes(record[at + 2:at + 4], "big")
            if kind == 41 or (kind == 35 and size > 0):  # pre_shared_key; a TLS 1.2 session ticket
                return True
            at += 4 + size
        return False


class TestRealRegistry(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = h.make_class_tempdir(cls)
        cls.home = cls.tmp / "home"
        cls.home.mkdir()
        cls.pop = registry_population.populate_registry(cls.tmp / "population", repositories=10, tags_per_repository=5)
        cls.addClassCleanup(cls.pop.stop)
        cls.upstream_port = int(cls.pop.host.rsplit(":", 1)[1])

    def relay(self, delay=0.0):
        r = CountingRelay(self.upstream_port, delay)
        self.addCleanup(r.stop)
        return r

    def test_catalog_pages_of_two(self):
        self.assertGreaterEqual(len(self.pop.tags), 5)
        for page in ("2", "1000"):
            rc, doc, err = probe(self.home, "--page-size", page, "repos", self.pop.target)
            self.assertEqual(rc, 0, err)
            self.assertEqual(doc["repositories"], sorted(self.pop.tags))

    def test_namespace_filter(self):
        rc, doc, err = probe(self.home, "--page-size", "2", "repos", self.pop.target + "/shop")
        self.assertEqual(rc, 0, err)
        expected = sorted(r for r in self.pop.tags if r.startswith("shop/"))
        self.assertGreaterEqual(len(expected), 2)
        self.assertEqual(doc["repositories"], expected)
        # A namespace is a path prefix, not a string prefix: "sho" matches nothing; a repository itself matches.
        rc, doc, err = probe(self.home, "repos", self.pop.target + "/sho")
        self.assertEqual((rc, doc["repositories"]), (0, []), err)
        rc, doc, err = probe(self.home, "repos", self.pop.target + "/shop/cart/")
        self.assertEqual((rc, doc["repositories"]), (0, ["shop/cart"]), err)

    def test_tags_pages_of_two(self):
        repo = max(self.pop.tags, key=lambda r: len(self.pop.tags[r]))
        self.assertGreaterEqual(len(self.pop.tags[repo]), 5)
        rc, doc, err = probe(self.home, "--page-size", "2", "tags", self.pop.target, repo)
        self.assertEqual(rc, 0, err)
        self.assertEqual(doc["tags"], sorted(self.pop.tags[repo]))
        rc, doc, err = probe(self.home, "tags", self.pop.target, "no/such-repo")
        self.assertEqual(rc, 2)
        self.assertEqual(doc["error"]["code"], "not_found", doc)

    def test_resolve_matches_the_pushed_digest_and_skopeo(self):
        repo = "shop/cart"
        tags = sorted(self.pop.tags[repo])
        rc, doc, err = probe(self.home, "resolve", self.pop.target, repo, *tags)
        self.assertEqual(rc, 0, err)
        self.assertEqual(doc["digests"], self.pop.tags[repo])
        for tag in tags[:2]:
            out = h.skopeo("inspect", "--tls-verify=false", "--no-creds", f"docker://{self.pop.host}/{repo}:{tag}")
            self.assertEqual(doc["digests"][tag], json.loads(out.stdout)["Digest"])
        # The multi-platform index resolves to the index's digest; a digest resolves to itself.
        index_tags = self.pop.tags["platform/multiarch"]
        tag, digest = sorted(index_tags.items())[0]
        rc, doc, err = probe(self.home, "resolve", self.pop.target, "platform/multiarch", tag, digest)
        self.assertEqual((rc, doc["digests"]), (0, {tag: digest, digest: digest}), err)
        rc, doc, err = probe(self.home, "resolve", self.pop.target, repo, "no-such-tag")
        self.assertEqual((rc, doc["error"]["code"]), (2, "not_found"), err)

    def test_resolving_20_tags_reuses_connections(self):
        relay = self.relay()
        refs = [(repo, tag) for repo in sorted(self.pop.tags) for tag in sorted(self.pop.tags[repo])][:20]
        self.assertEqual(len(refs), 20)
        by_repo = {}
        for repo, tag in refs:
            by_repo.setdefault(repo, []).append(tag)
        # One process per repository would reconnect each time: resolve-all lists and resolves in one process.
        rc, doc, err = probe(self.home, "resolve-all", f"docker://{relay.host}/shop")
        self.assertEqual(rc, 0, err)
        resolved = len(doc["digests"])
        self.assertGreaterEqual(resolved, 20)
        expected = {f"{r}:{t}": d for r in self.pop.tags if r.startswith("shop/") for t, d in self.pop.tags[r].items()}
        self.assertEqual(doc["digests"], expected)
        print(f"\nresolve-all: {resolved} tags, {relay.requests} requests, {relay.accepted} connections", file=sys.stderr)
        self.assertGreaterEqual(relay.requests, resolved)
        # A loopback registry is asked in plain HTTP first: no TLS attempt, one connection for everything
        # (two if the registry closed one).
        self.assertEqual(relay.handshakes, 0)
        self.assertLessEqual(relay.accepted, 2, f"{relay.accepted} connections for {relay.requests} requests")

    def test_scan_of_a_multi_layer_image_reuses_connections(self):
        repo, tag = self.image_with_layers(3)
        for jobs, most in (("1", 1), ("4", 4)):
            relay = self.relay()
            proc = subprocess.run([h.layerleak_bin(), "scan", "--format", "json", "--jobs", jobs,
                                   f"docker://{relay.host}/{repo}:{tag}"],
                                  capture_output=True, timeout=TIMEOUT, env=clean_env(self.home), check=False)
            self.assertIn(proc.returncode, (0, 1), proc.stderr.decode())
            report = json.loads(proc.stdout)
            layers = report["images"][0]["layers"]
            self.assertGreaterEqual(len(layers), 3)
            print(f"\nscan of {len(layers)} layers, --jobs {jobs}: {relay.requests} requests, {relay.accepted} connections",
                  file=sys.stderr)
            # /v2/, manifest, config, one request per layer.
            self.assertGreaterEqual(relay.requests, 3 + len(layers))
            # --jobs 1: one connection for every request (a loopback registry is asked in plain HTTP first,
            # no TLS attempt). --jobs 4: layers are read 4 at once (at most --registry-concurrency, 4,
            # transfers in flight).
            self.assertEqual(relay.handshakes, 0)
            self.assertLessEqual(relay.accepted, most)

    def test_one_tls_connection_for_a_scan_and_for_resolving(self):
        # A second registry process serving the same storage over HTTPS, behind the counting relay.
        tls_dir = self.tmp / "tls"
        tls_dir.mkdir(exist_ok=True)
        reg = rh.Registry(tls_dir, tls=rh.make_tls_cert(tls_dir))
        reg.root = self.pop.registry.root
        reg.start()
        self.addCleanup(reg.stop)
        relay = CountingRelay(reg.port)
        self.addCleanup(relay.stop)
        repo, tag = self.image_with_layers(3)
        proc = subprocess.run([h.layerleak_bin(), "scan", "--format", "json", "--jobs", "1", "--tls-verify=false",
                               f"docker://{relay.host}/{repo}:{tag}"],
                              capture_output=True, timeout=TIMEOUT, env=clean_env(self.home), check=False)
        self.assertIn(proc.returncode, (0, 1), proc.stderr.decode())
        layers = json.loads(proc.stdout)["images"][0]["layers"]
        print(f"\nTLS scan of {len(layers)} layers, --jobs 1: {relay.accepted} connections, {relay.handshakes} TLS",
              file=sys.stderr)
        # The plain-HTTP request a loopback registry is asked first (refused), then one TLS connection.
        self.assertEqual(relay.accepted, 2)
        self.assertEqual(relay.handshakes, 1)
        self.assertEqual(relay.resumed, 0)
        # Two layers read at once need two connections; the second resumes the first one's TLS session
        # (shared through libcurl's share handle): still one full handshake per registry per scan.
        relay.reset()
        proc = subprocess.run([h.layerleak_bin(), "scan", "--format", "json", "--jobs", "2", "--tls-verify=false",
                               f"docker://{relay.host}/{repo}:{tag}"],
                              capture_output=True, timeout=TIMEOUT, env=clean_env(self.home), check=False)
        self.assertIn(proc.returncode, (0, 1), proc.stderr.decode())
        print(f"TLS scan, --jobs 2: {relay.handshakes} TLS connections, {relay.resumed} resumed", file=sys.stderr)
        self.assertLessEqual(relay.handshakes, 2)
        self.assertEqual(relay.handshakes - relay.resumed, 1, "full TLS handshakes")
        relay.reset()
        rc, doc, err = probe(self.home, "--tls-verify=false", "resolve-all", f"docker://{relay.host}/shop")
        self.assertEqual(rc, 0, err)
        print(f"TLS resolve-all: {len(doc['digests'])} tags, {relay.handshakes} TLS connections", file=sys.stderr)
        self.assertGreaterEqual(len(doc["digests"]), 20)
        self.assertEqual(relay.handshakes, 1)

    def image_with_layers(self, minimum):
        conn = http.client.HTTPConnection(self.pop.host, timeout=10)
        try:
            for repo in sorted(self.pop.tags):
                for tag in sorted(self.pop.tags[repo]):
                    conn.request("GET", f"/v2/{repo}/manifests/{tag}", headers={"Accept": ", ".join(MANIFEST_TYPES)})
                    resp = conn.getresponse()
                    body = resp.read()
                    if resp.status == 200 and resp.getheader("Content-Type", "").split(";")[0] in MANIFEST_TYPES:
                        if len(json.loads(body).get("layers", [])) >= minimum:
                            return repo, tag
        finally:
            conn.close()
        self.fail(f"the population has no image with {minimum} layers")

    def test_transfers_in_flight_are_bounded_per_registry(self):
        # A slow relay: every answer takes 50 ms, so 8 threads would keep 8 connections busy unbounded.
        relay = self.relay(delay=0.05)
        repo = "shop/cart"
        tags = sorted(self.pop.tags[repo]) * 3
        rc, doc, err = probe(self.home, "--threads", "8", "--concurrency", "2", "resolve", f"docker://{relay.host}", repo, *tags)
        self.assertEqual(rc, 0, err)
        self.assertEqual(doc["digests"], self.pop.tags[repo])
        print(f"\n8 threads, concurrency 2: {relay.requests} requests, {relay.accepted} connections", file=sys.stderr)
        self.assertLessEqual(relay.accepted, 2)  # no TLS attempt: a loopback registry is asked in plain HTTP first
        relay8 = self.relay(delay=0.05)
        rc, doc, err = probe(self.home, "--threads", "8", "--concurrency", "8", "resolve", f"docker://{relay8.host}", repo, *tags)
        self.assertEqual(rc, 0, err)
        print(f"8 threads, concurrency 8: {relay8.requests} requests, {relay8.accepted} connections", file=sys.stderr)
        self.assertGreater(relay8.accepted, 3)  # the bound above is what kept it low

    def test_registry_concurrency_option(self):
        for bad in ("0", "65", "x"):
            proc = subprocess.run([h.layerleak_bin(), "scan", "--registry-concurrency", bad, f"docker://{self.pop.host}/shop/cart:latest"],
                                  capture_output=True, timeout=TIMEOUT, env=clean_env(self.home), check=False)
            self.assertEqual(proc.returncode, 2, bad)
            self.assertIn("--registry-concurrency", proc.stderr.decode())
        relay = self.relay()
        proc = subprocess.run([h.layerleak_bin(), "scan", "--format", "json", "--jobs", "4", "--registry-concurrency", "1",
                               f"docker://{relay.host}/shop/cart:latest"],
                              capture_output=True, timeout=TIMEOUT, env=clean_env(self.home), check=False)
        self.assertIn(proc.returncode, (0, 1), proc.stderr.decode())
        self.assertLessEqual(relay.accepted, 1)  # one connection for everything


# ---- a fake registry for what a real one will not do -------------------------------------------------

MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": "sha256:" + "a" * 64, "size": 2}, "layers": []}).encode()
MANIFEST_DIGEST = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()


class FakeRegistry:
    """A distribution-like registry on 127.0.0.1 whose answers each test sets: `routes` maps a path (with
    its query) to a function (handler) -> (status, headers, body). Requests are logged with their time."""

    def __init__(self):
        self.routes = {}
        self.log = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def answer(self, head_only):
                fake.log.append((time.monotonic(), self.command, self.path))
                if self.path == "/v2/":
                    status, headers, body = 200, {}, b"{}"
                elif self.path in fake.routes:
                    status, headers, body = fake.routes[self.path](self)
                else:
                    status, headers, body = 404, {}, b'{"errors":[{"code":"NAME_UNKNOWN","message":"no"}]}'
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not head_only:
                    self.wfile.write(body)

            def do_GET(self):
                self.answer(False)

            def do_HEAD(self):
                self.answer(True)

        self.server = rh._QuietServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def target(self):
        return f"docker://127.0.0.1:{self.port}"

    def requests(self, path_prefix):
        return [(t, m, p) for t, m, p in self.log if p.startswith(path_prefix)]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def page(key, names, link=None, status=200):
    headers = {"Content-Type": "application/json"}
    if link:
        headers["Link"] = link
    return lambda _req: (status, headers, json.dumps({key: names}).encode())


class TestHostileRegistry(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = h.make_class_tempdir(cls)
        cls.home = cls.tmp / "home"
        cls.home.mkdir()

    def setUp(self):
        self.fake = FakeRegistry()
        self.addCleanup(self.fake.stop)

    def probe(self, *args):
        return probe(self.home, "--page-size", "2", *args)

    def test_429_retry_after_seconds(self):
        calls = []

        def catalog(_req):
            calls.append(time.monotonic())
            if len(calls) == 1:
                return 429, {"Retry-After": "2"}, b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}'
            return 200, {"Content-Type": "application/json"}, b'{"repositories":["a/b"]}'

        self.fake.routes["/v2/_catalog?n=2"] = catalog
        start = time.monotonic()
        rc, doc, err = self.probe("repos", self.fake.target)
        self.assertEqual((rc, doc), (0, {"repositories": ["a/b"]}), err)
        self.assertEqual(len(calls), 2)
        self.assertGreaterEqual(calls[1] - calls[0], 1.9)
        self.assertLess(time.monotonic() - start, 20)

    def test_503_retry_after_http_date_holds_back_the_registry(self):
        calls = []

        def tags(_req):
            calls.append(time.monotonic())
            if len(calls) == 1:
                when = email.utils.formatdate(time.time() + 3, usegmt=True)
                return 503, {"Retry-After": when}, b""
            return 200, {"Content-Type": "application/json"}, b'{"name":"a/b","tags":["v1"]}'

        self.fake.routes["/v2/a/b/tags/list?n=2"] = tags
        rc, doc, err = self.probe("tags", self.fake.target, "a/b")
        self.assertEqual((rc, doc), (0, {"tags": ["v1"]}), err)
        self.assertEqual(len(calls), 2)
        self.assertGreaterEqual(calls[1] - calls[0], 1.5)  # HTTP-dates have whole seconds

    def test_429_holds_back_the_other_threads_too(self):
        first_429 = []
        lock = threading.Lock()

        def manifest(req):
            with lock:
                if not first_429:
                    first_429.append(time.monotonic())
                    return 429, {"Retry-After": "2"}, b""
            return 200, {"Docker-Content-Digest": MANIFEST_DIGEST}, MANIFEST

        tags = [f"v{i}" for i in range(12)]
        for tag in tags:
            self.fake.routes[f"/v2/a/b/manifests/{tag}"] = manifest
        rc, doc, err = probe(self.home, "--threads", "4", "--concurrency", "4", "resolve", self.fake.target, "a/b", *tags)
        self.assertEqual(rc, 0, err)
        self.assertEqual(doc["digests"], {tag: MANIFEST_DIGEST for tag in tags})
        t429 = first_429[0]
        later = [t - t429 for t, _m, p in self.fake.log if "/manifests/" in p and t > t429]
        self.assertGreaterEqual(len(later), len(tags))
        # Requests already under way when the 429 came may land just after it; then nothing for 2 s.
        quiet = [d for d in later if 0.3 < d < 1.9]
        self.assertEqual(quiet, [], f"requests {later} s after the 429")
        self.assertGreaterEqual(max(later), 1.9)

    def test_sigint_ends_a_retry_after_wait(self):
        self.fake.routes["/v2/a/b/manifests/v1"] = lambda _r: (429, {"Retry-After": "60"}, b"")
        proc = subprocess.Popen([h.layerleak_bin(), "scan", f"docker://127.0.0.1:{self.fake.port}/a/b:v1"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env(self.home))
        deadline = time.monotonic() + 10
        while not self.fake.requests("/v2/a/b/manifests/") and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertTrue(self.fake.requests("/v2/a/b/manifests/"), "the scan never asked for the manifest")
        time.sleep(0.3)
        start = time.monotonic()
        proc.send_signal(2)
        try:
            _out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            self.fail("SIGINT did not end the wait for Retry-After")
        took = time.monotonic() - start
        print(f"\n  SIGINT during a 60 s Retry-After wait: exit after {took:.3f} s", file=sys.stderr)
        self.assertLess(took, 2.0)
        self.assertNotEqual(proc.returncode, 0)
        self.assertEqual(len(self.fake.requests("/v2/a/b/manifests/")), 1)

    def test_429_forever_gives_up(self):
        self.fake.routes["/v2/_catalog?n=2"] = lambda _r: (429, {"Retry-After": "0"}, b"")
        rc, doc, err = probe(self.home, "--page-size", "2", "--max-retries", "2", "repos", self.fake.target)
        self.assertEqual(rc, 2)
        self.assertEqual(doc["error"]["code"], "network")
        self.assertEqual(len(self.fake.requests("/v2/_catalog")), 3)

    def test_link_to_another_host_is_refused(self):
        other = FakeRegistry()
        self.addCleanup(other.stop)
        other.routes["/v2/_catalog?last=b&n=2"] = page("repositories", ["c/d"])
        self.fake.routes["/v2/_catalog?n=2"] = page(
            "repositories", ["a/b"], link=f'<http://127.0.0.1:{other.port}/v2/_catalog?last=b&n=2>; rel="next"')
        rc, doc, err = self.probe("repos", self.fake.target)
        self.assertEqual(rc, 2)
        self.assertEqual(doc["error"]["code"], "malformed")
        self.assertIn("another origin", doc["error"]["message"])
        self.assertEqual(other.log, [])

    def test_same_host_absolute_link_and_relative_links_are_followed(self):
        self.fake.routes["/v2/_catalog?n=2"] = page(
            "repositories", ["a/b", "a/c"], link=f'<http://127.0.0.1:{self.fake.port}/v2/_catalog?last=a%2Fc&n=2>; rel="next"')
        self.fake.routes["/v2/_catalog?last=a%2Fc&n=2"] = page(
            "repositories", ["b/a", "b/b"], link='<?last=b%2Fb&n=2>; rel="next"')
        self.fake.routes["/v2/_catalog?last=b%2Fb&n=2"] = page(
            "repositories", ["c"], link='</v2/_catalog?last=c&n=2>; rel="prev"')  # no next: the end
        rc, doc, err = self.probe("repos", self.fake.target)
        self.assertEqual((rc, doc), (0, {"repositories": ["a/b", "a/c", "b/a", "b/b", "c"]}), err)

    def test_looping_link_is_refused(self):
        self.fake.routes["/v2/_catalog?n=2"] = page("repositories", ["a/b"], link='</v2/_catalog?last=a%2Fb&n=2>; rel="next"')
        self.fake.routes["/v2/_catalog?last=a%2Fb&n=2"] = page("repositories", ["a/c"], link='</v2/_catalog?n=2&last=a/b>; rel="next"')
        rc, doc, err = self.probe("repos", self.fake.target)
        self.assertEqual(rc, 2)
        self.assertEqual(doc["error"]["code"], "malformed")
        self.assertIn("loops", doc["error"]["message"])
        self.assertLessEqual(len(self.fake.requests("/v2/_catalog")), 2)
        # The same page asked for again.
        self.fake.routes["/v2/_catalog?n=2"] = page("repositories", ["a/b"], link='</v2/_catalog?n=2>; rel="next"')
        rc, doc, err = self.probe("repos", self.fake.target)
        self.assertEqual((rc, doc["error"]["code"]), (2, "malformed"), err)
        self.assertIn("loops", doc["error"]["message"])

    def test_link_outside_the_endpoint_is_refused(self):
        for link in ['</v2/a/b/manifests/latest?n=2>; rel="next"', '</v2/_catalog/../x?n=2>; rel="next"',
                     '</v2/_catalog?n=2&last=a%0d%0aX-Evil:%201 b>; rel="next"', '<//evil.example/v2/_catalog?n=2>; rel="next"']:
            with self.subTest(link=link):
                self.fake.routes["/v2/_catalog?n=2"] = page("repositories", ["a/b"], link=link)
                rc, doc, err = self.probe("repos", self.fake.target)
                self.assertEqual((rc, doc["error"]["code"]), (2, "malformed"), err)

    def test_huge_page_is_refused(self):
        body = b'{"repositories":["' + b"a" * (17 << 20) + b'"]}'
        self.fake.routes["/v2/_catalog?n=2"] = lambda _r: (200, {"Content-Type": "application/json"}, body)
        rc, doc, err = self.probe("repos", self.fake.target)
        self.assertEqual(rc, 2)
        self.assertEqual(doc["error"]["code"], "limit")

    def test_names_outside_the_grammar_are_skipped_with_a_warning(self):
        bad = ["../etc", "UPPER/case", "a%2fb", "a\u0000b", "a//b", "a..b", "-a", "a/", "x" * 256, "a?n=1", 5, None]
        self.fake.routes["/v2/_catalog?n=2"] = page("repositories", ["good/app", *bad, "good/app"])
        self.fake.routes["/v2/good/app/tags/list?n=2"] = page("tags", ["v1", "../../x", "-bad", "a b", "a/b", "t" * 129, "_ok"])
        rc, doc, err = self.probe("repos", self.fake.target)
        self.assertEqual((rc, doc), (0, {"repositories": ["good/app"]}), err)
        self.assertIn('skipped repository "../etc"', err)
        self.assertIn('"a\\x00b"', err)  # control bytes escaped in messages
        self.assertIn("(not a string)", err)
        rc, doc, err = self.probe("tags", self.fake.target, "good/app")
        self.assertEqual((rc, doc), (0, {"tags": ["_ok", "v1"]}), err)
        self.assertIn('skipped tag "../../x"', err)
        # Names the caller gives are checked too, before any request.
        before = len(self.fake.log)
        for name in ("../x", "A/b", "a/b/../../c"):
            rc, doc, err = self.probe("tags", self.fake.target, name)
            self.assertEqual((rc, doc["error"]["code"]), (2, "invalid_argument"), name)
        rc, doc, err = self.probe("resolve", self.fake.target, "good/app", "../../v2/_catalog")
        self.assertEqual((rc, doc["error"]["code"]), (2, "invalid_argument"))
        self.assertEqual(len(self.fake.log), before + 4)  # the pings of the four probe processes only

    def test_not_a_listing(self):
        for body in (b"[]", b"not json", b'{"repositories": "a/b"}'):
            with self.subTest(body=body):
                self.fake.routes["/v2/_catalog?n=2"] = lambda _r, b=body: (200, {}, b)
                rc, doc, err = self.probe("repos", self.fake.target)
                self.assertEqual((rc, doc["error"]["code"]), (2, "malformed"), err)

    def test_resolve_without_docker_content_digest_hashes_the_manifest(self):
        self.fake.routes["/v2/a/b/manifests/v1"] = lambda _r: (200, {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}, MANIFEST)
        rc, doc, err = self.probe("resolve", self.fake.target, "a/b", "v1")
        self.assertEqual((rc, doc), (0, {"digests": {"v1": MANIFEST_DIGEST}}), err)
        methods = [m for _, m, p in self.fake.log if p == "/v2/a/b/manifests/v1"]
        self.assertEqual(methods, ["HEAD", "GET"])

    def test_resolve_with_docker_content_digest_is_one_head(self):
        self.fake.routes["/v2/a/b/manifests/v1"] = lambda _r: (
            200, {"Content-Type": "application/vnd.oci.image.manifest.v1+json", "Docker-Content-Digest": MANIFEST_DIGEST}, MANIFEST)
        rc, doc, err = self.probe("resolve", self.fake.target, "a/b", "v1")
        self.assertEqual((rc, doc), (0, {"digests": {"v1": MANIFEST_DIGEST}}), err)
        self.assertEqual([m for _, m, p in self.fake.log if p == "/v2/a/b/manifests/v1"], ["HEAD"])

    def test_resolve_with_a_malformed_or_wrong_digest(self):
        # A malformed header on HEAD: the manifest is hashed instead.
        self.fake.routes["/v2/a/b/manifests/v1"] = lambda r: (
            200, {"Docker-Content-Digest": "sha256:../../etc" if r.command == "HEAD" else MANIFEST_DIGEST}, MANIFEST)
        rc, doc, err = self.probe("resolve", self.fake.target, "a/b", "v1")
        self.assertEqual((rc, doc), (0, {"digests": {"v1": MANIFEST_DIGEST}}), err)
        # A GET whose header disagrees with the bytes: refused.
        self.fake.routes["/v2/a/b/manifests/v2"] = lambda r: (200, {"Docker-Content-Digest": "sha256:" + "b" * 64} if r.command == "GET" else {}, MANIFEST)
        rc, doc, err = self.probe("resolve", self.fake.target, "a/b", "v2")
        self.assertEqual((rc, doc["error"]["code"]), (2, "digest_mismatch"), err)
        # A digest asked for, another answered.
        wanted = "sha256:" + "c" * 64
        self.fake.routes[f"/v2/a/b/manifests/{wanted}"] = lambda r: (200, {"Docker-Content-Digest": MANIFEST_DIGEST}, MANIFEST)
        rc, doc, err = self.probe("resolve", self.fake.target, "a/b", wanted)
        self.assertEqual((rc, doc["error"]["code"]), (2, "digest_mismatch"), err)

    def test_bad_targets(self):
        for target in ("docker://", "docker://ho st", "docker://host/UPPER", "docker://host/ns@sha256:" + "a" * 64, "docker://host/a//b"):
            with self.subTest(target=target):
                rc, doc, err = probe(self.home, "repos", target)
                self.assertEqual((rc, doc["error"]["code"]), (2, "invalid_argument"), err)


if __name__ == "__main__":
    unittest.main()
