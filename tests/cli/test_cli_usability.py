"""CLI tests for issue 15: several images in one report, usage errors that say what to type, -o opened
before the scan (0600, quiet on a closed pipe), --color and -q, and the configuration file.

Every test runs the real binary (LAYERLEAK_BIN) on images built by the fixture tool.
"""
import json
import os
import pty
import select
import stat
import subprocess
import unittest

import helpers as h
from helpers import ACCESS_KEY, SECRET_KEY

LEAKY_SPEC = {"images": [{"repo_tags": ["example/leaky:1"], "layers": [
    {"created_by": "COPY app /app", "entries": [
        h.file_entry("app/.env", f"SCW_ACCESS_KEY={ACCESS_KEY}\nSCW_SECRET_KEY={SECRET_KEY}\n")]},
]}]}
ACCESS_ONLY_SPEC = {"images": [{"repo_tags": ["example/access:1"], "layers": [
    {"created_by": "COPY docs /docs", "entries": [h.file_entry("docs/readme.txt", f"access key id {ACCESS_KEY}\n")]},
]}]}
CLEAN_SPEC = {"images": [{"repo_tags": ["example/clean:1"], "layers": [
    {"created_by": "COPY app /app", "entries": [h.file_entry("app/main.py", "print('hello')\n")]},
]}]}


class UsabilityTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        fixtures = h.make_class_tempdir(cls)
        cls.leaky = str(h.build_fixture(LEAKY_SPEC, fixtures / "leaky.tar", "oci-archive"))
        cls.access = str(h.build_fixture(ACCESS_ONLY_SPEC, fixtures / "access.tar", "oci-archive"))
        cls.clean = str(h.build_fixture(CLEAN_SPEC, fixtures / "clean.tar", "oci-archive"))

    def setUp(self):
        self.tmp = h.make_tempdir(self)

    def assertUsageError(self, result, *fragments):
        self.assertEqual(result.returncode, 2, result.describe())
        self.assertEqual(result.stdout, "", result.describe())
        self.assertTrue(result.stderr.startswith("layerleak: "), result.describe())
        for fragment in fragments:
            self.assertIn(fragment, result.stderr, result.describe())


# ---- several images ---------------------------------------------------------------------------------

