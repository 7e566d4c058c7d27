"""The layerleak command line, as CONTRACT.md describes it, on the real binary.

Images are built in-process with the fixture tool (tests/support/fixture_tool.cpp) in every container
format, including hostile ones (missing, corrupt, truncated layer blobs; wrong diffIDs).

Environment (set by CTest): LAYERLEAK_BIN, LAYERLEAK_FIXTURE_TOOL, LAYERLEAK_SOURCE_DIR. A missing one is
a failure, never a skip. Standard library only.
"""

import json
import os
import re
import tarfile
import tempfile
import unittest
from pathlib import Path

import helpers as h
from helpers import (ACCESS_KEY, ACCESS_KEY_2, SECRET_KEY, SECRET_KEY_2, SECRET_KEY_3, SECRET_KEY_4,
                     fingerprint, redact)

# ---- the fixture images ------------------------------------------------------------------------------

ENV_CONTENT = (
    "# application settings\n"
    f"SCW_ACCESS_KEY={ACCESS_KEY}\n"
    f"SCW_SECRET_KEY={SECRET_KEY}\n"
)
KEEP_CONTENT = f"SCW_SECRET_KEY={SECRET_KEY_2}\n"
KEEP_CONTENT_CLEAN = "SCW_SECRET_KEY=\n"
RUN_CONTENT = f"#!/bin/sh\nexport SCALEWAY_TOKEN='{SECRET_KEY_3}'\nexec /app/server\n"

# Leaky image: layer 0 adds two secret files, layer 1 deletes one (whiteout) and overwrites the other,
# layer 2 adds a file whose secret stays visible at runtime.
LEAKY_SPEC = {
    "images": [{
        "repo_tags": ["example/app:latest"],
        "layers": [
            {"created_by": "COPY app /app", "entries": [
                {"type": "dir", "path": "app"},
                h.file_entry("app/.env", ENV_CONTENT),
                h.file_entry("app/keep.env", KEEP_CONTENT),
            ]},
            {"created_by": "RUN rm /app/.env", "entries": [
                {"type": "whiteout", "path": "app/.env"},
                h.file_entry("app/keep.env", KEEP_CONTENT_CLEAN),
            ]},
            {"created_by": "COPY run.sh /x/", "entries": [
                {"type": "dir", "path": "x"},
                h.file_entry("x/run.sh", RUN_CONTENT, 0o755),
            ]},
        ],
    }],
}

# (rule_id, layer_index, path, line, column, visibility, hidden_by_layer), secret, paired access key
LEAKY_EXPECTED = [
    (("scaleway.access-key", 0, "/app/.env", *h.text_position(ENV_CONTENT, ACCESS_KEY)[:2], "deleted", 1),
     ACCESS_KEY, None),
    (("scaleway.secret-key", 0, "/app/.env", *h.text_position(ENV_CONTENT, SECRET_KEY)[:2], "deleted", 1),
     SECRET_KEY, ACCESS_KEY),
    (("scaleway.secret-key", 0, "/app/keep.env", *h.text_position(KEEP_CONTENT, SECRET_KEY_2)[:2],
      "overwritten", 1), SECRET_KEY_2, None),
    (("scaleway.secret-key", 2, "/x/run.sh", *h.text_position(RUN_CONTENT, SECRET_KEY_3)[:2], "runtime",
      None), SECRET_KEY_3, None),
]
LEAKY_CREATED_BY = ["COPY app /app", "RUN rm /app/.env", "COPY run.sh /x/"]
CONTENT_OF = {"/app/.env": ENV_CONTENT, "/app/keep.env": KEEP_CONTENT, "/x/run.sh": RUN_CONTENT}

# Only an access key (severity low): below the default --fail-on medium.
ACCESS_ONLY_CONTENT = f"[default]\naccess_key = {ACCESS_KEY_2}\nregion = fr-par\n"
ACCESS_ONLY_SPEC = {"images": [{"repo_tags": ["example/ak:1"], "layers": [
    {"created_by": "COPY s3cfg /root/.s3cfg", "entries": [h.file_entry("root/.s3cfg", ACCESS_ONLY_CONTENT)]}]}]}

# Clean: IDs, placeholders and template references that look like credentials but are not.
CLEAN_CONTENT = (
    "SCW_DEFAULT_PROJECT_ID=6f2c1b7e-3d4a-4c5b-9e8f-0a1b2c3d6b7c\n"
    "SCW_DEFAULT_ORGANIZATION_ID=9a8b7c6d-1e2f-4a3b-8c5d-6e7f8a9b0c1d\n"
    "SCW_ACCESS_KEY=SCWXXXXXXXXXXXXXXXXX\n"
    "SCW_SECRET_KEY=${SCW_SECRET_KEY}\n"
    "SCW_SECRET_KEY_FILE=/run/secrets/scw\n"
    "SCW_SECRET_KEY=11111111-1111-1111-1111-111111111111\n"
)
CLEAN_SPEC = {"images": [{"repo_tags": ["example/clean:1"], "layers": [
    {"created_by": "COPY . /srv", "entries": [
        {"type": "dir", "path": "srv"},
        h.file_entry("srv/settings.env", CLEAN_CONTENT),
        h.file_entry("srv/README", "nothing to see here\n" * 50),
    ]}]}]}

# The only critical secret is deleted by the next layer: --only-runtime makes the image pass.
DELETED_CONTENT = f"SCW_SECRET_KEY={SECRET_KEY_4}\n"
DELETED_ONLY_SPEC = {"images": [{"repo_tags": ["example/del:1"], "layers": [
    {"created_by": "COPY creds /tmp/creds", "entries": [h.file_entry("tmp/creds", DELETED_CONTENT)]},
    {"created_by": "RUN rm /tmp/creds", "entries": [{"type": "whiteout", "path": "tmp/creds"}]},
    {"created_by": "COPY app /srv", "entries": [h.file_entry("srv/app.txt", "hello\n")]},
]}]}

HOSTILE_OPTIONS = {
    # option -> index of the layer it breaks (the fixture has 3 layers)
    "drop_first_layer_blob": 0,
    "corrupt_last_layer_blob": 2,
    "wrong_diff_id": 2,
    "truncate_last_layer_blob": 2,
}

