"""`layerleak serve` against real parts on loopback: the real binary, Debian's docker-registry sending push
notifications to it, images pushed with skopeo, Kubernetes AdmissionReview/ImageReview fixtures, the Harbor
scanner adapter flow, concurrent load, and the shared scan cache.

Environment (set by CTest): LAYERLEAK_BIN, LAYERLEAK_SOURCE_DIR, LAYERLEAK_FIXTURE_TOOL; docker-registry and
skopeo installed (a missing tool is a failure). Standard library only.
"""

import concurrent.futures
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import unittest
from pathlib import Path

import helpers as h
import registry_harness as rh

SCAN_TIMEOUT = 60
EMPTY_DIGEST = "sha256:" + "0" * 64


def log(message):
    """Measured figures go to stderr, where ctest --output-on-failure and -V show them."""
    print(f"[serve] {message}", file=sys.stderr, flush=True)


# ---- images -----------------------------------------------------------------------------------------

def base_layers():
    """Two layers shared by every image below (same content, same compression: same blobs)."""
    filler = "".join(f"line {i}: lorem ipsum dolor sit amet {i * 7919 % 104729}\n" for i in range(40000))
    return [
        {"compression": "gzip", "created_by": "ADD rootfs.tar /",
         "entries": [{"type": "dir", "path": "usr"}, {"type": "file", "path": "usr/share.txt", "content": filler},
                     {"type": "file", "path": "etc/os-release", "content": "ID=debian\n"}]},
        {"compression": "zstd", "created_by": "RUN apt-get install -y curl",
         "entries": [{"type": "file", "path": "usr/bin/tool", "content": filler[::-1]}]},
    ]


def image_spec(tag, app_entries):
    return {"images": [{"repo_tags": [f"example/app:{tag}"],
                        "layers": base_layers() + [{"compression": "gzip", "created_by": f"COPY {tag} /app/",
                                                    "entries": app_entries}]}]}


LEAKY_ENTRIES = [{"type": "dir", "path": "app"},
                 {"type": "file", "path": "app/.env",
                  "content": f"# settings\nSCW_ACCESS_KEY={h.ACCESS_KEY}\nSCW_SECRET_KEY={h.SECRET_KEY}\n"}]
CLEAN_ENTRIES = [{"type": "dir", "path": "app"}, {"type": "file", "path": "app/main.py", "content": "print('hi')\n"}]


def build_images(root):
    images = {}
    for name, entries in (("leaky", LEAKY_ENTRIES), ("clean", CLEAN_ENTRIES),
                          ("leaky2", [{"type": "file", "path": "srv/config.env",
                                       "content": f"SCW_SECRET_KEY={h.SECRET_KEY_2}\n"}])):
        images[name] = str(h.build_fixture(image_spec(name, entries), Path(root) / f"{name}.tar", "oci-archive"))
    return images


# ---- the service ------------------------------------------------------------------------------------

