"""CLI tests for `scan -o FILE`: a report file may hold full secrets, so it is written like one.

The file is 0600 whatever the umask, with or without --show-secrets; a symlink at FILE is refused (its target is never
written); the report replaces FILE by rename, so FILE is the old file or the whole new one; a directory
that cannot take FILE fails before the scan starts (issue 13, finding 7).
"""
import json
import os
import stat
import unittest

import helpers as h
from helpers import SECRET_KEY

SPEC = {"images": [{"repo_tags": ["example/app:1"], "layers": [
    {"created_by": "COPY app /app", "entries": [h.file_entry("app/.env", f"SCW_SECRET_KEY={SECRET_KEY}\n")]},
]}]}


class OutputFileTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fixtures = h.make_class_tempdir(cls)
        cls.image = h.build_fixture(SPEC, cls.fixtures / "app.tar", "oci-archive")

    def setUp(self):
        self.tmp = h.make_tempdir(self)

    def scan_with_umask(self, umask, *args):
        old = os.umask(umask)  # inherited by the child process
        try:
            return h.scan(*args)
        finally:
            os.umask(old)

    def assert_no_temporary_files(self):
        leftovers = [p.name for p in self.tmp.iterdir() if ".tmp-" in p.name]
        self.assertEqual(leftovers, [], "temporary files left behind")

    def test_show_secrets_report_is_0600_whatever_the_umask(self):
        for umask in (0o022, 0o000):
            out = self.tmp / f"secrets-{umask:o}.json"
            r = self.scan_with_umask(umask, "--show-secrets", "--format", "json", "-o", out, self.image)
            self.assertEqual(r.returncode, 1, r.describe())
            self.assertEqual(stat.S_IMODE(os.lstat(out).st_mode), 0o600, f"umask {umask:o}")
            self.assertIn(SECRET_KEY, out.read_text())
        self.assert_no_temporary_files()

    def test_redacted_report_is_0600_too(self):
        # A redacted report still maps where every secret lives: it is the owner's alone as well (issue 15).
        for umask in (0o022, 0o077):
            out = self.tmp / f"report-{umask:o}.json"
            r = self.scan_with_umask(umask, "--format", "json", "-o", out, self.image)
            self.assertEqual(r.returncode, 1, r.describe())
            self.assertEqual(stat.S_IMODE(os.lstat(out).st_mode), 0o600, f"umask {umask:o}")
            self.assertNotIn(SECRET_KEY, out.read_text())

    def test_symlink_at_file_is_refused_and_its_target_untouched(self):
        target = self.tmp / "target.txt"
        target.write_text("precious\n")
        os.chmod(target, 0o644)
        link = self.tmp / "report.json"
        os.symlink(target, link)
        dangling = self.tmp / "dangling.json"
        os.symlink(self.tmp / "created-through-link.json", dangling)
        for path in (link, dangling):
            r = h.scan("--show-secrets", "--format", "json", "-o", path, self.image)
            self.assertEqual(r.returncode, 2, r.describe())
            self.assertIn(str(path), r.stderr)
            self.assertIn("symbolic link", r.stderr)
            self.assertEqual(r.stdout, "")
            self.assertTrue(os.path.islink(path), "the symlink itself is left alone")
        self.assertEqual(target.read_text(), "precious\n")
        self.assertEqual(stat.S_IMODE(os.stat(target).st_mode), 0o644)
        self.assertFalse((self.tmp / "created-through-link.json").exists())
        self.assert_no_temporary_files()

    def test_missing_directory_fails_before_the_scan(self):
        out = self.tmp / "no" / "such" / "dir" / "report.json"
        # The image is a FIFO nobody writes to: a scan that started would block on it (the timeout below
        # fails the test), and the cache directory would have been created. Neither happens.
        fifo = self.tmp / "image.fifo"
        os.mkfifo(fifo)
        cache = self.tmp / "cache"
        r = h.run_layerleak("scan", "--cache", cache, "--format", "json", "-o", out, f"oci-archive:{fifo}", timeout=30)
        self.assertEqual(r.returncode, 2, r.describe())
        self.assertIn(str(out), r.stderr)
        self.assertFalse((self.tmp / "no").exists())
        self.assertFalse(cache.exists(), "the run got past option checks before failing")

    def test_not_a_directory_fails_before_the_scan(self):
        plain = self.tmp / "plain"
        plain.write_text("x")
        out = plain / "report.json"
        r = h.scan("--format", "json", "-o", out, f"oci-archive:{self.tmp / 'missing-image.tar'}")
        self.assertEqual(r.returncode, 2, r.describe())
        self.assertIn(str(out), r.stderr)
        self.assertNotIn("missing-image.tar", r.stderr)

    def test_existing_file_is_replaced_whole_by_rename(self):
        out = self.tmp / "report.json"
        out.write_text("old report\n")
        # A second name for the old file: rewriting FILE in place would change it, a rename does not.
        old_link = self.tmp / "old-report-link"
        os.link(out, old_link)
        r = h.scan("--show-secrets", "--format", "json", "-o", out, self.image)
        self.assertEqual(r.returncode, 1, r.describe())
        self.assertEqual(old_link.read_text(), "old report\n")
        doc = json.loads(out.read_text())
        h.assert_report_shape(self, doc)
        self.assertEqual(h.only_image(self, doc)["findings"][0]["secret"], SECRET_KEY)
        self.assertNotEqual(os.stat(out).st_ino, os.stat(old_link).st_ino)
        self.assertEqual(stat.S_IMODE(os.lstat(out).st_mode), 0o600)
        self.assert_no_temporary_files()


if __name__ == "__main__":
    unittest.main()