CUSTOM_SECRET = "3b9e2f4a-7c1d-4e8b-a6f5-2d0c9b8a7e61"
CUSTOM_RULES = """\
rules:
  - id: custom.test-key
    title: ACME vault password
    severity: high
    confidence: medium
    secret: uuid
    patterns:
      - regex: 'ACME_VAULT_PASS[ \\t]*=[ \\t]*[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
    examples:
      - "ACME_VAULT_PASS=3b9e2f4a-7c1d-4e8b-a6f5-2d0c9b8a7e61"
    negative_examples:
      - "ACME_VAULT_USER=3b9e2f4a-7c1d-4e8b-a6f5-2d0c9b8a7e61"
"""
CUSTOM_CONTENT = f"user=deploy\nACME_VAULT_PASS = {CUSTOM_SECRET}\n"

BAD_EXAMPLE_RULES = """\
rules:
  - id: custom.broken-example
    title: Rule whose example does not match
    severity: high
    secret: access_key
    patterns:
      - regex: 'QQZ_KEY=SCW[0-9A-HJKMNP-TV-Z]{17}'
    examples:
      - "NOT_THE_NAME=SCW0RE86AB2CD4EF6GH8"
    negative_examples:
      - "nothing here"
"""

GREEDY_RULES = """\
rules:
  - id: custom.too-greedy
    title: Rule that reports its negative example
    severity: medium
    secret: uuid
    patterns:
      - regex: 'PASS[A-Z_]*=[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
    examples:
      - "PASSWORD=3b9e2f4a-7c1d-4e8b-a6f5-2d0c9b8a7e61"
    negative_examples:
      - "PASS_ID=3b9e2f4a-7c1d-4e8b-a6f5-2d0c9b8a7e61"
"""

MALFORMED_RULES = "rules:\n  - id: [unclosed\n    title: x\n"

_FIXTURES = {}
_TMP = None


def setUpModule():
    global _TMP
    h.layerleak_bin()
    h.fixture_tool()
    h.source_dir()
    _TMP = tempfile.TemporaryDirectory(prefix="layerleak-cli-")
    root = Path(_TMP.name)
    for fmt in h.FIXTURE_FORMATS:
        out = root / (f"leaky-{fmt}" + ("" if fmt == "oci-dir" else ".tar"))
        _FIXTURES[("leaky", fmt)] = h.build_fixture(LEAKY_SPEC, out, fmt)
    for name, spec in (("access-only", ACCESS_ONLY_SPEC), ("clean", CLEAN_SPEC), ("deleted-only", DELETED_ONLY_SPEC)):
        _FIXTURES[(name, "oci-archive")] = h.build_fixture(spec, root / f"{name}.tar", "oci-archive")


def tearDownModule():
    if _TMP is not None:
        _TMP.cleanup()


def fixture(name, fmt="oci-archive"):
    return str(_FIXTURES[(name, fmt)])


def leaky(fmt="oci-archive"):
    return fixture("leaky", fmt)


class CliTestCase(unittest.TestCase):
    maxDiff = None

    def tmpdir(self):
        return h.make_tempdir(self)

    def assertLeakyFindings(self, image, expected=LEAKY_EXPECTED):
        got = sorted((h.finding_summary(f) for f in image["findings"]), key=repr)
        want = sorted((e[0] for e in expected), key=repr)
        self.assertEqual(got, want, json.dumps(image["findings"], indent=1))


# ---- basics -----------------------------------------------------------------------------------------

class TestBasics(CliTestCase):
    def test_version(self):
        r = h.run_layerleak("--version")
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertEqual(r.stdout.strip(), "layerleak 0.1.0")

    def test_help_lists_subcommands(self):
        r = h.run_layerleak("--help")
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertIn("scan", r.stdout)
        self.assertIn("rules", r.stdout)

    def test_scan_help_lists_contract_options(self):
        r = h.run_layerleak("scan", "--help")
        self.assertEqual(r.returncode, 0, r.describe())
        for option in ("--format", "--output", "--show-secrets", "--fail-on", "--only-runtime", "--platform",
                       "--all-platforms", "--jobs", "--max-file-size", "--rules"):
            self.assertIn(option, r.stdout, f"scan --help does not mention {option}")

    def test_no_subcommand_is_usage_error(self):
        r = h.run_layerleak()
        self.assertEqual(r.returncode, 2, r.describe())


# ---- exit status ------------------------------------------------------------------------------------

