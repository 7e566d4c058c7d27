"""`layerleak audit` against a hostile registry (an in-process fake written here, standard library only):
file names with terminal escapes and HTML, a manifest naming one layer 1,000 times, an index of 2,000
platforms, one digest under thousands of tags, a tag whose HEAD digest lies, a blob that never arrives
(SIGINT must end the audit). Every format is checked for injected markup or escapes and for a full secret
without --show-secrets.

Environment (set by CTest): LAYERLEAK_BIN. Standard library only.
"""

import gzip
import hashlib
import http.server
import io
import json
import os
import re
import signal
import subprocess
import tarfile
import tempfile
import threading
import time
import unittest

SECRET = "7d3e1b2a-4c5f-4e6d-9a8b-1c2d3e4f5a6b"
ACCESS = "SCWA7K3M9Q2W5E8R1T4Y"
ENV_FILE = f"SCW_ACCESS_KEY={ACCESS}\nSCW_SECRET_KEY={SECRET}\n".encode()
# A file name a terminal would obey and a browser would run.
EVIL_NAME = "app/\x1b]0;owned\x07\x1b[2J<script>alert(1)</script>\rFAKE\n.env"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def layerleak_bin():
    return os.environ.get("LAYERLEAK_BIN") or os.path.join(os.path.dirname(__file__), "../../build/release/layerleak")


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def make_layer(files):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    plain = raw.getvalue()
    return gzip.compress(plain, mtime=0), sha(plain)


class FakeRegistry:
    """repos: name -> {tag: digest}; blobs and manifests by digest. `stall` digests never finish."""

    def __init__(self):
        self.repos = {}
        self.manifests = {}  # digest -> (media type, bytes)
        self.blobs = {}
        self.head_lies = {}  # (repo, tag) -> digest HEAD answers instead of the real one
        self.stall = set()
        self.errors = {}  # path -> (status, body): an error answer the registry words itself
        self.hits = {}
        self.stop_event = threading.Event()
        registry = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def send(self, status, body=b"", ctype="application/json", extra=(), head=False):
                # One write for head and body: two small writes wait out delayed ACKs (40 ms a request).
                lines = [f"HTTP/1.1 {status} X", f"Content-Type: {ctype}", f"Content-Length: {len(body)}"]
                lines += [f"{k}: {v}" for k, v in extra]
                self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode() + (b"" if head else body))

            def answer(self, head):
                path = self.path.split("?", 1)[0]
                registry.hits[path] = registry.hits.get(path, 0) + 1
                if path in registry.errors:
                    status, body = registry.errors[path]
                    return self.send(status, body, head=head)
                if path == "/v2/":
                    return self.send(200, b"{}", head=head)
                if path == "/v2/_catalog":
                    return self.send(200, json.dumps({"repositories": sorted(registry.repos)}).encode(), head=head)
                m = re.match(r"^/v2/(.+)/(tags/list|manifests/([^/]+)|blobs/([^/]+))$", path)
                if not m or m.group(1) not in registry.repos:
                    return self.send(404, b'{"errors":[{"code":"NAME_UNKNOWN"}]}', head=head)
                repo = m.group(1)
                if m.group(2) == "tags/list":
                    body = json.dumps({"name": repo, "tags": sorted(registry.repos[repo])}).encode()
                    return self.send(200, body, head=head)
                if m.group(3):
                    ref = m.group(3)
                    digest = ref if ref.startswith("sha256:") else registry.repos[repo].get(ref)
                    if digest not in registry.manifests:
                        return self.send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}', head=head)
                    mt, body = registry.manifests[digest]
                    shown = registry.head_lies.get((repo, ref), digest) if head else digest
                    return self.send(200, body, mt, [("Docker-Content-Digest", shown)], head=head)
                digest = m.group(4)
                if digest not in registry.blobs:
                    return self.send(404, b'{"errors":[{"code":"BLOB_UNKNOWN"}]}', head=head)
                body = registry.blobs[digest]
                if digest in registry.stall and not head:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[:10])
                    self.wfile.flush()
                    registry.stop_event.wait(120)  # never the rest
                    return None
                return self.send(200, body, "application/octet-stream", head=head)

            def do_GET(self):
                self.answer(False)

            def do_HEAD(self):
                self.answer(True)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def host(self):
        return f"127.0.0.1:{self.server.server_address[1]}"

    def stop(self):
        self.stop_event.set()
        self.server.shutdown()
        self.server.server_close()

    def blob(self, data):
        d = sha(data)
        self.blobs[d] = data
        return d

    def manifest(self, obj, media_type=OCI_MANIFEST):
        body = json.dumps(obj).encode()
        d = sha(body)
        self.manifests[d] = (media_type, body)
        return d

    def image(self, layers, platform=("linux", "amd64")):
        """layers: [(gzip bytes, diff id)] (repeats allowed). Returns the manifest digest."""
        config = json.dumps({"architecture": platform[1], "os": platform[0],
                             "rootfs": {"type": "layers", "diff_ids": [d for _, d in layers]},
                             "config": {}}).encode()
        config_digest = self.blob(config)
        return self.manifest({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                              "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
                              "layers": [{"mediaType": OCI_LAYER, "digest": self.blob(gz), "size": len(gz)}
                                         for gz, _ in layers]})


