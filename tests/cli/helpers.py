"""Shared helpers for the CLI and integration tests: run the real layerleak binary, build image fixtures
with the fixture tool, parse and check JSON reports.

Environment (set by CTest, see tests/CMakeLists.txt):
  LAYERLEAK_BIN            the layerleak binary under test
  LAYERLEAK_FIXTURE_TOOL   tests/support/fixture_tool.cpp built (layerleak_fixture_tool SPEC.json OUT FORMAT)
  LAYERLEAK_SOURCE_DIR     the repository root

A missing variable or tool is a test failure, never a skip: a CI gate must not go green because the
thing it should have tested was not there. Standard library, plus python3-jsonschema for the report schema.
"""

import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

# Realistic, random-looking test credentials (never real ones). Each secret key is distinct so that a
# finding can be traced back to the file that holds it.
ACCESS_KEY = "SCW0RE86AB2CD4EF6GH8"
ACCESS_KEY_2 = "SCW3N5P7Q9R1S3T5V7W9"
SECRET_KEY = "6f2c1b7e-3d4a-4c5b-9e8f-0a1b2c3d6b7c"
SECRET_KEY_2 = "9a8b7c6d-1e2f-4a3b-8c5d-6e7f8a9b0c1d"
SECRET_KEY_3 = "1c2d3e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5"
SECRET_KEY_4 = "7d6c5b4a-3f2e-4d1c-9b0a-8f7e6d5c4b3a"
SECRET_KEY_5 = "5e4d3c2b-1a0f-4e9d-8c7b-6a5f4e3d2c1b"
ALL_SECRETS = (ACCESS_KEY, ACCESS_KEY_2, SECRET_KEY, SECRET_KEY_2, SECRET_KEY_3, SECRET_KEY_4, SECRET_KEY_5)

SEVERITIES = ("info", "low", "medium", "high", "critical")
CONFIDENCES = ("low", "medium", "high")
VISIBILITIES = ("runtime", "deleted", "overwritten", "config")
COMPRESSIONS = ("gzip", "zstd", "none")
SHA256_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
ERROR_PREFIX = "layerleak: error: "

DEFAULT_TIMEOUT = 60

# Every JSON report a test parses is validated against docs/report.schema.json (tests/support/report_schema.py;
# it fails loudly without python3-jsonschema). Loaded by path: the integration suite loads this file by path too.
_SCHEMA_MODULE = Path(__file__).resolve().parent.parent / "support" / "report_schema.py"
_schema_spec = importlib.util.spec_from_file_location("layerleak_report_schema", _SCHEMA_MODULE)
report_schema = importlib.util.module_from_spec(_schema_spec)
_schema_spec.loader.exec_module(report_schema)


# ---- environment ------------------------------------------------------------------------------------

def require_env(name):
    """The value of an environment variable that must be set; fails loudly otherwise."""
    value = os.environ.get(name)
    if not value:
        raise AssertionError(f"environment variable {name} is not set (CTest sets it; see tests/CMakeLists.txt)")
    return value


def require_file(name):
    """An environment variable naming an existing executable file."""
    path = Path(require_env(name)).resolve()
    if not path.is_file() or not os.access(path, os.X_OK):
        raise AssertionError(f"{name}={path} is not an executable file")
    return str(path)


def layerleak_bin():
    return require_file("LAYERLEAK_BIN")


def fixture_tool():
    return require_file("LAYERLEAK_FIXTURE_TOOL")


def source_dir():
    path = Path(require_env("LAYERLEAK_SOURCE_DIR"))
    if not (path / "CMakeLists.txt").is_file():
        raise AssertionError(f"LAYERLEAK_SOURCE_DIR={path} is not the layerleak source tree")
    return path


def require_tool(name):
    """The path of an external program that the tests need (skopeo, umoci, tar); fails if missing."""
    path = shutil.which(name)
    if path is None:
        raise AssertionError(f"required tool {name!r} is not installed (not on PATH)")
    return path


# ---- running commands -------------------------------------------------------------------------------

class Result:
    """Outcome of one command: exit status, stdout and stderr as text (UTF-8, undecodable bytes escaped)."""

    def __init__(self, args, returncode, stdout, stderr):
        self.args = args
        self.returncode = returncode
        self.stdout_bytes = stdout
        self.stderr_bytes = stderr
        self.stdout = stdout.decode("utf-8", "backslashreplace")
        self.stderr = stderr.decode("utf-8", "backslashreplace")

    def describe(self):
        return (f"command: {self.args}\nexit status: {self.returncode}\n"
                f"stdout:\n{self.stdout[:4000]}\nstderr:\n{self.stderr[:4000]}")