class Serve:
    """`layerleak serve` on 127.0.0.1:<free port> with a bearer token; stop() checks a clean SIGTERM exit."""

    def __init__(self, workdir, *extra, token=True):
        self.workdir = Path(workdir)
        self.token = secrets.token_hex(20) if token else None
        self.extra = list(extra)
        self.proc = None
        self.port = None
        self.log_path = self.workdir / f"serve-{secrets.token_hex(4)}.log"

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        for _attempt in range(3):
            self.port = rh.free_port()
            args = [h.layerleak_bin(), "serve", "--listen", f"127.0.0.1:{self.port}", *self.extra]
            if self.token:
                token_file = self.workdir / "token"
                token_file.write_text(self.token + "\n")
                args += ["--token-file", str(token_file)]
            with open(self.log_path, "ab") as out:
                self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and self.proc.poll() is None:
                if rh.http_status(self.url + "/healthz", timeout=1.0) == 200:
                    return self
                time.sleep(0.05)
            rh.stop_process(self.proc)
            if "cannot listen" not in self.log():
                break
        raise AssertionError(f"layerleak serve did not start\n{self.log()}")

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self):
        """SIGTERM: a graceful shutdown exits 0 within a few seconds."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"serve did not stop on SIGTERM\n{self.log()[-3000:]}")
        if rc != 0:
            raise AssertionError(f"serve exited {rc} on SIGTERM\n{self.log()[-3000:]}")

    def peak_rss_kb(self):
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        return None

    def request(self, method, path, body=None, token=True, headers=None, timeout=30):
        """(status, headers dict (lower-case names), body bytes)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        hdrs = dict(headers or {})
        if token is True and self.token:
            hdrs["Authorization"] = f"Bearer {self.token}"
        elif isinstance(token, str):
            hdrs["Authorization"] = token
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            hdrs.setdefault("Content-Type", "application/json")
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def json(self, method, path, body=None, expect=200, **kwargs):
        status, headers, data = self.request(method, path, body, **kwargs)
        if status != expect:
            raise AssertionError(f"{method} {path}: {status} (expected {expect}): {data[:2000]!r}\n{self.log()[-2000:]}")
        return json.loads(data)

    def wait_scan(self, job_id, timeout=SCAN_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            doc = self.json("GET", f"/v1/scans/{job_id}")
            if doc["status"] in ("done", "failed"):
                if isinstance(doc.get("report"), dict):  # every report serve returns obeys the published schema
                    h.report_schema.assert_valid_report(doc["report"])
                return doc
            time.sleep(0.05)
        raise AssertionError(f"scan {job_id} not finished after {timeout} s\n{self.log()[-3000:]}")

    def scan(self, image):
        job = self.json("POST", "/v1/scans", {"image": image}, expect=202)
        return self.wait_scan(job["id"])

    def metrics(self):
        status, _, data = self.request("GET", "/metrics")
        if status != 200:
            raise AssertionError(f"/metrics: {status}")
        values = {}
        for line in data.decode().splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                values[name] = float(value)
        return values


def start_serve(testcase, workdir, *extra, token=True):
    serve = Serve(workdir, *extra, token=token).start()
    testcase.addCleanup(serve.stop)
    return serve


class NotifyingRegistry(rh.Registry):
    """The harness registry with `notifications:` pointing at a serve instance (bearer token header)."""

    def __init__(self, workdir, serve):
        super().__init__(workdir)
        self.serve = serve

    def _config(self):
        return super()._config() + "\n".join([
            "notifications:",
            "  endpoints:",
            "    - name: layerleak",
            f"      url: {self.serve.url}/v1/registry/events",
            "      headers:",
            f"        Authorization: [Bearer {self.serve.token}]",
            "      timeout: 2s",
            "      threshold: 3",
            "      backoff: 1s",
        ]) + "\n"


def push(image_tar, registry, repo, tag, creds=None):
    """skopeo copy to the registry; returns the manifest digest as the registry stores it."""
    digest_file = Path(image_tar).with_suffix(f".{repo.replace('/', '_')}.{tag}.digest")
    auth = ["--dest-creds", creds] if creds else []
    h.skopeo("copy", "-q", "--dest-tls-verify=false", *auth, "--digestfile", str(digest_file),
             f"oci-archive:{image_tar}", f"docker://{registry.host}/{repo}:{tag}")
    return digest_file.read_text().strip()


def admission_review(uid, images, kind="Pod"):
    spec = {"containers": [{"name": f"c{i}", "image": image} for i, image in enumerate(images[:1])],
            "initContainers": [{"name": f"i{i}", "image": image} for i, image in enumerate(images[1:2])],
            "ephemeralContainers": [{"name": f"e{i}", "image": image} for i, image in enumerate(images[2:])]}
    obj = {"apiVersion": "v1", "kind": kind, "metadata": {"name": "p", "namespace": "default"}, "spec": spec}
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": uid, "kind": {"group": "", "version": "v1", "kind": kind},
                        "resource": {"group": "", "version": "v1", "resource": "pods"},
                        "operation": "CREATE", "namespace": "default", "object": obj}}


