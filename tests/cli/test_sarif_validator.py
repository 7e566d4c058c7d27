"""The SARIF and GitLab reports of the real binary, checked the way their consumers check them.

- SARIF (`layerleak scan --format sarif`): validated with Microsoft's SARIF validator, Sarif.Multitool
  (npm package @microsoft/sarif-multitool, pinned and installed by scripts/install-deps under
  tools/sarif/), with the generic SARIF rules and the GitHub code scanning ingestion rules. Any result of
  level "error" fails; so does any "warning", except the ones listed in ALLOWED_WARNINGS with the reason
  why they cannot apply to layerleak. A deliberately broken report must fail the same check, so the
  validator cannot pass vacuously.
- GitLab (`layerleak scan --format gitlab`): the keys, types and values that GitLab's secret detection
  report schema (15.x) requires, checked in Python; the commit comes from CI_COMMIT_SHA or from the image's
  org.opencontainers.image.revision label, and without either the scan fails.

Environment (set by CTest): LAYERLEAK_BIN, LAYERLEAK_FIXTURE_TOOL, LAYERLEAK_SOURCE_DIR;
LAYERLEAK_SARIF_MULTITOOL may name the Sarif.Multitool executable (default: the one under tools/sarif/).
A missing binary, fixture tool or validator is a failure, never a skip. Standard library only.
"""

import datetime
import json
import os
import re
import tempfile
import unittest
from pathlib import Path

import helpers as h
from helpers import ACCESS_KEY, SECRET_KEY, SECRET_KEY_2, SECRET_KEY_3, SECRET_KEY_4, SECRET_KEY_5

SARIF_MULTITOOL_VERSION = "5.7.0"  # scripts/install-deps pins the same version
# Generic SARIF rules (SARIFnnnn, JSONnnnn) plus GitHub's ingestion rules (GHnnnn, GHASnnnn).
RULE_KINDS = "Sarif;Gh;Ghas"

# Validator warnings that cannot apply to layerleak, by (rule id, message id), each with the reason.
ALLOWED_WARNINGS = {
    ("SARIF2005", "Warning_ProvideToolnformationUri"):
        "tool.driver.informationUri: layerleak has no public home page to point to yet, and a placeholder URL "
        "would be worse than none (the property is optional in SARIF 2.1.0 and GitHub does not use it). "
        "Set it, and drop this entry, once the project has a public address.",
}

COMMIT = "0123456789abcdef0123456789abcdef01234567"
LABEL_COMMIT = "89abcdef0123456789abcdef0123456789abcdef"

# ---- fixtures ----------------------------------------------------------------------------------------

ENV_CONTENT = f"# settings\nSCW_ACCESS_KEY={ACCESS_KEY}\nSCW_SECRET_KEY={SECRET_KEY}\n"
KEEP_CONTENT = f"SCW_SECRET_KEY={SECRET_KEY_2}\n"
ODD_PATH = "srv/my app/settings [prod] #1.env"  # needs percent-encoding in a URI
ODD_CONTENT = f"SCW_SECRET_KEY={SECRET_KEY_3}\n"

# Deleted (.env), overwritten (keep.env), runtime (the odd path), and a secret in the image config.
LEAKY_SPEC = {"images": [{
    "repo_tags": ["example/leaky:1"],
    "env": ["PATH=/usr/bin:/bin", f"SCW_SECRET_KEY={SECRET_KEY_4}"],
    "layers": [
        {"created_by": "COPY app /app", "entries": [
            {"type": "dir", "path": "app"},
            h.file_entry("app/.env", ENV_CONTENT),
            h.file_entry("app/keep.env", KEEP_CONTENT),
        ]},
        {"created_by": "RUN rm /app/.env", "entries": [
            {"type": "whiteout", "path": "app/.env"},
            h.file_entry("app/keep.env", "SCW_SECRET_KEY=\n"),
        ]},
        {"created_by": "COPY srv /srv", "entries": [
            {"type": "dir", "path": "srv"},
            {"type": "dir", "path": "srv/my app"},
            h.file_entry(ODD_PATH, ODD_CONTENT),
        ]},
    ],
}]}
LEAKY_SECRETS = (ACCESS_KEY, SECRET_KEY, SECRET_KEY_2, SECRET_KEY_3, SECRET_KEY_4)