class TestSeveralImages(UsabilityTestCase):
    def test_one_json_report_in_argument_order_exit_is_the_worst(self):
        missing = str(self.tmp / "missing.tar")
        r, doc = h.scan_json(self, self.clean, missing, self.leaky, expect_rc=2)
        h.assert_report_shape(self, doc)
        refs = [image["reference"] for image in doc["images"]]
        self.assertEqual(len(refs), 3, refs)
        self.assertIn("clean.tar", refs[0])
        self.assertEqual(refs[1], missing)
        self.assertIn("leaky.tar", refs[2])
        self.assertTrue(doc["images"][0]["complete"])
        self.assertFalse(doc["images"][1]["complete"])
        self.assertIn("missing.tar", doc["images"][1]["errors"][0]["message"])
        self.assertTrue(doc["images"][2]["complete"], "a failing image must not stop the next one")
        self.assertEqual(len(doc["images"][2]["findings"]), 2)
        self.assertIn("missing.tar", r.stderr)
        # Without the failing image: findings decide; with clean images only: 0.
        h.scan_json(self, self.clean, self.leaky, expect_rc=1)
        h.scan_json(self, self.clean, self.access, expect_rc=0)
        h.scan_json(self, "--fail-on", "info", self.clean, self.access, expect_rc=1)

    def test_bad_reference_is_that_images_error(self):
        r, doc = h.scan_json(self, "docker-archive:", self.leaky, expect_rc=2)
        self.assertEqual(len(doc["images"]), 2)
        self.assertTrue(doc["images"][0]["errors"])
        self.assertEqual(len(doc["images"][1]["findings"]), 2)

    def test_every_format_carries_every_image(self):
        text = h.scan(self.leaky, self.clean)
        self.assertEqual(text.returncode, 1, text.describe())
        self.assertIn("leaky.tar", text.stdout)
        self.assertIn("clean.tar", text.stdout)
        self.assertEqual(text.stdout.count("Summary:"), 1, "one report, one summary")
        sarif = h.scan("--format", "sarif", self.leaky, self.access)
        self.assertEqual(sarif.returncode, 1, sarif.describe())
        results = [res for run in json.loads(sarif.stdout)["runs"] for res in run["results"]]
        self.assertEqual(len(results), 3, "2 findings in leaky.tar and 1 in access.tar")
        env = dict(os.environ, CI_COMMIT_SHA="0123456789abcdef0123456789abcdef01234567")
        gitlab = h.run_command([h.layerleak_bin(), "scan", "--format", "gitlab", self.leaky, self.access], env=env)
        self.assertEqual(gitlab.returncode, 1, gitlab.describe())
        self.assertEqual(len(json.loads(gitlab.stdout)["vulnerabilities"]), 3)

    def test_images_from_file(self):
        listing = self.tmp / "images.txt"
        listing.write_text(f"# images to scan\n\n  {self.access}  \n{self.clean}\n   # indented comment\n")
        _, doc = h.scan_json(self, self.leaky, "--images-from", listing, expect_rc=1)
        refs = [image["reference"] for image in doc["images"]]
        self.assertEqual(len(refs), 3, refs)
        self.assertIn("leaky.tar", refs[0])
        self.assertIn("access.tar", refs[1])
        self.assertIn("clean.tar", refs[2])
        h.scan_json(self, "--images-from", listing, expect_rc=0)

    def test_images_from_refuses_stdin_and_missing_files(self):
        listing = self.tmp / "images.txt"
        listing.write_text(f"{self.clean}\n-\n")
        self.assertUsageError(h.scan("--images-from", listing), "line 2", '"-"')
        self.assertUsageError(h.scan("--images-from", self.tmp / "nope.txt"), "nope.txt")
        empty = self.tmp / "empty.txt"
        empty.write_text("# nothing\n\n")
        self.assertUsageError(h.scan("--images-from", empty), "no IMAGE")


    def test_hostile_lists_rules_and_config_outputs(self):
        # Found by an attacker's review: endless devices, a second read of standard input, a NUL that
        # spoofed the reported name, and a committed config writing outside the checkout.
        for listed in ("docker-archive:-", "-:app:1", "oci-archive:-:latest"):
            listing = self.tmp / "stdin.txt"
            listing.write_text(f"{self.clean}\n{listed}\n")
            self.assertUsageError(h.scan("--images-from", listing), "line 2", "standard input")
        nul = self.tmp / "nul.txt"
        nul.write_bytes(self.clean.encode() + b"\0/etc/passwd\n")
        self.assertUsageError(h.scan("--images-from", nul), "line 1", "NUL")
        self.assertUsageError(h.scan("--images-from", "/dev/zero"), "/dev/zero")
        self.assertUsageError(h.scan("--rules", "/dev/zero", self.clean), "/dev/zero")
        self.assertUsageError(h.scan("-", "docker-archive:-"), "standard input")
        victim = self.tmp / "victim.txt"
        victim.write_text("keep me\n")
        cfg = self.tmp / "repo"
        cfg.mkdir()
        for output in ("../victim.txt", str(victim), "sub/../../victim.txt"):
            (cfg / ".layerleak.yaml").write_text(f"output: {output}\n")
            self.assertUsageError(h.scan("--config", cfg / ".layerleak.yaml", self.clean), "output", "inside")
        self.assertEqual(victim.read_text(), "keep me\n")
        (cfg / ".layerleak.yaml").write_text("output: reports/layerleak.txt\n")
        (cfg / "reports").mkdir()
        self.assertEqual(h.scan("--config", cfg / ".layerleak.yaml", self.clean).returncode, 0)
        self.assertTrue((cfg / "reports" / "layerleak.txt").exists())


# ---- errors a person can act on ---------------------------------------------------------------------

class TestUsageErrors(UsabilityTestCase):
    def test_unknown_command_suggests_the_closest(self):
        self.assertUsageError(h.run_layerleak("scna", self.leaky), 'unknown command "scna"; did you mean "scan"?')
        self.assertUsageError(h.run_layerleak("rules", "lsit"), 'did you mean "list"?')
        r = h.run_layerleak("frobnicate")
        self.assertUsageError(r, 'unknown command "frobnicate"')
        self.assertNotIn("did you mean", r.stderr)

    def test_unknown_option_suggests_the_closest(self):
        self.assertUsageError(h.scan("--fail-no", "high", self.leaky), "--fail-no", "did you mean --fail-on?")
        self.assertUsageError(h.scan("--frmat=json", self.leaky), "did you mean --format?")
        self.assertUsageError(h.run_layerleak("serve", "--tokn-file", "x"), "did you mean --token-file?")
        r = h.scan("--completely-unrelated", self.leaky)
        self.assertUsageError(r, "--completely-unrelated")
        self.assertNotIn("did you mean", r.stderr)

    def test_values_are_case_insensitive(self):
        _, doc = h.scan_json(self, self.leaky, expect_rc=1)
        r = h.scan("--format", "JSON", "--fail-on", "CRITICAL", self.leaky)
        self.assertEqual(r.returncode, 1, r.describe())
        self.assertEqual(len(json.loads(r.stdout)["images"][0]["findings"]), len(doc["images"][0]["findings"]))
        r = h.scan("--format", "Json", "--fail-on", "None", self.leaky)
        self.assertEqual(r.returncode, 0, r.describe())

    def test_contradictions_are_errors(self):
        self.assertUsageError(h.scan("--platform", "linux/arm64", "--all-platforms", self.leaky),
                              "--platform", "--all-platforms")
        self.assertUsageError(h.scan("--progress", "--no-progress", self.leaky), "--progress", "--no-progress")
        self.assertUsageError(h.scan("--color", "sometimes", self.leaky), "--color")