def run_audit(registry, *args, timeout=120):
    cmd = [layerleak_bin(), "audit", f"docker://{registry.host}", "--no-progress", "--tls-verify=false",
           "-j", "2", *args]
    return subprocess.run(cmd, capture_output=True, timeout=timeout)


class HostileNamesTest(unittest.TestCase):
    """A file name with escapes and markup holding a key: no format carries the escape bytes, the markup
    or the full secret (without --show-secrets)."""

    @classmethod
    def setUpClass(cls):
        cls.reg = FakeRegistry()
        layer = make_layer([(EVIL_NAME, ENV_FILE), ("etc/hostname", b"box\n")])
        cls.reg.repos["evil"] = {"latest": cls.reg.image([layer])}
        # A registry's own error text, decoded from JSON into raw escapes and a forged line.
        cls.reg.repos["denied"] = {}
        cls.reg.errors["/v2/denied/tags/list"] = (403, json.dumps({"errors": [{
            "code": "DENIED", "message": "\x1b[2J\x1b]0;pwned\x07\nlayerleak: audit complete, 0 findings"}]}).encode())

    @classmethod
    def tearDownClass(cls):
        cls.reg.stop()

    def test_every_format_without_escapes_markup_or_secret(self):
        outputs = {}
        for fmt in ("text", "json", "html", "sarif"):
            result = run_audit(self.reg, "--format", fmt, "--fail-on", "none")
            self.assertEqual(result.returncode, 2, result.stderr.decode(errors="replace")[-2000:])  # denied: incomplete
            self.assertIn(b"DENIED", result.stderr)
            for byte in (b"\x1b", b"\x07", b"\nlayerleak: audit complete"):
                self.assertNotIn(byte, result.stderr, f"stderr of --format {fmt} carries {byte!r} from the registry")
            outputs[fmt] = result.stdout
            self.assertNotIn(SECRET.encode(), result.stdout, fmt)
            self.assertNotIn(SECRET.encode(), result.stderr, fmt)
        self.assertIn(b"scaleway.secret-key", outputs["json"])  # the finding is there
        self.assertIn(b"critical", outputs["text"])
        for fmt, out in outputs.items():
            # A raw ESC, BEL or CR from the file name would drive the terminal (text) or the viewer.
            for byte in (b"\x1b", b"\x07", b"\r", b"\nlayerleak: audit complete"):
                if fmt == "text":
                    self.assertNotIn(byte, out, f"{fmt} carries {byte!r} from a file name")
        self.assertNotIn(b"<script>", outputs["html"])
        self.assertIn(b"&lt;script&gt;", outputs["html"])