# The same kind of image with the commit it was built from as a label.
LABELED_SPEC = {"images": [{
    "repo_tags": ["example/labeled:1"],
    "labels": {"org.opencontainers.image.revision": LABEL_COMMIT},
    "layers": [{"created_by": "COPY creds /etc/creds", "entries": [
        h.file_entry("etc/creds", f"SCW_SECRET_KEY={SECRET_KEY_5}\n")]}],
}]}

CLEAN_SPEC = {"images": [{
    "repo_tags": ["example/clean:1"],
    "layers": [{"created_by": "COPY . /srv", "entries": [
        {"type": "dir", "path": "srv"},
        h.file_entry("srv/settings.env", "SCW_SECRET_KEY=${SCW_SECRET_KEY}\nSCW_DEFAULT_REGION=fr-par\n"),
    ]}],
}]}

_FIXTURES = {}
_TMP = None


def setUpModule():
    global _TMP
    h.layerleak_bin()
    h.fixture_tool()
    sarif_multitool()
    _TMP = tempfile.TemporaryDirectory(prefix="layerleak-sarif-")
    root = Path(_TMP.name)
    for name, spec in (("leaky", LEAKY_SPEC), ("labeled", LABELED_SPEC), ("clean", CLEAN_SPEC)):
        _FIXTURES[name] = str(h.build_fixture(spec, root / f"{name}.tar", "oci-archive"))


def tearDownModule():
    if _TMP is not None:
        _TMP.cleanup()


# ---- the validator -----------------------------------------------------------------------------------

def sarif_multitool():
    """The Sarif.Multitool executable: $LAYERLEAK_SARIF_MULTITOOL, else the one install-deps put in tools/."""
    override = os.environ.get("LAYERLEAK_SARIF_MULTITOOL")
    if override:
        path = Path(override)
    else:
        path = (h.source_dir() / "tools" / "sarif" / "node_modules" / "@microsoft" / "sarif-multitool-linux"
                / "Sarif.Multitool")
    if not path.is_file() or not os.access(path, os.X_OK):
        raise AssertionError(f"the SARIF validator is not installed at {path}: run scripts/install-deps")
    return str(path)