class TestExitStatus(CliTestCase):
    def test_clean_image_exits_0(self):
        for fmt in ("text", "json"):
            r = h.scan("--format", fmt, fixture("clean"))
            self.assertEqual(r.returncode, 0, r.describe())
        _, doc = h.scan_json(self, fixture("clean"), expect_rc=0)
        image = h.only_image(self, doc)
        self.assertEqual(image["findings"], [], "IDs, placeholders and templates are not credentials")
        self.assertTrue(image["complete"])
        self.assertEqual(image["stats"]["entries"], 3)

    def test_leaky_image_exits_1(self):
        for fmt in ("text", "json"):
            r = h.scan("--format", fmt, leaky())
            self.assertEqual(r.returncode, 1, r.describe())

    def test_fail_on_thresholds_access_key_only(self):
        # An access key with no secret key in its file is one info finding: it identifies an API key and
        # grants nothing, so it fails the scan only with --fail-on info.
        cases = {None: 0, "info": 1, "low": 0, "medium": 0, "high": 0, "critical": 0, "none": 0}
        for level, want in cases.items():
            args = [] if level is None else ["--fail-on", level]
            r = h.scan(*args, fixture("access-only"))
            self.assertEqual(r.returncode, want, f"--fail-on {level}\n{r.describe()}")
        _, doc = h.scan_json(self, fixture("access-only"), expect_rc=0)
        image = h.only_image(self, doc)
        self.assertEqual([(f["rule_id"], f["severity"]) for f in image["findings"]], [("scaleway.access-key", "info")])

    def test_fail_on_thresholds_critical_image(self):
        cases = {None: 1, "critical": 1, "high": 1, "info": 1, "none": 0}
        for level, want in cases.items():
            args = [] if level is None else ["--fail-on", level]
            r = h.scan(*args, leaky())
            self.assertEqual(r.returncode, want, f"--fail-on {level}\n{r.describe()}")

    def test_fail_on_none_still_reports_findings(self):
        r, doc = h.scan_json(self, "--fail-on", "none", leaky(), expect_rc=0)
        self.assertEqual(len(h.only_image(self, doc)["findings"]), len(LEAKY_EXPECTED))

    def assertInputError(self, image_arg, fragment):
        """Exit 2, a report that says the scan is incomplete, and a `layerleak: error:` line on stderr."""
        r, doc = h.scan_json(self, image_arg, expect_rc=2)
        h.assert_report_shape(self, doc)
        self.assertFalse(doc["complete"])
        image = h.only_image(self, doc)
        self.assertFalse(image["complete"])
        self.assertTrue(image["errors"], "an incomplete scan must say why")
        self.assertEqual(image["findings"], [])
        self.assertIn(h.ERROR_PREFIX, r.stderr)
        self.assertIn(fragment, r.stderr)
        self.assertIn(fragment, " ".join(e["message"] for e in image["errors"]))
        text = h.scan(image_arg)
        self.assertEqual(text.returncode, 2, text.describe())

    def test_nonexistent_path_exits_2(self):
        tmp = self.tmpdir()
        missing = str(tmp / "does-not-exist.tar")
        self.assertInputError(missing, "does-not-exist.tar")
        self.assertInputError("oci-archive:" + missing, "does-not-exist.tar")
        self.assertInputError("docker-archive:" + missing, "does-not-exist.tar")
        self.assertInputError("oci:" + str(tmp / "no-layout"), "no-layout")

    def test_text_file_exits_2(self):
        tmp = self.tmpdir()
        path = tmp / "notes.txt"
        path.write_text("just some text, not an image\n" * 20)
        self.assertInputError(str(path), "notes.txt")

    def test_plain_tar_without_manifest_exits_2(self):
        tmp = self.tmpdir()
        (tmp / "a.env").write_text(f"SCW_SECRET_KEY={SECRET_KEY}\n")
        path = tmp / "plain.tar"
        with tarfile.open(path, "w") as tar:
            tar.add(tmp / "a.env", arcname="a.env")
        self.assertInputError(str(path), "plain.tar")
        # Forcing a transport does not make it an image either.
        r = h.scan("docker-archive:" + str(path))
        self.assertEqual(r.returncode, 2, r.describe())
        r = h.scan("oci-archive:" + str(path))
        self.assertEqual(r.returncode, 2, r.describe())

    def test_unsupported_sources_exit_2(self):
        for arg in ("docker://localhost:5000/example/app:latest", "-"):
            r = h.scan(arg)
            self.assertEqual(r.returncode, 2, r.describe())
            self.assertIn(h.ERROR_PREFIX, r.stderr)

    def test_usage_errors_exit_2_without_report(self):
        cases = [
            ["--bogus-option", leaky()],
            ["--format", "xml", leaky()],
            ["--format", "sarif-ish", leaky()],
            ["--fail-on", "severe", leaky()],
            ["--platform", "linux", leaky()],
            ["--platform", "linux/amd64/v8/extra", leaky()],
            ["--platform", "/amd64", leaky()],
            ["--platform", "", leaky()],
            [],  # IMAGE missing
        ]
        for args in cases:
            r = h.scan(*args)
            self.assertEqual(r.returncode, 2, r.describe())
            self.assertEqual(r.stdout, "", f"no report on a usage error\n{r.describe()}")
            self.assertTrue(r.stderr.strip(), f"a usage error must say what is wrong\n{r.describe()}")
        r = h.scan("--format", "xml", leaky())
        self.assertIn("xml", r.stderr)

    def test_platform_absent_from_image_exits_2(self):
        r, doc = h.scan_json(self, "--platform", "linux/s390x", leaky(), expect_rc=2)
        self.assertFalse(doc["complete"])
        self.assertIn("linux/s390x", r.stderr)
        self.assertIn("linux/amd64", r.stderr, "the error should list the available platforms")


# ---- JSON report ------------------------------------------------------------------------------------

class TestJsonReport(CliTestCase):
    @classmethod
    def setUpClass(cls):
        cls.result = h.scan("--format", "json", leaky())
        cls.doc = json.loads(cls.result.stdout)

    def test_exit_and_shape(self):
        self.assertEqual(self.result.returncode, 1, self.result.describe())
        h.assert_report_shape(self, self.doc)
        self.assertTrue(self.doc["complete"])

    def test_image_fields(self):
        image = h.only_image(self, self.doc)
        self.assertEqual(image["transport"], "oci-archive")
        self.assertTrue(image["reference"].startswith("oci-archive:"), image["reference"])
        self.assertIn(Path(leaky()).name, image["reference"])
        self.assertRegex(image["manifest_digest"], h.SHA256_RE)
        self.assertRegex(image["config_digest"], h.SHA256_RE)
        self.assertEqual(image["platform"], "linux/amd64")
        self.assertEqual(image["tags"], ["latest"])
        self.assertEqual(image["errors"], [])
        self.assertTrue(image["complete"])

    def test_layers(self):
        image = h.only_image(self, self.doc)
        layers = image["layers"]
        self.assertEqual(len(layers), 3)
        self.assertEqual([l["created_by"] for l in layers], LEAKY_CREATED_BY)
        self.assertEqual([l["history_index"] for l in layers], [0, 1, 2])
        self.assertEqual([l["entries"] for l in layers], [3, 2, 2])
        self.assertEqual([l["compression"] for l in layers], ["gzip"] * 3)
        self.assertEqual([l["media_type"] for l in layers], ["application/vnd.oci.image.layer.v1.tar+gzip"] * 3)
        self.assertTrue(all(l["complete"] for l in layers))
        self.assertEqual(len({l["digest"] for l in layers}), 3)
        self.assertEqual(len({l["diff_id"] for l in layers}), 3)
        self.assertTrue(all(l["compressed_size"] > 0 for l in layers))
        # bytes_scanned counts the file contents of each layer
        self.assertEqual(layers[0]["bytes_scanned"], len(ENV_CONTENT) + len(KEEP_CONTENT))
        self.assertEqual(layers[1]["bytes_scanned"], len(KEEP_CONTENT_CLEAN))
        self.assertEqual(layers[2]["bytes_scanned"], len(RUN_CONTENT))

    def test_findings(self):
        image = h.only_image(self, self.doc)
        self.assertLeakyFindings(image)
        layers = image["layers"]
        by_summary = {h.finding_summary(f): f for f in image["findings"]}
        for summary, secret, paired in LEAKY_EXPECTED:
            f = by_summary[summary]
            rule_id = summary[0]
            self.assertEqual(f["secret"], redact(secret))
            self.assertEqual(f["fingerprint"], fingerprint(rule_id, secret))
            self.assertEqual(f["paired_access_key"], None if paired is None else redact(paired))
            self.assertEqual(f["encoding"], "plain")
            if rule_id == "scaleway.secret-key":
                self.assertEqual((f["severity"], f["confidence"], f["title"]),
                                 ("critical", "high", "Scaleway API secret key"))
            else:
                self.assertEqual((f["severity"], f["title"]), ("low", "Scaleway API access key"))
            loc = f["location"]
            self.assertEqual(loc["kind"], "layer")
            layer = layers[loc["layer_index"]]
            self.assertEqual(loc["layer_digest"], layer["digest"])
            self.assertEqual(loc["diff_id"], layer["diff_id"])
            self.assertEqual(loc["created_by"], LEAKY_CREATED_BY[loc["layer_index"]])
            line, column, offset = h.text_position(CONTENT_OF[loc["path"]], secret)
            self.assertEqual((loc["line"], loc["column"], loc["offset"]), (line, column, offset))

    def test_stats(self):
        image = h.only_image(self, self.doc)
        stats = image["stats"]
        self.assertEqual(stats["layers"], 3)
        self.assertEqual(stats["findings"], 4)
        self.assertEqual(stats["entries"], 7)
        self.assertEqual(stats["bytes_scanned"],
                         len(ENV_CONTENT) + len(KEEP_CONTENT) + len(KEEP_CONTENT_CLEAN) + len(RUN_CONTENT))
        self.assertEqual(stats["skipped"], [])

    def test_rules_digest_tracks_rules(self):
        _, extra = self._custom_rules_doc()
        self.assertNotEqual(extra["tool"]["rules_digest"], self.doc["tool"]["rules_digest"])
        _, again = h.scan_json(self, fixture("clean"))
        self.assertEqual(again["tool"]["rules_digest"], self.doc["tool"]["rules_digest"])

    def _custom_rules_doc(self):
        tmp = self.tmpdir()
        rules = tmp / "extra.yaml"
        rules.write_text(CUSTOM_RULES)
        return h.scan_json(self, "--rules", str(rules), fixture("clean"))


