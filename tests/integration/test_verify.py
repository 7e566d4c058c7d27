"""`scan --verify` (issue 17) with the real binary against a fake Scaleway IAM API on loopback
(tests/support/fake_scaleway_api.py): statuses, severities, the request log, deduplication, no request
without --verify, the endpoint policy, the budget, redirects, --only-live, redaction, and a hostile API.
"""

import importlib.util
import json
import os
import signal
import subprocess
import time
import unittest
from pathlib import Path

import helpers as h
from helpers import ACCESS_KEY, ACCESS_KEY_2, SECRET_KEY, SECRET_KEY_2, SECRET_KEY_3, SECRET_KEY_4, SECRET_KEY_5

_FAKE = Path(__file__).resolve().parent.parent / "support" / "fake_scaleway_api.py"
_spec = importlib.util.spec_from_file_location("fake_scaleway_api", _FAKE)
fake = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fake)

LIVE_META = {"behaviour": "live", "access_key": ACCESS_KEY, "description": "ci deploy key",
             "application_id": "2c1f7a5e-8b3d-4e6f-9a0b-1c2d3e4f5a6b",
             "default_project_id": "6d9e3bbe-0b40-4f2f-a3a0-7c9d2c3e1f10",
             "expires_at": "2027-01-01T00:00:00Z"}
SECRET_KEYS = (SECRET_KEY, SECRET_KEY_2, SECRET_KEY_3, SECRET_KEY_4, SECRET_KEY_5)
ALLOWED_HEADERS = {"host", "user-agent", "accept", "x-auth-token"}


def env_file(access_key, secret_key):
    lines = [f"SCW_ACCESS_KEY={access_key}"] if access_key else []
    return "\n".join(lines + [f"SCW_SECRET_KEY={secret_key}", ""])


