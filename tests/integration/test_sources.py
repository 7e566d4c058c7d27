"""Image sources read front to back: `scan -` (a docker-archive or oci-archive tar on standard input, plain,
gzip or zstd), compressed archive files, and `docker-daemon:` against a fake Docker Engine API server
(unix socket and loopback TCP) that serves a real `docker save`-style tar written by skopeo. Also the
reference errors (unknown transport, bare name:tag, empty directories).

The image is built with umoci and converted with skopeo, like test_real_tools.py. skopeo writes the layers
before manifest.json / index.json, so reading it from a pipe must keep (spool) the layers: the report's
stats.spooled_bytes says how many bytes. The same archive with its metadata moved first streams with no
spool (spooled_bytes 0).

Environment (set by CTest): LAYERLEAK_BIN, LAYERLEAK_FIXTURE_TOOL, LAYERLEAK_SOURCE_DIR; umoci, skopeo,
gzip and zstd on PATH.
"""

import gzip
import http.server
import json
import time
import signal
import io
import os
import socket
import socketserver
import subprocess
import tarfile
import tempfile
import threading
import unittest
from pathlib import Path

import helpers as h

_TMP = None
IMG = {}
BIG = 3_000_000  # bytes of random data in the layer: more than what is kept in memory


def _edit(rootfs):
    (rootfs / "app").mkdir()
    (rootfs / "app" / ".env").write_text(f"SCW_ACCESS_KEY={h.ACCESS_KEY}\nSCW_SECRET_KEY={h.SECRET_KEY}\n")
    (rootfs / "app" / "big.bin").write_bytes(os.urandom(BIG))


def _edit2(rootfs):
    (rootfs / "etc").mkdir(exist_ok=True)
    (rootfs / "etc" / "token").write_text(f"SCW_SECRET_KEY={h.SECRET_KEY_2}\n")
    os.remove(rootfs / "app" / ".env")


def _metadata_first(src, dst):
    """The same members, the small ones (manifest, index, configs, links) first, layers after in tar order."""
    with tarfile.open(src) as tar:
        members = tar.getmembers()
        small = [m for m in members if m.size < 100_000]
        big = [m for m in members if m.size >= 100_000]
        with tarfile.open(dst, "w", format=tarfile.PAX_FORMAT) as out:
            for m in small + big:
                out.addfile(m, tar.extractfile(m) if m.isfile() else None)


def setUpModule():
    global _TMP
    h.layerleak_bin()
    for tool in ("umoci", "skopeo", "gzip", "zstd"):
        h.require_tool(tool)
    _TMP = tempfile.TemporaryDirectory(prefix="layerleak-sources-")
    root = Path(_TMP.name)
    image = h.UmociImage(root / "img")
    image.add_layer("COPY app /app", _edit)
    image.add_layer("RUN rm /app/.env", _edit2)
    src = f"oci:{image.layout}:latest"
    IMG["docker"] = root / "d.tar"
    h.skopeo("copy", "-q", src, f"docker-archive:{IMG['docker']}:example/app:latest")
    IMG["oci"] = root / "o.tar"
    h.skopeo("copy", "-q", src, f"oci-archive:{IMG['oci']}:latest")
    for kind in ("docker", "oci"):
        IMG[kind + "-meta-first"] = root / f"{kind}-meta-first.tar"
        _metadata_first(IMG[kind], IMG[kind + "-meta-first"])
        IMG[kind + ".gz"] = root / f"{kind}.tar.gz"
        h.run_checked(["sh", "-c", f"gzip -c '{IMG[kind]}' > '{IMG[kind + '.gz']}'"])
        IMG[kind + ".zst"] = root / f"{kind}.tar.zst"
        h.run_checked(["zstd", "-q", "-f", str(IMG[kind]), "-o", str(IMG[kind + ".zst"])])
    with tarfile.open(IMG["docker"]) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    IMG["config-id"] = manifest[0]["Config"].split(".")[0]


def tearDownModule():
    if _TMP is not None:
        _TMP.cleanup()


def table(image):
    return sorted((f["rule_id"], f["location"]["path"], f["location"].get("layer_index"), f["visibility"])
                  for f in image["findings"])