# ---- redaction and fingerprints -------------------------------------------------------------------

class TestRedaction(CliTestCase):
    def test_default_outputs_never_contain_a_full_secret(self):
        for fmt in ("text", "json"):
            for source in (leaky("oci-archive"), leaky("docker-archive-legacy"), leaky("oci-dir")):
                r = h.scan("--format", fmt, source)
                self.assertEqual(r.returncode, 1, r.describe())
                h.assert_no_full_secret(self, r.stdout, where=f"{fmt} stdout of {source}")
                h.assert_no_full_secret(self, r.stderr, where=f"{fmt} stderr of {source}")
                for _, secret, _ in LEAKY_EXPECTED:
                    self.assertIn(redact(secret), r.stdout)

    def test_default_output_file_never_contains_a_full_secret(self):
        tmp = self.tmpdir()
        for fmt in ("text", "json"):
            out = tmp / f"report.{fmt}"
            r = h.scan("--format", fmt, "-o", str(out), leaky())
            self.assertEqual(r.returncode, 1, r.describe())
            h.assert_no_full_secret(self, out.read_text(), where=f"{fmt} report file")
            h.assert_no_full_secret(self, r.stdout + r.stderr, where="terminal")

    def test_hostile_image_outputs_never_contain_a_full_secret(self):
        tmp = self.tmpdir()
        spec = dict(LEAKY_SPEC, options={"corrupt_last_layer_blob": True})
        path = h.build_fixture(spec, tmp / "corrupt.tar", "oci-archive")
        for fmt in ("text", "json"):
            r = h.scan("--format", fmt, str(path))
            self.assertEqual(r.returncode, 2, r.describe())
            h.assert_no_full_secret(self, r.stdout + r.stderr)

    def test_show_secrets_json(self):
        _, redacted = h.scan_json(self, leaky(), expect_rc=1)
        _, shown = h.scan_json(self, "--show-secrets", leaky(), expect_rc=1)
        image = h.only_image(self, shown)
        by_summary = {h.finding_summary(f): f for f in image["findings"]}
        for summary, secret, paired in LEAKY_EXPECTED:
            f = by_summary[summary]
            self.assertEqual(f["secret"], secret)
            self.assertEqual(f["paired_access_key"], paired)
            self.assertEqual(f["fingerprint"], fingerprint(summary[0], secret))
        # Fingerprints do not depend on redaction.
        self.assertEqual(sorted(f["fingerprint"] for f in image["findings"]),
                         sorted(f["fingerprint"] for f in h.only_image(self, redacted)["findings"]))

    def test_show_secrets_text(self):
        r = h.scan("--show-secrets", leaky())
        self.assertEqual(r.returncode, 1, r.describe())
        for _, secret, _ in LEAKY_EXPECTED:
            self.assertIn(secret, r.stdout)
        self.assertNotIn("****", r.stdout)

    def test_fingerprint_is_stable_across_files_and_images(self):
        # The same secret in another file of another image has the same fingerprint.
        tmp = self.tmpdir()
        spec = {"images": [{"layers": [{"created_by": "COPY elsewhere", "entries": [
            h.file_entry("opt/other/config.sh", f"\n\n   export SCW_TOKEN={SECRET_KEY}\n")]}]}]}
        path = h.build_fixture(spec, tmp / "other.tar", "docker-archive-v25")
        _, doc = h.scan_json(self, str(path), expect_rc=1)
        [f] = h.only_image(self, doc)["findings"]
        self.assertEqual(f["fingerprint"], fingerprint("scaleway.secret-key", SECRET_KEY))
        self.assertEqual(f["location"]["path"], "/opt/other/config.sh")
        self.assertEqual((f["location"]["line"], f["location"]["column"]), (3, 21))


# ---- output file ------------------------------------------------------------------------------------

class TestOutputFile(CliTestCase):
    def test_json_report_to_file(self):
        tmp = self.tmpdir()
        out = tmp / "report.json"
        r = h.scan("--format", "json", "-o", str(out), leaky())
        self.assertEqual(r.returncode, 1, r.describe())
        self.assertEqual(r.stdout, "", "with -o the report goes to the file only")
        doc = json.loads(out.read_text())
        h.assert_report_shape(self, doc)
        self.assertLeakyFindings(h.only_image(self, doc))
        stdout_run = h.scan("--format", "json", leaky())
        self.assertEqual(h.strip_durations(out.read_text()), h.strip_durations(stdout_run.stdout))

    def test_long_option_and_text_report(self):
        tmp = self.tmpdir()
        out = tmp / "report.txt"
        r = h.scan("--output", str(out), leaky())
        self.assertEqual(r.returncode, 1, r.describe())
        self.assertEqual(r.stdout, "")
        text = out.read_text()
        self.assertIn("/x/run.sh", text)
        self.assertIn(redact(SECRET_KEY_3), text)

    def test_clean_report_to_file_exit_0(self):
        tmp = self.tmpdir()
        out = tmp / "clean.json"
        r = h.scan("--format", "json", "-o", str(out), fixture("clean"))
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertEqual(json.loads(out.read_text())["images"][0]["findings"], [])

    def test_unwritable_output_exits_2(self):
        tmp = self.tmpdir()
        for target in (tmp / "no" / "such" / "dir" / "r.json", tmp):
            r = h.scan("--format", "json", "-o", str(target), leaky())
            self.assertEqual(r.returncode, 2, r.describe())
            self.assertIn(str(target), r.stderr)
            self.assertEqual(r.stdout, "")
        self.assertFalse((tmp / "no").exists())


