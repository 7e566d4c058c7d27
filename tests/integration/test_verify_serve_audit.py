"""`serve --verify` and `audit --verify` (issue 17) with the real binary against the fake Scaleway IAM API on
loopback (tests/support/fake_scaleway_api.py): results reused from the store within --verify-ttl (another
image with the same key: no new request), checked again after it, serve verdicts (a revoked-only image is
allowed with --fail-on medium, a live one denied, --only-live), the endpoint checked at start-up, no request
without --verify, and an audit by two workers sharing a PostgreSQL store sending one request per distinct key.

One fake API and one serve per class; one registry population and one PostgreSQL for the audit class.
"""

import hashlib
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

import helpers as h
from helpers import ACCESS_KEY, ACCESS_KEY_2, SECRET_KEY, SECRET_KEY_2, SECRET_KEY_3, SECRET_KEY_4, SECRET_KEY_5

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "support"))
import fake_scaleway_api as fake  # noqa: E402
import postgres_harness  # noqa: E402
import registry_population  # noqa: E402
from test_serve import Serve  # noqa: E402

TTL = 3  # seconds: short enough to wait out in a test


def env_file(access_key, secret_key):
    lines = [f"SCW_ACCESS_KEY={access_key}"] if access_key else []
    return "\n".join(lines + [f"SCW_SECRET_KEY={secret_key}", ""])


def fingerprint(secret):
    return "sha256:" + hashlib.sha256(f"scaleway.secret-key:{secret}".encode()).hexdigest()


def requests_for(api, secret):
    return [r for r in api.requests if dict((k.lower(), v) for k, v in r["headers"]).get("x-auth-token") == secret]


class ServeVerifyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="layerleak-serve-verify-")
        cls.work = Path(cls.tmp.name)
        cls.api = fake.FakeScalewayApi({
            SECRET_KEY: {"behaviour": "live", "access_key": ACCESS_KEY, "description": "ci deploy key"},
            SECRET_KEY_2: {"behaviour": "revoked"},
            SECRET_KEY_3: {"behaviour": "forbidden"},
            SECRET_KEY_5: {"behaviour": "error"},
        }).start()
        cls.serve = Serve(cls.work, "--allow-local-images", "--verify", "--verify-endpoint", cls.api.url,
                          "--verify-ttl", str(TTL), "--fail-on", "medium").start()
        cls.only_live = Serve(cls.work, "--allow-local-images", "--verify", "--verify-endpoint", cls.api.url,
                              "--only-live", "--fail-on", "medium").start()
        cls.plain = Serve(cls.work, "--allow-local-images").start()
        cls.trees = 0

    @classmethod
    def tearDownClass(cls):
        for s in (cls.serve, cls.only_live, cls.plain):
            s.stop()
        cls.api.stop()
        cls.tmp.cleanup()

    def tree(self, files):
        type(self).trees += 1
        root = self.work / f"tree{self.trees}"
        for rel, content in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(content)
        return f"dir:{root}"

    def scan(self, serve, files):
        doc = serve.scan(self.tree(files))
        self.assertEqual(doc["status"], "done", doc)
        return doc

    @staticmethod
    def secret_findings(doc):
        return [f for image in doc["report"]["images"] for f in image["findings"] if f["rule_id"] == "scaleway.secret-key"]

    def test_results_reused_within_the_ttl_and_checked_again_after(self):
        key = SECRET_KEY_3  # 403: live without IAM read permission; only this test sends it
        first = self.scan(self.serve, {"app/.env": env_file(None, key)})
        self.assertEqual(len(requests_for(self.api, key)), 1)
        self.assertEqual(self.secret_findings(first)[0]["verification"]["status"], "live")
        # Another image (other content, other path) with the same key, within the TTL: no new request.
        second = self.scan(self.serve, {"srv/config/.env": env_file(None, key), "srv/README": "other image\n"})
        self.assertEqual(len(requests_for(self.api, key)), 1)
        v = self.secret_findings(second)[0]["verification"]
        self.assertEqual(v["status"], "live")
        self.assertEqual(v["checked_at"], self.secret_findings(first)[0]["verification"]["checked_at"])
        self.assertIn("1 from the store", self.serve.log())
        # Past the TTL: checked again.
        time.sleep(TTL + 0.5)
        self.scan(self.serve, {"opt/.env": env_file(None, key)})
        self.assertEqual(len(requests_for(self.api, key)), 2)

    def test_unknown_is_not_reused(self):
        counts = [len(requests_for(self.api, SECRET_KEY_5))]  # --only-live's serve sends it too
        for n in (1, 2):
            doc = self.scan(self.serve, {f"e{n}/.env": env_file(None, SECRET_KEY_5)})
            self.assertEqual(self.secret_findings(doc)[0]["verification"]["status"], "unknown")
            counts.append(len(requests_for(self.api, SECRET_KEY_5)))
        self.assertGreater(counts[1], counts[0])
        self.assertEqual(counts[2] - counts[1], counts[1] - counts[0])  # the second scan asked again

    def test_verdicts_revoked_only_allowed_live_denied(self):
        revoked = self.scan(self.serve, {"app/.env": env_file(ACCESS_KEY_2, SECRET_KEY_2)})
        f = self.secret_findings(revoked)[0]
        self.assertEqual(f["verification"]["status"], "invalid")
        self.assertEqual(f["severity"], "low")
        self.assertEqual([v["verdict"] for v in revoked["verdicts"]], ["allow"], revoked["verdicts"])
        live = self.scan(self.serve, {"app/.env": env_file(ACCESS_KEY, SECRET_KEY)})
        f = self.secret_findings(live)[0]
        self.assertEqual(f["verification"]["status"], "live")
        self.assertEqual(f["verification"]["api_key"]["description"], "ci deploy key")
        self.assertEqual([v["verdict"] for v in live["verdicts"]], ["deny"])
        self.assertNotIn(SECRET_KEY, json.dumps(live))  # redacted as ever
        # Sent once in X-Auth-Token only, to the access-key URL.
        sent = requests_for(self.api, SECRET_KEY)
        self.assertTrue(sent)
        self.assertTrue(all(r["path"] == f"/iam/v1alpha1/api-keys/{ACCESS_KEY}" and r["method"] == "GET" for r in sent))

    def test_only_live_denies_only_live_keys(self):
        unknown = self.scan(self.only_live, {"app/.env": env_file(None, SECRET_KEY_5)})
        self.assertEqual(self.secret_findings(unknown)[0]["severity"], "critical")
        self.assertEqual([v["verdict"] for v in unknown["verdicts"]], ["allow"])
        live = self.scan(self.only_live, {"app/.env": env_file(ACCESS_KEY, SECRET_KEY)})
        self.assertEqual([v["verdict"] for v in live["verdicts"]], ["deny"])

    def test_no_request_without_verify(self):
        before = len(self.api.requests)
        doc = self.scan(self.plain, {"app/.env": env_file(ACCESS_KEY, SECRET_KEY)})
        self.assertTrue(self.secret_findings(doc))
        self.assertNotIn('"verification":', json.dumps(doc))
        self.assertEqual([v["verdict"] for v in doc["verdicts"]], ["deny"])
        self.assertEqual(len(self.api.requests), before)

    def test_endpoint_checked_at_start_up(self):
        for args, message in ((["--verify", "--verify-endpoint", "http://192.0.2.1:8080"], "loopback"),
                              (["--verify-endpoint", self.api.url], "needs --verify"),
                              (["--only-live"], "needs --verify")):
            r = subprocess.run([h.layerleak_bin(), "serve", "--listen", "127.0.0.1:0", *args], capture_output=True,
                               text=True, timeout=30)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertIn(message, r.stderr)


class AuditVerifyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="layerleak-audit-verify-")
        cls.pop = registry_population.populate_registry(cls.tmp.name, repositories=8, tags_per_repository=1)
        cls.addClassCleanup(cls.pop.stop)
        cls.pg = postgres_harness.PostgresServer.start_for_class(cls)
        by_name = {c.name: c for c in cls.pop.credentials}
        keys = {}
        shared = by_name["SHARED_KEY"]
        keys[shared.secret_key] = {"behaviour": "live", "access_key": shared.access_key, "description": "shared"}
        cls.api = fake.FakeScalewayApi(keys).start()  # every other key: 401 (revoked)
        cls.addClassCleanup(cls.api.stop)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def audit_cmd(self, uri, run_id, *extra):
        return [h.layerleak_bin(), "audit", self.pop.target, "--no-progress", "-j", "2", "--format", "json",
                "--store", uri, "--run-id", run_id, *extra]

    def test_two_workers_verify_each_distinct_key_once(self):
        uri = self.pg.create_database()
        verify = ["--verify", "--verify-endpoint", self.api.url]
        before = len(self.api.requests)  # other tests of the class share the API
        workers = [subprocess.Popen(self.audit_cmd(uri, "verify-two", *verify), stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outs = [w.communicate(timeout=300) for w in workers]
        for w, (_, err) in zip(workers, outs):
            self.assertEqual(w.returncode, 1, err[-2000:])
        reports = [json.loads(out) for out, _ in outs]
        self.assertEqual(reports[0], reports[1])
        doc = reports[0]
        self.assertEqual(h.report_schema.schema_errors(doc), [])
        secret_findings = [f for image in doc["images"] for f in image["findings"] if f["rule_id"] == "scaleway.secret-key"]
        self.assertTrue(secret_findings)
        found = {f["fingerprint"] for f in secret_findings}
        # One request per distinct key across both workers, and only for keys the audit found.
        tokens = [dict((k.lower(), v) for k, v in r["headers"]).get("x-auth-token") for r in self.api.requests[before:]]
        self.assertEqual(len(tokens), len(set(tokens)), tokens)
        self.assertEqual({fingerprint(t) for t in tokens}, found)
        shared = next(c for c in self.pop.credentials if c.name == "SHARED_KEY")
        statuses = {f["fingerprint"]: f["verification"]["status"] for f in secret_findings}
        self.assertEqual(statuses.pop(fingerprint(shared.secret_key)), "live")
        self.assertTrue(statuses and set(statuses.values()) == {"invalid"}, statuses)
        for f in secret_findings:
            if f["verification"]["status"] == "invalid":
                self.assertEqual(f["severity"], "low")
        # Text and HTML carry it too (a re-audit within the TTL: answers from the store, no new request).
        sent = len(self.api.requests)
        text = subprocess.run([a if a != "json" else "text" for a in self.audit_cmd(uri, "verify-text", *verify)],
                              capture_output=True, text=True, timeout=300)
        self.assertIn("verified LIVE (HTTP 200)", text.stdout, text.stderr[-2000:])
        self.assertIn("verified invalid (HTTP 401)", text.stdout)
        self.assertLess(text.stdout.index("verified LIVE"), text.stdout.index("verified invalid"))  # live first
        html = subprocess.run([a if a != "json" else "html" for a in self.audit_cmd(uri, "verify-html", *verify)],
                              capture_output=True, text=True, timeout=300)
        self.assertIn("verified LIVE (HTTP 200)", html.stdout, html.stderr[-2000:])
        self.assertEqual(len(self.api.requests), sent)
        # --only-live: revoked keys no longer decide the exit status; the live one still does.
        r = subprocess.run(self.audit_cmd(uri, "verify-live", *verify, "--only-live", "--fail-on", "critical"),
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 1, r.stderr[-2000:])

    def test_a_suppressed_key_is_never_sent(self):
        shared = next(c for c in self.pop.credentials if c.name == "SHARED_KEY")
        baseline = Path(self.tmp.name) / "baseline.txt"
        baseline.write_text(fingerprint(shared.secret_key) + "\n")
        before = len(self.api.requests)
        r = subprocess.run(self.audit_cmd(self.pg.create_database(), "suppressed", "--verify", "--verify-endpoint",
                                          self.api.url, "--baseline", str(baseline)),
                           capture_output=True, text=True, timeout=300)
        self.assertIn(r.returncode, (0, 1), r.stderr[-2000:])
        sent = [dict((k.lower(), v) for k, v in q["headers"]).get("x-auth-token") for q in self.api.requests[before:]]
        self.assertTrue(sent)  # the other keys were checked
        self.assertNotIn(shared.secret_key, sent)
        doc = json.loads(r.stdout)
        suppressed = [f for image in doc["images"] for f in image["suppressed"]
                      if f["fingerprint"] == fingerprint(shared.secret_key)]
        self.assertTrue(suppressed)
        self.assertTrue(all("verification" not in f for f in suppressed))

    def test_no_request_without_verify(self):
        before = len(self.api.requests)
        r = subprocess.run(self.audit_cmd(self.pg.create_database(), "plain"), capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 1, r.stderr[-2000:])
        self.assertNotIn('"verification"', r.stdout)
        self.assertEqual(len(self.api.requests), before)
        r = subprocess.run([h.layerleak_bin(), "audit", self.pop.target, "--verify", "--verify-endpoint",
                            "http://192.0.2.1:9"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 2)
        self.assertIn("loopback", r.stderr)
        self.assertEqual(len(self.api.requests), before)


if __name__ == "__main__":
    unittest.main()
