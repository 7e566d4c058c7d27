"""Redaction everywhere (issue 13, finding 2), on the real binary.

An image carries a different Scaleway secret key in each place a report can quote: the build step
(BuildKit's `RUN |1 SCW_SECRET_KEY=<uuid> /bin/sh -c make`), a label, a manifest annotation, an Env entry, a
directory name (with a harmless file in it, and a skipped one), and the path the image is read from. Without
--show-secrets, no byte of stdout, stderr or the -o file of any format may carry one of them in full; with
it, the keys are there.
"""
import json
import unittest

import helpers as h

KEY_STEP = "3b9f2c1d-7e4a-4b6c-8d2e-1f0a9b8c7d6e"
KEY_LABEL = "4c0a3d2e-8f5b-4c7d-9e3f-2a1b0c9d8e7f"
KEY_ANNOTATION = "5d1b4e3f-9a6c-4d8e-8f4a-3b2c1d0e9f8a"
KEY_ENV = "6e2c5f4a-0b7d-4e9f-9a5b-4c3d2e1f0a9b"
KEY_PATH = "7f3d6a5b-1c8e-4f0a-8b6c-5d4e3f2a1b0c"
KEY_REF = "8a4e7b6c-2d9f-4a1b-9c7d-6e5f4a3b2c1d"
ALL_KEYS = (KEY_STEP, KEY_LABEL, KEY_ANNOTATION, KEY_ENV, KEY_PATH, KEY_REF)
COMMIT = "0123456789abcdef0123456789abcdef01234567"
FORMATS = ("text", "json", "sarif", "gitlab")

SPEC = {"images": [{
    "repo_tags": ["example/app:1"],
    "env": ["PATH=/usr/bin", f"SCW_SECRET_KEY={KEY_ENV}"],
    "labels": {"org.opencontainers.image.revision": COMMIT, "app.scw_secret_key": KEY_LABEL},
    "annotations": {"org.example.scw_secret_key": KEY_ANNOTATION},
    "layers": [
        {"created_by": "ADD rootfs.tar /", "entries": [h.file_entry("etc/os-release", "ID=debian\n")]},
        {"created_by": f"RUN |1 SCW_SECRET_KEY={KEY_STEP} /bin/sh -c make",
         "entries": [{"type": "dir", "path": f"srv/SCW_SECRET_KEY={KEY_PATH}"},
                     h.file_entry(f"srv/SCW_SECRET_KEY={KEY_PATH}/x.txt", "harmless\n"),
                     h.file_entry(f"srv/SCW_SECRET_KEY={KEY_PATH}/big.bin", "0" * 4096)]},
    ],
}]}


class RedactionEverywhereTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = h.make_class_tempdir(cls)
        folder = cls.tmp / f"SCW_SECRET_KEY={KEY_REF}"
        folder.mkdir()
        cls.image = h.build_fixture(SPEC, folder / "app.tar", "oci-archive")
        # The spec file beside the image holds every key: keep it out of the folder the tests look at.
        (folder / "app.tar.spec.json").unlink()

    def scan(self, fmt, *extra):
        return h.scan("--format", fmt, "--max-file-size", "1000", *extra, f"oci-archive:{self.image}")

    def assert_clean(self, data, where):
        h.assert_no_full_secret(self, data.decode("utf-8", "backslashreplace"), ALL_KEYS, where)

    def test_no_format_carries_a_key_on_stdout_or_stderr(self):
        for fmt in FORMATS:
            with self.subTest(format=fmt):
                r = self.scan(fmt)
                self.assertEqual(r.returncode, 1, r.describe())
                self.assert_clean(r.stdout_bytes, f"{fmt} stdout")
                self.assert_clean(r.stderr_bytes, f"{fmt} stderr")
                # Masked, not dropped: the build step is still recognisable.
                self.assertIn(h.redact(KEY_STEP), r.stdout, r.describe())

    def test_no_format_carries_a_key_in_the_output_file(self):
        for fmt in FORMATS:
            with self.subTest(format=fmt):
                out = self.tmp / f"report.{fmt}"
                r = self.scan(fmt, "-o", out)
                self.assertEqual(r.returncode, 1, r.describe())
                self.assert_clean(r.stdout_bytes, f"{fmt} stdout with -o")
                self.assert_clean(r.stderr_bytes, f"{fmt} stderr with -o")
                data = out.read_bytes()
                self.assertTrue(data, f"{fmt}: empty report file")
                self.assert_clean(data, f"{fmt} -o file")

    def test_json_fields_are_masked_where_they_were(self):
        r, doc = h.scan_json(self, "--max-file-size", "1000", f"oci-archive:{self.image}", expect_rc=1)
        image = h.only_image(self, doc)
        self.assertIn(f"SCW_SECRET_KEY={h.redact(KEY_REF)}", image["reference"])
        steps = [layer["created_by"] for layer in image["layers"]]
        self.assertIn(f"RUN |1 SCW_SECRET_KEY={h.redact(KEY_STEP)} /bin/sh -c make", steps)
        skipped = [s["path"] for s in image["stats"]["skipped"]]
        self.assertIn(f"/srv/SCW_SECRET_KEY={h.redact(KEY_PATH)}/big.bin", skipped)
        secrets = {f["secret"] for f in image["findings"]}
        for key in (KEY_STEP, KEY_LABEL, KEY_ANNOTATION, KEY_ENV):
            self.assertIn(h.redact(key), secrets, json.dumps(image["findings"], indent=1)[:3000])

    def test_show_secrets_shows_them(self):
        for fmt in FORMATS:
            with self.subTest(format=fmt):
                r = self.scan(fmt, "--show-secrets")
                self.assertEqual(r.returncode, 1, r.describe())
                for key in (KEY_STEP, KEY_LABEL, KEY_ANNOTATION, KEY_ENV):
                    self.assertIn(key, r.stdout, f"{fmt}: {h.redact(key)} missing with --show-secrets")
                if fmt in ("text", "json"):  # they list skipped files and the reference
                    self.assertIn(KEY_PATH, r.stdout, fmt)
                    self.assertIn(KEY_REF, r.stdout, fmt)

    def test_error_messages_are_masked_on_stderr_and_in_the_report(self):
        # A corrupt layer: the error quotes the image path, whose folder is named after a key.
        spec = json.loads(json.dumps(SPEC))
        spec["options"] = {"corrupt_last_layer_blob": True}
        folder = self.tmp / f"broken-SCW_SECRET_KEY={KEY_REF}"
        folder.mkdir()
        image = h.build_fixture(spec, folder / "app.tar", "oci-archive")
        (folder / "app.tar.spec.json").unlink()
        for fmt in FORMATS:
            with self.subTest(format=fmt):
                r = h.scan("--format", fmt, f"oci-archive:{image}")
                self.assertEqual(r.returncode, 2, r.describe())
                self.assertIn(h.ERROR_PREFIX, r.stderr, r.describe())
                self.assertIn(f"SCW_SECRET_KEY={h.redact(KEY_REF)}", r.stderr, r.describe())
                self.assert_clean(r.stdout_bytes, f"{fmt} stdout of an incomplete scan")
                self.assert_clean(r.stderr_bytes, f"{fmt} stderr of an incomplete scan")
        r = h.scan("--show-secrets", f"oci-archive:{image}")
        self.assertIn(KEY_REF, r.stderr, r.describe())


if __name__ == "__main__":
    unittest.main()