# ---- --only-runtime ---------------------------------------------------------------------------------

class TestOnlyRuntime(CliTestCase):
    def test_drops_deleted_and_overwritten(self):
        _, doc = h.scan_json(self, "--only-runtime", leaky(), expect_rc=1)
        h.assert_report_shape(self, doc)
        image = h.only_image(self, doc)
        self.assertLeakyFindings(image, [e for e in LEAKY_EXPECTED if e[0][5] == "runtime"])
        self.assertEqual(image["stats"]["findings"], 1)

    def test_changes_exit_status(self):
        r = h.scan(fixture("deleted-only"))
        self.assertEqual(r.returncode, 1, r.describe())
        _, doc = h.scan_json(self, fixture("deleted-only"), expect_rc=1)
        [f] = h.only_image(self, doc)["findings"]
        self.assertEqual((f["visibility"], f["hidden_by_layer"], f["location"]["path"]), ("deleted", 1, "/tmp/creds"))
        r = h.scan("--only-runtime", fixture("deleted-only"))
        self.assertEqual(r.returncode, 0, r.describe())
        _, doc = h.scan_json(self, "--only-runtime", fixture("deleted-only"), expect_rc=0)
        self.assertEqual(h.only_image(self, doc)["findings"], [])

    def test_text_report(self):
        r = h.scan("--only-runtime", leaky())
        self.assertEqual(r.returncode, 1, r.describe())
        self.assertIn("/x/run.sh", r.stdout)
        # Hidden files' findings are listed only as suppressed (never silently dropped), and counted.
        for line in r.stdout.splitlines():
            if "/app/.env" in line or "/app/keep.env" in line:
                self.assertIn("(only-runtime)", line)
                self.assertTrue(line.strip().startswith("suppressed "), line)
        self.assertIn("3 suppressed", r.stdout)


# ---- text report ------------------------------------------------------------------------------------

class TestTextReport(CliTestCase):
    def test_text_report_contents(self):
        _, doc = h.scan_json(self, leaky())
        image = h.only_image(self, doc)
        r = h.scan(leaky())
        self.assertEqual(r.returncode, 1, r.describe())
        out = r.stdout
        self.assertIn(image["reference"], out)
        for n, created_by in enumerate(LEAKY_CREATED_BY):
            if n == 1:
                continue  # layer 1 has no finding of its own
            self.assertRegex(out, rf"Layer {n}\b.*{re.escape(created_by)}")
        for (rule_id, _, path, line, column, visibility, hidden), secret, _ in LEAKY_EXPECTED:
            self.assertIn(f"{path}:{line}:{column}", out)
            self.assertIn(rule_id, out)
            self.assertIn(redact(secret), out)
        self.assertIn("deleted by layer 1", out)
        self.assertIn("overwritten by layer 1", out)
        self.assertIn("runtime", out)
        # The paired access key is shown (redacted) with the secret key.
        self.assertRegex(out, re.escape(redact(SECRET_KEY)) + r".*" + re.escape(redact(ACCESS_KEY)))

    def test_text_report_of_incomplete_scan_says_so(self):
        tmp = self.tmpdir()
        spec = dict(LEAKY_SPEC, options={"wrong_diff_id": True})
        path = h.build_fixture(spec, tmp / "bad.tar", "oci-archive")
        r = h.scan(str(path))
        self.assertEqual(r.returncode, 2, r.describe())
        self.assertIn("INCOMPLETE", r.stdout.upper())
        self.assertIn("layer 2", r.stdout)


# ---- hostile containers -----------------------------------------------------------------------------

class TestHostileImages(CliTestCase):
    def check_hostile(self, option, fmt):
        broken = HOSTILE_OPTIONS[option]
        tmp = self.tmpdir()
        spec = dict(LEAKY_SPEC, options={option: True})
        path = h.build_fixture(spec, tmp / ("img" + ("" if fmt == "oci-dir" else ".tar")), fmt)
        ctx = f"{option} / {fmt}"
        r, doc = h.scan_json(self, str(path))
        self.assertEqual(r.returncode, 2, f"{ctx}\n{r.describe()}")
        h.assert_report_shape(self, doc)
        self.assertFalse(doc["complete"], ctx)
        image = h.only_image(self, doc)
        self.assertFalse(image["complete"], ctx)
        self.assertTrue(image["errors"], ctx)
        layer_errors = [e for e in image["errors"] if e.get("layer_index") == broken]
        self.assertTrue(layer_errors, f"{ctx}: no error names layer {broken}: {image['errors']}")
        message = layer_errors[0]["message"]
        self.assertIn(f"layer {broken}", message, ctx)
        self.assertIn(image["reference"], message, ctx)
        self.assertIn(h.ERROR_PREFIX, r.stderr, ctx)
        self.assertIn(message, r.stderr, ctx)
        self.assertFalse(image["layers"][broken]["complete"], ctx)
        for layer in image["layers"]:
            if layer["index"] != broken:
                self.assertTrue(layer["complete"], f"{ctx}: intact layer {layer['index']} marked incomplete")
        # The intact layers' findings are still reported.
        got = {h.finding_summary(f) for f in image["findings"]}
        for summary, _, _ in LEAKY_EXPECTED:
            if summary[1] != broken:
                self.assertIn(summary, got, f"{ctx}: finding of an intact layer is missing")
        # An incomplete scan is never a pass, whatever the threshold.
        for level in ("none", "critical"):
            rr = h.scan("--fail-on", level, str(path))
            self.assertEqual(rr.returncode, 2, f"{ctx} --fail-on {level}\n{rr.describe()}")

    def test_drop_first_layer_blob(self):
        for fmt in h.FIXTURE_FORMATS:
            with self.subTest(fmt=fmt):
                self.check_hostile("drop_first_layer_blob", fmt)

    def test_corrupt_last_layer_blob(self):
        for fmt in h.FIXTURE_FORMATS:
            with self.subTest(fmt=fmt):
                self.check_hostile("corrupt_last_layer_blob", fmt)

    def test_wrong_diff_id(self):
        for fmt in h.FIXTURE_FORMATS:
            with self.subTest(fmt=fmt):
                self.check_hostile("wrong_diff_id", fmt)

    def test_truncate_last_layer_blob(self):
        for fmt in h.FIXTURE_FORMATS:
            with self.subTest(fmt=fmt):
                self.check_hostile("truncate_last_layer_blob", fmt)

    def test_wrong_diff_id_reports_digest_mismatch(self):
        tmp = self.tmpdir()
        path = h.build_fixture(dict(LEAKY_SPEC, options={"wrong_diff_id": True}), tmp / "w.tar", "oci-archive")
        _, doc = h.scan_json(self, str(path), expect_rc=2)
        [err] = h.only_image(self, doc)["errors"]
        self.assertEqual(err["code"], "digest_mismatch")
        self.assertIn(h.only_image(self, doc)["layers"][2]["digest"], err["message"])