def image_review(images):
    return {"apiVersion": "imagepolicy.k8s.io/v1alpha1", "kind": "ImageReview",
            "spec": {"containers": [{"image": image} for image in images], "namespace": "default"}}


# ---- tests ------------------------------------------------------------------------------------------

class ServeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        rh.require_tool("skopeo")
        rh.registry_bin()
        cls.root = h.make_class_tempdir(cls, "layerleak-serve-")
        cls.images = build_images(cls.root)

    def workdir(self):
        return h.make_tempdir(self, "layerleak-serve-")

    def test_requests_without_the_token_are_refused(self):
        serve = start_serve(self, self.workdir())
        for path in ("/v1/scans/" + "0" * 32, "/metrics", "/api/v1/metadata", "/v1/verdicts/" + EMPTY_DIGEST):
            status, headers, _ = serve.request("GET", path, token=False)
            self.assertEqual(status, 401, path)
            self.assertIn("bearer", headers.get("www-authenticate", "").lower())
        status, _, _ = serve.request("POST", "/v1/scans", {"image": self.images["leaky"]}, token="Bearer wrong-token-0123456789")
        self.assertEqual(status, 401)
        status, _, _ = serve.request("POST", "/v1/kubernetes/admission", admission_review("u", ["a"]), token=False)
        self.assertEqual(status, 401)
        self.assertEqual(serve.request("GET", "/healthz", token=False)[0], 200)
        self.assertEqual(serve.request("GET", "/readyz", token=False)[0], 200)
        self.assertEqual(serve.metrics()["layerleak_unauthorized_requests_total"], 6)

    def test_non_loopback_listen_needs_a_token(self):
        r = h.run_layerleak("serve", "--listen", f"0.0.0.0:{rh.free_port()}")
        self.assertEqual(r.returncode, 2, r.describe())
        self.assertIn("--token-file", r.stderr)

    def test_scan_api_report_and_verdict(self):
        work = self.workdir()
        serve = start_serve(self, work, "--allow-local-images")
        doc = serve.scan("oci-archive:" + self.images["leaky"])
        self.assertEqual(doc["status"], "done", doc)
        report = doc["report"]
        image = report["images"][0]
        self.assertTrue(image["complete"])
        paths = {f["location"]["path"] for f in image["findings"]}
        self.assertIn("/app/.env", paths)
        self.assertNotIn(h.SECRET_KEY, json.dumps(doc))  # redacted
        digest = image["manifest_digest"]
        # A local scan answers its caller but never becomes a verdict: only a registry scan verifies a digest.
        self.assertEqual(serve.json("GET", f"/v1/verdicts/{digest}")["verdict"], "unknown")
        registry = rh.Registry(work / "registry").start()
        self.addCleanup(registry.stop)
        pushed = push(self.images["leaky"], registry, "api/leaky", "1")
        self.assertEqual(serve.scan(f"docker://{registry.host}/api/leaky@{pushed}")["status"], "done")
        verdict = serve.json("GET", f"/v1/verdicts/{digest}")
        self.assertEqual(verdict["verdict"], "deny")
        self.assertIn("scaleway.secret-key (critical) in layer 2", verdict["reason"])
        self.assertIn("/app/.env:3", verdict["reason"])
        self.assertEqual(serve.json("GET", f"/v1/verdicts/{EMPTY_DIGEST}")["verdict"], "unknown")
        clean_digest = push(self.images["clean"], registry, "api/clean", "1")
        self.assertEqual(serve.scan(f"docker://{registry.host}/api/clean:1")["status"], "done")
        self.assertEqual(serve.json("GET", f"/v1/verdicts/{clean_digest}")["verdict"], "allow")
        self.assertEqual(serve.request("GET", "/v1/scans/" + "f" * 32)[0], 404)
        self.assertEqual(serve.request("POST", "/v1/scans", {"nope": 1})[0], 400)

    def test_registry_push_notifications_and_layer_cache(self):
        work = self.workdir()
        serve = start_serve(self, work, "--cache", str(work / "cache"))
        registry = NotifyingRegistry(work / "registry", serve).start()
        self.addCleanup(registry.stop)

        digest = push(self.images["leaky"], registry, "team/app", "1")
        pushed = time.monotonic()
        verdict = self.wait_verdict(serve, digest)
        latency = time.monotonic() - pushed
        log(f"verdict for a pushed image (3 layers) {latency * 1000:.0f} ms after the push ended")
        self.assertEqual(verdict["verdict"], "deny", verdict)
        self.assertIn("/app/.env", verdict["reason"])
        self.assertIn("in layer 2", verdict["reason"])
        before = serve.metrics()
        self.assertGreaterEqual(before["layerleak_registry_manifests_total"], 1)
        self.assertEqual(before["layerleak_layer_cache_hits_total"], 0)

        # A second image on the same base layers: only its own layer is read.
        digest2 = push(self.images["clean"], registry, "team/other", "1")
        pushed = time.monotonic()
        verdict2 = self.wait_verdict(serve, digest2)
        log(f"verdict for an image sharing its base layers {(time.monotonic() - pushed) * 1000:.0f} ms after the push ended")
        self.assertEqual(verdict2["verdict"], "allow", verdict2)
        after = serve.metrics()
        self.assertEqual(after["layerleak_layer_cache_hits_total"], 2, after)
        self.assertEqual(after["layerleak_layer_cache_stores_total"], 4, after)

        # The same scan via the API for a docker:// digest is answered from the stored report.
        job = serve.json("POST", "/v1/scans", {"image": f"docker://{registry.host}/team/app@{digest}"}, expect=202)
        doc = serve.wait_scan(job["id"])
        self.assertTrue(doc["from_cache"])
        self.assertEqual(doc["verdicts"][0]["verdict"], "deny")

        # Admission by digest for pushed images.
        review = serve.json("POST", "/v1/kubernetes/admission",
                            admission_review("uid-reg", [f"{registry.host}/team/other@{digest2}", f"{registry.host}/team/app@{digest}"]))
        self.assertFalse(review["response"]["allowed"])
        self.assertIn("/app/.env", review["response"]["status"]["message"])

        # A tag (no digest) is resolved by a scan through the registry: cached layers, fast.
        started = time.monotonic()
        review = serve.json("POST", "/v1/kubernetes/admission", admission_review("uid-tag", [f"{registry.host}/team/other:1"]))
        log(f"admission of a tag (manifest fetched, layers from the cache) {(time.monotonic() - started) * 1000:.0f} ms")
        self.assertTrue(review["response"]["allowed"], review)

        # The CLI shares the cache with serve: every layer of the pushed image is already there.
        r = h.run_layerleak("scan", "--cache", str(work / "cache"), "--format", "json",
                            "--tls-verify=false", f"docker://{registry.host}/team/app@{digest}")
        self.assertEqual(r.returncode, 1, r.describe())

    def wait_verdict(self, serve, digest, timeout=SCAN_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            doc = serve.json("GET", f"/v1/verdicts/{digest}")
            if doc["verdict"] != "unknown":
                return doc
            time.sleep(0.02)
        raise AssertionError(f"no verdict for {digest} after {timeout} s\n{serve.log()[-3000:]}")

    def seed(self, serve, name, registry):
        """A verdict for an image: pushed, then scanned from the registry by digest (local scans store none)."""
        digest = push(self.images[name], registry, f"seed/{name}", "1")
        doc = serve.scan(f"docker://{registry.host}/seed/{name}@{digest}")
        self.assertEqual(doc["status"], "done")
        self.assertEqual(doc["report"]["images"][0]["manifest_digest"], digest)
        return digest

    def test_admission_review_allowed_denied_and_unknown(self):
        work = self.workdir()
        registry = rh.Registry(work / "registry").start()
        self.addCleanup(registry.stop)
        closed = start_serve(self, work, "--admission-wait", "1")
        leaky = self.seed(closed, "leaky", registry)
        clean = self.seed(closed, "clean", registry)
        unreachable = f"127.0.0.1:{rh.free_port()}/nothere@{EMPTY_DIGEST}"

        allowed = closed.json("POST", "/v1/kubernetes/admission", admission_review("uid-1", [f"reg.example:5000/app@{clean}"]))
        self.assertEqual(allowed["apiVersion"], "admission.k8s.io/v1")
        self.assertEqual(allowed["kind"], "AdmissionReview")
        self.assertEqual(allowed["response"]["uid"], "uid-1")
        self.assertTrue(allowed["response"]["allowed"])

        # The leaky image as an init container next to a clean one: denied, with rule, layer and path.
        denied = closed.json("POST", "/v1/kubernetes/admission",
                             admission_review("uid-2", [f"reg.example:5000/app@{clean}", f"reg.example:5000/app@{leaky}"]))
        self.assertFalse(denied["response"]["allowed"])
        self.assertEqual(denied["response"]["status"]["code"], 403)
        message = denied["response"]["status"]["message"]
        self.assertIn("scaleway.secret-key (critical) in layer 2", message)
        self.assertIn("at /app/.env:3", message)
        self.assertNotIn(h.SECRET_KEY, message)

        # ephemeralContainers count too.
        eph = closed.json("POST", "/v1/kubernetes/admission",
                          admission_review("uid-3", [f"r.example/a@{clean}", f"r.example/a@{clean}", f"r.example/a@{leaky}"]))
        self.assertFalse(eph["response"]["allowed"])

        started = time.monotonic()
        unknown = closed.json("POST", "/v1/kubernetes/admission", admission_review("uid-4", [unreachable]))
        self.assertLess(time.monotonic() - started, 10)
        self.assertFalse(unknown["response"]["allowed"])
        self.assertIn("fail-closed", unknown["response"]["status"]["message"])

        opened = start_serve(self, work, "--admission-wait", "1", "--fail-open")
        unknown = opened.json("POST", "/v1/kubernetes/admission", admission_review("uid-5", [unreachable]))
        self.assertTrue(unknown["response"]["allowed"])
        self.assertIn("fail-open", " ".join(unknown["response"]["warnings"]))

        log_only = start_serve(self, work, "--log-only")
        leaky_lo = self.seed(log_only, "leaky", registry)
        review = log_only.json("POST", "/v1/kubernetes/admission", admission_review("uid-6", [f"r.example/a@{leaky_lo}"]))
        self.assertTrue(review["response"]["allowed"])
        self.assertIn("would deny", " ".join(review["response"]["warnings"]))
        self.assertIn("would deny", log_only.log())

        # ImageReview (ImagePolicyWebhook).
        ir = closed.json("POST", "/v1/kubernetes/imagereview", image_review([f"r.example/a@{clean}", f"r.example/a@{leaky}"]))
        self.assertEqual(ir["kind"], "ImageReview")
        self.assertFalse(ir["status"]["allowed"])
        self.assertIn("/app/.env", ir["status"]["reason"])
        ir = closed.json("POST", "/v1/kubernetes/imagereview", image_review([f"r.example/a@{clean}"]))
        self.assertTrue(ir["status"]["allowed"])
        ir = closed.json("POST", "/v1/kubernetes/imagereview", image_review([unreachable]))
        self.assertFalse(ir["status"]["allowed"])
        ir = opened.json("POST", "/v1/kubernetes/imagereview", image_review([unreachable]))
        self.assertTrue(ir["status"]["allowed"])
        self.assertEqual(closed.request("POST", "/v1/kubernetes/admission", "{not json")[0], 400)

    def test_harbor_scanner_adapter_flow(self):
        work = self.workdir()
        serve = start_serve(self, work)
        registry = rh.Registry(work / "registry").start()
        self.addCleanup(registry.stop)
        digest = push(self.images["leaky2"], registry, "library/app", "2")
        proxy = rh.Proxy(registry.port, blob_delay=0.5).start()  # slow blobs: the report is not ready at once
        self.addCleanup(proxy.stop)

        meta = serve.json("GET", "/api/v1/metadata")
        self.assertEqual(meta["scanner"]["name"], "layerleak")
        produces = meta["capabilities"][0]["produces_mime_types"]
        self.assertIn("application/vnd.security.vulnerability.report; version=1.1", produces)
        self.assertIn("application/vnd.scanner.adapter.vuln.report.raw", produces)

        request = {"registry": {"url": f"http://{proxy.host}", "authorization": "Basic " + rh.basic_auth_value("robot", "x")},
                   "artifact": {"repository": "library/app", "digest": digest, "tag": "2",
                                "mime_type": "application/vnd.oci.image.manifest.v1+json"}}
        scan_id = serve.json("POST", "/api/v1/scan", request, expect=202)["id"]
        accept = {"Accept": "application/vnd.security.vulnerability.report; version=1.1"}
        status, headers, _ = serve.request("GET", f"/api/v1/scan/{scan_id}/report", headers=accept)
        self.assertEqual(status, 302)
        self.assertTrue(headers.get("refresh-after", "").isdigit())
        deadline = time.monotonic() + SCAN_TIMEOUT
        while status == 302 and time.monotonic() < deadline:
            time.sleep(0.1)
            status, headers, body = serve.request("GET", f"/api/v1/scan/{scan_id}/report", headers=accept)
        self.assertEqual(status, 200, body[:2000])
        self.assertIn("vnd.security.vulnerability.report", headers["content-type"])
        report = json.loads(body)
        self.assertEqual(report["artifact"]["digest"], digest)
        self.assertEqual(report["severity"], "Critical")
        vulns = [v for v in report["vulnerabilities"] if v["id"] == "scaleway.secret-key"]
        self.assertEqual(len(vulns), 1, report)
        self.assertEqual(vulns[0]["package"], "/srv/config.env")
        self.assertIn("layer 2", vulns[0]["description"])
        self.assertEqual(vulns[0]["vendor_attributes"]["layer_index"], 2)
        self.assertNotIn(h.SECRET_KEY_2, body.decode())

        status, headers, raw = serve.request("GET", f"/api/v1/scan/{scan_id}/report",
                                             headers={"Accept": "application/vnd.scanner.adapter.vuln.report.raw"})
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(raw)["images"][0]["manifest_digest"], digest)
        self.assertEqual(serve.request("GET", f"/api/v1/scan/{'e' * 32}/report")[0], 404)
        bad = dict(request, artifact=dict(request["artifact"], digest="latest"))
        self.assertEqual(serve.request("POST", "/api/v1/scan", bad)[0], 422)

    def test_harbor_bearer_authorization_reaches_the_registry(self):
        # Harbor gives its scanners a registry token ("Bearer ..."), not a password: the scan must present
        # it to the registry (it used to be dropped, and the registry refused the anonymous scan).
        work = self.workdir()
        issuer = rh.TokenIssuer(work / "issuer", {"pusher": "pusher-password-1"}).start()
        self.addCleanup(issuer.stop)
        registry = rh.Registry(work / "registry", auth=issuer.registry_auth()).start()
        self.addCleanup(registry.stop)
        digest = push(self.images["leaky2"], registry, "library/app", "3", creds="pusher:pusher-password-1")
        other = push(self.images["clean"], registry, "library/other", "1", creds="pusher:pusher-password-1")
        serve = start_serve(self, work)
        token = issuer.make_token("robot$scan", [{"type": "repository", "name": "library/app", "actions": ["pull"]}])

        def report(authorization, repository, digest):
            artifact = {"repository": repository, "digest": digest, "mime_type": "application/vnd.oci.image.manifest.v1+json"}
            request = {"registry": {"url": f"http://{registry.host}", "authorization": authorization}, "artifact": artifact}
            scan_id = serve.json("POST", "/api/v1/scan", request, expect=202)["id"]
            deadline = time.monotonic() + SCAN_TIMEOUT
            status, body = 302, b""
            while status == 302 and time.monotonic() < deadline:
                time.sleep(0.1)
                status, _, body = serve.request("GET", f"/api/v1/scan/{scan_id}/report")
            return status, body

        status, body = report("Bearer " + token, "library/app", digest)
        self.assertEqual(status, 200, body[:2000] + serve.log()[-2000:].encode())
        self.assertEqual(json.loads(body)["severity"], "Critical")
        issued = issuer.issued_count()
        # A token the registry does not accept (another image: a digest scanned before is answered from the
        # stored report): no verdict (500, the reason names the refusal), and no token fetched instead.
        status, body = report("Bearer " + token[:-8] + "AAAAAAAA", "library/other", other)
        self.assertEqual(status, 500, body[:2000])
        self.assertIn("bearer token", body.decode())
        self.assertEqual(issuer.issued_count(), issued)  # no token was fetched in its place
        self.assertNotIn(token, serve.log())

    def test_fifty_concurrent_scan_requests(self):
        work = self.workdir()
        serve = start_serve(self, work, "--workers", "2", "--queue", "10", "--allow-local-images")
        refs = []
        for i in range(25):  # 25 distinct references, each asked twice
            copy = work / f"img{i}.tar"
            shutil.copy(self.images["leaky" if i % 2 else "clean"], copy)
            refs.append(f"oci-archive:{copy}")
        requests = refs + refs

        def post(ref):
            # 50 connections from one address are more than serve keeps open per address (32): the extra
            # ones are closed at accept, before any request is read, and the client connects again.
            for _ in range(100):
                try:
                    status, headers, body = serve.request("POST", "/v1/scans", {"image": ref})
                    return ref, status, json.loads(body) if body else None
                except (ConnectionResetError, ConnectionRefusedError, BrokenPipeError):
                    time.sleep(0.02)
            raise AssertionError(f"{ref}: no connection accepted")

        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
            answers = list(pool.map(post, requests))
        accepted = [(ref, doc["id"]) for ref, status, doc in answers if status == 202]
        refused = [ref for ref, status, _ in answers if status != 202]
        for _, status, doc in answers:
            self.assertIn(status, (202, 429), doc)
        self.assertTrue(refused, "a queue of 10 must refuse some of 50 simultaneous requests")
        ids = {}
        for ref, job_id in accepted:
            ids.setdefault(job_id, set()).add(ref)
        for job_id, job_refs in ids.items():
            self.assertEqual(len(job_refs), 1, f"job {job_id} answers for several references")
        # Refused requests are retried until accepted: nothing is lost.
        refused_again = 0
        for ref in refused:
            for _ in range(600):
                status, _, body = serve.request("POST", "/v1/scans", {"image": ref})
                if status == 202:
                    ids.setdefault(json.loads(body)["id"], set()).add(ref)
                    break
                refused_again += 1
                time.sleep(0.05)
            else:
                self.fail(f"{ref} never accepted")
        for job_id, job_refs in ids.items():
            doc = serve.wait_scan(job_id)
            self.assertEqual(doc["status"], "done")
            self.assertEqual(doc["reference"], next(iter(job_refs)))
            self.assertTrue(doc["report"]["images"][0]["complete"])
        elapsed = time.monotonic() - started
        self.assertEqual({r for refs_ in ids.values() for r in refs_}, set(refs))
        metrics = serve.metrics()
        ran = metrics['layerleak_scans_total{verdict="allow"}'] + metrics['layerleak_scans_total{verdict="deny"}'] + \
            metrics['layerleak_scans_total{verdict="unknown"}']
        self.assertEqual(ran, len(ids), "every accepted job ran exactly once")
        self.assertEqual(metrics["layerleak_scan_requests_rejected_total"], len(refused) + refused_again)
        self.assertEqual(metrics["layerleak_queue_depth"], 0)
        rss = serve.peak_rss_kb()
        log(f"50 concurrent requests: {len(accepted)} accepted at once, {len(refused)} refused (429) then retried, "
            f"{len(ids)} jobs ran in {elapsed:.1f} s, peak RSS {rss / 1024:.0f} MiB")
        self.assertLess(rss, 512 * 1024)

    def test_scan_time_limit(self):
        work = self.workdir()
        registry = rh.Registry(work / "registry").start()
        self.addCleanup(registry.stop)
        digest = push(self.images["clean"], registry, "slow/app", "1")
        proxy = rh.Proxy(registry.port, blob_delay=3.0).start()
        self.addCleanup(proxy.stop)
        limited = start_serve(self, work, "--scan-timeout", "1", "--tls-verify=false")
        started = time.monotonic()
        doc = limited.scan(f"docker://{proxy.host}/slow/app@{digest}")
        self.assertLess(time.monotonic() - started, 8)
        image = doc["report"]["images"][0]
        self.assertFalse(image["complete"])
        self.assertIn("time limit", json.dumps(image["errors"]))
        self.assertEqual(limited.json("GET", f"/v1/verdicts/{digest}")["verdict"], "unknown")  # never cached
        self.assertEqual(limited.metrics()["layerleak_scan_timeouts_total"], 1)


