"""docs/report.schema.json, the published JSON Schema of the JSON report: real reports of every shape
validate against it (active and suppressed findings, config findings, dir: scans, failed scans), and broken
reports do not, so the check that helpers.parse_json and assert_report_shape run on every report of the
test suite is not vacuous. (test_docs.py checks that docs/report-format.md documents every field.)
"""

import copy
import json
import unittest

import helpers as h

SAMPLE = "samples/leaky-app.tar"


def errors_of(doc):
    return h.report_schema.schema_errors(doc)


class RealReportsValidate(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.src = h.source_dir()
        cls.tmp = h.make_class_tempdir(cls)
        result = h.run_layerleak("scan", "--format", "json", "--fail-on", "none", str(cls.src / SAMPLE))
        if result.returncode != 0:
            raise AssertionError(result.describe())
        cls.sample = json.loads(result.stdout)

    def test_sample_report_validates_and_has_findings(self):
        self.assertEqual(errors_of(self.sample), [])
        image = self.sample["images"][0]
        self.assertGreaterEqual(len(image["findings"]), 2)
        self.assertIn("deleted", {f["visibility"] for f in image["findings"]})

    def test_show_secrets_report_validates(self):
        result = h.scan("--format", "json", "--show-secrets", str(self.src / SAMPLE))
        self.assertEqual(result.returncode, 1, result.describe())
        self.assertEqual(errors_of(json.loads(result.stdout)), [])

    def test_suppressed_findings_validate(self):
        baseline = self.tmp / "baseline.json"
        baseline.write_text(json.dumps(self.sample))
        result = h.scan("--format", "json", "--baseline", str(baseline), str(self.src / SAMPLE))
        self.assertEqual(result.returncode, 0, result.describe())
        doc = json.loads(result.stdout)
        self.assertEqual(errors_of(doc), [])
        image = doc["images"][0]
        self.assertEqual(image["findings"], [])
        self.assertTrue(image["suppressed"])
        self.assertTrue(all(f["suppressed_by"] for f in image["suppressed"]))

    def test_dir_scan_validates(self):
        root = self.tmp / "rootfs"
        (root / "app").mkdir(parents=True)
        (root / "app" / ".env").write_text(f"SCW_ACCESS_KEY={h.ACCESS_KEY}\nSCW_SECRET_KEY={h.SECRET_KEY}\n")
        result = h.scan("--format", "json", f"dir:{root}")
        self.assertEqual(result.returncode, 1, result.describe())
        doc = json.loads(result.stdout)
        self.assertEqual(errors_of(doc), [])
        self.assertEqual({f["location"]["kind"] for f in doc["images"][0]["findings"]}, {"file"})

    def test_failed_scan_validates(self):
        result = h.scan("--format", "json", str(self.tmp / "no-such-image.tar"))
        self.assertEqual(result.returncode, 2, result.describe())
        doc = json.loads(result.stdout)
        self.assertEqual(errors_of(doc), [])
        self.assertFalse(doc["complete"])
        self.assertEqual(doc["images"][0]["errors"][0]["code"], "not_found")


class BrokenReportsAreRejected(unittest.TestCase):
    """Each mutation of a valid report breaks one rule the documentation states."""

    @classmethod
    def setUpClass(cls):
        result = h.run_layerleak("scan", "--format", "json", "--fail-on", "none", str(h.source_dir() / SAMPLE))
        cls.valid = json.loads(result.stdout)
        if errors_of(cls.valid):
            raise AssertionError(errors_of(cls.valid))

    def rejected(self, mutate, expected_path):
        doc = copy.deepcopy(self.valid)
        mutate(doc)
        errors = errors_of(doc)
        self.assertTrue(errors, "the schema accepted a broken report")
        self.assertTrue(any(e.startswith(expected_path) for e in errors), errors)
        with self.assertRaises(AssertionError):
            h.report_schema.assert_valid_report(doc)

    def finding(self, doc, n=0):
        return doc["images"][0]["findings"][n]

    def test_missing_top_level_field(self):
        self.rejected(lambda d: d.pop("complete"), "$")

    def test_missing_finding_field(self):
        self.rejected(lambda d: self.finding(d).pop("fingerprint"), "$.images[0].findings[0]")

    def test_bad_severity(self):
        self.rejected(lambda d: self.finding(d).update(severity="urgent"), "$.images[0].findings[0].severity")

    def test_capitalised_severity(self):
        self.rejected(lambda d: self.finding(d).update(severity="Critical"), "$.images[0].findings[0].severity")

    def test_bad_visibility(self):
        self.rejected(lambda d: self.finding(d).update(visibility="gone"), "$.images[0].findings[0].visibility")

    def test_unknown_field(self):
        self.rejected(lambda d: self.finding(d).update(secret_value="x"), "$.images[0].findings[0]")

    def test_unknown_top_level_field(self):
        self.rejected(lambda d: d.update(extra=1), "$")

    def test_wrong_schema_version(self):
        self.rejected(lambda d: d.update(schema_version=2), "$.schema_version")

    def test_bad_fingerprint(self):
        self.rejected(lambda d: self.finding(d).update(fingerprint="md5:00"), "$.images[0].findings[0].fingerprint")

    def test_string_where_integer(self):
        self.rejected(lambda d: self.finding(d)["location"].update(line="3"), "$.images[0].findings[0].location.line")

    def test_boolean_is_not_an_integer(self):
        self.rejected(lambda d: d["images"][0]["stats"].update(entries=True), "$.images[0].stats.entries")

    def test_deleted_without_hiding_layer(self):
        def mutate(d):
            f = next(f for f in d["images"][0]["findings"] if f["visibility"] == "deleted")
            f["hidden_by_layer"] = None
        self.rejected(mutate, "$.images[0].findings")

    def test_runtime_with_hiding_layer(self):
        def mutate(d):
            f = self.finding(d)
            f["visibility"] = "runtime"
            f["hidden_by_layer"] = 2
        self.rejected(mutate, "$.images[0].findings[0]")

    def test_layer_location_without_layer_index(self):
        self.rejected(lambda d: self.finding(d)["location"].pop("layer_index"), "$.images[0].findings[0].location")

    def test_errors_with_complete_image(self):
        self.rejected(lambda d: d["images"][0]["errors"].append({"code": "io", "message": "short read"}),
                      "$.images[0].complete")

    def test_unknown_error_code(self):
        def mutate(d):
            d["images"][0]["errors"].append({"code": "oops", "message": "x"})
            d["images"][0]["complete"] = d["complete"] = False
        self.rejected(mutate, "$.images[0].errors[0].code")

    def test_suppressed_finding_needs_a_reason(self):
        self.rejected(lambda d: d["images"][0]["suppressed"].append(copy.deepcopy(self.finding(d))),
                      "$.images[0].suppressed[0]")

    def test_active_finding_cannot_be_suppressed(self):
        self.rejected(lambda d: self.finding(d).update(suppressed_by="baseline"), "$.images[0].findings[0]")

    def test_every_run_is_checked(self):
        # helpers.run_layerleak checks the report of every `scan --format json`, on stdout or in --output.
        doc = copy.deepcopy(self.valid)
        doc["images"][0]["findings"][0]["severity"] = "urgent"
        bad = json.dumps(doc).encode()
        args = ["scan", "--format", "json", "image.tar"]
        h.check_json_report_output(args, h.Result(args, 1, json.dumps(self.valid).encode(), b""))
        with self.assertRaises(AssertionError):
            h.check_json_report_output(args, h.Result(args, 1, bad, b""))
        with self.assertRaises(AssertionError):
            h.check_json_report_output(["scan", "--format=JSON", "x"], h.Result(args, 1, b"{not json", b""))
        h.check_json_report_output(["scan", "--format", "sarif", "x"], h.Result(args, 1, bad, b""))  # not a JSON report
        work = h.make_tempdir(self)
        (work / "out.json").write_bytes(bad)
        args = ["scan", "--format", "json", "-o", "out.json", "image.tar"]
        with self.assertRaises(AssertionError):
            h.check_json_report_output(args, h.Result(args, 1, b"", b""), cwd=work)

    def test_helper_check_fails_the_test(self):
        doc = copy.deepcopy(self.valid)
        doc["images"][0]["findings"][0]["severity"] = "urgent"
        with self.assertRaises(AssertionError):
            h.assert_report_shape(self, doc)


if __name__ == "__main__":
    unittest.main()