# ---- sources ----------------------------------------------------------------------------------------

class TestSources(CliTestCase):
    def test_all_formats_give_the_same_findings(self):
        reference = None
        for fmt in h.FIXTURE_FORMATS:
            with self.subTest(fmt=fmt):
                _, doc = h.scan_json(self, leaky(fmt), expect_rc=1)
                h.assert_report_shape(self, doc)
                image = h.only_image(self, doc)
                self.assertLeakyFindings(image)
                self.assertEqual([l["created_by"] for l in image["layers"]], LEAKY_CREATED_BY)
                summary = sorted((h.finding_summary(f), f["fingerprint"], f["location"]["diff_id"],
                                  f["location"]["offset"]) for f in image["findings"])
                if reference is None:
                    reference = summary
                self.assertEqual(summary, reference, "findings (and diffIDs) differ between formats")

    def test_transport_prefixes_and_auto_detection(self):
        cases = [
            (leaky("oci-archive"), "oci-archive"),
            ("oci-archive:" + leaky("oci-archive"), "oci-archive"),
            ("oci-archive:" + leaky("oci-archive") + ":latest", "oci-archive"),
            (leaky("oci-dir"), "oci"),
            ("oci:" + leaky("oci-dir"), "oci"),
            ("oci:" + leaky("oci-dir") + ":latest", "oci"),
            (leaky("docker-archive-legacy"), "docker-archive"),
            ("docker-archive:" + leaky("docker-archive-legacy"), "docker-archive"),
            ("docker-archive:" + leaky("docker-archive-legacy") + ":example/app:latest", "docker-archive"),
            ("docker-archive:" + leaky("docker-archive-legacy") + ":@0", "docker-archive"),
            (leaky("docker-archive-v25"), "docker-archive"),
            ("docker-archive:" + leaky("docker-archive-v25") + ":example/app:latest", "docker-archive"),
        ]
        for arg, transport in cases:
            with self.subTest(arg=arg):
                _, doc = h.scan_json(self, arg, expect_rc=1)
                image = h.only_image(self, doc)
                self.assertEqual(image["transport"], transport)
                self.assertTrue(image["reference"].startswith(transport + ":"), image["reference"])
                self.assertLeakyFindings(image)

    def test_docker_archive_tags_and_digests(self):
        for fmt in ("docker-archive-legacy", "docker-archive-v25"):
            _, doc = h.scan_json(self, leaky(fmt), expect_rc=1)
            image = h.only_image(self, doc)
            self.assertEqual(image["tags"], ["example/app:latest"])
            self.assertRegex(image["config_digest"], h.SHA256_RE)
        legacy = h.only_image(self, h.scan_json(self, leaky("docker-archive-legacy"))[1])
        self.assertEqual([l["compression"] for l in legacy["layers"]], ["none"] * 3)
        oci = h.only_image(self, h.scan_json(self, leaky("oci-archive"))[1])
        # Same content, same diffIDs, whatever the container format.
        self.assertEqual([l["diff_id"] for l in legacy["layers"]], [l["diff_id"] for l in oci["layers"]])
        self.assertEqual(legacy["config_digest"], oci["config_digest"])

    def test_unknown_refs_exit_2(self):
        for arg in ("docker-archive:" + leaky("docker-archive-legacy") + ":example/nope:1",
                    "docker-archive:" + leaky("docker-archive-legacy") + ":@7",
                    "oci:" + leaky("oci-dir") + ":nope",
                    "oci-archive:" + leaky("oci-archive") + ":nope"):
            with self.subTest(arg=arg):
                r, doc = h.scan_json(self, arg, expect_rc=2)
                self.assertFalse(doc["complete"])
                self.assertIn(h.ERROR_PREFIX, r.stderr)

    def test_dir_source(self):
        tmp = self.tmpdir()
        root = tmp / "rootfs"
        (root / "etc" / "app").mkdir(parents=True)
        content = "first=1\n" + f"SCW_SECRET_KEY={SECRET_KEY}\n"
        (root / "etc" / "app" / "app.env").write_text(content)
        (root / "etc" / "hostname").write_text("box\n")
        for arg in ("dir:" + str(root), str(root)):
            with self.subTest(arg=arg):
                _, doc = h.scan_json(self, arg, expect_rc=1)
                h.assert_report_shape(self, doc)
                image = h.only_image(self, doc)
                self.assertEqual(image["transport"], "dir")
                self.assertEqual(image["layers"], [])
                [f] = image["findings"]
                loc = f["location"]
                self.assertEqual(loc["kind"], "file")
                self.assertEqual(loc["path"], "/etc/app/app.env")
                self.assertEqual((loc["line"], loc["column"], loc["offset"]), h.text_position(content, SECRET_KEY))
                self.assertEqual(f["visibility"], "runtime")
                self.assertIsNone(f["hidden_by_layer"])

    def test_multi_image_docker_archive_same_platform(self):
        tmp = self.tmpdir()
        spec = {"images": [
            {"repo_tags": ["example/a:1"], "layers": [{"created_by": "COPY a", "entries": [
                h.file_entry("a.env", f"SCW_SECRET_KEY={SECRET_KEY}\n")]}]},
            {"repo_tags": ["example/b:2"], "layers": [{"created_by": "COPY b", "entries": [
                h.file_entry("b.env", f"key {ACCESS_KEY}\n")]}]},
        ]}
        for fmt in ("docker-archive-legacy", "docker-archive-v25"):
            with self.subTest(fmt=fmt):
                path = str(h.build_fixture(spec, tmp / f"multi-{fmt}.tar", fmt))
                _, doc = h.scan_json(self, path, expect_rc=1)
                h.assert_report_shape(self, doc)
                self.assertEqual([img["tags"] for img in doc["images"]], [["example/a:1"], ["example/b:2"]])
                self.assertEqual([[f["location"]["path"] for f in img["findings"]] for img in doc["images"]],
                                 [["/a.env"], ["/b.env"]])
                for ref, tag, rc in (("@1", "example/b:2", 0), ("example/b:2", "example/b:2", 0),
                                     ("@0", "example/a:1", 1), ("example/a:1", "example/a:1", 1)):
                    _, one = h.scan_json(self, f"docker-archive:{path}:{ref}", expect_rc=rc)
                    self.assertEqual(h.only_image(self, one)["tags"], [tag])

    def test_multi_image_docker_archive_mixed_platforms(self):
        # CONTRACT.md: several images in one docker-archive are all scanned unless REF picks one; a REF
        # names an image by tag or position, whatever its platform. Dropping an image silently would let
        # its secrets through a CI gate.
        tmp = self.tmpdir()
        spec = {"images": [
            {"repo_tags": ["example/a:1"], "layers": [{"created_by": "COPY a", "entries": [
                h.file_entry("a.txt", "clean\n")]}]},
            {"repo_tags": ["example/b:2"], "architecture": "arm64", "variant": "v8", "layers": [
                {"created_by": "COPY b", "entries": [h.file_entry("b.env", f"SCW_SECRET_KEY={SECRET_KEY}\n")]}]},
        ]}
        path = str(h.build_fixture(spec, tmp / "mixed.tar", "docker-archive-legacy"))
        for ref in ("example/b:2", "@1"):
            with self.subTest(ref=ref):
                r, doc = h.scan_json(self, f"docker-archive:{path}:{ref}")
                self.assertEqual(r.returncode, 1, r.describe())
                image = h.only_image(self, doc)
                self.assertEqual(image["platform"], "linux/arm64/v8")
        r, doc = h.scan_json(self, path)
        self.assertEqual(r.returncode, 1, "the arm64 image's critical secret was not reported\n" + r.describe())
        self.assertEqual(len(doc["images"]), 2)

    def test_oci_index_platform_selection(self):
        tmp = self.tmpdir()
        spec = {"images": [
            {"repo_tags": ["example/m:amd64"], "architecture": "amd64", "layers": [
                {"created_by": "COPY amd", "entries": [h.file_entry("amd.env", f"SCW_SECRET_KEY={SECRET_KEY}\n")]}]},
            {"repo_tags": ["example/m:arm64"], "architecture": "arm64", "variant": "v8", "layers": [
                {"created_by": "COPY arm", "entries": [h.file_entry("arm.env", f"x {ACCESS_KEY}\n")]}]},
        ]}
        for fmt in ("oci-dir", "oci-archive"):
            with self.subTest(fmt=fmt):
                path = str(h.build_fixture(spec, tmp / (f"idx-{fmt}" + ("" if fmt == "oci-dir" else ".tar")), fmt))
                _, doc = h.scan_json(self, path, expect_rc=1)
                image = h.only_image(self, doc)
                self.assertEqual(image["platform"], "linux/amd64")
                self.assertEqual([f["location"]["path"] for f in image["findings"]], ["/amd.env"])
                for platform in ("linux/arm64", "linux/arm64/v8"):
                    _, doc = h.scan_json(self, "--platform", platform, path, expect_rc=0)
                    image = h.only_image(self, doc)
                    self.assertEqual(image["platform"], "linux/arm64/v8")
                    self.assertEqual([f["location"]["path"] for f in image["findings"]], ["/arm.env"])
                _, doc = h.scan_json(self, "--all-platforms", path, expect_rc=1)
                h.assert_report_shape(self, doc)
                self.assertEqual(sorted(img["platform"] for img in doc["images"]), ["linux/amd64", "linux/arm64/v8"])
                paths = sorted(f["location"]["path"] for img in doc["images"] for f in img["findings"])
                self.assertEqual(paths, ["/amd.env", "/arm.env"])

    def test_layer_compression_is_sniffed(self):
        tmp = self.tmpdir()
        spec = {"images": [{"layers": [
            {"compression": "gzip", "created_by": "L0", "entries": [h.file_entry("g.env", f"SCW_TOKEN={SECRET_KEY}\n")]},
            {"compression": "zstd", "created_by": "L1", "entries": [h.file_entry("z.env", f"SCW_TOKEN={SECRET_KEY_2}\n")]},
            {"compression": "none", "created_by": "L2", "entries": [h.file_entry("n.env", f"SCW_TOKEN={SECRET_KEY_3}\n")]},
            # The media type says gzip, the bytes are a plain tar: sniff, don't trust the name.
            {"compression": "none", "created_by": "L3", "media_type": "application/vnd.oci.image.layer.v1.tar+gzip",
             "entries": [h.file_entry("lie.env", f"SCW_TOKEN={SECRET_KEY_4}\n")]},
        ]}]}
        for fmt in ("oci-archive", "docker-archive-v25"):
            with self.subTest(fmt=fmt):
                path = h.build_fixture(spec, tmp / f"comp-{fmt}.tar", fmt)
                _, doc = h.scan_json(self, str(path), expect_rc=1)
                h.assert_report_shape(self, doc)
                image = h.only_image(self, doc)
                self.assertEqual([l["compression"] for l in image["layers"]], ["gzip", "zstd", "none", "none"])
                self.assertEqual(sorted((f["location"]["layer_index"], f["location"]["path"]) for f in image["findings"]),
                                 [(0, "/g.env"), (1, "/z.env"), (2, "/n.env"), (3, "/lie.env")])

    def test_max_file_size_skips_are_reported(self):
        limit = max(len(KEEP_CONTENT), len(RUN_CONTENT))
        self.assertGreater(len(ENV_CONTENT), limit)
        _, doc = h.scan_json(self, "--max-file-size", str(limit), leaky(), expect_rc=1)
        h.assert_report_shape(self, doc)
        image = h.only_image(self, doc)
        self.assertTrue(image["complete"], "a per-file limit skips the file, it does not fail the layer")
        self.assertEqual([(s["path"], s["layer_index"]) for s in image["stats"]["skipped"]], [("/app/.env", 0)])
        self.assertIn(str(limit), image["stats"]["skipped"][0]["reason"])
        self.assertLeakyFindings(image, [e for e in LEAKY_EXPECTED if e[0][2] != "/app/.env"])
        text = h.scan("--max-file-size", str(limit), leaky())
        self.assertIn("/app/.env", text.stdout, "skips are reported, never silent")