def run_command(args, cwd=None, timeout=DEFAULT_TIMEOUT, stdin_bytes=None, env=None):
    proc = subprocess.run([str(a) for a in args], cwd=cwd, input=stdin_bytes if stdin_bytes is not None else b"",
                          capture_output=True, timeout=timeout, check=False, env=env)
    return Result([str(a) for a in args], proc.returncode, proc.stdout, proc.stderr)


def run_layerleak(*args, cwd=None, timeout=DEFAULT_TIMEOUT, stdin_bytes=None):
    before = _output_file_state([str(a) for a in args], cwd)
    result = run_command([layerleak_bin(), *args], cwd=cwd, timeout=timeout, stdin_bytes=stdin_bytes)
    check_json_report_output([str(a) for a in args], result, cwd, before)
    return result


def _option_value(args, *names):
    """The value of the last `--name VALUE` or `--name=VALUE` among args (before a `--`), else None."""
    value = None
    for i, arg in enumerate(args):
        if arg == "--":
            break
        for name in names:
            if arg == name and i + 1 < len(args):
                value = args[i + 1]
            elif name.startswith("--") and arg.startswith(name + "="):
                value = arg[len(name) + 1:]
    return value


def _output_path(args, cwd):
    output = _option_value(args, "-o", "--output")
    return None if output is None or output == "-" else Path(cwd or ".") / output


def _output_file_state(args, cwd):
    """(inode, mtime, size) of the --output file before a run, None when there is none."""
    path = _output_path(args, cwd)
    try:
        st = path.lstat() if path is not None else None
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size) if st is not None else None


def check_json_report_output(args, result, cwd=None, before=None):
    """Every JSON report `layerleak scan --format json` writes, on standard output or to --output, validates
    against docs/report.schema.json, however the test goes on to read it (AssertionError otherwise).
    `before`: _output_file_state before the run (a file the run did not write is not its report)."""
    if not args or args[0] != "scan" or (_option_value(args, "--format") or "").lower() != "json":
        return
    path = _output_path(args, cwd)
    if path is not None:
        if path.is_symlink() or not path.is_file() or _output_file_state(args, cwd) == before:
            return  # refused (a usage error, a symlink, a directory) or left alone: no report to check
        text = path.read_text(encoding="utf-8", errors="replace")
        where = str(path)
    else:
        text, where = result.stdout, "standard output"
    if not text.strip():
        return  # a usage error (exit 2) writes no report
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"the JSON report on {where} is not JSON ({exc})\n{result.describe()}") from exc
    errors = report_schema.schema_errors(doc)
    if errors:
        raise AssertionError(f"the JSON report on {where} does not validate against docs/report.schema.json:\n  "
                             + "\n  ".join(errors[:20]) + f"\n{result.describe()}")