def validator_env():
    env = dict(os.environ)
    # The validator needs no culture data: run it without libicu, as install-deps checks it.
    env["DOTNET_SYSTEM_GLOBALIZATION_INVARIANT"] = "1"
    env["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1"
    return env


def run_validator(tc, sarif_path):
    """Runs `Sarif.Multitool validate` on one file; returns its results as (level, rule id, message id, text)."""
    out = Path(sarif_path).with_suffix(".validation.json")
    result = h.run_command([sarif_multitool(), "validate", "--rule-kind", RULE_KINDS, "--level", "Error;Warning",
                            "--output", out, sarif_path], env=validator_env(), timeout=300)
    tc.assertEqual(result.returncode, 0, result.describe())
    tc.assertTrue(out.is_file(), "the validator wrote no output\n" + result.describe())
    log = json.loads(out.read_text(encoding="utf-8"))
    run = log["runs"][0]
    for invocation in run.get("invocations", []):
        tc.assertTrue(invocation.get("executionSuccessful", False), json.dumps(invocation, indent=1))
        for note in invocation.get("toolExecutionNotifications", []):
            tc.assertNotEqual(note.get("level", "warning"), "error", json.dumps(note, indent=1))
    rules = {r["id"]: r for r in run["tool"]["driver"].get("rules", [])}
    found = []
    for r in run.get("results", []):
        message = r.get("message", {})
        template = rules.get(r["ruleId"], {}).get("messageStrings", {}).get(message.get("id"), {}).get("text", "")
        text = message.get("text") or template.format(*message.get("arguments", []))
        # SARIF: a result without a level is a warning.
        found.append((r.get("level", "warning"), r["ruleId"], message.get("id"), text))
    return found


def problems(results):
    """Errors, and warnings that ALLOWED_WARNINGS does not explain."""
    return [r for r in results
            if r[0] == "error" or (r[0] == "warning" and (r[1], r[2]) not in ALLOWED_WARNINGS)]


def scan_env(commit=None):
    env = dict(os.environ)
    env.pop("CI_COMMIT_SHA", None)  # a GitLab runner sets it: the tests decide themselves
    if commit is not None:
        env["CI_COMMIT_SHA"] = commit
    return env


def scan(*args, commit=None):
    return h.run_command([h.layerleak_bin(), "scan", "--no-progress", *args], env=scan_env(commit))


# ---- SARIF -------------------------------------------------------------------------------------------

class TestSarif(unittest.TestCase):
    maxDiff = None

    def tmpdir(self):
        return h.make_tempdir(self)

    def sarif(self, image, expect_rc, via_output=False):
        """(path of the SARIF report, parsed document) for `scan --format sarif IMAGE`."""
        path = self.tmpdir() / "report.sarif"
        if via_output:
            result = scan("--format", "sarif", "-o", path, image)
            self.assertEqual(result.stdout, "", result.describe())
        else:
            result = scan("--format", "sarif", image)
            path.write_bytes(result.stdout_bytes)
        self.assertEqual(result.returncode, expect_rc, result.describe())
        text = path.read_text(encoding="utf-8")
        h.assert_no_full_secret(self, text, where="the SARIF report")
        return path, json.loads(text)

    def assertValid(self, path):
        results = run_validator(self, path)
        self.assertEqual(problems(results), [], "Sarif.Multitool validate:\n" +
                         "\n".join(f"{lvl} {rule} {text}" for lvl, rule, _, text in problems(results)))

    def test_validator_is_the_pinned_version(self):
        result = h.run_command([sarif_multitool(), "--version"], env=validator_env())
        self.assertEqual(result.returncode, 0, result.describe())
        self.assertIn(f"SARIF Multitool {SARIF_MULTITOOL_VERSION}", result.stdout + result.stderr)

    def test_leaky_image_report_is_valid(self):
        path, doc = self.sarif(_FIXTURES["leaky"], 1)
        self.assertValid(path)

    def test_leaky_image_report_via_output_file_is_valid(self):
        path, doc = self.sarif(_FIXTURES["leaky"], 1, via_output=True)
        self.assertValid(path)

    def test_clean_image_report_is_valid(self):
        path, doc = self.sarif(_FIXTURES["clean"], 0)
        self.assertValid(path)
        run = doc["runs"][0]
        self.assertEqual(run["results"], [])
        self.assertTrue(run["invocations"][0]["executionSuccessful"])

    def test_golden_report_is_valid(self):
        # tests/data/golden/report.sarif (test_reporters.cpp): suppressed results, several images, image
        # errors as tool execution notifications; things the CLI fixtures above do not all produce.
        golden = h.source_dir() / "tests" / "data" / "golden" / "report.sarif"
        self.assertTrue(golden.is_file(), golden)
        path = self.tmpdir() / "golden.sarif"
        path.write_bytes(golden.read_bytes())
        self.assertValid(path)

    def test_image_paths_are_relative_to_imageroot_and_the_run_has_a_category(self):
        path, doc = self.sarif(_FIXTURES["leaky"], 1)
        self.assertEqual(len(doc["runs"]), 1)
        run = doc["runs"][0]
        self.assertTrue(run["automationDetails"]["id"].startswith(f"layerleak/oci-archive:{_FIXTURES['leaky']}"))
        self.assertTrue(run["automationDetails"]["id"].endswith("/"))
        self.assertIn("IMAGEROOT", run["originalUriBaseIds"])
        self.assertNotIn("%SRCROOT%", run["originalUriBaseIds"])
        for result in run["results"]:
            self.assertEqual(result["locations"][0]["physicalLocation"]["artifactLocation"]["uriBaseId"], "IMAGEROOT")

    def test_sarif_path_map_puts_mapped_files_under_srcroot(self):
        path = self.tmpdir() / "mapped.sarif"
        result = scan("--format", "sarif", "--sarif-path-map", "/app=services/api", "--sarif-path-map",
                      "/srv/my app=deploy/config", "--sarif-path-map", "/srv=deploy", "-o", path, _FIXTURES["leaky"])
        self.assertEqual(result.returncode, 1, result.describe())
        self.assertValid(path)
        run = json.loads(path.read_text(encoding="utf-8"))["runs"][0]
        self.assertIn("%SRCROOT%", run["originalUriBaseIds"])
        locations = {(loc["uriBaseId"], loc["uri"]) for loc in
                     (r["locations"][0]["physicalLocation"]["artifactLocation"] for r in run["results"])}
        self.assertIn(("%SRCROOT%", "services/api/.env"), locations)
        self.assertIn(("%SRCROOT%", "services/api/keep.env"), locations)
        self.assertIn(("%SRCROOT%", "deploy/config/settings%20%5Bprod%5D%20%231.env"), locations)  # longest prefix
        self.assertIn(("IMAGEROOT", "image-config/config.Env%5B1%5D"), locations)  # metadata is never mapped
        for bad in ("app=src", "/app=/abs", "/app=../up", "/app"):
            result = scan("--format", "sarif", "--sarif-path-map", bad, _FIXTURES["leaky"])
            self.assertEqual(result.returncode, 2, result.describe())
            self.assertIn("--sarif-path-map", result.stderr)

    def test_a_broken_report_fails_validation(self):
        # The check must be able to fail: break a valid report in three ways the validator knows.
        path, doc = self.sarif(_FIXTURES["leaky"], 1)
        results = doc["runs"][0]["results"]
        results[0]["ruleIndex"] = 99
        results[1]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] = "/absolute/path"
        results[2]["locations"][0]["physicalLocation"]["region"]["startLine"] = 0
        path.write_text(json.dumps(doc), encoding="utf-8")
        rules = {rule for level, rule, _, _ in run_validator(self, path) if level == "error"}
        self.assertTrue({"SARIF1009", "SARIF1004", "JSON1008"} <= rules, rules)

    def test_results_match_the_json_report(self):
        _, doc = self.sarif(_FIXTURES["leaky"], 1)
        result, json_doc = h.scan_json(self, _FIXTURES["leaky"], expect_rc=1)
        findings = h.only_image(self, json_doc)["findings"]
        run = doc["runs"][0]
        self.assertEqual(run["tool"]["driver"]["name"], "layerleak")
        self.assertEqual(run["tool"]["driver"]["version"], json_doc["tool"]["version"])
        rules = run["tool"]["driver"]["rules"]
        self.assertEqual([r["id"] for r in rules], sorted({f["rule_id"] for f in findings}))
        for rule in rules:
            self.assertIn(rule["properties"]["security-severity"], ("9.5", "8.0", "5.5", "3.0", "1.0"))
            self.assertEqual(rule["properties"]["tags"], ["security", "secret", "scaleway"])
        got = sorted((r["ruleId"], r["partialFingerprints"]["layerleak/v1"],
                      r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
                      r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in run["results"])
        want = []
        for f in findings:
            loc = f["location"]
            if loc["kind"] == "config":
                uri = "image-config/" + loc["field"].replace("[", "%5B").replace("]", "%5D")
            else:
                uri = loc["path"].lstrip("/").replace(" ", "%20").replace("[", "%5B").replace("]", "%5D") \
                    .replace("#", "%23")
            want.append((f["rule_id"], f["fingerprint"], uri, loc["line"]))
        self.assertEqual(got, sorted(want))
        for r in run["results"]:
            self.assertEqual(rules[r["ruleIndex"]]["id"], r["ruleId"])
            expected_level = {"critical": "error", "high": "error", "medium": "warning", "low": "note",
                              "info": "note"}[r["properties"]["severity"]]
            self.assertEqual(r["level"], expected_level)
        uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]}
        self.assertIn("srv/my%20app/settings%20%5Bprod%5D%20%231.env", uris)
        self.assertIn("image-config/config.Env%5B1%5D", uris)
        visibilities = {r["properties"]["visibility"] for r in run["results"]}
        self.assertEqual(visibilities, {"deleted", "overwritten", "runtime", "config"})

    def test_incomplete_scan_is_not_a_successful_execution(self):
        tmp = self.tmpdir()
        broken = h.build_fixture({"images": LEAKY_SPEC["images"], "options": {"corrupt_last_layer_blob": True}},
                                 tmp / "broken.tar", "oci-archive")
        path, doc = self.sarif(str(broken), 2)
        invocation = doc["runs"][0]["invocations"][0]
        self.assertFalse(invocation["executionSuccessful"])
        self.assertTrue(any(n["level"] == "error" for n in invocation["toolExecutionNotifications"]), invocation)
        self.assertValid(path)