# ---- rules ------------------------------------------------------------------------------------------

class TestRules(CliTestCase):
    def write(self, name, text):
        path = self.tmpdir() / name
        path.write_text(text)
        return str(path)

    def test_rules_list(self):
        r = h.run_layerleak("rules", "list")
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertRegex(r.stdout, r"scaleway\.secret-key\s+critical")
        self.assertRegex(r.stdout, r"scaleway\.access-key\s+low")

    def test_rules_check_builtin(self):
        r = h.run_layerleak("rules", "check")
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertNotRegex(r.stdout, r"(?m)^problem")

    def test_rules_check_failing_example(self):
        path = self.write("bad.yaml", BAD_EXAMPLE_RULES)
        r = h.run_layerleak("rules", "check", "--rules", path)
        self.assertEqual(r.returncode, 1, r.describe())
        self.assertIn("custom.broken-example", r.stdout + r.stderr)
        self.assertIn("NOT_THE_NAME=SCW0RE86AB2CD4EF6GH8", r.stdout + r.stderr)

    def test_rules_check_negative_example_reported(self):
        path = self.write("greedy.yaml", GREEDY_RULES)
        r = h.run_layerleak("rules", "check", "--rules", path)
        self.assertEqual(r.returncode, 1, r.describe())
        self.assertIn("custom.too-greedy", r.stdout + r.stderr)
        self.assertIn("PASS_ID=", r.stdout + r.stderr)

    def test_rules_check_good_extra_file(self):
        path = self.write("extra.yaml", CUSTOM_RULES)
        r = h.run_layerleak("rules", "check", "--rules", path)
        self.assertEqual(r.returncode, 0, r.describe())
        r = h.run_layerleak("rules", "list", "--rules", path)
        self.assertEqual(r.returncode, 0, r.describe())
        for rule_id in ("scaleway.secret-key", "scaleway.access-key", "custom.test-key"):
            self.assertIn(rule_id, r.stdout)

    def test_unloadable_rules_files_exit_2(self):
        malformed = self.write("malformed.yaml", MALFORMED_RULES)
        no_rules = self.write("norules.yaml", "foo: bar\n")
        duplicate = self.write("dup.yaml", CUSTOM_RULES.replace("custom.test-key", "scaleway.secret-key"))
        missing = str(self.tmpdir() / "missing.yaml")
        for path in (malformed, no_rules, duplicate, missing):
            with self.subTest(path=Path(path).name):
                r = h.run_layerleak("rules", "check", "--rules", path)
                self.assertEqual(r.returncode, 2, r.describe())
                self.assertIn(Path(path).name, r.stderr, "the error must name the rules file")
                r = h.scan("--rules", path, leaky())
                self.assertEqual(r.returncode, 2, r.describe())
                self.assertIn(Path(path).name, r.stderr)
                self.assertEqual(r.stdout, "")

    def test_invalid_regex_exits_2_naming_rule(self):
        path = self.write("badre.yaml", CUSTOM_RULES.replace("ACME_VAULT_PASS[", "ACME_VAULT_PASS(["))
        r = h.run_layerleak("rules", "check", "--rules", path)
        self.assertEqual(r.returncode, 2, r.describe())
        self.assertIn("custom.test-key", r.stderr)

    def test_custom_rule_in_scan(self):
        rules = self.write("extra.yaml", CUSTOM_RULES)
        tmp = self.tmpdir()
        spec = {"images": [{"layers": [{"created_by": "COPY vault.cfg /etc/", "entries": [
            h.file_entry("etc/vault.cfg", CUSTOM_CONTENT)]}]}]}
        path = str(h.build_fixture(spec, tmp / "custom.tar", "oci-archive"))
        # Without the extra rules file: nothing.
        _, doc = h.scan_json(self, path, expect_rc=0)
        self.assertEqual(h.only_image(self, doc)["findings"], [])
        _, doc = h.scan_json(self, "--rules", rules, path, expect_rc=1)
        h.assert_report_shape(self, doc)
        [f] = h.only_image(self, doc)["findings"]
        self.assertEqual((f["rule_id"], f["title"], f["severity"]), ("custom.test-key", "ACME vault password", "high"))
        self.assertEqual(f["secret"], redact(CUSTOM_SECRET))
        self.assertEqual(f["fingerprint"], fingerprint("custom.test-key", CUSTOM_SECRET))
        loc = f["location"]
        self.assertEqual((loc["path"], loc["line"], loc["column"], loc["offset"]),
                         ("/etc/vault.cfg", *h.text_position(CUSTOM_CONTENT, CUSTOM_SECRET)))
        # Severity high: --fail-on critical lets it pass.
        r = h.scan("--rules", rules, "--fail-on", "critical", path)
        self.assertEqual(r.returncode, 0, r.describe())
        r = h.scan("--rules", rules, "--show-secrets", path)
        self.assertIn(CUSTOM_SECRET, r.stdout)


