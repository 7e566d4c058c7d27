"""CLI tests for the CI gate's suppression: --baseline, --ignore, --only-runtime, on the real binary.

A pipeline accepts known findings through a baseline (an earlier JSON report) and an allowlist; a missing
or malformed file is an error naming the file and line (exit 2), never "no suppression"; suppressed
findings are listed and counted, never silently dropped.
"""
import json
import unittest

import helpers as h

SECRET = "6f2c1b7e-3d4a-4c5b-9e8f-0a1b2c3d6b7c"
SECRET_2 = "7d3e2a1b-4c5d-4e6f-8a9b-0c1d2e3f4a5b"
SPEC = {"images": [{"repo_tags": ["example/app:1"], "layers": [
    {"created_by": "COPY app /app", "entries": [h.file_entry("app/.env", f"SCW_SECRET_KEY={SECRET}\n")]},
    {"created_by": "COPY test /test", "entries": [h.file_entry("srv/testdata/fixture.env", f"SCW_TOKEN={SECRET_2}\n")]},
]}]}
SPEC_NEW = {"images": [{"repo_tags": ["example/app:2"], "layers": SPEC["images"][0]["layers"] + [
    {"created_by": "COPY more /more", "entries": [h.file_entry("more/.env", "SCW_SECRET_KEY=8e4f3b2c-5d6e-4f7a-9b0c-1d2e3f4a5b6c\n")]},
]}]}


class SuppressionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = h.make_class_tempdir(cls)
        cls.image = h.build_fixture(SPEC, cls.tmp / "app.tar", "oci-archive")
        cls.image_new = h.build_fixture(SPEC_NEW, cls.tmp / "app2.tar", "oci-archive")

    def write(self, name, text):
        path = self.tmp / name
        path.write_text(text, encoding="utf-8")
        return path

    def test_baseline_from_an_earlier_report_accepts_known_findings_only(self):
        first, doc = h.scan_json(self, self.image, expect_rc=1)
        baseline = self.write("baseline.json", first.stdout)
        r, doc = h.scan_json(self, "--baseline", baseline, self.image, expect_rc=0)
        image = h.only_image(self, doc)
        self.assertEqual(image["findings"], [])
        self.assertEqual(len(image["suppressed"]), 2)
        self.assertTrue(all(f["suppressed_by"] == "baseline" for f in image["suppressed"]))
        self.assertEqual(image["stats"]["suppressed"], 2)
        # A new secret in a rebuilt image is not covered by the old baseline.
        r, doc = h.scan_json(self, "--baseline", baseline, self.image_new, expect_rc=1)
        image = h.only_image(self, doc)
        self.assertEqual([f["location"]["path"] for f in image["findings"]], ["/more/.env"])
        text = h.scan("--baseline", baseline, self.image)
        self.assertEqual(text.returncode, 0, text.describe())
        self.assertIn("2 suppressed", text.stdout)

    def test_baseline_as_a_plain_list(self):
        fp = h.fingerprint("scaleway.secret-key", SECRET)
        baseline = self.write("list.txt", f"# accepted on 2026-11-27\n{fp}\n")
        # What remains is under testdata/: downgraded to low, so below the default --fail-on medium.
        _, doc = h.scan_json(self, "--baseline", baseline, self.image, expect_rc=0)
        image = h.only_image(self, doc)
        self.assertEqual([(f["location"]["path"], f["severity"], f["confidence"]) for f in image["findings"]],
                         [("/srv/testdata/fixture.env", "low", "low")])

    def test_ignore_file_by_path_and_rule_with_reasons(self):
        ignore = self.write("ignore.yaml", 'ignore:\n  - path: "**/testdata/**"\n    reason: SDK test fixtures\n')
        _, doc = h.scan_json(self, "--ignore", ignore, self.image, expect_rc=1)
        image = h.only_image(self, doc)
        self.assertEqual([f["location"]["path"] for f in image["findings"]], ["/app/.env"])
        self.assertEqual(image["suppressed"][0]["suppressed_by"], "ignore: SDK test fixtures")
        ignore_all = self.write("ignore-rule.yaml", "ignore:\n  - rule: scaleway.secret-key\n    reason: accepted risk\n")
        h.scan_json(self, "--ignore", ignore_all, self.image, expect_rc=0)

    def test_missing_or_malformed_files_are_errors_naming_file_and_line(self):
        cases = [
            (["--baseline", self.tmp / "nope.json"], "nope.json"),
            (["--baseline", self.write("bad.json", '{"images": [\n  {"findings": [\n    oops\n')], "line 3"),
            (["--baseline", self.write("badlist.txt", "sha256:1234\n")], "badlist.txt"),
            (["--ignore", self.tmp / "nope.yaml"], "nope.yaml"),
            (["--ignore", self.write("noreason.yaml", "ignore:\n  - path: /app/.env\n")], "line 2"),
            (["--ignore", self.write("unknown.yaml", "ignore:\n  - path: /a\n    reason: r\n    colour: red\n")], "line 4"),
            (["--ignore", self.write("badrule.yaml", "ignore:\n  - rule: scaleway.nothing\n    reason: r\n")],
             "unknown rule id"),
        ]
        for args, needle in cases:
            with self.subTest(args=[str(a) for a in args]):
                r = h.scan(*args, self.image)
                self.assertEqual(r.returncode, 2, r.describe())
                self.assertIn(needle, r.stderr, r.describe())
                self.assertEqual(r.stdout, "", "no report when the suppression files are unusable")

    def test_only_runtime_and_fail_on_combine(self):
        spec = {"images": [{"layers": [
            {"entries": [h.file_entry("app/.env", f"SCW_SECRET_KEY={SECRET}\n")]},
            {"entries": [{"type": "whiteout", "path": "app/.env"}]}]}]}
        image = h.build_fixture(spec, self.tmp / "deleted.tar", "oci-archive")
        h.scan_json(self, image, expect_rc=1)
        _, doc = h.scan_json(self, "--only-runtime", image, expect_rc=0)
        self.assertEqual(h.only_image(self, doc)["suppressed"][0]["suppressed_by"], "only-runtime")
        h.scan_json(self, "--fail-on", "none", image, expect_rc=0)

    def test_unwritable_output_is_exit_2(self):
        r = h.scan("--format", "json", "-o", "/nonexistent-dir/report.json", self.image)
        self.assertEqual(r.returncode, 2, r.describe())
        self.assertIn("/nonexistent-dir/report.json", r.stderr)


if __name__ == "__main__":
    unittest.main()