def run_checked(args, cwd=None, timeout=DEFAULT_TIMEOUT):
    """Runs a helper command (umoci, skopeo, fixture tool) that must succeed."""
    result = run_command(args, cwd=cwd, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError("helper command failed\n" + result.describe())
    return result


def scan(*args, cwd=None):
    """`layerleak scan ARGS...`"""
    return run_layerleak("scan", *args, cwd=cwd)


def parse_json(testcase, result):
    """The JSON report on stdout of `result`; a test failure (with the whole output) if it is not JSON or
    does not validate against docs/report.schema.json."""
    try:
        doc = json.loads(result.stdout)
    except json.JSONDecodeError as exc:
        testcase.fail(f"stdout is not valid JSON ({exc})\n{result.describe()}")
        raise  # unreachable
    assert_report_schema(testcase, doc)
    return doc


def assert_report_schema(testcase, doc):
    """`doc` validates against docs/report.schema.json (the published schema of the JSON report)."""
    errors = report_schema.schema_errors(doc)
    if errors:
        testcase.fail("JSON report does not validate against docs/report.schema.json:\n  " + "\n  ".join(errors[:20]))


def scan_json(testcase, *args, cwd=None, expect_rc=None):
    """Runs `layerleak scan --format json ARGS...`; returns (result, document)."""
    result = scan("--format", "json", *args, cwd=cwd)
    if expect_rc is not None:
        testcase.assertEqual(result.returncode, expect_rc, result.describe())
    return result, parse_json(testcase, result)


def only_image(testcase, doc):
    testcase.assertEqual(len(doc["images"]), 1, json.dumps(doc, indent=1)[:3000])
    return doc["images"][0]


# ---- temporary files --------------------------------------------------------------------------------

def make_tempdir(testcase, prefix="layerleak-test-"):
    """A fresh temporary directory removed when the test (or class, for a class) finishes."""
    tmp = tempfile.TemporaryDirectory(prefix=prefix)
    testcase.addCleanup(tmp.cleanup)
    return Path(tmp.name)


def make_class_tempdir(cls, prefix="layerleak-test-"):
    tmp = tempfile.TemporaryDirectory(prefix=prefix)
    cls.addClassCleanup(tmp.cleanup)
    return Path(tmp.name)


# ---- fixtures ---------------------------------------------------------------------------------------

FIXTURE_FORMATS = ("oci-archive", "oci-dir", "docker-archive-legacy", "docker-archive-v25")


def build_fixture(spec, out, fmt):
    """Writes the image described by `spec` (see tests/support/fixture_tool.cpp) to `out` in format `fmt`."""
    out = Path(out)
    spec_path = out.parent / (out.name + ".spec.json")
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    run_checked([fixture_tool(), spec_path, out, fmt])
    if not out.exists():
        raise AssertionError(f"fixture tool reported success but wrote nothing at {out}")
    return out


def file_entry(path, content, mode=0o644):
    return {"type": "file", "path": path, "content": content, "mode": mode}


def text_position(content, needle, occurrence=0):
    """(line, column, offset) of `needle` in `content`: 1-based line and column, 0-based byte offset."""
    data = content.encode("utf-8")
    target = needle.encode("utf-8")
    offset = -1
    for _ in range(occurrence + 1):
        offset = data.index(target, offset + 1)
    line = data.count(b"\n", 0, offset) + 1
    column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    return line, column, offset


# ---- secrets ----------------------------------------------------------------------------------------

def fingerprint(rule_id, secret):
    """CONTRACT.md: "sha256:" + sha256("<rule_id>:<secret>")."""
    return "sha256:" + hashlib.sha256(f"{rule_id}:{secret}".encode("utf-8")).hexdigest()


def redact(secret):
    """CONTRACT.md: first 4 and last 4 characters kept."""
    return secret[:4] + "****" + secret[-4:]


def assert_no_full_secret(testcase, text, secrets=ALL_SECRETS, where="output"):
    for secret in secrets:
        testcase.assertNotIn(secret, text, f"full secret {redact(secret)} leaked into {where}")
        testcase.assertNotIn(secret.lower(), text.lower(), f"full secret {redact(secret)} leaked into {where}")


# ---- report helpers ---------------------------------------------------------------------------------

def finding_summary(finding):
    """A hashable, format-independent summary of one finding."""
    loc = finding["location"]
    return (finding["rule_id"], loc.get("layer_index"), loc.get("path"), loc.get("line"), loc.get("column"),
            finding["visibility"], finding["hidden_by_layer"])


def findings_by_path(image):
    out = {}
    for f in image["findings"]:
        out.setdefault((f["location"].get("path"), f["rule_id"]), []).append(f)
    return out


def strip_durations(text):
    return re.sub(r'"duration_ms"\s*:\s*\d+', '"duration_ms": 0', text)


def _is_int(value):
    return type(value) is int  # bool is an int subclass: reject it


def assert_report_shape(tc, doc):
    """Every field of CONTRACT.md's JSON report is present with the right type (and nothing contradicts)."""
    tc.assertIsInstance(doc, dict)
    assert_report_schema(tc, doc)
    tc.assertTrue(_is_int(doc.get("schema_version")) and doc["schema_version"] == 1, doc.get("schema_version"))
    tool = doc["tool"]
    tc.assertEqual(tool["name"], "layerleak")
    tc.assertEqual(tool["version"], "0.1.0")
    tc.assertRegex(tool["rules_digest"], SHA256_RE)
    tc.assertIsInstance(doc["images"], list)
    tc.assertIs(type(doc["complete"]), bool)
    tc.assertEqual(doc["complete"], all(img["complete"] for img in doc["images"]),
                   "top-level complete must be the conjunction of the images' complete")
    for img in doc["images"]:
        for key in ("reference", "transport"):
            tc.assertIsInstance(img[key], str, key)
        for key in ("manifest_digest", "config_digest"):
            tc.assertTrue(img[key] is None or SHA256_RE.match(img[key]), f"{key}={img[key]!r}")
        tc.assertTrue(img["platform"] is None or isinstance(img["platform"], str), img["platform"])
        tc.assertIsInstance(img["tags"], list)
        for tag in img["tags"]:
            tc.assertIsInstance(tag, str)
        tc.assertIs(type(img["complete"]), bool)
        layers = img["layers"]
        tc.assertIsInstance(layers, list)
        for n, layer in enumerate(layers):
            tc.assertEqual(layer["index"], n)
            tc.assertTrue(_is_int(layer["index"]))
            for key in ("digest", "diff_id", "media_type"):
                tc.assertIsInstance(layer[key], str, key)
            tc.assertRegex(layer["diff_id"], SHA256_RE)
            if layer["complete"]:
                tc.assertRegex(layer["digest"], SHA256_RE)
            if layer["complete"]:
                tc.assertIn(layer["compression"], COMPRESSIONS)
            else:  # a blob that could not be opened has no sniffed compression
                tc.assertIn(layer["compression"], COMPRESSIONS + ("", None))
            tc.assertTrue(layer["created_by"] is None or isinstance(layer["created_by"], str))
            tc.assertTrue(layer["history_index"] is None or _is_int(layer["history_index"]))
            for key in ("compressed_size", "entries", "bytes_scanned"):
                tc.assertTrue(_is_int(layer[key]) and layer[key] >= 0, f"{key}={layer[key]!r}")
            tc.assertIs(type(layer["complete"]), bool)
        tc.assertIsInstance(img["findings"], list)
        for f in img["findings"]:
            assert_finding_shape(tc, f, layers)
        stats = img["stats"]
        for key in ("layers", "entries", "bytes_scanned", "duration_ms", "findings"):
            tc.assertTrue(_is_int(stats[key]) and stats[key] >= 0, f"stats.{key}={stats[key]!r}")
        tc.assertEqual(stats["layers"], len(layers))
        tc.assertEqual(stats["findings"], len(img["findings"]))
        tc.assertEqual(stats["entries"], sum(layer["entries"] for layer in layers) if layers else stats["entries"])
        tc.assertEqual(stats["bytes_scanned"],
                       sum(layer["bytes_scanned"] for layer in layers) if layers else stats["bytes_scanned"])
        tc.assertIsInstance(stats["skipped"], list)
        for skip in stats["skipped"]:
            tc.assertIsInstance(skip["path"], str)
            tc.assertIsInstance(skip["reason"], str)
            tc.assertTrue(skip.get("layer_index") is None or _is_int(skip["layer_index"]))
        tc.assertIsInstance(img["errors"], list)
        for err in img["errors"]:
            tc.assertIsInstance(err["code"], str)
            tc.assertTrue(err["code"])
            tc.assertIsInstance(err["message"], str)
            tc.assertTrue(err["message"])
            if "layer_index" in err and err["layer_index"] is not None:
                tc.assertTrue(_is_int(err["layer_index"]))
        if img["errors"]:
            tc.assertFalse(img["complete"], "an image with errors cannot be complete")
        if img["complete"]:
            tc.assertTrue(all(layer["complete"] for layer in layers))


def assert_finding_shape(tc, f, layers):
    for key in ("rule_id", "title", "secret", "encoding"):
        tc.assertIsInstance(f[key], str, key)
    tc.assertRegex(f["rule_id"], r"^[a-z0-9]+(\.[a-z0-9-]+)+$")
    tc.assertIn(f["severity"], SEVERITIES)
    tc.assertIn(f["confidence"], CONFIDENCES)
    tc.assertRegex(f["fingerprint"], SHA256_RE)
    tc.assertTrue(f["paired_access_key"] is None or isinstance(f["paired_access_key"], str))
    tc.assertEqual(f["encoding"], "plain")
    tc.assertIn(f["visibility"], VISIBILITIES)
    loc = f["location"]
    tc.assertIn(loc["kind"], ("layer", "file", "config", "manifest"))
    if loc["kind"] in ("layer", "file"):
        tc.assertIsInstance(loc["path"], str)
        tc.assertTrue(loc["path"].startswith("/"), loc["path"])
        for key in ("line", "column"):
            tc.assertTrue(_is_int(loc[key]) and loc[key] >= 1, f"{key}={loc[key]!r}")
        tc.assertTrue(_is_int(loc["offset"]) and loc["offset"] >= 0)
    if loc["kind"] == "layer":
        tc.assertTrue(_is_int(loc["layer_index"]))
        tc.assertTrue(0 <= loc["layer_index"] < len(layers), loc["layer_index"])
        layer = layers[loc["layer_index"]]
        tc.assertEqual(loc["layer_digest"], layer["digest"])
        tc.assertEqual(loc["diff_id"], layer["diff_id"])
        tc.assertEqual(loc["created_by"], layer["created_by"])
    if f["visibility"] in ("deleted", "overwritten"):
        tc.assertTrue(_is_int(f["hidden_by_layer"]), f["hidden_by_layer"])
        tc.assertGreater(f["hidden_by_layer"], loc["layer_index"])
        tc.assertLess(f["hidden_by_layer"], len(layers))
    else:
        tc.assertIsNone(f["hidden_by_layer"])