# ---- -o FILE and standard output --------------------------------------------------------------------

class TestOutput(UsabilityTestCase):
    def test_bad_path_fails_at_once_with_the_systems_reason(self):
        out = self.tmp / "missing-dir" / "report.json"
        self.assertUsageError(h.scan("-o", out, self.leaky), str(out), "No such file or directory")
        plain = self.tmp / "plain"
        plain.write_text("x")
        self.assertUsageError(h.scan("-o", plain / "r.json", self.leaky), "Not a directory")

    def test_report_file_is_0600_whatever_the_umask(self):
        for umask in (0o000, 0o022, 0o277):
            out = self.tmp / f"report-{umask:o}.txt"
            old = os.umask(umask)
            try:
                r = h.scan("-o", out, self.leaky)
            finally:
                os.umask(old)
            self.assertEqual(r.returncode, 1, r.describe())
            self.assertEqual(stat.S_IMODE(os.lstat(out).st_mode), 0o600, f"umask {umask:o}")
            self.assertIn("Summary:", out.read_text())
        self.assertEqual([p.name for p in self.tmp.iterdir() if ".tmp-" in p.name], [])

    def test_closed_pipe_ends_quietly_with_the_verdict(self):
        for image, want in ((self.leaky, 1), (self.clean, 0)):
            proc = subprocess.Popen([h.layerleak_bin(), "scan", image], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            proc.stdout.close()  # the reader is gone before the report is written: EPIPE
            _, err = proc.communicate(timeout=60)
            self.assertEqual(proc.returncode, want, err)
            self.assertEqual(err, b"", "no write error noise on a closed pipe")
        r = h.run_command(["bash", "-c", 'set -o pipefail; "$0" scan "$1" | head -1', h.layerleak_bin(), self.leaky])
        self.assertEqual(r.returncode, 1, r.describe())
        self.assertEqual(r.stderr, "", r.describe())
        self.assertEqual(len(r.stdout.splitlines()), 1)


# ---- --color and -q ---------------------------------------------------------------------------------

def run_on_tty(args, env):
    """Runs `args` with standard output on a pseudo-terminal; returns (exit status, what it printed)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(args, stdout=slave, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=env)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            proc.kill()
            raise AssertionError("no output on the terminal within 60 s")
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=60), b"".join(chunks).decode("utf-8", "replace")


class TestColorAndQuiet(UsabilityTestCase):
    def test_color_always_and_never(self):
        always = h.scan("--color", "always", self.leaky)
        self.assertEqual(always.returncode, 1, always.describe())
        self.assertIn("\x1b[", always.stdout)
        for args in (["--color", "never"], ["--color", "auto"], []):
            r = h.scan(*args, self.leaky)
            self.assertNotIn("\x1b[", r.stdout, f"{args}: standard output is not a terminal")
        self.assertNotIn("\x1b[", h.scan("--format", "json", "--color", "always", self.leaky).stdout)

    def test_color_auto_on_a_terminal(self):
        base = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TERM")}
        cases = [({"TERM": "xterm"}, True), ({"TERM": "xterm", "NO_COLOR": "1"}, False), ({"TERM": "dumb"}, False)]
        for extra, coloured in cases:
            rc, out = run_on_tty([h.layerleak_bin(), "scan", "--no-progress", self.leaky], dict(base, **extra))
            self.assertEqual(rc, 1, out)
            self.assertEqual("\x1b[" in out, coloured, f"{extra}\n{out}")
        rc, out = run_on_tty([h.layerleak_bin(), "scan", "--color", "never", self.leaky], dict(base, TERM="xterm"))
        self.assertNotIn("\x1b[", out)

    def test_quiet_prints_only_the_summary(self):
        r = h.scan("-q", self.leaky)
        self.assertEqual(r.returncode, 1, r.describe())
        self.assertEqual(r.stdout.splitlines(), ["Summary: 2 findings (1 critical, 1 low)"])
        missing = str(self.tmp / "gone.tar")
        r = h.scan("--quiet", self.clean, missing)
        self.assertEqual(r.returncode, 2, r.describe())
        self.assertEqual(len(r.stdout.splitlines()), 1, r.describe())
        self.assertTrue(r.stdout.startswith("Summary: 0 findings"), r.describe())
        self.assertIn("gone.tar", r.stderr, "errors still go to standard error")


# ---- configuration file -----------------------------------------------------------------------------

class TestConfigFile(UsabilityTestCase):
    def write_config(self, text, name=".layerleak.yaml", where=None):
        path = (where or self.tmp) / name
        path.write_text(text)
        return path

    def test_working_directory_config_sets_defaults_and_the_command_line_wins(self):
        self.write_config("format: JSON\nfail-on: critical\n")
        r = h.scan(self.access, cwd=self.tmp)
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertEqual(len(json.loads(r.stdout)["images"]), 1)
        r = h.scan("--format", "text", "--fail-on", "info", self.access, cwd=self.tmp)
        self.assertEqual(r.returncode, 1, r.describe())
        self.assertIn("Summary:", r.stdout)

    def test_ignore_entries_and_rules_relative_to_the_file(self):
        confdir = self.tmp / "conf"
        confdir.mkdir()
        (confdir / "extra.yaml").write_text("rules: []\n")
        config = self.write_config(
            "rules:\n  - extra.yaml\nignore:\n  - path: /app/.env\n    reason: revoked test keys\n",
            name="ci.yaml", where=confdir)
        r, doc = h.scan_json(self, "--config", config, self.leaky, expect_rc=0)
        image = doc["images"][0]
        self.assertEqual(image["findings"], [])
        self.assertEqual({f["suppressed_by"] for f in image["suppressed"]}, {"ignore: revoked test keys"})
        # --ignore replaces the file's list.
        ignore = self.tmp / "other-ignore.yaml"
        ignore.write_text("ignore:\n  - path: /nowhere\n    reason: r\n")
        h.scan_json(self, "--config", config, "--ignore", ignore, self.leaky, expect_rc=1)
        # The rules path is the file's directory's, not the working directory's.
        (confdir / "extra.yaml").unlink()
        r = h.scan("--config", config, self.leaky)
        self.assertEqual(r.returncode, 2, r.describe())
        self.assertIn(str(confdir / "extra.yaml"), r.stderr)

    def test_show_secrets_cannot_be_set_from_a_file(self):
        self.write_config("show-secrets: true\n")
        r = h.scan("--format", "json", self.leaky, cwd=self.tmp)
        self.assertUsageError(r, "show-secrets", "must not make CI print secrets", ".layerleak.yaml: line 1")
        h.assert_no_full_secret(self, r.stdout + r.stderr)

    def test_unknown_keys_name_the_closest(self):
        self.write_config("format: json\nfail_on: high\n")
        self.assertUsageError(h.scan(self.leaky, cwd=self.tmp), ".layerleak.yaml: line 2", 'unknown key "fail_on"',
                              'did you mean "fail-on"?')

    def test_malformed_file_names_file_and_line(self):
        self.write_config("format: json\nignore:\n  - path: [unclosed\n")
        self.assertUsageError(h.scan(self.leaky, cwd=self.tmp), ".layerleak.yaml: line ")
        self.write_config("format: json\nignore:\n  - path: /x\n")
        self.assertUsageError(h.scan(self.leaky, cwd=self.tmp), ".layerleak.yaml: line 3", "reason")
        self.write_config("ignore:\n  - rule: scaleway.no-such-rule\n    reason: r\n")
        self.assertUsageError(h.scan(self.leaky, cwd=self.tmp), ".layerleak.yaml: line 2", "scaleway.no-such-rule")
        self.write_config("only-runtime: maybe\n")
        self.assertUsageError(h.scan(self.leaky, cwd=self.tmp), ".layerleak.yaml: line 1", "true or false")
        self.write_config("fail-on: severe\n")
        self.assertUsageError(h.scan(self.leaky, cwd=self.tmp), "severe", ".layerleak.yaml")

    def test_explicit_config_must_exist(self):
        missing = self.tmp / "nope.yaml"
        self.assertUsageError(h.scan("--config", missing, self.leaky), "--config", str(missing))


if __name__ == "__main__":
    unittest.main()