# ---- determinism ------------------------------------------------------------------------------------

class TestDeterminism(CliTestCase):
    def test_repeated_runs_are_byte_identical(self):
        for fmt in ("oci-archive", "docker-archive-legacy"):
            first = h.scan("--format", "json", leaky(fmt))
            second = h.scan("--format", "json", leaky(fmt))
            self.assertEqual(first.returncode, 1)
            self.assertEqual(h.strip_durations(first.stdout), h.strip_durations(second.stdout))
            self.assertIn('"duration_ms"', first.stdout)

    def test_jobs_do_not_change_the_report(self):
        for fmt in ("oci-dir", "docker-archive-v25"):
            one = h.scan("--format", "json", "-j", "1", leaky(fmt))
            four = h.scan("--format", "json", "--jobs", "4", leaky(fmt))
            self.assertEqual((one.returncode, four.returncode), (1, 1))
            self.assertEqual(json.loads(one.stdout)["images"][0]["findings"],
                             json.loads(four.stdout)["images"][0]["findings"])
            self.assertEqual(h.strip_durations(one.stdout), h.strip_durations(four.stdout))

    def test_text_is_deterministic_too(self):
        a = h.scan(leaky("oci-archive"))
        b = h.scan("-j", "3", leaky("oci-archive"))
        strip = lambda s: re.sub(r"in \d+ ms", "in N ms", s)
        self.assertEqual(strip(a.stdout), strip(b.stdout))


if __name__ == "__main__":
    unittest.main()