class VerifyTest(unittest.TestCase):
    def setUp(self):
        self.tmp = Path(h.make_tempdir(self))

    def tree(self, files):
        """A dir: source with {relative path: content}."""
        root = self.tmp / f"tree{len(list(self.tmp.iterdir()))}"
        for rel, content in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
        return f"dir:{root}"

    def api(self, keys, **kw):
        server = fake.FakeScalewayApi(keys, **kw).start()
        self.addCleanup(server.stop)
        return server

    def scan(self, source, *args, expect_rc=None, timeout=60):
        result = h.run_layerleak("scan", source, "--color", "never", *args, timeout=timeout)
        if expect_rc is not None:
            self.assertEqual(result.returncode, expect_rc, result.describe())
        return result

    def scan_json(self, source, api, *args, expect_rc=None):
        result = self.scan(source, "--format", "json", "--verify", "--verify-endpoint", api.url, *args,
                           expect_rc=expect_rc)
        doc = json.loads(result.stdout)
        h.assert_report_schema(self, doc)
        return doc, result

    @staticmethod
    def by_secret_path(doc):
        return {f["location"]["path"]: f for image in doc["images"] for f in image["findings"]
                if f["rule_id"] == "scaleway.secret-key"}

    # ---- statuses, severities, metadata, request log ---------------------------------------------------

    def test_statuses_severities_and_the_request_log(self):
        api = self.api({SECRET_KEY: LIVE_META,
                        SECRET_KEY_2: {"behaviour": "forbidden", "access_key": ACCESS_KEY_2},
                        SECRET_KEY_4: {"behaviour": "error"}})
        source = self.tree({"live/.env": env_file(ACCESS_KEY, SECRET_KEY),
                            "forbidden/.env": env_file(ACCESS_KEY_2, SECRET_KEY_2),
                            "revoked/.env": env_file(None, SECRET_KEY_3),
                            "broken/.env": env_file(None, SECRET_KEY_4)})
        unverified = json.loads(self.scan(source, "--format", "json").stdout)
        before = {p: f["severity"] for p, f in self.by_secret_path(unverified).items()}
        doc, _ = self.scan_json(source, api, expect_rc=1)
        found = self.by_secret_path(doc)

        live = found["/live/.env"]["verification"]
        self.assertEqual((live["status"], live["http_status"]), ("live", 200))
        self.assertRegex(live["checked_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual(live["api_key"], {"access_key": h.redact(ACCESS_KEY), "description": "ci deploy key",
                                           "user_id": None, "application_id": LIVE_META["application_id"],
                                           "default_project_id": LIVE_META["default_project_id"],
                                           "created_at": "2025-06-02T09:14:27.513871Z",
                                           "expires_at": "2027-01-01T00:00:00Z"})
        forbidden = found["/forbidden/.env"]["verification"]
        self.assertEqual((forbidden["status"], forbidden["http_status"], forbidden["api_key"]), ("live", 403, None))
        revoked = found["/revoked/.env"]["verification"]
        self.assertEqual((revoked["status"], revoked["http_status"]), ("invalid", 401))
        self.assertIn("invalid_argument", revoked["reason"])
        broken = found["/broken/.env"]["verification"]
        self.assertEqual((broken["status"], broken["http_status"]), ("unknown", 500))

        # Severities: invalid -> low; nothing raised; the others unchanged.
        self.assertEqual(found["/revoked/.env"]["severity"], "low")
        for path in ("/live/.env", "/forbidden/.env", "/broken/.env"):
            self.assertEqual(found[path]["severity"], before[path], path)
        # The paired access-key findings carry their secret key's status.
        access = {f["secret"]: f for f in doc["images"][0]["findings"] if f["rule_id"] == "scaleway.access-key"}
        self.assertEqual(access[h.redact(ACCESS_KEY)]["verification"]["status"], "live")

        # One GET per key; the secret only in X-Auth-Token; nothing else sent.
        log = api.snapshot()
        self.assertEqual(len(log), 4, log)
        paths = {}
        for request in log:
            self.assertEqual(request["method"], "GET")
            self.assertEqual(request["body_length"], 0)
            names = {name.lower() for name, _ in request["headers"]}
            self.assertLessEqual(names, ALLOWED_HEADERS, request)
            tokens = [v for n, v in request["headers"] if n.lower() == "x-auth-token"]
            self.assertEqual(len(tokens), 1)
            for name, value in request["headers"]:
                if name.lower() != "x-auth-token":
                    for secret in SECRET_KEYS:
                        self.assertNotIn(secret, value)
            for secret in SECRET_KEYS:
                self.assertNotIn(secret, request["path"])
            paths[tokens[0]] = request["path"]
        self.assertEqual(paths, {SECRET_KEY: f"/iam/v1alpha1/api-keys/{ACCESS_KEY}",
                                 SECRET_KEY_2: f"/iam/v1alpha1/api-keys/{ACCESS_KEY_2}",
                                 SECRET_KEY_3: "/iam/v1alpha1/api-keys?page_size=1",
                                 SECRET_KEY_4: "/iam/v1alpha1/api-keys?page_size=1"})

        # The remediation plan: once per credential, live first, commands with the access key, never a secret.
        plans = doc["remediation"]
        self.assertEqual(len(plans), 4)
        self.assertEqual([p["verification_status"] for p in plans][:2], ["live", "live"])
        self.assertEqual(plans[-1]["verification_status"], "invalid")
        live_plan = next(p for p in plans if p["access_key"] == ACCESS_KEY)
        self.assertEqual([s["id"] for s in live_plan["steps"]], ["check_misuse", "inventory", "rotate", "purge"])
        rotate = live_plan["steps"][2]["commands"]
        self.assertIn(f"scw iam api-key delete access-key={ACCESS_KEY}", rotate)
        self.assertIn(f"application-id={LIVE_META['application_id']}", rotate[0])
        self.assertEqual(live_plan["locations"][0]["where"], "/live/.env")
        h.assert_no_full_secret(self, json.dumps(doc), SECRET_KEYS)

    def test_one_request_per_distinct_key(self):
        api = self.api({SECRET_KEY: LIVE_META})
        source = self.tree({"a/.env": env_file(ACCESS_KEY, SECRET_KEY), "b/.env": env_file(ACCESS_KEY, SECRET_KEY),
                            "c/config.env": env_file(ACCESS_KEY, SECRET_KEY)})
        doc, _ = self.scan_json(source, api, expect_rc=1)
        self.assertEqual(len(self.by_secret_path(doc)), 3)
        self.assertEqual(len(api.snapshot()), 1)
        self.assertEqual(len(doc["remediation"]), 1)
        self.assertEqual(len(doc["remediation"][0]["locations"]), 3)

    def test_no_request_without_verify(self):
        api = self.api({SECRET_KEY: LIVE_META})
        source = self.tree({"a/.env": env_file(ACCESS_KEY, SECRET_KEY)})
        for fmt in ("json", "text", "sarif", "html"):
            result = self.scan(source, "--format", fmt, expect_rc=1)
            self.assertNotIn("verification", result.stdout if fmt != "json" else
                             json.dumps(json.loads(result.stdout)["images"]))
        self.assertEqual(api.snapshot(), [])
        # The companions of --verify need it, and say so.
        for extra in (["--only-live"], ["--verify-endpoint", api.url]):
            result = self.scan(source, *extra, expect_rc=2)
            self.assertIn("needs --verify", result.stderr)
        self.assertEqual(api.snapshot(), [])

    # ---- endpoint policy, budget, redirects --------------------------------------------------------------

    def test_plain_http_endpoint_refused_unless_loopback(self):
        source = self.tree({"a/.env": env_file(ACCESS_KEY, SECRET_KEY)})
        for endpoint in ("http://192.0.2.1:8080", "http://api.scaleway.com", "http://10.0.0.1",
                         "ftp://127.0.0.1/", "https://user:pw@api.scaleway.com", "https://api.scaleway.com/?x=1",
                         "not a url"):
            result = self.scan(source, "--verify", "--verify-endpoint", endpoint, expect_rc=2)
            self.assertEqual(result.stdout, "", f"{endpoint}: no report, the scan did not start")
            self.assertIn("--verify-endpoint", result.stderr)
        result = self.scan(source, "--verify", "--verify-endpoint", "http://10.1.2.3:80", expect_rc=2)
        self.assertIn("loopback", result.stderr)

    def test_a_hanging_api_ends_within_the_budget(self):
        api = self.api({SECRET_KEY: {"behaviour": "hang", "access_key": ACCESS_KEY},
                        SECRET_KEY_2: {"behaviour": "live", "access_key": ACCESS_KEY_2}})
        source = self.tree({"a/.env": env_file(ACCESS_KEY, SECRET_KEY), "b/.env": env_file(ACCESS_KEY_2, SECRET_KEY_2)})
        started = time.monotonic()
        doc, _ = self.scan_json(source, api, "--verify-budget", "3", expect_rc=1)
        elapsed = time.monotonic() - started
        self.assertLess(elapsed, 8, "the scan waited past its verification budget")
        found = self.by_secret_path(doc)
        self.assertEqual(found["/a/.env"]["verification"]["status"], "unknown")
        self.assertIn("budget", found["/a/.env"]["verification"]["reason"])
        self.assertEqual(found["/b/.env"]["verification"]["status"], "live")
        self.assertTrue(doc["complete"])

    def test_redirects_are_not_followed(self):
        elsewhere = self.api({})
        api = self.api({SECRET_KEY: {"behaviour": "redirect", "access_key": ACCESS_KEY}}, redirect_to=elsewhere.url)
        source = self.tree({"a/.env": env_file(ACCESS_KEY, SECRET_KEY)})
        doc, _ = self.scan_json(source, api, expect_rc=1)
        v = self.by_secret_path(doc)["/a/.env"]["verification"]
        self.assertEqual((v["status"], v["http_status"]), ("unknown", 302))
        self.assertIn("redirect", v["reason"])
        self.assertEqual(len(api.snapshot()), 1)
        self.assertEqual(elsewhere.snapshot(), [], "the token followed the redirect")

    # ---- exit statuses and redaction ---------------------------------------------------------------------

    def test_only_live_decides_the_exit_status(self):
        api = self.api({SECRET_KEY: LIVE_META})
        revoked_only = self.tree({"r/.env": env_file(None, SECRET_KEY_3)})
        self.scan(revoked_only, "--verify", "--verify-endpoint", api.url, "--fail-on", "low", expect_rc=1)
        self.scan(revoked_only, "--verify", "--verify-endpoint", api.url, "--fail-on", "medium", expect_rc=0)
        result = self.scan(revoked_only, "--verify", "--verify-endpoint", api.url, "--fail-on", "low", "--only-live",
                           expect_rc=0)
        self.assertIn("/r/.env", result.stdout, "a non-live finding is still listed")
        with_live = self.tree({"r/.env": env_file(None, SECRET_KEY_3), "l/.env": env_file(ACCESS_KEY, SECRET_KEY)})
        self.scan(with_live, "--verify", "--verify-endpoint", api.url, "--only-live", expect_rc=1)
        self.scan(with_live, "--verify", "--verify-endpoint", api.url, "--only-live", "--fail-on", "none", expect_rc=0)

    def test_no_full_secret_in_any_format(self):
        api = self.api({SECRET_KEY: LIVE_META, SECRET_KEY_2: {"behaviour": "forbidden", "access_key": ACCESS_KEY_2}})
        source = self.tree({"l/.env": env_file(ACCESS_KEY, SECRET_KEY), "f/.env": env_file(ACCESS_KEY_2, SECRET_KEY_2),
                            "r/.env": env_file(None, SECRET_KEY_3)})
        os.environ["CI_COMMIT_SHA"] = "0123456789abcdef0123456789abcdef01234567"
        self.addCleanup(os.environ.pop, "CI_COMMIT_SHA", None)
        for fmt in ("json", "text", "sarif", "gitlab", "html"):
            result = self.scan(source, "--format", fmt, "--verify", "--verify-endpoint", api.url, expect_rc=1)
            h.assert_no_full_secret(self, result.stdout + result.stderr, SECRET_KEYS, where=fmt)
            self.assertIn("live", result.stdout.lower(), fmt)
        text = self.scan(source, "--verify", "--verify-endpoint", api.url, expect_rc=1).stdout
        self.assertIn("LIVE", text)
        self.assertIn(f"scw iam api-key delete access-key={ACCESS_KEY}", text)
        self.assertIn("Summary: ", text)
        self.assertIn("2 LIVE keys", text)
        sarif = json.loads(self.scan(source, "--format", "sarif", "--verify", "--verify-endpoint", api.url).stdout)
        statuses = {r["properties"].get("verification") for run in sarif["runs"] for r in run["results"]}
        self.assertEqual(statuses, {"live", "invalid"})
        gitlab = json.loads(self.scan(source, "--format", "gitlab", "--verify", "--verify-endpoint", api.url).stdout)
        details = [v["details"]["verification"]["value"] for v in gitlab["vulnerabilities"]]
        self.assertTrue(any(d.startswith("live (HTTP 403)") for d in details), details)
        html = self.scan(source, "--format", "html", "--verify", "--verify-endpoint", api.url).stdout
        table = html[html.index("<h3>Findings"):]
        first_row = table[table.index("<tr><td>"):table.index("</tr>", table.index("<tr><td>"))]
        self.assertIn("LIVE", first_row, "live keys come first in the HTML findings")

    # ---- a hostile API -----------------------------------------------------------------------------------

    def test_hostile_answers(self):
        api = self.api({SECRET_KEY: {"behaviour": "huge", "access_key": ACCESS_KEY},
                        SECRET_KEY_2: {"behaviour": "escapes", "access_key": ACCESS_KEY_2},
                        SECRET_KEY_3: {"behaviour": "badjson", "access_key": ""},
                        SECRET_KEY_4: {"behaviour": "drip", "access_key": ""},
                        SECRET_KEY_5: {"behaviour": "ratelimit", "access_key": ""}})
        source = self.tree({"huge/.env": env_file(ACCESS_KEY, SECRET_KEY),
                            "escapes/.env": env_file(ACCESS_KEY_2, SECRET_KEY_2),
                            "badjson/.env": env_file(None, SECRET_KEY_3),
                            "drip/.env": env_file(None, SECRET_KEY_4),
                            "ratelimit/.env": env_file(None, SECRET_KEY_5)})
        started = time.monotonic()
        doc, _ = self.scan_json(source, api, "--verify-budget", "5", expect_rc=1)
        self.assertLess(time.monotonic() - started, 12)
        found = self.by_secret_path(doc)
        huge = found["/huge/.env"]["verification"]
        self.assertEqual(huge["status"], "unknown")
        self.assertIn("larger than", huge["reason"])
        self.assertEqual(found["/badjson/.env"]["verification"]["status"], "live")  # a 200 authenticates
        self.assertEqual(found["/drip/.env"]["verification"]["status"], "unknown")
        self.assertEqual(found["/ratelimit/.env"]["verification"]["status"], "live")  # retried after Retry-After
        self.assertEqual(sum(1 for r in api.snapshot() if dict(r["headers"]).get("X-Auth-Token") == SECRET_KEY_5), 2)
        description = found["/escapes/.env"]["verification"]["api_key"]["description"]
        self.assertNotIn("\x1b", description)
        self.assertNotIn("\n", description)
        text = self.scan(source, "--verify", "--verify-endpoint", api.url, "--verify-budget", "5").stdout
        self.assertNotIn("\x1b", text)
        self.assertNotIn("\x07", text)

    def test_a_deeply_nested_answer_is_classified_by_its_status(self):
        api = self.api({SECRET_KEY: {"behaviour": "deep", "access_key": ACCESS_KEY}})
        source = self.tree({"a/.env": env_file(ACCESS_KEY, SECRET_KEY)})
        doc, _ = self.scan_json(source, api, "--fail-on", "medium", expect_rc=0)
        v = self.by_secret_path(doc)["/a/.env"]["verification"]
        self.assertEqual((v["status"], v["http_status"], v["reason"]), ("invalid", 401, "authentication denied"))

    def test_metadata_of_another_key_is_not_reported(self):
        api = self.api({SECRET_KEY: {"behaviour": "impostor", "access_key": ACCESS_KEY}})
        source = self.tree({"a/.env": env_file(ACCESS_KEY, SECRET_KEY)})
        doc, _ = self.scan_json(source, api, expect_rc=1)
        v = self.by_secret_path(doc)["/a/.env"]["verification"]
        self.assertEqual((v["status"], v["api_key"]), ("live", None))
        self.assertIn("metadata left out", v["reason"])

    def test_sigint_stops_verification(self):
        api = self.api({SECRET_KEY: {"behaviour": "hang", "access_key": ACCESS_KEY}})
        source = self.tree({"a/.env": env_file(ACCESS_KEY, SECRET_KEY)})
        proc = subprocess.Popen([h.layerleak_bin(), "scan", source, "--format", "json", "--verify", "--verify-endpoint",
                                 api.url, "--verify-budget", "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while not api.snapshot() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(len(api.snapshot()), 1, "the request was never sent")
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        self.assertLess(time.monotonic() - started, 3, "SIGINT was not honoured promptly")
        self.assertEqual(proc.returncode, 2, err.decode())
        doc = json.loads(out)
        v = self.by_secret_path(doc)["/a/.env"]["verification"]
        self.assertEqual(v["status"], "unknown")
        self.assertIn("cancelled", v["reason"])
        self.assertIn(b"interrupted", err)

    def test_an_access_key_with_line_breaks_never_reaches_the_url(self):
        # The client is handed access keys only of the SCW + 17 form; the detector never pairs anything else,
        # so a CR/LF cannot be injected through one: the probe falls back to the list URL.
        api = self.api({SECRET_KEY: {"behaviour": "live", "access_key": ""}})
        source = self.tree({"a/.env": "SCW_ACCESS_KEY=SCW0RE86AB2CD4EF\r\nX-Evil: 1\nSCW_SECRET_KEY=" + SECRET_KEY + "\n"})
        self.scan_json(source, api, expect_rc=1)
        for request in api.snapshot():
            self.assertNotIn("x-evil", {n.lower() for n, _ in request["headers"]})
            self.assertNotIn("\r", request["path"])


class DemoTest(unittest.TestCase):
    """The issue's closing demonstration: one image with a live, a no-permission and a revoked key."""

    def test_demo_image(self):
        tmp = Path(h.make_tempdir(self))
        spec = {"images": [{"repo_tags": ["example/shop:1.4"], "env": ["PATH=/usr/bin:/bin"], "layers": [
            {"created_by": "COPY deploy/.env /app/.env", "entries": [
                {"type": "dir", "path": "app"},
                h.file_entry("app/.env", env_file(ACCESS_KEY, SECRET_KEY))]},
            {"created_by": "COPY monitoring.env /etc/monitoring.env", "entries": [
                {"type": "dir", "path": "etc"},
                h.file_entry("etc/monitoring.env", env_file(ACCESS_KEY_2, SECRET_KEY_2))]},
            {"created_by": "RUN echo SCW_SECRET_KEY=... >> /root/.bashrc", "entries": [
                {"type": "dir", "path": "root"},
                h.file_entry("root/.bashrc", env_file(None, SECRET_KEY_3))]},
        ]}]}
        image = "oci-archive:" + str(h.build_fixture(spec, tmp / "shop.tar", "oci-archive"))
        api = fake.FakeScalewayApi({SECRET_KEY: LIVE_META,
                                    SECRET_KEY_2: {"behaviour": "forbidden", "access_key": ACCESS_KEY_2}}).start()
        self.addCleanup(api.stop)
        args = ["scan", image, "--verify", "--verify-endpoint", api.url, "--color", "never"]
        text = h.run_layerleak(*args)
        self.assertEqual(text.returncode, 1, text.describe())
        html = h.run_layerleak(*args, "--format", "html")
        self.assertEqual(html.returncode, 1, html.describe())
        self.assertEqual(len(api.snapshot()), 6)  # 3 keys, two runs
        for out in (text.stdout, html.stdout):
            h.assert_no_full_secret(self, out, SECRET_KEYS)
        self.assertIn("LIVE", text.stdout)
        self.assertIn("invalid (HTTP 401)", text.stdout)
        self.assertIn("LIVE (HTTP 403)", text.stdout)
        self.assertIn("2 live keys</span>", html.stdout)
        demo_dir = os.environ.get("LAYERLEAK_VERIFY_DEMO_DIR")
        if demo_dir:  # the closing note's material (set by hand, never in CI)
            Path(demo_dir, "verify-report.txt").write_text(text.stdout)
            Path(demo_dir, "verify-report.html").write_text(html.stdout)


if __name__ == "__main__":
    unittest.main()