EXPECTED = sorted([
    ("scaleway.access-key", "/app/.env", 0, "deleted"),
    ("scaleway.secret-key", "/app/.env", 0, "deleted"),
    ("scaleway.secret-key", "/etc/token", 1, "runtime"),
])


def run(args, stdin_bytes=None, env=None):
    full_env = dict(os.environ)
    for name in ("DOCKER_HOST", "CONTAINER_HOST"):
        full_env.pop(name, None)
    full_env.update(env or {})
    return h.run_command([h.layerleak_bin(), *args], stdin_bytes=stdin_bytes, env=full_env, timeout=120)


def report(testcase, result, rc=1):
    testcase.assertEqual(result.returncode, rc, result.describe())
    doc = h.parse_json(testcase, result)  # also validated against docs/report.schema.json
    testcase.assertEqual(len(doc["images"]), 1, result.stdout[:3000])
    return doc["images"][0]


class StandardInput(unittest.TestCase):
    def scan_stdin(self, data, *args, rc=1):
        return report(self, run(["scan", "--format", "json", *args, "-"], stdin_bytes=data), rc)

    def test_reference_scan_of_the_files(self):
        for kind in ("docker", "oci"):
            image = report(self, run(["scan", "--format", "json", str(IMG[kind])]))
            self.assertEqual(table(image), EXPECTED, kind)
            self.assertNotIn("spooled_bytes", image["stats"], "a tar file is read in place, never spooled")

    def test_plain_gzip_zstd_both_formats(self):
        for kind, transport in (("docker", "docker-archive"), ("oci", "oci-archive")):
            plain = IMG[kind].read_bytes()
            variants = {"plain": plain, "gzip": gzip.compress(plain, 1),
                        "zstd": subprocess.run(["zstd", "-q", "-c"], input=plain, capture_output=True, check=True).stdout}
            for name, data in variants.items():
                with self.subTest(kind=kind, compression=name):
                    image = self.scan_stdin(data)
                    self.assertEqual(image["transport"], transport)
                    self.assertTrue(image["reference"].startswith(transport + ":-"), image["reference"])
                    self.assertEqual(table(image), EXPECTED)
                    self.assertTrue(image["complete"])
                    # skopeo writes layers before manifest.json / index.json: both layers were kept, the
                    # big one on disk (the small one, under 1 MiB, in memory).
                    big_layer = max(l["compressed_size"] for l in image["layers"])
                    self.assertGreater(big_layer, BIG)
                    self.assertEqual(image["stats"]["spooled_bytes"], big_layer)

    def test_metadata_first_streams_without_spool(self):
        for kind in ("docker", "oci"):
            with self.subTest(kind=kind):
                image = self.scan_stdin(IMG[kind + "-meta-first"].read_bytes())
                self.assertEqual(table(image), EXPECTED)
                self.assertEqual(image["stats"]["spooled_bytes"], 0)

    def test_transport_prefix_with_stdin_and_ref(self):
        image = report(self, run(["scan", "--format", "json", "docker-archive:-:example/app:latest"],
                                 stdin_bytes=IMG["docker"].read_bytes()))
        self.assertEqual(table(image), EXPECTED)
        r = run(["scan", "--format", "json", "docker-archive:-:example/other:1"], stdin_bytes=IMG["docker"].read_bytes())
        self.assertEqual(r.returncode, 2, r.describe())
        self.assertIn('no image tagged "example/other:1"', r.stderr)

    def test_garbage_on_stdin(self):
        for data in (os.urandom(4096), b"", gzip.compress(b"hello, not a tar" * 100)):
            r = run(["scan", "-"], stdin_bytes=data)
            self.assertEqual(r.returncode, 2, r.describe())
            self.assertIn("layerleak: error: standard input is not a container image", r.stderr)

    def test_truncated_stream(self):
        data = IMG["docker-meta-first"].read_bytes()
        r = run(["scan", "-"], stdin_bytes=data[: len(data) // 2])
        self.assertEqual(r.returncode, 2, r.describe())
        self.assertIn("truncated", r.stderr)

    def test_errors_name_the_real_cause(self):
        # A damaged deflate stream is the decompressor's error, not "file too short".
        bad_gzip = bytearray(gzip.compress(IMG["docker"].read_bytes()[:65536], 1))
        bad_gzip[10:50] = b"\xff" * 40
        # A member whose size runs past the end of the stream, after the metadata: a truncated tar, not a
        # missing layer.
        meta_first = IMG["docker-meta-first"].read_bytes()
        cut = meta_first[: len(meta_first) * 3 // 4]
        for name, data, expected, wrong in (("gzip", bytes(bad_gzip), "corrupt gzip stream", "too short"),
                                            ("truncated", cut, "truncated", "is missing")):
            with self.subTest(case=name):
                r = run(["scan", "-"], stdin_bytes=data)
                self.assertEqual(r.returncode, 2, r.describe())
                self.assertIn(expected, r.stderr)
                self.assertNotIn(wrong, r.stderr)

    def test_spool_directory_is_removed(self):
        tmp = h.make_tempdir(self)
        env = {"TMPDIR": str(tmp)}
        image = report(self, run(["scan", "--format", "json", "-"], stdin_bytes=IMG["oci"].read_bytes(), env=env))
        self.assertGreater(image["stats"]["spooled_bytes"], 0)
        self.assertEqual(list(tmp.iterdir()), [], "the spool directory must be gone after the scan")


class ManyLayersOutOfOrder(unittest.TestCase):
    """Four layers of 1.5-2 MB (over the in-memory limit), metadata first, layer blobs in REVERSE order: with
    one worker or four, every layer but the one at the head of the stream must be spooled, and the findings
    are those of the file scanned in place."""

    def test_reversed_layers_any_jobs(self):
        import base64
        keys = (h.SECRET_KEY, h.SECRET_KEY_2, h.SECRET_KEY_3, h.SECRET_KEY_4)
        layers = [{"compression": c, "created_by": f"L{i}", "entries": [
            h.file_entry(f"k{i}.env", f"SCW_SECRET_KEY={k}\n"),
            h.file_entry(f"big{i}.txt", base64.b64encode(os.urandom(1_200_000)).decode())]}
            for i, (k, c) in enumerate(zip(keys, ("gzip", "zstd", "none", "gzip")))]
        spec = {"images": [{"repo_tags": ["example/multi:1"], "layers": layers}]}
        tmp = h.make_tempdir(self)
        for fmt in ("docker-archive-legacy", "docker-archive-v25", "oci-archive"):
            path = h.build_fixture(spec, tmp / f"{fmt}.tar", fmt)
            reordered = tmp / f"{fmt}-reversed.tar"
            with tarfile.open(path) as tar, tarfile.open(reordered, "w") as out:
                members = tar.getmembers()
                small = [m for m in members if not m.isfile() or m.size < 100_000]
                big = [m for m in members if m not in small]
                for m in small + big[::-1]:
                    out.addfile(m, tar.extractfile(m) if m.isfile() else None)
            expected = table(report(self, run(["scan", "--format", "json", str(path)])))
            self.assertEqual(len(expected), 4)
            for jobs in ("1", "4"):
                with self.subTest(fmt=fmt, jobs=jobs):
                    image = report(self, run(["scan", "--jobs", jobs, "--format", "json", "-"],
                                             stdin_bytes=reordered.read_bytes()))
                    self.assertEqual(table(image), expected)
                    self.assertGreater(image["stats"]["spooled_bytes"], 0)
                    self.assertLess(image["stats"]["spooled_bytes"], sum(l["compressed_size"] for l in image["layers"]))


class CompressedFiles(unittest.TestCase):
    def test_compressed_archive_files(self):
        cases = [(f"docker-archive:{IMG['docker.gz']}", "docker-archive"), (f"oci-archive:{IMG['oci.zst']}", "oci-archive"),
                 (f"docker-archive:{IMG['docker.zst']}", "docker-archive"), (f"oci-archive:{IMG['oci.gz']}", "oci-archive"),
                 (str(IMG["docker.gz"]), "docker-archive"), (str(IMG["oci.zst"]), "oci-archive")]
        for ref, transport in cases:
            with self.subTest(ref=ref):
                image = report(self, run(["scan", "--format", "json", ref]))
                self.assertEqual(image["transport"], transport)
                self.assertEqual(table(image), EXPECTED)
                self.assertIn("spooled_bytes", image["stats"])


# ---- a fake Docker Engine API ------------------------------------------------------------------------

class FakeEngine:
    """Answers /_ping, /version and /vX.Y/images/NAME/get from a dict NAME -> tar bytes; records requests."""

    def __init__(self, images, api_version="1.43", ping_header=True):
        self.images = images
        self.api_version = api_version
        self.ping_header = ping_header
        self.requests = []
        engine = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def address_string(self):
                return "fake-engine"

            def send(self, status, body, headers=()):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                engine.requests.append(("GET", self.path))
                if self.path == "/_ping":
                    headers = [("Api-Version", engine.api_version)] if engine.ping_header else []
                    return self.send(200, b"OK", headers)
                if self.path == "/version":
                    return self.send(200, json.dumps({"ApiVersion": engine.api_version, "Version": "fake"}).encode())
                prefix = f"/v{engine.api_version}/images/"
                if self.path.startswith(prefix) and self.path.endswith("/get"):
                    name = self.path[len(prefix):-len("/get")]
                    if name in engine.images:
                        return self.send(200, engine.images[name], [("Content-Type", "application/x-tar")])
                    return self.send(404, json.dumps({"message": f"No such image: {name}"}).encode())
                return self.send(404, b'{"message":"page not found"}')

            def other(self):
                engine.requests.append((self.command, self.path))
                self.send(405, b"{}")

            do_POST = do_PUT = do_DELETE = do_HEAD = other

        self.handler = Handler

    def serve_unix(self, path):
        class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
            daemon_threads = True

            def get_request(self):
                conn, _ = super().get_request()
                return conn, ("fake-engine", 0)

        self.server = Server(str(path), self.handler)
        self._start()
        return f"unix://{path}"

    def serve_tcp(self):
        class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), self.handler)
        self._start()
        return f"tcp://127.0.0.1:{self.server.server_address[1]}"

    def _start(self):
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class DockerDaemon(unittest.TestCase):
    def setUp(self):
        tar = IMG["docker"].read_bytes()
        self.engine = FakeEngine({"example/app:latest": tar, "sha256:" + IMG["config-id"]: tar})
        self.tmp = h.make_tempdir(self)
        self.host = self.engine.serve_unix(self.tmp / "docker.sock")
        self.addCleanup(self.engine.stop)

    def assertOnlyGets(self):
        self.assertTrue(self.engine.requests)
        self.assertEqual({m for m, _ in self.engine.requests}, {"GET"}, self.engine.requests)

    def test_by_tag_over_docker_host(self):
        image = report(self, run(["scan", "--format", "json", "docker-daemon:example/app:latest"], env={"DOCKER_HOST": self.host}))
        self.assertEqual(image["transport"], "docker-daemon")
        self.assertEqual(image["reference"], "docker-daemon:example/app:latest")
        self.assertEqual(table(image), EXPECTED)
        self.assertIn(("GET", "/v1.43/images/example/app:latest/get"), self.engine.requests)
        self.assertEqual(self.engine.requests[0], ("GET", "/_ping"))
        self.assertOnlyGets()

    def test_name_without_tag_means_latest(self):
        report(self, run(["scan", "--format", "json", "docker-daemon:example/app"], env={"DOCKER_HOST": self.host}))
        self.assertIn(("GET", "/v1.43/images/example/app:latest/get"), self.engine.requests)

    def test_by_image_id_over_container_host(self):
        ref = "docker-daemon:sha256:" + IMG["config-id"]
        image = report(self, run(["scan", "--format", "json", ref], env={"CONTAINER_HOST": self.host}))
        self.assertEqual(table(image), EXPECTED)
        self.assertIn(("GET", f"/v1.43/images/sha256:{IMG['config-id']}/get"), self.engine.requests)
        self.assertOnlyGets()

    def test_docker_host_wins_over_container_host(self):
        r = run(["scan", "docker-daemon:example/app:latest"],
                env={"DOCKER_HOST": self.host, "CONTAINER_HOST": "unix:///nonexistent/podman.sock"})
        self.assertEqual(r.returncode, 1, r.describe())

    def test_api_version_is_the_lower_of_the_two(self):
        self.engine.api_version = "1.99"  # newer than layerleak knows: it asks for its own
        self.engine.images = {"example/app:latest": IMG["docker"].read_bytes()}
        r = run(["scan", "docker-daemon:example/app:latest"], env={"DOCKER_HOST": self.host})
        self.assertEqual(r.returncode, 2, r.describe())  # the fake answers only /v1.99/: 404
        self.assertIn(("GET", "/v1.47/images/example/app:latest/get"), self.engine.requests)

    def test_api_version_from_version_endpoint(self):
        self.engine.ping_header = False
        self.engine.api_version = "1.41"
        image = report(self, run(["scan", "--format", "json", "docker-daemon:example/app:latest"], env={"DOCKER_HOST": self.host}))
        self.assertEqual(table(image), EXPECTED)
        self.assertIn(("GET", "/version"), self.engine.requests)
        self.assertIn(("GET", "/v1.41/images/example/app:latest/get"), self.engine.requests)
        self.assertOnlyGets()

    def test_unknown_image_is_404(self):
        r = run(["scan", "docker-daemon:example/missing:1"], env={"DOCKER_HOST": self.host})
        self.assertEqual(r.returncode, 2, r.describe())
        self.assertIn(f"image example/missing:1 not found in the Docker daemon at {self.host}", r.stderr)
        self.assertOnlyGets()

    def test_loopback_tcp(self):
        engine = FakeEngine({"example/app:latest": IMG["docker"].read_bytes()})
        host = engine.serve_tcp()
        self.addCleanup(engine.stop)
        image = report(self, run(["scan", "--format", "json", "docker-daemon:example/app:latest"], env={"DOCKER_HOST": host}))
        self.assertEqual(table(image), EXPECTED)

    def test_non_loopback_tcp_is_refused(self):
        r = run(["scan", "docker-daemon:example/app:latest"], env={"DOCKER_HOST": "tcp://10.1.2.3:2375"})
        self.assertEqual(r.returncode, 2, r.describe())
        self.assertIn("layerleak: error: DOCKER_HOST=tcp://10.1.2.3:2375", r.stderr)
        self.assertIn("loopback", r.stderr)

    def test_no_socket(self):
        missing = self.tmp / "none.sock"
        r = run(["scan", "docker-daemon:example/app:latest"], env={"DOCKER_HOST": f"unix://{missing}"})
        self.assertEqual(r.returncode, 2, r.describe())
        self.assertIn(f"cannot connect to the Docker daemon at unix://{missing}", r.stderr)


class DaemonAttacks(unittest.TestCase):
    """Found by an attacker's review: each was a crash, a bypass or a forged line before it was fixed."""

    def setUp(self):
        self.engine = FakeEngine({"example/app:latest": IMG["docker"].read_bytes()})
        self.tmp = h.make_tempdir(self)
        self.host = self.engine.serve_unix(self.tmp / "docker.sock")
        self.addCleanup(self.engine.stop)

    def test_out_of_range_api_versions_are_errors_not_crashes(self):
        for version in ("1.9999999999", "9999999999.1", "1.99999", "-1.2", "1.", ".4"):
            self.engine.api_version = version
            r = run(["scan", "docker-daemon:example/app:latest"], env={"DOCKER_HOST": self.host})
            self.assertEqual(r.returncode, 2, f"{version}: {r.describe()}")
            self.assertIn("did not say which API version", r.stderr, version)

    def test_credentials_in_docker_host_are_refused_and_never_printed(self):
        for value in ("tcp://127.0.0.1:x@192.0.2.2", "tcp://user:s3cretpass@127.0.0.1:2375"):
            r = run(["scan", "docker-daemon:example/app:latest"], env={"DOCKER_HOST": value})
            self.assertEqual(r.returncode, 2, r.describe())
            self.assertIn("user or password", r.stderr, value)
            self.assertNotIn("s3cretpass", r.stderr + r.stdout)
            self.assertNotIn("192.0.2.2 port", r.stderr)

    def test_names_cannot_leave_the_images_endpoint(self):
        for name in ("../../../containers/json", "example/../../x", "./app", "app/", "a//b", "/abs"):
            r = run(["scan", f"docker-daemon:{name}"], env={"DOCKER_HOST": self.host})
            self.assertEqual(r.returncode, 2, f"{name}: {r.describe()}")
            self.assertIn("docker-daemon: needs an image", r.stderr, name)
        self.assertEqual(self.engine.requests, [], "nothing may reach the daemon")

    def test_daemon_messages_cannot_forge_lines_or_escapes(self):
        self.engine.images = {}
        forged = "nope\n\x1b[31mlayerleak: error: all clear\r"
        original = self.engine.handler.do_GET

        def hostile(handler):
            if handler.path.endswith("/get"):
                return handler.send(500, json.dumps({"message": forged}).encode())
            return original(handler)
        self.engine.handler.do_GET = hostile
        r = run(["scan", "docker-daemon:example/app:latest"], env={"DOCKER_HOST": self.host})
        self.assertEqual(r.returncode, 2, r.describe())
        self.assertNotIn("\x1b", r.stderr)
        self.assertNotIn("\nlayerleak: error: all clear", r.stderr)
        self.assertIn("nope?", r.stderr)


class InputAttacks(unittest.TestCase):
    def test_long_member_names_are_bounded(self):
        # GNU long names/link targets of ~1 MiB each, gzip'd to almost nothing: refused at 16 MiB in total.
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
            for i in range(40):
                info = tarfile.TarInfo(f"{i:04d}" + "n" * 500_000)
                info.type = tarfile.SYMTYPE
                info.linkname = "t" * 500_000
                tar.addfile(info)
        data = gzip.compress(buf.getvalue())
        r = run(["scan", "--format", "json", "-"], stdin_bytes=data)
        self.assertEqual(r.returncode, 2, r.describe())
        self.assertIn("member names and link targets over 16 MiB", r.stderr)

    def test_a_stalled_pipe_ends_on_sigint_and_leaves_no_spool(self):
        spool_root = h.make_tempdir(self)
        env = dict(os.environ, TMPDIR=str(spool_root))
        for name in ("DOCKER_HOST", "CONTAINER_HOST"):
            env.pop(name, None)
        proc = subprocess.Popen([h.layerleak_bin(), "scan", "--no-progress", "-"], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        try:
            # A layer before the manifest (so it is spooled), then nothing: the writer stays open.
            proc.stdin.write(IMG["docker"].read_bytes()[:1_500_000])
            proc.stdin.flush()
            time.sleep(1.5)
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
        self.assertEqual(proc.returncode, 2, err)
        self.assertEqual(list(spool_root.iterdir()), [], "the spool directory is removed")


class ReferenceErrors(unittest.TestCase):
    def test_unknown_transport(self):
        r = run(["scan", "oci-achive:x.tar"])
        self.assertEqual(r.returncode, 2, r.describe())
        self.assertIn('layerleak: error: unknown transport "oci-achive:"; valid: docker://, docker-archive:, '
                      'docker-daemon:, oci-archive:, oci:, dir:', r.stderr)

    def test_bare_name_tag(self):
        r = run(["scan", "alpine:3.19"])
        self.assertEqual(r.returncode, 2, r.describe())
        self.assertIn("did you mean docker://alpine:3.19 or docker-daemon:alpine:3.19?", r.stderr)

    def test_empty_directory(self):
        tmp = h.make_tempdir(self)
        (tmp / "empty" / "sub").mkdir(parents=True)
        for ref in (f"dir:{tmp / 'empty'}", str(tmp / "empty")):
            r = run(["scan", ref])
            self.assertEqual(r.returncode, 2, r.describe())
            self.assertIn("contains no regular file", r.stderr)

    def test_index_json_without_oci_layout_warns(self):
        tmp = h.make_tempdir(self)
        (tmp / "d").mkdir()
        (tmp / "d" / "index.json").write_text('{"schemaVersion": 2, "manifests": []}')
        r = run(["scan", "--format", "json", str(tmp / "d")])
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertIn("layerleak: warning:", r.stderr)
        self.assertIn("no oci-layout", r.stderr)
        self.assertEqual(h.parse_json(self, r)["images"][0]["errors"], [])


if __name__ == "__main__":
    unittest.main()
