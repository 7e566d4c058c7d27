"""`layerleak audit` against a real docker-registry populated with 30+ repositories and 100+ tags sharing base
layers (tests/support/registry_population.py), with the SQLite cache and a real PostgreSQL store
(tests/support/postgres_harness.py): every planted key found once per credential with every tag carrying
it, each distinct layer read once, a re-audit reads nothing, two workers share one run and print the same
report, a worker SIGKILLed mid-audit leaves nothing undone, SQLite and PostgreSQL give the same report.

One registry for the module, one PostgreSQL for the class that needs it.
"""

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

import helpers as h

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "support"))
import postgres_harness  # noqa: E402
import registry_population  # noqa: E402

POP = None
WORKDIR = None
SQLITE = None  # (exit status, report) of the first audit, cold, with --cache WORKDIR/sqlite-cache


def setUpModule():
    global POP, WORKDIR, SQLITE
    WORKDIR = tempfile.TemporaryDirectory(prefix="layerleak-audit-")
    POP = registry_population.populate_registry(WORKDIR.name)
    SQLITE = audit_json("--cache", str(Path(WORKDIR.name) / "sqlite-cache"))


def tearDownModule():
    if POP is not None:
        POP.stop()
    if WORKDIR is not None:
        WORKDIR.cleanup()


def fingerprint(rule_id, secret):
    return "sha256:" + hashlib.sha256(f"{rule_id}:{secret}".encode()).hexdigest()


def expected(platform="linux/amd64"):
    """(image manifest digests, distinct layer digests) an audit of POP selects for `platform` (None = all)."""
    manifests = {d: m for d, m in POP.manifests.items() if m["media_type"] != registry_population.OCI_INDEX}
    if platform is not None:
        manifests = {d: m for d, m in manifests.items() if m.get("platform") in (None, platform)}
    layers = {layer for m in manifests.values() for layer in m["layers"]}
    return set(manifests), layers


