"""layerleak on archives made by the real tools, inside an image made by the real tools (issue 5).

Info-ZIP `zip` builds a Spring-Boot-like fat jar (deflated classes and configuration, nested library jars
stored with `-n .jar` as Spring Boot does), GNU tar writes a .tgz and a plain (gnu-format) .tar, `gzip`,
`bzip2` and `xz` compress log files; umoci puts them into an image, three layers, and skopeo converts it to
an oci-archive and a docker-archive. The scanner must find every key with its `!/` path, rule id, line,
column and layer index, and honour --max-archive-depth and --max-ratio.

Environment (set by CTest): LAYERLEAK_BIN, LAYERLEAK_FIXTURE_TOOL, LAYERLEAK_SOURCE_DIR; zip, tar, gzip,
bzip2, xz, umoci and skopeo on PATH (scripts/install-deps installs them). Missing ones are failures, never
skips. Standard library only.
"""

import json
import shutil
import tempfile
import unittest
import zipfile
from pathlib import Path

import helpers as h
from helpers import ACCESS_KEY, SECRET_KEY, SECRET_KEY_2, SECRET_KEY_3, SECRET_KEY_4, SECRET_KEY_5

RULE = "scaleway.secret-key"

# BOOT-INF/classes/application.yml of the jar: long enough that zip deflates it (no plain text in the jar).
APPLICATION_YML = (
    "spring:\n  application:\n    name: billing\n  main:\n    banner-mode: off\n"
    + "".join(f"  feature-{i}:\n    enabled: true\n    timeout: 30s\n" for i in range(20))
    + f"scaleway:\n  region: fr-par\nSCW_ACCESS_KEY: {ACCESS_KEY}\nSCW_SECRET_KEY: {SECRET_KEY}\n"
)
# application.properties of BOOT-INF/lib/creds.jar (a library jar stored, uncompressed, in the fat jar).
CREDS_PROPERTIES = (
    "".join(f"app.cache.region-{i}.ttl=600\n" for i in range(40))
    + f"scw.secret-key={SECRET_KEY_2}\n"
)
# /home/app/.env inside the GNU tar archives.
DOT_ENV = f"# production settings\nDATABASE_URL=postgres://db/app\nSCW_SECRET_KEY={SECRET_KEY_3}\n"
# /var/log/app.log before gzip: ~3 MiB of requests, the key near the end (so --max-ratio can cut it off).
LOG_LINES = 100_000
APP_LOG = (
    "".join("2024-05-01T10:00:00Z INFO GET /health 200 1ms\n" for _ in range(LOG_LINES))
    + f"2024-05-01T10:00:01Z DEBUG env SCW_SECRET_KEY={SECRET_KEY_4}\n"
    + "2024-05-01T10:00:02Z INFO ready\n"
)
# /var/log/worker.log before bzip2, /var/log/cron.log before xz.
WORKER_LOG = f"worker starting\nexport SCALEWAY_SECRET_KEY={SECRET_KEY_5}\nworker ready\n"
CRON_LOG = f"cron: running backup\nSCW_SECRET_KEY={SECRET_KEY} scw backup\n"

CREATED_BY = ["COPY app.jar /opt/app.jar", "COPY backups /data", "COPY logs /var/log"]

JAR = "/opt/app.jar!/BOOT-INF/classes/application.yml"
NESTED_JAR = "/opt/app.jar!/BOOT-INF/lib/creds.jar!/application.properties"
TGZ = "/data/backup.tgz!/home/app/.env"
TAR = "/data/backup.tar!/home/app/.env"
GZ_LOG = "/var/log/app.log.gz!/app.log"
BZ2_LOG = "/var/log/worker.log.bz2!/worker.log"
XZ_LOG = "/var/log/cron.log.xz!/cron.log"


def _expected(path, layer, content, secret, rule=RULE):
    line, column, _ = h.text_position(content, secret)
    return (rule, layer, path, line, column, "runtime", None)


EXPECTED = {
    "jar-access": _expected(JAR, 0, APPLICATION_YML, ACCESS_KEY, "scaleway.access-key"),
    "jar": _expected(JAR, 0, APPLICATION_YML, SECRET_KEY),
    "nested-jar": _expected(NESTED_JAR, 0, CREDS_PROPERTIES, SECRET_KEY_2),
    "tgz": _expected(TGZ, 1, DOT_ENV, SECRET_KEY_3),
    "tar": _expected(TAR, 1, DOT_ENV, SECRET_KEY_3),
    "gz-log": _expected(GZ_LOG, 2, APP_LOG, SECRET_KEY_4),
    "bz2-log": _expected(BZ2_LOG, 2, WORKER_LOG, SECRET_KEY_5),
    "xz-log": _expected(XZ_LOG, 2, CRON_LOG, SECRET_KEY),
}