class ScanCacheCliTest(unittest.TestCase):
    def test_cached_rescan_is_identical_and_faster(self):
        work = h.make_tempdir(self, "layerleak-cache-")
        big = []
        for i in range(6):
            big.append({"compression": "gzip", "created_by": f"RUN step {i}",
                        "entries": [{"type": "file", "path": f"data/{i}.txt",
                                     "content": f"block {i} " + "abcdefghij" * 100 + "\n", "repeat": 20000}]})
        spec = {"images": [{"repo_tags": ["example/big:1"],
                            "layers": big + [{"compression": "gzip", "created_by": "COPY .env /app/", "entries": LEAKY_ENTRIES}]}]}
        image = h.build_fixture(spec, work / "big.tar", "oci-archive")

        def run(*extra):
            started = time.monotonic()
            r = h.run_layerleak("scan", "--format", "json", "--show-secrets", "-j", "2", *extra, str(image), timeout=300)
            elapsed = time.monotonic() - started
            self.assertEqual(r.returncode, 1, r.describe())
            doc = json.loads(r.stdout)
            for img in doc["images"]:
                img["stats"]["duration_ms"] = 0
            return doc, elapsed

        plain, t_plain = run()
        first, t_first = run("--cache", str(work / "cache"))
        second, t_second = run("--cache", str(work / "cache"))
        self.assertEqual(first, plain)
        self.assertEqual(second, plain)
        mib = plain["images"][0]["stats"]["bytes_scanned"] / (1 << 20)
        log(f"scan of {mib:.0f} MiB: uncached {t_plain:.2f} s, first with --cache {t_first:.2f} s, cached re-scan {t_second:.2f} s")
        self.assertLess(t_second, t_plain)
        mode = os.stat(work / "cache" / "layerleak-cache.sqlite3").st_mode & 0o777
        self.assertEqual(mode, 0o600)


if __name__ == "__main__":
    unittest.main()