# ---- GitLab ------------------------------------------------------------------------------------------

GITLAB_SEVERITIES = ("Critical", "High", "Medium", "Low", "Info", "Unknown")
GITLAB_CONFIDENCES = ("Confirmed", "High", "Medium", "Low", "Experimental", "Ignore", "Unknown")
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
VERSION_RE = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+$")


def nonempty_string(tc, value, what):
    tc.assertIsInstance(value, str, what)
    tc.assertTrue(value, f"{what} is empty")


def check_gitlab_report(tc, doc, commit):
    """The required keys and values of GitLab's secret detection report schema (15.x)."""
    tc.assertIsInstance(doc, dict)
    tc.assertRegex(doc["version"], VERSION_RE)
    tc.assertTrue(doc["version"].startswith("15."), doc["version"])
    if "schema" in doc:
        tc.assertRegex(doc["schema"], r"^https?://.+")
    scan = doc["scan"]
    for key in ("analyzer", "scanner"):
        for field in ("id", "name", "version"):
            nonempty_string(tc, scan[key][field], f"scan.{key}.{field}")
        nonempty_string(tc, scan[key]["vendor"]["name"], f"scan.{key}.vendor.name")
    tc.assertEqual(scan["type"], "secret_detection")
    tc.assertRegex(scan["start_time"], TIME_RE)
    tc.assertRegex(scan["end_time"], TIME_RE)
    # Real wall-clock times of this scan (UTC), not the epoch: within a minute of now.
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    for key in ("start_time", "end_time"):
        when = datetime.datetime.strptime(scan[key], "%Y-%m-%dT%H:%M:%S")
        tc.assertLess(abs((now - when).total_seconds()), 60, scan[key])
    tc.assertLessEqual(scan["start_time"], scan["end_time"])
    tc.assertIn(scan["status"], ("success", "failure"))
    for message in scan.get("messages", []):
        tc.assertIn(message["level"], ("info", "warn", "fatal"))
        nonempty_string(tc, message["value"], "scan.messages[].value")
    tc.assertIsInstance(doc["vulnerabilities"], list)
    ids = []
    for v in doc["vulnerabilities"]:
        nonempty_string(tc, v["id"], "id")
        ids.append(v["id"])
        tc.assertEqual(v["category"], "secret_detection")
        nonempty_string(tc, v["name"], "name")
        tc.assertLessEqual(len(v["name"]), 255)
        if "message" in v:
            tc.assertIsInstance(v["message"], str)
        nonempty_string(tc, v["description"], "description")
        tc.assertIn(v["severity"], GITLAB_SEVERITIES)
        if "confidence" in v:
            tc.assertIn(v["confidence"], GITLAB_CONFIDENCES)
        nonempty_string(tc, v["scanner"]["id"], "scanner.id")
        nonempty_string(tc, v["scanner"]["name"], "scanner.name")
        loc = v["location"]
        nonempty_string(tc, loc["file"], "location.file")
        tc.assertFalse(loc["file"].startswith("/"), loc["file"])
        tc.assertEqual(loc["commit"]["sha"], commit)
        tc.assertIs(type(loc["start_line"]), int)
        tc.assertGreaterEqual(loc["start_line"], 1)
        tc.assertIsInstance(v["identifiers"], list)
        tc.assertGreaterEqual(len(v["identifiers"]), 1)
        for ident in v["identifiers"]:
            for field in ("type", "name", "value"):
                nonempty_string(tc, ident[field], f"identifiers[].{field}")
        tc.assertNotIn("raw_source_code_extract", v)
    return ids