IMG = {}
IMAGE = None  # the UmociImage
_TMP = None
FILES = {}  # name -> bytes of the files put into the image, as the tools wrote them


def _run(*args, cwd=None):
    return h.run_checked([h.require_tool(args[0]), *args[1:]], cwd=cwd, timeout=120)


def _build_files(work):
    """The archives, made by the real tools exactly as a user (or a build) would."""
    # The library jar: a real jar layout, made by Info-ZIP zip.
    lib = work / "lib-src"
    (lib / "META-INF").mkdir(parents=True)
    (lib / "META-INF" / "MANIFEST.MF").write_text("Manifest-Version: 1.0\n")
    (lib / "application.properties").write_text(CREDS_PROPERTIES)
    _run("zip", "-q", "-X", "-r", str(work / "creds.jar"), "META-INF", "application.properties", cwd=lib)

    # The fat jar: directories, manifest, classes; nested jars stored (-n .jar), the rest deflated.
    app = work / "app-src"
    (app / "META-INF").mkdir(parents=True)
    (app / "META-INF" / "MANIFEST.MF").write_text(
        "Manifest-Version: 1.0\nMain-Class: org.springframework.boot.loader.JarLauncher\n"
        "Start-Class: com.example.Billing\n")
    (app / "BOOT-INF" / "classes" / "com" / "example").mkdir(parents=True)
    (app / "BOOT-INF" / "classes" / "application.yml").write_text(APPLICATION_YML)
    (app / "BOOT-INF" / "classes" / "com" / "example" / "Billing.class").write_bytes(b"\xca\xfe\xba\xbe" + bytes(200))
    (app / "BOOT-INF" / "lib").mkdir(parents=True)
    shutil.copy(work / "creds.jar", app / "BOOT-INF" / "lib" / "creds.jar")
    _run("zip", "-q", "-X", "-r", "-n", ".jar", str(work / "app.jar"), "META-INF", "BOOT-INF", cwd=app)

    # GNU tar: a gzip'd one and a plain one (gnu format, "ustar  " magic).
    home = work / "tar-src"
    (home / "home" / "app").mkdir(parents=True)
    (home / "home" / "app" / ".env").write_text(DOT_ENV)
    (home / "home" / "app" / "README").write_text("backup of /home/app\n")
    _run("tar", "--format=gnu", "-czf", str(work / "backup.tgz"), "-C", str(home), "home")
    _run("tar", "--format=gnu", "-cf", str(work / "backup.tar"), "-C", str(home), "home")

    # Logs compressed by gzip, bzip2 and xz (each replaces FILE with FILE.<ext>).
    logs = work / "logs"
    logs.mkdir()
    (logs / "app.log").write_text(APP_LOG)
    (logs / "worker.log").write_text(WORKER_LOG)
    (logs / "cron.log").write_text(CRON_LOG)
    _run("gzip", "-9", str(logs / "app.log"))
    _run("bzip2", "-9", str(logs / "worker.log"))
    _run("xz", "-6", str(logs / "cron.log"))

    for name, path in (("app.jar", work / "app.jar"), ("backup.tgz", work / "backup.tgz"),
                       ("backup.tar", work / "backup.tar"), ("app.log.gz", logs / "app.log.gz"),
                       ("worker.log.bz2", logs / "worker.log.bz2"), ("cron.log.xz", logs / "cron.log.xz")):
        FILES[name] = path.read_bytes()
    return logs


def setUpModule():
    global _TMP, IMAGE
    h.layerleak_bin()
    h.fixture_tool()
    for tool in ("zip", "tar", "gzip", "bzip2", "xz", "umoci", "skopeo"):
        h.require_tool(tool)
    _TMP = tempfile.TemporaryDirectory(prefix="layerleak-nested-real-")
    root = Path(_TMP.name)
    logs = _build_files(root)

    IMAGE = image = h.UmociImage(root / "image")

    def layer0(rootfs):
        (rootfs / "opt").mkdir(exist_ok=True)
        shutil.copy(root / "app.jar", rootfs / "opt" / "app.jar")

    def layer1(rootfs):
        (rootfs / "data").mkdir(exist_ok=True)
        shutil.copy(root / "backup.tgz", rootfs / "data" / "backup.tgz")
        shutil.copy(root / "backup.tar", rootfs / "data" / "backup.tar")

    def layer2(rootfs):
        (rootfs / "var" / "log").mkdir(parents=True, exist_ok=True)
        for name in ("app.log.gz", "worker.log.bz2", "cron.log.xz"):
            shutil.copy(logs / name, rootfs / "var" / "log" / name)

    image.add_layer(CREATED_BY[0], layer0)
    image.add_layer(CREATED_BY[1], layer1)
    image.add_layer(CREATED_BY[2], layer2)
    IMG["layout"] = image.layout
    IMG["oci-archive"] = root / "image.tar"
    h.skopeo("copy", "-q", f"oci:{image.layout}:latest", f"oci-archive:{IMG['oci-archive']}:latest")
    IMG["docker-archive"] = root / "image-docker.tar"
    h.skopeo("copy", "-q", f"oci:{image.layout}:latest", f"docker-archive:{IMG['docker-archive']}:example/nested:1")