class HostileShapesTest(unittest.TestCase):
    """Sizes a registry chooses: the audit stays bounded and complete, and says what it saw."""

    @classmethod
    def setUpClass(cls):
        cls.reg = FakeRegistry()
        key_layer = make_layer([("app/.env", ENV_FILE)])
        clean = make_layer([("etc/os-release", b"ID=fake\n")])
        # One layer named 1,000 times by one manifest.
        cls.reg.repos["repeat"] = {"v1": cls.reg.image([key_layer] * 1000)}
        # One digest under 3,000 tags of one repository.
        shared = cls.reg.image([clean, key_layer])
        cls.reg.repos["many-tags"] = {f"t{i:05d}": shared for i in range(3000)}
        # An index of 2,000 platforms (all distinct manifests of the same layer).
        entries = []
        for i in range(2000):
            d = cls.reg.image([clean], platform=("linux", f"arch{i}"))
            _, body = cls.reg.manifests[d]
            entries.append({"mediaType": OCI_MANIFEST, "digest": d, "size": len(body),
                            "platform": {"os": "linux", "architecture": f"arch{i}"}})
        cls.index = cls.reg.manifest({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}, OCI_INDEX)
        cls.reg.repos["wide"] = {"latest": cls.index}
        # HEAD says one digest, the content is another.
        honest = cls.reg.image([clean, make_layer([("x", b"1")])])
        cls.reg.repos["liar"] = {"v": honest}
        cls.reg.head_lies[("liar", "v")] = shared

    @classmethod
    def tearDownClass(cls):
        cls.reg.stop()

    def test_default_platform(self):
        started = time.monotonic()
        result = run_audit(self.reg, "--format", "json", "--fail-on", "none")
        elapsed = time.monotonic() - started
        report = json.loads(result.stdout)
        by_repo = {}
        for image in report["images"]:
            by_repo.setdefault(image["reference"].split("/", 3)[3].split("@")[0], []).append(image)
        # 1,000 references to one layer: read at most once per layer thread (-j 2: both may miss before the
        # first result is stored; the worker's own layer claim is re-entrant), then every other position hits.
        self.assertEqual(len(by_repo["repeat"]), 1)
        self.assertEqual(len(by_repo["repeat"][0]["layers"]), 1000)
        self.assertLessEqual(self.reg.hits.get("/v2/repeat/blobs/" + sha(make_layer([("app/.env", ENV_FILE)])[0]), 0), 2)
        # 3,000 tags of one digest: one image carrying them all (the lying HEAD of liar:v names the same
        # digest: the tag is attributed to what HEAD said; the content read is the digest's, verified).
        carrying = [i for i in report["images"] if "many-tags:t00000" in i["tags"]]
        self.assertEqual(len(carrying), 1)
        self.assertEqual(len([t for t in carrying[0]["tags"] if t.startswith("many-tags:")]), 3000)
        self.assertIn("liar:v", carrying[0]["tags"])  # as HEAD said; the content scanned is the digest's
        self.assertTrue(report["complete"], report["errors"][:3])
        # 2,000 platforms, none linux/amd64: a skip, not 2,000 scans.
        self.assertNotIn("wide", by_repo)
        self.assertTrue(any(s["tag"] == "wide:latest" for s in report["skipped"]))
        self.assertNotIn(SECRET, result.stdout.decode())
        self.assertLess(elapsed, 90)

    def test_all_platforms_of_a_wide_index(self):
        started = time.monotonic()
        result = run_audit(self.reg, "--format", "json", "--fail-on", "none", "--all-platforms",
                           "--repositories-from", self.repo_file("wide"))
        report = json.loads(result.stdout)
        self.assertTrue(report["complete"], report["errors"][:3])
        self.assertEqual(len(report["images"]), 2000)
        self.assertEqual(report["summary"]["layers_total"], 1)
        self.assertEqual(report["summary"]["layers_scanned"], 1)
        self.assertLess(time.monotonic() - started, 120)

    def repo_file(self, *names):
        f = tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False)
        f.write("\n".join(names) + "\n")
        f.close()
        self.addCleanup(os.unlink, f.name)
        return f.name


class StallingRegistryTest(unittest.TestCase):
    def test_sigint_ends_an_audit_whose_blob_never_arrives(self):
        reg = FakeRegistry()
        self.addCleanup(reg.stop)
        gz, diff = make_layer([("app/.env", ENV_FILE)])
        reg.repos["slow"] = {"v": reg.image([(gz, diff)])}
        reg.stall.add(sha(gz))
        proc = subprocess.Popen([layerleak_bin(), "audit", f"docker://{reg.host}", "--no-progress", "--format", "json",
                                 "--tls-verify=false"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while reg.hits.get(f"/v2/slow/blobs/{sha(gz)}", 0) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        self.assertLess(time.monotonic() - started, 5)
        self.assertEqual(proc.returncode, 2, err.decode(errors="replace")[-2000:])
        report = json.loads(out)
        self.assertFalse(report["complete"])


class ServeClaimAcrossRegistriesTest(unittest.TestCase):
    """serve with a shared cache (claims on): a token holder asks for a digest on a registry that never sends
    the layer; a request for the same digest on the real registry is scanned, not held behind that claim
    until the time limit (which, with --fail-open, would admit the image unscanned)."""

    def test_a_tarpit_registry_does_not_hold_the_digest_for_others(self):
        import helpers as h
        from test_serve import start_serve

        gz, diff = make_layer([("app/.env", ENV_FILE)])
        tarpit, real = FakeRegistry(), FakeRegistry()
        for reg in (tarpit, real):
            self.addCleanup(reg.stop)
            reg.repos["app"] = {"v": reg.image([(gz, diff)])}
        digest = tarpit.repos["app"]["v"]
        self.assertEqual(digest, real.repos["app"]["v"])
        tarpit.stall.add(sha(gz))
        work = h.make_tempdir(self, "layerleak-claim-")
        serve = start_serve(self, work, "--cache", str(work / "cache"), "--scan-timeout", "12")
        serve.json("POST", "/v1/scans", {"image": f"docker://{tarpit.host}/app@{digest}"}, expect=202)
        deadline = time.monotonic() + 20
        while tarpit.hits.get(f"/v2/app/blobs/{sha(gz)}", 0) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertGreater(tarpit.hits.get(f"/v2/app/blobs/{sha(gz)}", 0), 0)
        started = time.monotonic()
        doc = serve.scan(f"docker://{real.host}/app@{digest}")
        elapsed = time.monotonic() - started
        self.assertEqual(doc["status"], "done", doc)
        self.assertTrue(doc["report"]["images"][0]["complete"], doc)
        self.assertIn("scaleway.secret-key", {f["rule_id"] for f in doc["report"]["images"][0]["findings"]})
        self.assertLess(elapsed, 6, "the real registry's request waited behind the tarpit's claim")


if __name__ == "__main__":
    unittest.main()