def audit(*args, check_rc=(0, 1), env=None):
    cmd = [h.layerleak_bin(), "audit", POP.target, "--no-progress", "-j", "2", *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    if result.returncode not in check_rc:
        raise AssertionError(f"{cmd} exited {result.returncode}\n{result.stderr[-3000:]}")
    return result


def audit_json(*args):
    result = audit("--format", "json", *args)
    report = json.loads(result.stdout)
    errors = h.report_schema.schema_errors(report)
    if errors:
        raise AssertionError("the audit report does not follow docs/report.schema.json: " + "; ".join(errors[:5]))
    return result.returncode, report


def without_timing(report):
    """The report with what legitimately differs between two runs (durations) taken out."""
    report = json.loads(json.dumps(report))
    for image in report["images"]:
        image["stats"].pop("duration_ms", None)
    report.pop("summary", None)
    return report


class AuditSqliteTest(unittest.TestCase):
    def test_every_key_once_with_every_tag_each_layer_read_once_and_reaudit_reads_nothing(self):
        cache = Path(WORKDIR.name) / "sqlite-cache"
        rc, report = SQLITE
        self.assertEqual(rc, 1)
        self.assertEqual(report["kind"], "audit")
        self.assertTrue(report["complete"], report["errors"])
        manifests, layers = expected()
        self.assertGreaterEqual(len(POP.tags), 30)
        self.assertGreaterEqual(POP.tag_count, 100)
        self.assertEqual({i["manifest_digest"] for i in report["images"]}, manifests)
        self.assertEqual(len(report["images"]), len(manifests))  # each distinct manifest once
        summary = report["summary"]
        self.assertEqual(summary["repositories"], len(POP.tags))
        self.assertEqual(summary["layers_total"], len(layers))
        self.assertEqual(summary["layers_scanned"], len(layers))
        self.assertEqual(summary["layers_reused"], 0)
        # Deterministic order: repository, then digest.
        keys = [(i["reference"].split("/", 3)[3].split("@")[0], i["manifest_digest"]) for i in report["images"]]
        self.assertEqual(keys, sorted(keys))
        # Every tag is on exactly one image; every planted amd64 key is found in every tag carrying it.
        all_tags = [t for i in report["images"] for t in i["tags"]]
        self.assertEqual(len(all_tags), len(set(all_tags)))
        by_tag = {t: i for i in report["images"] for t in i["tags"]}
        for placement in POP.secrets:
            if placement.platforms and "linux/amd64" not in placement.platforms:
                continue
            fp = fingerprint("scaleway.secret-key", placement.credential.secret_key)
            for ref in placement.refs:
                image = by_tag.get(ref)
                self.assertIsNotNone(image, ref)
                found = [f for f in image["findings"] if f["fingerprint"] == fp and f["location"].get("path") == placement.path]
                self.assertTrue(found, f"{placement.credential.name} at {placement.path} not found in {ref}")
                self.assertEqual(found[0]["visibility"], placement.visibility)
        # No full secret anywhere without --show-secrets.
        text = json.dumps(report)
        for cred in POP.credentials:
            self.assertNotIn(cred.secret_key, text)

        # Re-audit of the unchanged registry, as text: nothing read; each credential once, with every tag.
        out = audit("--cache", str(cache), "--format", "text").stdout
        self.assertIn(f"layers {len(layers)} (scanned 0, reused {len(layers)})", out)
        for placement in POP.secrets:
            if placement.platforms and "linux/amd64" not in placement.platforms:
                continue
            fp = fingerprint("scaleway.secret-key", placement.credential.secret_key)
            self.assertEqual(out.count("fingerprint " + fp), 1, placement.credential.name)
            block = out[out.index(fp):].split("\n\n", 1)[0]
            for ref in placement.refs:
                self.assertIn(ref, block)
            self.assertNotIn(placement.credential.secret_key, out)

    def test_all_platforms_and_repositories_from(self):
        arm = [p for p in POP.secrets if p.platforms and "linux/amd64" not in p.platforms]
        self.assertTrue(arm, "the population has an arm64-only key")
        arm_repos = sorted({ref.split(":", 1)[0] for p in arm for ref in p.refs})
        listed = Path(WORKDIR.name) / "arm-repos.txt"
        listed.write_text("\n".join(arm_repos) + "\n")
        rc, report = audit_json("--all-platforms", "--repositories-from", str(listed))
        self.assertEqual({i["platform"] for i in report["images"]} >= {"linux/amd64", "linux/arm64"}, True)
        fps = {f["fingerprint"] for i in report["images"] for f in i["findings"]}
        for p in arm:
            self.assertIn(fingerprint("scaleway.secret-key", p.credential.secret_key), fps)
            tags = {t for i in report["images"] if i["platform"] == "linux/arm64" for t in i["tags"]}
            self.assertTrue(set(p.refs) <= tags, p.refs)
        # linux/amd64 alone: the arm64 key is not in the report.
        rc, amd = audit_json("--repositories-from", str(listed))
        fps = {f["fingerprint"] for i in amd["images"] for f in i["findings"]}
        for p in arm:
            self.assertNotIn(fingerprint("scaleway.secret-key", p.credential.secret_key), fps)

        some = POP.repositories[:3]
        listed.write_text("# three of them\n" + "\n".join(some) + "\n\n")
        rc, report = audit_json("--repositories-from", str(listed))
        self.assertEqual(report["summary"]["repositories"], 3)
        self.assertEqual({i["reference"].split("/", 3)[3].split("@")[0] for i in report["images"]}, set(some))
        listed.write_text("Not/A Repo\n")
        bad = audit("--repositories-from", str(listed), check_rc=(2,))
        self.assertIn("line 1", bad.stderr)

    def test_formats(self):
        listed = Path(WORKDIR.name) / "secret-repos.txt"
        repos = POP.repos_with_secrets()[:4]
        listed.write_text("\n".join(repos) + "\n")
        few = ("--repositories-from", str(listed), "--cache", str(Path(WORKDIR.name) / "sqlite-cache"))
        images = len(json.loads(audit("--format", "json", *few).stdout)["images"])
        for fmt in ("html", "sarif"):
            out = audit("--format", fmt, *few).stdout
            for cred in POP.credentials:
                self.assertNotIn(cred.secret_key, out)
            if fmt == "sarif":
                self.assertEqual(len(json.loads(out)["runs"]), images)
            else:
                self.assertIn("Repositories by risk", out)
        shown = audit("--format", "json", "--show-secrets", *few).stdout
        self.assertTrue(any(c.secret_key in shown for c in POP.credentials))
        self.assertEqual(audit("--fail-on", "none", *few).returncode, 0)
        quiet = audit("-q", *few).stdout
        self.assertEqual(quiet.count("\n"), 1)
        self.assertIn(f"audit of {POP.host}", quiet)


class AuditFindingsOptionsTest(unittest.TestCase):
    """audit honours scan's findings options: --baseline, --ignore, --only-runtime, --fail-on and the
    configuration file (.layerleak.yaml in the working directory, or --config). On the warm SQLite cache."""

    def cache(self):
        return str(Path(WORKDIR.name) / "sqlite-cache")

    def findings(self, report):
        return [f for i in report["images"] for f in i["findings"]]

    def test_baseline_ignore_only_runtime_fail_on_and_config(self):
        rc, report = SQLITE
        self.assertEqual(rc, 1)
        found = self.findings(report)
        self.assertTrue(found)
        tmp = Path(WORKDIR.name)
        baseline = tmp / "baseline.json"
        baseline.write_text(json.dumps(report))

        # --baseline: every finding of the earlier audit suppressed, nothing left to fail on.
        result = audit("--cache", self.cache(), "--format", "json", "--baseline", str(baseline))
        self.assertEqual(result.returncode, 0, result.stderr)
        doc = json.loads(result.stdout)
        self.assertEqual(self.findings(doc), [])
        self.assertEqual(doc["summary"]["images_with_findings"], 0)
        self.assertEqual(sum(len(i.get("suppressed", [])) for i in doc["images"]), len(found))

        # --ignore: one fingerprint ignored, every other finding kept; an unknown rule id stops the audit.
        fp = found[0]["fingerprint"]
        ignore = tmp / "ignore.yaml"
        ignore.write_text(f"ignore:\n  - fingerprint: \"{fp}\"\n    reason: rotated\n")
        doc = json.loads(audit("--cache", self.cache(), "--format", "json", "--ignore", str(ignore)).stdout)
        self.assertNotIn(fp, {f["fingerprint"] for f in self.findings(doc)})
        self.assertEqual(len(self.findings(doc)), len([f for f in found if f["fingerprint"] != fp]))
        bad = tmp / "bad-ignore.yaml"
        bad.write_text("ignore:\n  - rule: no.such-rule\n    reason: x\n")
        result = audit("--cache", self.cache(), "--ignore", str(bad), check_rc=(2,))
        self.assertIn("unknown rule id", result.stderr)

        # --only-runtime: findings in deleted or overwritten files leave the findings.
        hidden = [f for f in found if f.get("visibility") not in ("runtime", "config")]
        self.assertTrue(hidden, "the population plants keys in deleted files")
        doc = json.loads(audit("--cache", self.cache(), "--format", "json", "--only-runtime").stdout)
        self.assertEqual({f.get("visibility") for f in self.findings(doc)} - {"runtime", "config"}, set())
        self.assertEqual(len(self.findings(doc)), len(found) - len(hidden))

        # --fail-on none: the findings stay, the exit status is 0.
        self.assertEqual(audit("--cache", self.cache(), "--fail-on", "none", "-q").returncode, 0)

        # .layerleak.yaml in the working directory: fail-on, format and the ignore list; --config FILE too;
        # the command line wins over the file.
        project = tmp / "project"
        project.mkdir(exist_ok=True)
        (project / ".layerleak.yaml").write_text(
            f"fail-on: none\nformat: json\nignore:\n  - fingerprint: \"{fp}\"\n    reason: rotated\n")
        cmd = [h.layerleak_bin(), "audit", POP.target, "--no-progress", "-j", "2", "--cache", self.cache()]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=project)
        self.assertEqual(result.returncode, 0, result.stderr)
        doc = json.loads(result.stdout)
        self.assertEqual(doc["kind"], "audit")
        self.assertNotIn(fp, {f["fingerprint"] for f in self.findings(doc)})
        result = subprocess.run([*cmd, "--fail-on", "low"], capture_output=True, text=True, timeout=300, cwd=project)
        self.assertEqual(result.returncode, 1, result.stderr)
        result = audit("--cache", self.cache(), "--config", str(project / ".layerleak.yaml"))
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(json.loads(result.stdout)["kind"], "audit")
        (project / "broken.yaml").write_text("fail-onn: none\n")
        result = audit("--cache", self.cache(), "--config", str(project / "broken.yaml"), check_rc=(2,))
        self.assertIn("broken.yaml", result.stderr)


class AuditPostgresTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = postgres_harness.PostgresServer.start_for_class(cls)

    def test_two_workers_share_the_run_print_identical_reports_same_as_sqlite(self):
        uri = self.pg.create_database()
        cmd = [h.layerleak_bin(), "audit", POP.target, "--no-progress", "-j", "2", "--format", "json",
               "--store", uri, "--run-id", "two-workers"]
        workers = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outs = [w.communicate(timeout=300) for w in workers]
        for w, (out, err) in zip(workers, outs):
            self.assertEqual(w.returncode, 1, err[-2000:])
        a, b = (json.loads(out) for out, _ in outs)
        self.assertEqual(a, b)
        manifests, layers = expected()
        self.assertEqual(len(a["images"]), len(manifests))
        self.assertEqual(a["summary"]["layers_scanned"], len(layers))
        self.assertTrue(h.report_schema.schema_errors(a) == [])
        # SQLite (one process) and PostgreSQL (two workers) give the same report.
        self.assertEqual(a["summary"], SQLITE[1]["summary"])
        self.assertEqual(without_timing(a), without_timing(SQLITE[1]))

    def test_show_secrets_with_two_workers_rebuilds_the_others_images_from_the_store(self):
        listed = Path(WORKDIR.name) / "shown-repos.txt"
        listed.write_text("\n".join(POP.repos_with_secrets()[:6]) + "\n")
        cmd = [h.layerleak_bin(), "audit", POP.target, "--no-progress", "-j", "1", "--format", "json", "--show-secrets",
               "--store", self.pg.create_database(), "--run-id", "shown", "--repositories-from", str(listed)]
        workers = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outs = [w.communicate(timeout=300)[0] for w in workers]
        self.assertEqual([w.returncode for w in workers], [1, 1])
        self.assertEqual(json.loads(outs[0]), json.loads(outs[1]))
        placed = {p.credential.secret_key for p in POP.secrets
                  if any(ref.split(":")[0] in listed.read_text().split() for ref in p.refs)
                  and (not p.platforms or "linux/amd64" in p.platforms)}
        self.assertTrue(placed)
        for secret in placed:
            self.assertIn(secret, outs[0])

    def test_a_worker_killed_mid_audit_leaves_nothing_undone(self):
        database = "killed_" + os.urandom(3).hex()
        uri = self.pg.create_database(database)
        listed = Path(WORKDIR.name) / "killed-repos.txt"
        repos = POP.repositories[:10]
        listed.write_text("\n".join(repos) + "\n")
        base = [h.layerleak_bin(), "audit", POP.target, "--no-progress", "-j", "1", "--format", "json",
                "--store", uri, "--run-id", "killed", "--lease", "2", "--repositories-from", str(listed)]
        victim = subprocess.Popen(base, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # Killed while it scans: once it holds a claim (its first result may or may not be in).
        deadline = time.monotonic() + 60
        held = False
        while time.monotonic() < deadline and victim.poll() is None:
            claimed = self.pg.psql("select count(*) from work_items where owner is not null and not done",
                                   database=database, check=False).strip()
            if claimed not in ("", "0"):
                held = True
                break
            time.sleep(0.05)
        victim.send_signal(signal.SIGKILL)
        victim.communicate()
        self.assertTrue(held, "the victim was killed holding an image")
        survivor = subprocess.run(base, capture_output=True, text=True, timeout=300)
        self.assertEqual(survivor.returncode, 1, survivor.stderr[-2000:])
        report = json.loads(survivor.stdout)
        self.assertTrue(report["complete"], report["errors"])
        # Every image of the listed repositories (as the first, cold audit saw them), whoever scanned it.
        want = {i["manifest_digest"] for i in SQLITE[1]["images"] if any(t.split(":")[0] in repos for t in i["tags"])}
        got = {i["manifest_digest"] for i in report["images"]}
        self.assertTrue(want)
        self.assertEqual(got, want)
        self.assertTrue(all(i["complete"] for i in report["images"]))


if __name__ == "__main__":
    unittest.main()