def tearDownModule():
    if _TMP is not None:
        _TMP.cleanup()


class NestedRealToolsTest(unittest.TestCase):
    maxDiff = None

    def scan(self, *options, reference=None, expect_rc=1):
        reference = reference or f"oci-archive:{IMG['oci-archive']}"
        result, doc = h.scan_json(self, *options, reference, expect_rc=expect_rc)
        h.assert_report_shape(self, doc)
        image = h.only_image(self, doc)
        self.assertTrue(image["complete"], json.dumps(image["errors"], indent=1))
        self.assertEqual(image["errors"], [])
        return image

    def summaries(self, image):
        return sorted(h.finding_summary(f) for f in image["findings"])

    def skipped(self, image):
        return [(s["path"], s.get("layer_index"), s["reason"]) for s in image["stats"]["skipped"]]

    # ---- the fixtures are what we think they are ----

    def test_tools_wrote_what_we_expect(self):
        with zipfile.ZipFile(IMG["oci-archive"].parent / "app.jar") as jar:
            infos = {i.filename: i for i in jar.infolist()}
        self.assertIn("BOOT-INF/classes/application.yml", infos)
        self.assertEqual(infos["BOOT-INF/classes/application.yml"].compress_type, zipfile.ZIP_DEFLATED)
        self.assertEqual(infos["BOOT-INF/lib/creds.jar"].compress_type, zipfile.ZIP_STORED)
        self.assertIn("BOOT-INF/lib/", infos)  # zip -r writes directory entries
        with zipfile.ZipFile(IMG["oci-archive"].parent / "creds.jar") as creds:
            self.assertEqual(creds.getinfo("application.properties").compress_type, zipfile.ZIP_DEFLATED)
        # No key is readable in the raw bytes of any file: only opening the archives can find them.
        for name, data in FILES.items():
            if name == "backup.tar":
                continue
            for secret in h.ALL_SECRETS:
                self.assertNotIn(secret.encode(), data, f"{secret} is in plain text in {name}")
        self.assertEqual(FILES["backup.tgz"][:2], b"\x1f\x8b")
        self.assertEqual(FILES["backup.tar"][257:265], b"ustar  \x00")  # GNU magic, not POSIX "ustar\0"
        self.assertEqual(FILES["worker.log.bz2"][:3], b"BZh")
        self.assertEqual(FILES["cron.log.xz"][:6], b"\xfd7zXZ\x00")
        # The log compresses far beyond 2:1 but stays under the default 1000:1 (+ 1 MiB of slack).
        self.assertGreater(len(APP_LOG), 2 * len(FILES["app.log.gz"]) + (1 << 20) + (256 << 10))
        self.assertLess(len(APP_LOG) + (256 << 10), 1000 * len(FILES["app.log.gz"]) + (1 << 20))
        self.assertEqual(len(IMAGE.manifest()["layers"]), 3)
        self.assertEqual([IMAGE.config_json()["history"][i]["created_by"] for i in range(3)], CREATED_BY)

    # ---- findings ----

    def test_keys_in_jar_tgz_and_compressed_logs_are_found_with_member_paths(self):
        image = self.scan()
        self.assertEqual(self.summaries(image), sorted(EXPECTED.values()), json.dumps(image["findings"], indent=1))
        self.assertEqual(self.skipped(image), [])
        by_path = h.findings_by_path(image)
        for path, content, secret in ((JAR, APPLICATION_YML, SECRET_KEY), (NESTED_JAR, CREDS_PROPERTIES, SECRET_KEY_2),
                                      (TGZ, DOT_ENV, SECRET_KEY_3), (GZ_LOG, APP_LOG, SECRET_KEY_4)):
            [finding] = by_path[(path, RULE)]
            # offsets are inside the member; provenance is the outer file's layer
            self.assertEqual(finding["location"]["offset"], h.text_position(content, secret)[2], path)
            self.assertEqual(finding["fingerprint"], h.fingerprint(RULE, secret))
            self.assertEqual(finding["location"]["created_by"], CREATED_BY[finding["location"]["layer_index"]])
            self.assertEqual(finding["secret"], h.redact(secret))
        self.assertEqual(by_path[(JAR, RULE)][0]["paired_access_key"], h.redact(ACCESS_KEY))
        h.assert_no_full_secret(self, json.dumps(image))

    def test_docker_archive_gives_the_same_findings(self):
        image = self.scan(reference=f"docker-archive:{IMG['docker-archive']}")
        self.assertEqual(self.summaries(image), sorted(EXPECTED.values()))

    def test_text_report_names_the_member_paths(self):
        result = h.scan(f"oci-archive:{IMG['oci-archive']}")
        self.assertEqual(result.returncode, 1, result.describe())
        for path in (JAR, NESTED_JAR, TGZ, GZ_LOG):
            self.assertIn(path, result.stdout, result.describe())

    # ---- limits from the command line ----

    def test_max_archive_depth_0_opens_no_archive(self):
        image = self.scan("--max-archive-depth", "0", expect_rc=1)
        # Only the uncompressed GNU tar shows its key, as plain bytes of /data/backup.tar itself.
        data = FILES["backup.tar"]
        offset = data.index(SECRET_KEY_3.encode())
        line = data.count(b"\n", 0, offset) + 1
        column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
        self.assertEqual(self.summaries(image), [(RULE, 1, "/data/backup.tar", line, column, "runtime", None)],
                         json.dumps(image["findings"], indent=1))
        self.assertEqual(image["findings"][0]["location"]["offset"], offset)
        self.assertEqual(self.skipped(image), [])

    def test_max_archive_depth_1_opens_only_outer_archives(self):
        image = self.scan("--max-archive-depth", "1")
        expected = sorted(v for k, v in EXPECTED.items() if k != "nested-jar")
        self.assertEqual(self.summaries(image), expected)
        self.assertEqual(len(self.skipped(image)), 1, self.skipped(image))
        path, layer, reason = self.skipped(image)[0]
        self.assertEqual(path, "/opt/app.jar!/BOOT-INF/lib/creds.jar")
        self.assertEqual(layer, 0)
        self.assertIn("max-archive-depth", reason)

    def test_max_ratio_stops_a_highly_compressed_member_and_reports_it(self):
        image = self.scan("--max-ratio", "2")
        expected = sorted(v for k, v in EXPECTED.items() if k != "gz-log")
        self.assertEqual(self.summaries(image), expected)
        skipped = self.skipped(image)
        self.assertEqual(len(skipped), 1, skipped)
        path, layer, reason = skipped[0]
        self.assertEqual(path, GZ_LOG)
        self.assertEqual(layer, 2)
        self.assertIn("ratio", reason)
        # A layer cut short by a limit is still complete: the limit is reported, not an error.
        self.assertTrue(all(layer["complete"] for layer in image["layers"]))

    def test_max_ratio_0_means_no_limit(self):
        image = self.scan("--max-ratio", "0")
        self.assertEqual(self.summaries(image), sorted(EXPECTED.values()))
        self.assertEqual(self.skipped(image), [])

    def test_max_archive_members_limits_the_jar(self):
        # The fat jar has 11 entries (directories included); 3 stop it before BOOT-INF/classes/application.yml
        # or BOOT-INF/lib/creds.jar are reached, whichever order zip wrote them in.
        with zipfile.ZipFile(IMG["oci-archive"].parent / "app.jar") as jar:
            names = jar.namelist()
        first_key_member = min(names.index("BOOT-INF/classes/application.yml"), names.index("BOOT-INF/lib/creds.jar"))
        limit = first_key_member  # members 1..limit are read, the next one is over the limit
        image = self.scan("--max-archive-members", str(limit))
        found = {f["location"]["path"] for f in image["findings"]}
        self.assertNotIn(JAR, found)
        self.assertNotIn(NESTED_JAR, found)
        self.assertIn(TGZ, found)
        self.assertIn(GZ_LOG, found)
        self.assertIn(("/opt/app.jar", 0), [(p, layer) for p, layer, _ in self.skipped(image)])
        self.assertTrue(any("max-archive-members" in r for _, _, r in self.skipped(image)), self.skipped(image))


if __name__ == "__main__":
    unittest.main()
