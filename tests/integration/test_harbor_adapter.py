"""`layerleak serve` as a Harbor pluggable scanner adapter, spec v1.2 (goharbor/pluggable-scanner-spec):
the status codes and Content-Types the spec names, on the real server.

- every error under /api/v1/ is `{"error": {"message": ...}}` with Content-Type
  `application/vnd.scanner.adapter.error+json; version=1.0` (400 invalid JSON or JSON types, 401, 404,
  422 invalid field, 501 no capability);
- POST /api/v1/scan whose `enabled_capabilities` asks for another capability (sbom) or a report MIME type
  layerleak does not produce: 501;
- GET /api/v1/scan/{id}/report whose Accept names only unsupported report types: 501; a supported one (or
  */*, or none) answers with that type;
- GET /api/v1/metadata: scanner name/vendor/version, one "vulnerability" capability with consumes/produces
  MIME types, properties (a map of strings) including harbor.scanner-adapter/scanner-type.
The flow with a real registry (302 while scanning, the vulnerability report's content) is in test_serve.py;
the test below reuses its helpers (registry, skopeo push, serve process).
"""

import json
import time
import unittest

import helpers as h
import registry_harness as rh
import test_serve as ts

ERROR_MIME = "application/vnd.scanner.adapter.error+json; version=1.0"
METADATA_MIME = "application/vnd.scanner.adapter.metadata+json; version=1.0"
HARBOR_MIME = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"
SECURITY_MIME = "application/vnd.security.vulnerability.report; version=1.1"
RAW_MIME = "application/vnd.scanner.adapter.vuln.report.raw"
SBOM_MIME = "application/vnd.security.sbom.report+json; version=1.0"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DIGEST = "sha256:" + "a" * 64


def scan_request(url="http://127.0.0.1:1", digest=DIGEST, **extra):
    body = {"registry": {"url": url}, "artifact": {"repository": "library/app", "digest": digest,
                                                  "mime_type": OCI_MANIFEST}}
    body.update(extra)
    return body


class HarborAdapterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = h.make_class_tempdir(cls, "layerleak-harbor-")

    def serve(self):
        return ts.start_serve(self, h.make_tempdir(self, "layerleak-harbor-"))

    def assertHarborError(self, response, status):
        got, headers, body = response
        self.assertEqual(got, status, body[:2000])
        self.assertEqual(headers.get("content-type"), ERROR_MIME)
        doc = json.loads(body)
        self.assertIsInstance(doc["error"]["message"], str)
        self.assertTrue(doc["error"]["message"])
        return doc["error"]["message"]

    def test_metadata(self):
        serve = self.serve()
        status, headers, body = serve.request("GET", "/api/v1/metadata")
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], METADATA_MIME)
        meta = json.loads(body)
        self.assertEqual(meta["scanner"]["name"], "layerleak")
        self.assertEqual(meta["scanner"]["vendor"], "layerleak")
        self.assertRegex(meta["scanner"]["version"], r"^\d+\.\d+")
        self.assertEqual(len(meta["capabilities"]), 1)
        capability = meta["capabilities"][0]
        self.assertEqual(capability["type"], "vulnerability")
        self.assertEqual(capability["consumes_mime_types"],
                         [OCI_MANIFEST, "application/vnd.docker.distribution.manifest.v2+json"])
        self.assertEqual(capability["produces_mime_types"], [HARBOR_MIME, SECURITY_MIME, RAW_MIME])
        properties = meta["properties"]
        self.assertEqual(properties["harbor.scanner-adapter/scanner-type"], "secret-scanner")
        self.assertRegex(properties["layerleak/rules-digest"], h.SHA256_RE)
        self.assertNotIn("harbor.scanner-adapter/vulnerability-database-updated-at", properties)
        self.assertTrue(all(isinstance(v, str) for v in properties.values()), properties)

    def test_errors_have_the_adapter_error_type(self):
        serve = self.serve()
        self.assertHarborError(serve.request("GET", "/api/v1/metadata", token=False), 401)
        self.assertHarborError(serve.request("GET", "/api/v1/nothing"), 404)
        self.assertHarborError(serve.request("GET", f"/api/v1/scan/{'e' * 32}/report"), 404)
        self.assertHarborError(serve.request("POST", "/api/v1/scan", "{not json"), 400)
        self.assertHarborError(serve.request("POST", "/api/v1/scan", scan_request(digest="latest")), 422)
        self.assertHarborError(serve.request("POST", "/api/v1/scan", scan_request(enabled_capabilities="all")), 400)
        # Outside /api/v1/ the plain JSON error type stays.
        status, headers, _ = serve.request("GET", "/v1/nothing")
        self.assertEqual((status, headers["content-type"]), (404, "application/json"))

    def test_scan_request_for_a_capability_layerleak_lacks_is_501(self):
        serve = self.serve()
        sbom = [{"type": "sbom", "produces_mime_types": [SBOM_MIME],
                 "parameters": {"sbom_media_types": ["application/spdx+json"]}}]
        message = self.assertHarborError(serve.request("POST", "/api/v1/scan", scan_request(enabled_capabilities=sbom)), 501)
        self.assertIn("sbom", message)
        other_type = [{"type": "vulnerability", "produces_mime_types": ["application/spdx+json"]}]
        self.assertHarborError(serve.request("POST", "/api/v1/scan", scan_request(enabled_capabilities=other_type)), 501)
        self.assertEqual(ts.Serve.metrics(serve).get("layerleak_scan_requests_rejected_total", 0), 0)

    def test_report_type_negotiation_on_a_real_scan(self):
        rh.require_tool("skopeo")
        rh.registry_bin()
        images = ts.build_images(self.root)
        work = h.make_tempdir(self, "layerleak-harbor-")
        serve = ts.start_serve(self, work)
        registry = rh.Registry(work / "registry").start()
        self.addCleanup(registry.stop)
        digest = ts.push(images["leaky2"], registry, "library/app", "2")
        wanted = [{"type": "vulnerability", "produces_mime_types": [SECURITY_MIME, RAW_MIME]}]
        request = scan_request(url=f"http://{registry.host}", digest=digest, enabled_capabilities=wanted)
        scan_id = serve.json("POST", "/api/v1/scan", request, expect=202)["id"]
        path = f"/api/v1/scan/{scan_id}/report"

        # An unsupported type is refused at once, scan finished or not.
        self.assertHarborError(serve.request("GET", path, headers={"Accept": SBOM_MIME}), 501)
        deadline = time.monotonic() + ts.SCAN_TIMEOUT
        status = 302
        while status == 302 and time.monotonic() < deadline:
            time.sleep(0.1)
            status, headers, body = serve.request("GET", path, headers={"Accept": "*/*"})
        self.assertEqual(status, 200, body[:2000])
        self.assertEqual(headers["content-type"], HARBOR_MIME)
        self.assertEqual(json.loads(body)["severity"], "Critical")
        for accept, expected in ((SECURITY_MIME, SECURITY_MIME), (HARBOR_MIME, HARBOR_MIME), (RAW_MIME, RAW_MIME),
                                 (f"{SBOM_MIME}, {SECURITY_MIME}", SECURITY_MIME)):
            status, headers, body = serve.request("GET", path, headers={"Accept": accept})
            self.assertEqual((status, headers["content-type"]), (200, expected), accept)
        self.assertEqual(json.loads(body)["artifact"]["digest"], digest)
        for accept in (SBOM_MIME, "application/vnd.security.vulnerability.report; version=1.0", "text/html"):
            self.assertHarborError(serve.request("GET", path, headers={"Accept": accept}), 501)


if __name__ == "__main__":
    unittest.main()