class TestGitlab(unittest.TestCase):
    maxDiff = None

    def test_leaky_image_with_ci_commit_sha(self):
        result = scan("--format", "gitlab", _FIXTURES["leaky"], commit=COMMIT)
        self.assertEqual(result.returncode, 1, result.describe())
        h.assert_no_full_secret(self, result.stdout, where="the GitLab report")
        doc = json.loads(result.stdout)
        check_gitlab_report(self, doc, COMMIT)
        self.assertEqual(doc["scan"]["status"], "success")
        _, json_doc = h.scan_json(self, _FIXTURES["leaky"], expect_rc=1)
        findings = h.only_image(self, json_doc)["findings"]
        vulns = doc["vulnerabilities"]
        # Ids are unique per location (GitLab requires it); the fingerprint is carried in the details.
        self.assertEqual(len({v["id"] for v in vulns}), len(vulns))
        self.assertTrue(all(len(v["id"]) == 64 for v in vulns))
        self.assertEqual(sorted(v["identifiers"][0]["value"] for v in vulns), sorted(f["rule_id"] for f in findings))
        for v in vulns:
            self.assertEqual(v["identifiers"][0]["type"], "layerleak_rule_id")
            self.assertEqual(v["scanner"], {"id": "layerleak", "name": "layerleak"})
        files = {v["location"]["file"] for v in vulns}
        self.assertEqual(files, {"app/.env", "app/keep.env", ODD_PATH, "image-config/config.Env[1]"})
        deleted = [v for v in vulns if v["location"]["file"] == "app/.env"]
        self.assertTrue(all("COPY app /app" in v["description"] for v in deleted), deleted)

    def test_commit_from_the_image_label(self):
        result = scan("--format", "gitlab", _FIXTURES["labeled"])
        self.assertEqual(result.returncode, 1, result.describe())
        doc = json.loads(result.stdout)
        check_gitlab_report(self, doc, LABEL_COMMIT)
        self.assertEqual(len(doc["vulnerabilities"]), 1)

    def test_clean_image(self):
        result = scan("--format", "gitlab", _FIXTURES["clean"], commit=COMMIT)
        self.assertEqual(result.returncode, 0, result.describe())
        doc = json.loads(result.stdout)
        check_gitlab_report(self, doc, COMMIT)
        self.assertEqual(doc["vulnerabilities"], [])
        self.assertEqual(doc["scan"]["status"], "success")

    def test_incomplete_scan_is_a_failure(self):
        with tempfile.TemporaryDirectory(prefix="layerleak-gitlab-") as tmp:
            broken = h.build_fixture({"images": LEAKY_SPEC["images"], "options": {"corrupt_last_layer_blob": True}},
                                     Path(tmp) / "broken.tar", "oci-archive")
            result = scan("--format", "gitlab", str(broken), commit=COMMIT)
        self.assertEqual(result.returncode, 2, result.describe())
        doc = json.loads(result.stdout)
        check_gitlab_report(self, doc, COMMIT)
        self.assertEqual(doc["scan"]["status"], "failure")
        self.assertTrue(doc["scan"]["messages"], doc["scan"])

    def test_without_a_commit_the_scan_fails(self):
        result = scan("--format", "gitlab", _FIXTURES["leaky"])
        self.assertEqual(result.returncode, 2, result.describe())
        self.assertEqual(result.stdout, "", result.describe())
        self.assertIn("CI_COMMIT_SHA", result.stderr)
        self.assertIn("org.opencontainers.image.revision", result.stderr)


if __name__ == "__main__":
    unittest.main()
