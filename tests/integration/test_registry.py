"""layerleak on images pulled from a real registry (docker://): Debian's docker-registry (distribution 2.8) on
127.0.0.1, without auth, with htpasswd Basic auth and with token auth (a token issuer of our own, see
registry_harness.py); images pushed there by skopeo from oci-archives built with umoci.

What is checked:
- findings from docker:// are those of the oci-archive the image was pushed from (OCI, Docker schema2 and
  zstd pushes), and layer digests/media types are the registry manifest's;
- every credential source of CONTRACT.md: --creds, --creds USER with LAYERLEAK_REGISTRY_PASSWORD, --authfile,
  $REGISTRY_AUTH_FILE, $DOCKER_CONFIG, ~/.docker/config.json, credHelpers and credsStore (a fake
  docker-credential-test on PATH); wrong or missing credentials are exit 2 without leaking the password;
- token auth, anonymous refused, and a token that expires during a slow scan is renewed;
- a blob altered in the registry storage is a digest mismatch (exit 2), the other layers are still reported;
- a registry that dies mid-blob is exit 2 (network), not a hang; nothing listening is exit 2 too;
- --platform / --all-platforms on a pushed index, by-digest references, unknown tags and repositories.

What the tools do (skopeo 1.9.3, distribution 2.8.2), checked in TestRegistryHarness:
- `skopeo copy --dest-compress-format zstd` to docker:// does NOT recompress a layer the registry (any
  repository of it) already has: it reuses the gzip blob. The zstd image is therefore pushed from a zstd
  oci-archive, and the manifest is checked to say +zstd.
- `skopeo copy --all oci:LAYOUT:TAG` pushes an OCI index written by hand (two platform manifests).
- the registry accepts a token up to 60 s after its `exp` (see registry_harness.py for how a short lifetime
  is made real anyway).

Every scan runs with HOME set to an empty directory and without DOCKER_CONFIG, REGISTRY_AUTH_FILE,
LAYERLEAK_REGISTRY_PASSWORD and XDG_RUNTIME_DIR, so that the machine's own credentials never play a part.

Environment (set by CTest): LAYERLEAK_BIN, LAYERLEAK_SOURCE_DIR; docker-registry, skopeo, umoci, htpasswd
and openssl installed. Missing ones are failures, never skips. Standard library only.
"""

import http.client
import io
import json
import os
import subprocess
import tarfile
import tempfile
import time
import unittest
from pathlib import Path

import helpers as h
import registry_harness as rh
from helpers import (ACCESS_KEY, SECRET_KEY, SECRET_KEY_2, SECRET_KEY_3, SECRET_KEY_4, SECRET_KEY_5,
                     fingerprint, redact)

USER, PASSWORD = "scanner", "Pw-3kq9-zz7Lr8-registry"
TOKEN_USER, TOKEN_PASSWORD = "tokenuser", "Tk-81hG-qpa4-issuer"

ENV_CONTENT = f"# app settings\nSCW_ACCESS_KEY={ACCESS_KEY}\nSCW_SECRET_KEY={SECRET_KEY}\n"
KEEP_CONTENT = f"SCW_SECRET_KEY={SECRET_KEY_2}\n"
CONF_CONTENT = f'scw:\n  SCALEWAY_TOKEN: "{SECRET_KEY_3}"\n'
CFG_CONTENT = f"SCW_TOKEN={SECRET_KEY_4}\n"

CREATED_BY = ["COPY app /app", "RUN rm /app/.env", "COPY conf /conf", "COPY cfg /opt/cfg", "COPY README.txt /"]
# (rule, path, layer, visibility) the detector reports for the LEAKY image (checked on the oci-archive).
LEAKY_EXPECTED = sorted([
    ("scaleway.access-key", "/app/.env", 0, "deleted"),
    ("scaleway.secret-key", "/app/.env", 0, "deleted"),
    ("scaleway.secret-key", "/app/keep.env", 0, "overwritten"),
    ("scaleway.secret-key", "/conf/a.yaml", 2, "runtime"),
    ("scaleway.secret-key", "/opt/cfg/scw.env", 3, "runtime"),
])
CORRUPT_LAYER = 2  # the layer altered in TestDigestMismatch: it holds /conf/a.yaml only (no whiteouts)

SCAN_TIMEOUT = 120
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"

IMG = {}        # name -> path of an oci-archive (or layout)
_TMP = None
_REFERENCE = {}  # oci-archive path -> its JSON report (scanned once)


# ---- building the images (umoci, skopeo) ------------------------------------------------------------

def _layer_tar(path, files):
    """An uncompressed layer tar with the given {relative path: bytes} (parent directories added)."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        dirs = sorted({str(Path(name).parent) for name in files} - {"."})
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return path


def _build_leaky(root):
    img = h.UmociImage(root / "leaky")

    def layer0(rootfs):
        (rootfs / "app").mkdir()
        (rootfs / "app" / ".env").write_text(ENV_CONTENT)
        (rootfs / "app" / "keep.env").write_text(KEEP_CONTENT)

    def layer1(rootfs):
        (rootfs / "app" / ".env").unlink()
        (rootfs / "app" / "keep.env").write_text("SCW_SECRET_KEY=\n")

    def layer2(rootfs):
        (rootfs / "conf").mkdir()
        (rootfs / "conf" / "a.yaml").write_text(CONF_CONTENT)

    def layer3(rootfs):
        (rootfs / "opt" / "cfg").mkdir(parents=True)
        (rootfs / "opt" / "cfg" / "scw.env").write_text(CFG_CONTENT)

    def layer4(rootfs):
        (rootfs / "README.txt").write_text("Nothing to see here.\n")

    for created_by, edit in zip(CREATED_BY, (layer0, layer1, layer2, layer3, layer4)):
        img.add_layer(created_by, edit)
    IMG["leaky-layout"] = str(img.layout)
    IMG["leaky"] = str(root / "leaky.tar")
    h.skopeo("copy", "-q", f"oci:{img.layout}:latest", f"oci-archive:{IMG['leaky']}:latest")
    IMG["leaky-zstd"] = str(root / "leaky-zstd.tar")
    h.skopeo("copy", "-q", "--dest-compress-format", "zstd", f"oci:{img.layout}:latest",
             f"oci-archive:{IMG['leaky-zstd']}:latest")


def _build_small(root, name, secret, path="srv/settings.env"):
    """A one-layer image (its own config and layer digests: `secret` and `name` make them unique)."""
    img = h.UmociImage(root / name)
    img.add_raw_layer(f"COPY {name}", _layer_tar(root / f"{name}.layer.tar", {
        path: f"# {name}\nSCW_SECRET_KEY={secret}\n".encode()}))
    IMG[name] = str(root / f"{name}.tar")
    h.skopeo("copy", "-q", f"oci:{img.layout}:latest", f"oci-archive:{IMG[name]}:latest")


def _build_big(root):
    """A small secret layer, then ~8 MiB of incompressible data (for the registry-dies-mid-blob test)."""
    img = h.UmociImage(root / "big")
    img.add_raw_layer("COPY secret", _layer_tar(root / "big0.tar", {
        "srv/big.env": f"SCW_SECRET_KEY={SECRET_KEY_5}\n".encode()}))
    img.add_raw_layer("COPY blob", _layer_tar(root / "big1.tar", {"srv/random.bin": os.urandom(8 << 20)}))
    IMG["big"] = str(root / "big.tar")
    h.skopeo("copy", "-q", f"oci:{img.layout}:latest", f"oci-archive:{IMG['big']}:latest")


def _build_multi(root):
    """An OCI layout whose tag `multi` is an index of linux/amd64 (/amd64.env, SECRET_KEY) and
    linux/arm64/v8 (/arm64.env, SECRET_KEY_2)."""
    layout = root / "multi"
    h.umoci("init", "--layout", str(layout))
    descriptors = []
    for arch, variant, secret in (("amd64", None, SECRET_KEY), ("arm64", "v8", SECRET_KEY_2)):
        image = f"{layout}:{arch}"
        h.umoci("new", "--image", image)
        h.umoci("raw", "add-layer", "--image", image, "--history.created_by", f"COPY {arch}.env /",
                str(_layer_tar(root / f"multi-{arch}.tar", {f"{arch}.env": f"SCW_SECRET_KEY={secret}\n".encode()})))
        h.umoci("config", "--image", image, "--os", "linux", "--architecture", arch)
        index = json.loads((layout / "index.json").read_text())
        [desc] = [d for d in index["manifests"]
                  if d.get("annotations", {}).get("org.opencontainers.image.ref.name") == arch]
        platform = {"architecture": arch, "os": "linux"}
        if variant:
            platform["variant"] = variant
        descriptors.append({"mediaType": desc["mediaType"], "digest": desc["digest"], "size": desc["size"],
                            "platform": platform})
    blob = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors}).encode()
    digest = rh.sha256_digest(blob)
    (layout / "blobs" / "sha256" / digest.split(":", 1)[1]).write_bytes(blob)
    index = json.loads((layout / "index.json").read_text())
    index["manifests"].append({"mediaType": OCI_INDEX, "digest": digest, "size": len(blob),
                               "annotations": {"org.opencontainers.image.ref.name": "multi"}})
    (layout / "index.json").write_text(json.dumps(index))
    IMG["multi-layout"] = str(layout)


def setUpModule():
    global _TMP
    h.layerleak_bin()
    h.source_dir()
    for tool in ("umoci", "skopeo", "htpasswd", "openssl"):
        h.require_tool(tool)
    rh.registry_bin()
    _TMP = tempfile.TemporaryDirectory(prefix="layerleak-registry-")
    root = Path(_TMP.name)
    _build_leaky(root)
    _build_small(root, "small-a", SECRET_KEY_3)
    _build_small(root, "small-b", SECRET_KEY_4)
    _build_small(root, "small-c", SECRET_KEY_5, path="etc/app.env")
    _build_big(root)
    _build_multi(root)


def tearDownModule():
    if _TMP is not None:
        _TMP.cleanup()


# ---- pushing and scanning ---------------------------------------------------------------------------

def push(source, dest, *options, creds=None):
    args = ["copy", "-q", "--dest-tls-verify=false", *options]
    if creds is not None:
        args += ["--dest-creds", creds]
    h.skopeo(*args, source, dest)


def registry_manifest(ref, creds=None):
    """(raw bytes, parsed) of the manifest (or index) at a docker:// reference, as skopeo reads it."""
    args = ["inspect", "--raw", "--tls-verify=false"] + (["--creds", creds] if creds else []) + [ref]
    raw = h.skopeo(*args).stdout_bytes
    return raw, json.loads(raw)


def scan_env(home, **overrides):
    """The environment of a scan: the caller's, minus every source of registry credentials, HOME empty."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DOCKER_CONFIG", "REGISTRY_AUTH_FILE", "LAYERLEAK_REGISTRY_PASSWORD", "XDG_RUNTIME_DIR")}
    env["HOME"] = str(home)
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = str(value)
    return env


def reference_image(tc, archive):
    """The JSON report of an oci-archive (scanned once per module): what docker:// must agree with."""
    if archive not in _REFERENCE:
        result, doc = h.scan_json(tc, f"oci-archive:{archive}")
        tc.assertIn(result.returncode, (0, 1), result.describe())
        h.assert_report_shape(tc, doc)
        _REFERENCE[archive] = h.only_image(tc, doc)
    return _REFERENCE[archive]


def finding_key(f, with_layer_digest=True):
    loc = f["location"]
    key = (f["rule_id"], f["fingerprint"], f["secret"], f["paired_access_key"], f["severity"], loc["kind"],
           loc.get("path"), loc.get("line"), loc.get("column"), loc.get("offset"), loc.get("layer_index"),
           loc.get("diff_id"), loc.get("created_by"), f["visibility"], f["hidden_by_layer"])
    return key + ((loc.get("layer_digest"),) if with_layer_digest else ())


def findings_table(image, with_layer_digest=True):
    return sorted(finding_key(f, with_layer_digest) for f in image["findings"])


def error_codes(image):
    return [e["code"] for e in image["errors"]]


class RegistryTestCase(unittest.TestCase):
    maxDiff = None

    @classmethod
    def class_tmp(cls):
        return h.make_class_tempdir(cls, prefix="layerleak-registry-test-")

    @classmethod
    def start_registry(cls, auth=None, tls=None):
        registry = rh.Registry(cls.class_tmp() / "registry", auth=auth, tls=tls)
        cls.addClassCleanup(registry.stop)
        return registry.start()

    def home(self):
        home = h.make_tempdir(self, prefix="layerleak-home-")
        return home

    def run_scan(self, *args, env=None, timeout=SCAN_TIMEOUT):
        """`layerleak scan --format json ARGS...` with a clean environment; (result, doc or None)."""
        if env is None:
            env = scan_env(self.home())
        argv = [h.layerleak_bin(), "scan", "--format", "json", *args]
        started = time.monotonic()
        try:
            result = h.run_command(argv, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            self.fail(f"layerleak did not finish within {timeout} s (a hang): {argv}")
        result.elapsed = time.monotonic() - started
        try:
            doc = json.loads(result.stdout)
        except json.JSONDecodeError:
            doc = None
        return result, doc

    def scan_ok(self, *args, expect_rc=1, env=None):
        """A scan that must complete: exit status expect_rc, a well-formed report with one complete image."""
        result, doc = self.run_scan(*args, env=env)
        self.assertEqual(result.returncode, expect_rc, result.describe())
        self.assertIsNotNone(doc, "stdout is not a JSON report\n" + result.describe())
        h.assert_report_shape(self, doc)
        image = h.only_image(self, doc)
        self.assertTrue(image["complete"], json.dumps(image["errors"]))
        self.assertEqual(image["errors"], [])
        h.assert_no_full_secret(self, result.stdout + result.stderr)
        return image

    def scan_fails(self, *args, code, env=None, timeout=SCAN_TIMEOUT):
        """A scan that cannot complete: exit 2, an error message on stderr, and (when there is a report on
        stdout) an incomplete image whose errors include `code`. Returns (result, image or None)."""
        result, doc = self.run_scan(*args, env=env, timeout=timeout)
        self.assertEqual(result.returncode, 2, result.describe())
        self.assertTrue(result.stderr.strip(), "exit 2 without a message on stderr\n" + result.describe())
        self.assertIsNotNone(doc, "no JSON report on stdout for an incomplete scan\n" + result.describe())
        h.assert_report_shape(self, doc)
        self.assertFalse(doc["complete"])
        image = h.only_image(self, doc)
        self.assertFalse(image["complete"])
        self.assertIn(code, error_codes(image), result.describe())
        return result, image

    def assertSameFindings(self, image, archive, with_layer_digest=True):
        expected = reference_image(self, archive)
        self.assertTrue(expected["findings"], "fixture: the oci-archive has no findings")
        self.assertEqual(findings_table(image, with_layer_digest), findings_table(expected, with_layer_digest))

    def assertLayersMatchRegistry(self, image, ref, creds=None):
        """Layer digests, sizes, media types and the manifest/config digests are the registry's."""
        raw, manifest = registry_manifest(ref, creds)
        self.assertEqual(image["manifest_digest"], rh.sha256_digest(raw))
        self.assertEqual(image["config_digest"], manifest["config"]["digest"])
        self.assertEqual([l["digest"] for l in image["layers"]], [d["digest"] for d in manifest["layers"]])
        self.assertEqual([l["media_type"] for l in image["layers"]], [d["mediaType"] for d in manifest["layers"]])
        self.assertEqual([l["compressed_size"] for l in image["layers"]], [d["size"] for d in manifest["layers"]])
        for f in image["findings"]:
            loc = f["location"]
            self.assertEqual(loc["layer_digest"], manifest["layers"][loc["layer_index"]]["digest"])
        return manifest

    def assertNoPassword(self, result, *passwords, user=None):
        text = result.stdout + result.stderr
        for password in passwords:
            self.assertNotIn(password, text, "a password leaked into the output")
            if user is not None:
                self.assertNotIn(rh.basic_auth_value(user, password), text, "base64 credentials leaked")


# ---- the harness itself (runs without docker:// support in layerleak) --------------------------------

class TestRegistryHarness(RegistryTestCase):
    """The fixtures are what the other tests think they are (catches a tool upgrade changing them)."""

    @classmethod
    def setUpClass(cls):
        cls.registry = cls.start_registry()

    def test_fixture_findings_in_the_oci_archive(self):
        image = reference_image(self, IMG["leaky"])
        self.assertEqual(sorted((f["rule_id"], f["location"]["path"], f["location"]["layer_index"], f["visibility"])
                                for f in image["findings"]), LEAKY_EXPECTED)
        self.assertEqual([l["created_by"] for l in image["layers"]], CREATED_BY)

    def test_push_formats(self):
        reg = self.registry
        push(f"oci-archive:{IMG['leaky']}:latest", reg.ref("h/oci", "1"))
        push(f"oci-archive:{IMG['leaky']}:latest", reg.ref("h/v2s2", "1"), "--format", "v2s2")
        push(f"oci-archive:{IMG['leaky-zstd']}:latest", reg.ref("h/zstd", "1"), "--dest-compress-format", "zstd")
        _, oci = registry_manifest(reg.ref("h/oci", "1"))
        _, v2s2 = registry_manifest(reg.ref("h/v2s2", "1"))
        _, zstd = registry_manifest(reg.ref("h/zstd", "1"))
        self.assertEqual(oci.get("mediaType", OCI_MANIFEST), OCI_MANIFEST)
        self.assertNotIn("mediaType", oci)  # skopeo writes OCI manifests without the (optional) field
        self.assertEqual(v2s2["mediaType"], DOCKER_MANIFEST)
        self.assertEqual({d["mediaType"] for d in oci["layers"]}, {"application/vnd.oci.image.layer.v1.tar+gzip"})
        self.assertEqual({d["mediaType"] for d in v2s2["layers"]},
                         {"application/vnd.docker.image.rootfs.diff.tar.gzip"})
        self.assertEqual({d["mediaType"] for d in zstd["layers"]}, {"application/vnd.oci.image.layer.v1.tar+zstd"})
        self.assertEqual([d["digest"] for d in oci["layers"]], [d["digest"] for d in v2s2["layers"]])
        self.assertEqual(len(oci["layers"]), len(CREATED_BY))
        # the blobs are where the corruption test looks for them, and gzip layers start with a gzip header
        for d in oci["layers"]:
            data = self.registry.blob_data_path(d["digest"]).read_bytes()
            self.assertEqual(rh.sha256_digest(data), d["digest"])
            self.assertEqual(data[:2], b"\x1f\x8b")

    def test_skopeo_reuses_gzip_blob_instead_of_zstd(self):
        # Documents why the zstd image is pushed from a zstd oci-archive.
        reg = self.registry
        push(f"oci-archive:{IMG['small-a']}:latest", reg.ref("reuse/gzip", "1"))
        push(f"oci-archive:{IMG['small-a']}:latest", reg.ref("reuse/zstd", "1"), "--dest-compress-format", "zstd")
        _, manifest = registry_manifest(reg.ref("reuse/zstd", "1"))
        self.assertEqual({d["mediaType"] for d in manifest["layers"]}, {"application/vnd.oci.image.layer.v1.tar+gzip"})

    def test_push_index(self):
        reg = self.registry
        push(f"oci:{IMG['multi-layout']}:multi", reg.ref("h/multi", "1"), "--all")
        _, index = registry_manifest(reg.ref("h/multi", "1"))
        self.assertEqual(index["mediaType"], OCI_INDEX)
        self.assertEqual([d["platform"] for d in index["manifests"]],
                         [{"architecture": "amd64", "os": "linux"},
                          {"architecture": "arm64", "os": "linux", "variant": "v8"}])
        for d in index["manifests"]:
            _, manifest = registry_manifest(reg.ref("h/multi", d["digest"]))
            self.assertEqual(len(manifest["layers"]), 1)

    def test_htpasswd_registry(self):
        tmp = h.make_tempdir(self)
        htpasswd = rh.write_htpasswd(tmp / "htpasswd", {USER: PASSWORD})
        self.assertTrue(htpasswd.read_text().startswith(f"{USER}:$2y$"))
        registry = rh.Registry(tmp / "reg", auth=("htpasswd", htpasswd))
        self.addCleanup(registry.stop)
        registry.start()
        self.assertEqual(rh.http_status(registry.url + "/v2/"), 401)
        push(f"oci-archive:{IMG['small-a']}:latest", registry.ref("p/a", "1"), creds=f"{USER}:{PASSWORD}")
        registry_manifest(registry.ref("p/a", "1"), creds=f"{USER}:{PASSWORD}")
        skopeo = h.require_tool("skopeo")
        for creds in ([], ["--creds", f"{USER}:wrong"]):
            r = h.run_command([skopeo, "inspect", "--raw", "--tls-verify=false", *creds, registry.ref("p/a", "1")],
                              env=scan_env(self.home()))
            self.assertNotEqual(r.returncode, 0, r.describe())
            self.assertIn("unauthorized", r.stderr)
        registry.stop()
        self.assertFalse(registry.running())

    def test_token_registry(self):
        tmp = h.make_tempdir(self)
        issuer = rh.TokenIssuer(tmp / "issuer", {TOKEN_USER: TOKEN_PASSWORD}).start()
        self.addCleanup(issuer.stop)
        registry = rh.Registry(tmp / "reg", auth=issuer.registry_auth())
        self.addCleanup(registry.stop)
        registry.start()
        push(f"oci-archive:{IMG['small-a']}:latest", registry.ref("t/a", "1"), creds=f"{TOKEN_USER}:{TOKEN_PASSWORD}")
        self.assertGreaterEqual(issuer.issued_count(), 1)
        self.assertIn((TOKEN_USER, [{"type": "repository", "name": "t/a", "actions": ["pull", "push"]}]),
                      issuer.issued)
        registry_manifest(registry.ref("t/a", "1"), creds=f"{TOKEN_USER}:{TOKEN_PASSWORD}")
        skopeo = h.require_tool("skopeo")
        r = h.run_command([skopeo, "inspect", "--raw", "--tls-verify=false", registry.ref("t/a", "1")],
                          env=scan_env(self.home()))
        self.assertNotEqual(r.returncode, 0, r.describe())
        self.assertGreaterEqual(issuer.refused, 1)

    def test_short_token_lifetime_is_enforced_by_the_registry(self):
        # The registry's 60 s leeway would keep a 2 s token valid for a minute; the issuer offsets exp.
        tmp = h.make_tempdir(self)
        issuer = rh.TokenIssuer(tmp / "issuer", {TOKEN_USER: TOKEN_PASSWORD}, lifetime=2).start()
        self.addCleanup(issuer.stop)
        registry = rh.Registry(tmp / "reg", auth=issuer.registry_auth())
        self.addCleanup(registry.stop)
        registry.start()
        issuer.lifetime = 300
        push(f"oci-archive:{IMG['small-a']}:latest", registry.ref("t/a", "1"), creds=f"{TOKEN_USER}:{TOKEN_PASSWORD}")
        issuer.lifetime = 2
        token = issuer.make_token(TOKEN_USER, [{"type": "repository", "name": "t/a", "actions": ["pull"]}])

        def get():
            conn = http.client.HTTPConnection("127.0.0.1", registry.port, timeout=10)
            conn.request("GET", "/v2/t/a/manifests/1", headers={"Authorization": "Bearer " + token,
                                                                  "Accept": OCI_MANIFEST})
            resp = conn.getresponse()
            resp.read()
            conn.close()
            return resp.status, resp.getheader("WWW-Authenticate") or ""

        self.assertEqual(get()[0], 200)
        time.sleep(2.2)
        status, challenge = get()
        self.assertEqual(status, 401)
        self.assertIn(f'realm="{issuer.realm}"', challenge)
        self.assertIn('error="invalid_token"', challenge)

    def test_blob_header_corruption_keeps_content(self):
        # TestDigestMismatch alters the gzip header's MTIME field: same length, same decompressed tar
        # (so the diffID still matches), different blob digest.
        reg = self.registry
        push(f"oci-archive:{IMG['small-c']}:latest", reg.ref("h/corrupt", "1"))
        _, manifest = registry_manifest(reg.ref("h/corrupt", "1"))
        path = reg.blob_data_path(manifest["layers"][0]["digest"])
        before = path.read_bytes()
        corrupt_gzip_mtime(path)
        after = path.read_bytes()
        self.assertEqual(len(before), len(after))
        self.assertNotEqual(rh.sha256_digest(after), manifest["layers"][0]["digest"])
        unzip = lambda data: subprocess.run(["gzip", "-dc"], input=data, capture_output=True, check=True).stdout
        self.assertEqual(unzip(before), unzip(after))

    def test_altered_blobs_are_served_and_caught_by_skopeo(self):
        # The registry serves altered blobs as they are (it does not re-verify): the client must.
        reg = self.registry
        skopeo = h.require_tool("skopeo")
        tmp = h.make_tempdir(self)
        push(f"oci-archive:{IMG['small-a']}:latest", reg.ref("h/badconfig", "1"))
        push(f"oci-archive:{IMG['small-b']}:latest", reg.ref("h/badmanifest", "1"))
        corrupt_config(reg, reg.ref("h/badconfig", "1"))
        digest = corrupt_manifest(reg, reg.ref("h/badmanifest", "1"))
        conn = http.client.HTTPConnection("127.0.0.1", reg.port, timeout=10)
        conn.request("GET", f"/v2/h/badmanifest/manifests/{digest}", headers={"Accept": OCI_MANIFEST})
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.getheader("Docker-Content-Digest"), digest)
        self.assertNotEqual(rh.sha256_digest(body), digest)
        for n, ref in enumerate((reg.ref("h/badconfig", "1"), reg.ref("h/badmanifest", digest))):
            r = h.run_command([skopeo, "--insecure-policy", "copy", "--src-tls-verify=false", ref, f"oci:{tmp}/o{n}:x"],
                              env=scan_env(self.home()))
            self.assertNotEqual(r.returncode, 0, r.describe())
            self.assertIn("digest", r.stderr.lower())

    def test_proxy_cut_kills_registry(self):
        tmp = h.make_tempdir(self)
        registry = rh.Registry(tmp / "reg")
        self.addCleanup(registry.stop)
        registry.start()
        push(f"oci-archive:{IMG['big']}:latest", registry.ref("big/img", "1"))
        proxy = rh.Proxy(registry.port, cut_blob_over=4 << 20, cut_after=1 << 20, on_cut=registry.kill).start()
        self.addCleanup(proxy.stop)
        r = h.run_command([h.require_tool("skopeo"), "--insecure-policy", "copy", "--src-tls-verify=false",
                           registry.ref("big/img", "1", host=proxy.host), f"oci:{tmp}/out:x"], timeout=SCAN_TIMEOUT,
                          env=scan_env(self.home()))
        self.assertNotEqual(r.returncode, 0, r.describe())
        self.assertTrue(proxy.cut_done.is_set())
        self.assertFalse(registry.running())


def corrupt_gzip_mtime(path):
    """Overwrites the 4 MTIME bytes of a gzip member header (offset 4): same length, same content."""
    path = Path(path)
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    assert data[:2] == b"\x1f\x8b", f"{path} is not gzip"
    data[4:8] = bytes(b ^ 0x5A for b in data[4:8])
    path.write_bytes(bytes(data))


def corrupt_config(registry, ref):
    """Alters the stored config blob of `ref`: "linux" -> "LINUX" (same length, still valid JSON)."""
    _, manifest = registry_manifest(ref)
    path = registry.blob_data_path(manifest["config"]["digest"])
    data = path.read_bytes()
    altered = data.replace(b'"linux"', b'"LINUX"')
    assert altered != data, "fixture: could not alter the config"
    path.write_bytes(altered)


def corrupt_manifest(registry, ref):
    """Alters the stored manifest of `ref` (the config size changes by one, same length, valid JSON);
    returns the manifest digest (the tag still points to it)."""
    raw, manifest = registry_manifest(ref)
    digest = rh.sha256_digest(raw)
    path = registry.blob_data_path(digest)
    data = path.read_bytes()
    size = manifest["config"]["size"]
    other = size + 1 if size % 10 != 9 else size - 1
    altered = data.replace(f'"size":{size}'.encode(), f'"size":{other}'.encode(), 1)
    assert altered != data and len(altered) == len(data), "fixture: could not alter the manifest"
    path.write_bytes(altered)
    return digest


# ---- (a), (f), (g), (h): no auth ----------------------------------------------------------------------

class TestNoAuth(RegistryTestCase):
    @classmethod
    def setUpClass(cls):
        cls.registry = reg = cls.start_registry()
        # zstd first, from the zstd archive (see the module docstring on blob reuse)
        push(f"oci-archive:{IMG['leaky-zstd']}:latest", reg.ref("app/zstd", "v1"), "--dest-compress-format", "zstd")
        push(f"oci-archive:{IMG['leaky']}:latest", reg.ref("app/oci", "v1"))
        push(f"oci-archive:{IMG['leaky']}:latest", reg.ref("app/v2s2", "v1"), "--format", "v2s2")
        push(f"oci:{IMG['multi-layout']}:multi", reg.ref("app/multi", "latest"), "--all")
        push(f"oci-archive:{IMG['small-a']}:latest", reg.ref("app/small", "latest"))

    def test_oci_push_same_findings_as_archive(self):
        ref = self.registry.ref("app/oci", "v1")
        image = self.scan_ok(ref)
        self.assertSameFindings(image, IMG["leaky"])
        manifest = self.assertLayersMatchRegistry(image, ref)
        self.assertNotIn("mediaType", manifest)
        self.assertEqual(image["transport"], "docker")
        self.assertTrue(image["reference"].startswith("docker://"), image["reference"])
        self.assertIn(f"{self.registry.host}/app/oci", image["reference"])
        self.assertEqual(image["platform"], "linux/amd64")
        self.assertEqual([l["created_by"] for l in image["layers"]], CREATED_BY)
        self.assertEqual([l["compression"] for l in image["layers"]], ["gzip"] * len(CREATED_BY))
        expected = reference_image(self, IMG["leaky"])
        self.assertEqual([l["diff_id"] for l in image["layers"]], [l["diff_id"] for l in expected["layers"]])
        self.assertEqual(image["config_digest"], expected["config_digest"])
        self.assertEqual(image["manifest_digest"], expected["manifest_digest"], "skopeo keeps the OCI manifest")

    def test_v2s2_push_same_findings_as_archive(self):
        ref = self.registry.ref("app/v2s2", "v1")
        image = self.scan_ok(ref)
        self.assertSameFindings(image, IMG["leaky"])
        manifest = self.assertLayersMatchRegistry(image, ref)
        self.assertEqual(manifest["mediaType"], DOCKER_MANIFEST)
        self.assertEqual({l["media_type"] for l in image["layers"]},
                         {"application/vnd.docker.image.rootfs.diff.tar.gzip"})
        self.assertEqual([l["created_by"] for l in image["layers"]], CREATED_BY)

    def test_zstd_push_same_findings_as_archive(self):
        ref = self.registry.ref("app/zstd", "v1")
        image = self.scan_ok(ref)
        # recompressed: other layer digests, same diffIDs, same findings
        self.assertSameFindings(image, IMG["leaky"], with_layer_digest=False)
        self.assertSameFindings(image, IMG["leaky-zstd"])
        self.assertLayersMatchRegistry(image, ref)
        self.assertEqual([l["compression"] for l in image["layers"]], ["zstd"] * len(CREATED_BY))
        self.assertEqual({l["media_type"] for l in image["layers"]}, {"application/vnd.oci.image.layer.v1.tar+zstd"})

    def test_findings_detail(self):
        image = self.scan_ok(self.registry.ref("app/oci", "v1"))
        by_path = h.findings_by_path(image)
        [secret] = by_path[("/app/.env", "scaleway.secret-key")]
        self.assertEqual(secret["secret"], redact(SECRET_KEY))
        self.assertEqual(secret["fingerprint"], fingerprint("scaleway.secret-key", SECRET_KEY))
        self.assertEqual(secret["paired_access_key"], redact(ACCESS_KEY))
        self.assertEqual((secret["location"]["line"], secret["location"]["column"]),
                         h.text_position(ENV_CONTENT, SECRET_KEY)[:2])
        self.assertEqual(secret["visibility"], "deleted")
        self.assertEqual(secret["hidden_by_layer"], 1)
        [conf] = by_path[("/conf/a.yaml", "scaleway.secret-key")]
        self.assertEqual(conf["fingerprint"], fingerprint("scaleway.secret-key", SECRET_KEY_3))
        self.assertEqual(conf["location"]["created_by"], "COPY conf /conf")

    def test_by_digest(self):
        raw, _ = registry_manifest(self.registry.ref("app/oci", "v1"))
        digest = rh.sha256_digest(raw)
        ref = self.registry.ref("app/oci", digest)
        self.assertIn("@sha256:", ref)
        image = self.scan_ok(ref)
        self.assertEqual(image["manifest_digest"], digest)
        self.assertSameFindings(image, IMG["leaky"])

    def test_by_digest_of_a_platform_manifest(self):
        _, index = registry_manifest(self.registry.ref("app/multi", "latest"))
        [arm] = [d for d in index["manifests"] if d["platform"]["architecture"] == "arm64"]
        image = self.scan_ok(self.registry.ref("app/multi", arm["digest"]))
        self.assertEqual(image["manifest_digest"], arm["digest"])
        self.assertEqual([f["location"]["path"] for f in image["findings"]], ["/arm64.env"])

    def test_default_platform_of_an_index_is_amd64(self):
        image = self.scan_ok(self.registry.ref("app/multi", "latest"))
        self.assertEqual(image["platform"], "linux/amd64")
        self.assertEqual([(f["location"]["path"], f["fingerprint"]) for f in image["findings"]],
                         [("/amd64.env", fingerprint("scaleway.secret-key", SECRET_KEY))])

    def test_platform_arm64(self):
        _, index = registry_manifest(self.registry.ref("app/multi", "latest"))
        [arm] = [d for d in index["manifests"] if d["platform"]["architecture"] == "arm64"]
        for platform in ("linux/arm64", "linux/arm64/v8"):
            with self.subTest(platform=platform):
                image = self.scan_ok("--platform", platform, self.registry.ref("app/multi", "latest"))
                self.assertEqual(image["platform"], "linux/arm64/v8")
                self.assertEqual(image["manifest_digest"], arm["digest"])
                self.assertEqual([(f["location"]["path"], f["fingerprint"]) for f in image["findings"]],
                                 [("/arm64.env", fingerprint("scaleway.secret-key", SECRET_KEY_2))])

    def test_platform_not_in_index(self):
        self.scan_fails("--platform", "linux/s390x", self.registry.ref("app/multi", "latest"), code="not_found")

    def test_all_platforms(self):
        result, doc = self.run_scan("--all-platforms", self.registry.ref("app/multi", "latest"))
        self.assertEqual(result.returncode, 1, result.describe())
        h.assert_report_shape(self, doc)
        self.assertTrue(doc["complete"])
        self.assertEqual(sorted((img["platform"], tuple(f["location"]["path"] for f in img["findings"]))
                                for img in doc["images"]),
                         [("linux/amd64", ("/amd64.env",)), ("linux/arm64/v8", ("/arm64.env",))])
        for img in doc["images"]:
            self.assertEqual(img["transport"], "docker")

    def test_nonexistent_tag(self):
        result, image = self.scan_fails(self.registry.ref("app/oci", "no-such-tag"), code="not_found")
        self.assertIn("no-such-tag", result.stderr)
        self.assertEqual(image["findings"], [])

    def test_nonexistent_repository(self):
        self.scan_fails(self.registry.ref("no/such-repo", "v1"), code="not_found")

    def test_nonexistent_digest(self):
        self.scan_fails(self.registry.ref("app/oci", "sha256:" + "0" * 64), code="not_found")

    def test_tls_verify_false(self):
        image = self.scan_ok("--tls-verify=false", self.registry.ref("app/oci", "v1"))
        self.assertSameFindings(image, IMG["leaky"])

    def test_localhost(self):
        # the registry listens on 127.0.0.1 only: "localhost" may resolve to ::1 first
        image = self.scan_ok(self.registry.ref("app/small", "latest", host=f"localhost:{self.registry.port}"))
        self.assertSameFindings(image, IMG["small-a"])

    def test_default_tag_is_latest(self):
        image = self.scan_ok(f"docker://{self.registry.host}/app/small")
        self.assertSameFindings(image, IMG["small-a"])

    def test_jobs_do_not_change_findings(self):
        for jobs in ("1", "4"):
            with self.subTest(jobs=jobs):
                image = self.scan_ok("-j", jobs, self.registry.ref("app/oci", "v1"))
                self.assertSameFindings(image, IMG["leaky"])

    def test_fail_on_and_text_format(self):
        ref = self.registry.ref("app/oci", "v1")
        r = h.run_command([h.layerleak_bin(), "scan", "--fail-on", "none", ref], env=scan_env(self.home()),
                          timeout=SCAN_TIMEOUT)
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertIn("/conf/a.yaml", r.stdout)
        h.assert_no_full_secret(self, r.stdout + r.stderr)

    def test_nothing_listening(self):
        port = rh.free_port()
        result, image = self.scan_fails(f"docker://127.0.0.1:{port}/app/oci:v1", code="network", timeout=60)
        self.assertIn(f"127.0.0.1:{port}", result.stderr)
        self.assertLess(result.elapsed, 60)


# ---- (b) htpasswd Basic auth ------------------------------------------------------------------------

class TestHtpasswd(RegistryTestCase):
    @classmethod
    def setUpClass(cls):
        tmp = cls.class_tmp()
        htpasswd = rh.write_htpasswd(tmp / "htpasswd", {USER: PASSWORD})
        cls.registry = reg = cls.start_registry(auth=("htpasswd", htpasswd))
        cls.ref = reg.ref("private/app", "v1")
        push(f"oci-archive:{IMG['leaky']}:latest", cls.ref, creds=f"{USER}:{PASSWORD}")

    def check_ok(self, *args, env):
        image = self.scan_ok(*args, self.ref, env=env)
        self.assertSameFindings(image, IMG["leaky"])
        self.assertLayersMatchRegistry(image, self.ref, creds=f"{USER}:{PASSWORD}")

    def test_creds_option(self):
        self.check_ok("--creds", f"{USER}:{PASSWORD}", env=scan_env(self.home()))

    def test_password_from_environment(self):
        self.check_ok("--creds", USER, env=scan_env(self.home(), LAYERLEAK_REGISTRY_PASSWORD=PASSWORD))

    def test_authfile_option(self):
        home = self.home()
        authfile = rh.write_auth_json(home / "elsewhere" / "auth.json", self.registry.host, USER, PASSWORD)
        self.check_ok("--authfile", str(authfile), env=scan_env(home))

    def test_registry_auth_file_variable(self):
        home = self.home()
        authfile = rh.write_auth_json(home / "containers" / "auth.json", self.registry.host, USER, PASSWORD)
        self.check_ok(env=scan_env(home, REGISTRY_AUTH_FILE=authfile))

    def test_docker_config_dir(self):
        home = self.home()
        rh.write_auth_json(home / "dockercfg" / "config.json", self.registry.host, USER, PASSWORD)
        self.check_ok(env=scan_env(home, DOCKER_CONFIG=home / "dockercfg"))

    def test_home_docker_config(self):
        home = self.home()
        rh.write_auth_json(home / ".docker" / "config.json", self.registry.host, USER, PASSWORD)
        self.check_ok(env=scan_env(home))

    def _helper_env(self, home, config):
        bindir = home / "bin"
        log = home / "helper.log"
        rh.write_credential_helper(bindir, "test", self.registry.host, USER, PASSWORD, log)
        (home / ".docker").mkdir(exist_ok=True)
        (home / ".docker" / "config.json").write_text(json.dumps(config))
        return scan_env(home, PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"), log

    def test_cred_helpers(self):
        home = self.home()
        env, log = self._helper_env(home, {"auths": {}, "credHelpers": {self.registry.host: "test"}})
        self.check_ok(env=env)
        calls = [json.loads(line) for line in log.read_text().splitlines()]
        self.assertTrue(calls, "docker-credential-test was never run")
        self.assertEqual(calls[0]["action"], "get")
        self.assertIn(self.registry.host, calls[0]["server"])

    def test_creds_store(self):
        home = self.home()
        env, log = self._helper_env(home, {"credsStore": "test"})
        self.check_ok(env=env)
        self.assertTrue(log.exists() and log.read_text().strip(), "docker-credential-test was never run")

    def test_cred_helper_for_another_registry_is_not_used(self):
        home = self.home()
        env, log = self._helper_env(home, {"credHelpers": {"registry.example.com": "test"}})
        result, _ = self.scan_fails(self.ref, code="auth", env=env)
        self.assertFalse(log.exists() and log.read_text().strip(), "a helper for another registry was run")

    def test_creds_option_wins_over_authfile(self):
        home = self.home()
        rh.write_auth_json(home / ".docker" / "config.json", self.registry.host, USER, "stale-password")
        self.check_ok("--creds", f"{USER}:{PASSWORD}", env=scan_env(home))

    def test_wrong_password(self):
        wrong = "Wr0ng-pa55word-xyz"
        result, image = self.scan_fails("--creds", f"{USER}:{wrong}", self.ref, code="auth")
        self.assertIn(self.registry.host, result.stderr, "the message must name the registry")
        self.assertIn(self.registry.host, " ".join(e["message"] for e in image["errors"]))
        self.assertNoPassword(result, wrong, PASSWORD, user=USER)
        self.assertEqual(image["findings"], [])

    def test_wrong_password_from_environment(self):
        wrong = "Env-Wr0ng-pa55word"
        result, _ = self.scan_fails("--creds", USER, self.ref, code="auth",
                                    env=scan_env(self.home(), LAYERLEAK_REGISTRY_PASSWORD=wrong))
        self.assertNoPassword(result, wrong, PASSWORD, user=USER)

    def test_wrong_password_in_authfile(self):
        home = self.home()
        wrong = "File-Wr0ng-pa55word"
        authfile = rh.write_auth_json(home / "auth.json", self.registry.host, USER, wrong)
        result, _ = self.scan_fails("--authfile", str(authfile), self.ref, code="auth", env=scan_env(home))
        self.assertIn(self.registry.host, result.stderr)
        self.assertNoPassword(result, wrong, PASSWORD, user=USER)

    def test_unknown_user(self):
        result, _ = self.scan_fails("--creds", f"nobody:{PASSWORD}", self.ref, code="auth")
        self.assertNoPassword(result, PASSWORD, user="nobody")

    def test_no_credentials(self):
        result, image = self.scan_fails(self.ref, code="auth")
        self.assertIn(self.registry.host, result.stderr)
        self.assertEqual(image["findings"], [])

    def test_credentials_for_another_registry_only(self):
        home = self.home()
        rh.write_auth_json(home / ".docker" / "config.json", "registry.example.com", USER, PASSWORD)
        self.scan_fails(self.ref, code="auth", env=scan_env(home))


# ---- (c) token auth ---------------------------------------------------------------------------------

class TestTokenAuth(RegistryTestCase):
    @classmethod
    def setUpClass(cls):
        tmp = cls.class_tmp()
        cls.issuer = rh.TokenIssuer(tmp / "issuer", {TOKEN_USER: TOKEN_PASSWORD}).start()
        cls.addClassCleanup(cls.issuer.stop)
        cls.registry = reg = cls.start_registry(auth=cls.issuer.registry_auth())
        cls.ref = reg.ref("team/app", "v1")
        push(f"oci-archive:{IMG['leaky']}:latest", cls.ref, creds=f"{TOKEN_USER}:{TOKEN_PASSWORD}")

    def setUp(self):
        self.issuer.anonymous = "refuse"
        self.issuer.reset_counts()

    def test_creds(self):
        image = self.scan_ok("--creds", f"{TOKEN_USER}:{TOKEN_PASSWORD}", self.ref)
        self.assertSameFindings(image, IMG["leaky"])
        self.assertLayersMatchRegistry(image, self.ref, creds=f"{TOKEN_USER}:{TOKEN_PASSWORD}")
        self.assertGreaterEqual(self.issuer.issued_count(), 1)
        for subject, access in self.issuer.issued:
            self.assertEqual(subject, TOKEN_USER)
        scopes = [a for _, access in self.issuer.issued for a in access]
        self.assertIn("team/app", [a["name"] for a in scopes])
        for a in scopes:
            self.assertEqual(a["type"], "repository")
            self.assertNotIn("push", a["actions"], "a scanner asks for pull only")

    def test_authfile(self):
        home = self.home()
        authfile = rh.write_auth_json(home / "auth.json", self.registry.host, TOKEN_USER, TOKEN_PASSWORD)
        image = self.scan_ok("--authfile", str(authfile), self.ref, env=scan_env(home))
        self.assertSameFindings(image, IMG["leaky"])

    def test_anonymous_refused(self):
        result, image = self.scan_fails(self.ref, code="auth")
        self.assertIn(self.registry.host, result.stderr)
        self.assertEqual(image["findings"], [])
        self.assertEqual(self.issuer.issued_count(), 0)

    def test_anonymous_token_without_access(self):
        # as public registries answer for a private repository: a token, but insufficient_scope on use
        self.issuer.anonymous = "empty"
        result, image = self.scan_fails(self.ref, code="auth")
        self.assertEqual(image["findings"], [])

    def test_wrong_password(self):
        wrong = "Tok-Wr0ng-pa55word"
        result, image = self.scan_fails("--creds", f"{TOKEN_USER}:{wrong}", self.ref, code="auth")
        self.assertIn(self.registry.host, result.stderr)
        self.assertNoPassword(result, wrong, TOKEN_PASSWORD, user=TOKEN_USER)
        self.assertEqual(self.issuer.issued_count(), 0)

    def test_nonexistent_tag(self):
        self.scan_fails("--creds", f"{TOKEN_USER}:{TOKEN_PASSWORD}", self.registry.ref("team/app", "nope"),
                        code="not_found")


class TestTokenRefresh(RegistryTestCase):
    """A token that the registry accepts for 3 s, and a proxy that delays every blob download by 1.2 s:
    a -j1 scan of the 5-layer image (6 blobs, >= 7 s) can only succeed by getting new tokens."""

    LIFETIME = 3
    DELAY = 1.2

    @classmethod
    def setUpClass(cls):
        tmp = cls.class_tmp()
        cls.issuer = rh.TokenIssuer(tmp / "issuer", {TOKEN_USER: TOKEN_PASSWORD}, lifetime=300).start()
        cls.addClassCleanup(cls.issuer.stop)
        cls.registry = reg = cls.start_registry(auth=cls.issuer.registry_auth())
        push(f"oci-archive:{IMG['leaky']}:latest", reg.ref("slow/app", "v1"), creds=f"{TOKEN_USER}:{TOKEN_PASSWORD}")
        cls.proxy = rh.Proxy(reg.port, blob_delay=cls.DELAY).start()
        cls.addClassCleanup(cls.proxy.stop)

    def test_token_refreshed_during_scan(self):
        self.issuer.lifetime = self.LIFETIME
        self.addCleanup(setattr, self.issuer, "lifetime", 300)
        self.issuer.reset_counts()
        ref = self.registry.ref("slow/app", "v1", host=self.proxy.host)
        image = self.scan_ok("-j", "1", "--creds", f"{TOKEN_USER}:{TOKEN_PASSWORD}", ref)
        self.assertSameFindings(image, IMG["leaky"])
        blob_gets = len(self.proxy.statuses("blobs"))
        self.assertGreaterEqual(blob_gets, len(CREATED_BY) + 1)
        # Reliable: the scan lasted longer than a token's life, and the registry refuses expired tokens.
        self.assertGreater(self.issuer.issued_count(), 1,
                           f"one token for a {blob_gets}-blob scan that outlived it: {self.proxy.log}")


# ---- (d) digest mismatch ----------------------------------------------------------------------------

class TestDigestMismatch(RegistryTestCase):
    @classmethod
    def setUpClass(cls):
        cls.registry = reg = cls.start_registry()
        push(f"oci-archive:{IMG['leaky']}:latest", reg.ref("bad/layer", "v1"))
        push(f"oci-archive:{IMG['small-a']}:latest", reg.ref("bad/config", "v1"))
        push(f"oci-archive:{IMG['small-b']}:latest", reg.ref("bad/manifest", "v1"))
        _, manifest = registry_manifest(reg.ref("bad/layer", "v1"))
        cls.layer_digest = manifest["layers"][CORRUPT_LAYER]["digest"]
        corrupt_gzip_mtime(reg.blob_data_path(cls.layer_digest))
        corrupt_config(reg, reg.ref("bad/config", "v1"))
        cls.manifest_digest = corrupt_manifest(reg, reg.ref("bad/manifest", "v1"))

    def test_altered_layer(self):
        result, image = self.scan_fails("-j", "1", self.registry.ref("bad/layer", "v1"), code="digest_mismatch")
        [err] = [e for e in image["errors"] if e["code"] == "digest_mismatch"]
        self.assertEqual(err.get("layer_index"), CORRUPT_LAYER, err)
        self.assertIn(self.layer_digest, err["message"] + result.stderr)
        self.assertFalse(image["layers"][CORRUPT_LAYER]["complete"])
        self.assertTrue(all(l["complete"] for l in image["layers"] if l["index"] != CORRUPT_LAYER))
        # every other layer's findings are still there, unchanged
        expected = reference_image(self, IMG["leaky"])
        others = lambda img: sorted(finding_key(f) for f in img["findings"]
                                    if f["location"]["layer_index"] != CORRUPT_LAYER)
        self.assertEqual(others(image), others(expected))
        self.assertTrue(others(image))
        # findings of the altered layer, if reported at all, are the real ones
        self.assertLessEqual(set(findings_table(image)), set(findings_table(expected)))

    def test_altered_layer_json_and_text_agree_on_exit_status(self):
        r = h.run_command([h.layerleak_bin(), "scan", self.registry.ref("bad/layer", "v1")],
                          env=scan_env(self.home()), timeout=SCAN_TIMEOUT)
        self.assertEqual(r.returncode, 2, r.describe())
        r = h.run_command([h.layerleak_bin(), "scan", "--fail-on", "none", self.registry.ref("bad/layer", "v1")],
                          env=scan_env(self.home()), timeout=SCAN_TIMEOUT)
        self.assertEqual(r.returncode, 2, "an incomplete scan is exit 2 whatever --fail-on\n" + r.describe())

    def test_altered_config(self):
        self.scan_fails(self.registry.ref("bad/config", "v1"), code="digest_mismatch")

    def test_altered_manifest_by_digest(self):
        self.scan_fails(self.registry.ref("bad/manifest", self.manifest_digest), code="digest_mismatch")


# ---- (e) registry dies mid-scan -----------------------------------------------------------------------

class TestRegistryDiesMidScan(RegistryTestCase):
    @classmethod
    def setUpClass(cls):
        cls.registry = reg = cls.start_registry()
        push(f"oci-archive:{IMG['big']}:latest", reg.ref("big/app", "v1"))
        _, manifest = registry_manifest(reg.ref("big/app", "v1"))
        cls.big_size = manifest["layers"][1]["size"]
        assert cls.big_size > 6 << 20, f"fixture: big layer is {cls.big_size} bytes"
        cls.proxy = rh.Proxy(reg.port, cut_blob_over=4 << 20, cut_after=1 << 20, on_cut=reg.kill).start()
        cls.addClassCleanup(cls.proxy.stop)

    def test_registry_killed_during_blob_download(self):
        ref = self.registry.ref("big/app", "v1", host=self.proxy.host)
        result, image = self.scan_fails("-j", "1", ref, code="network", timeout=SCAN_TIMEOUT)
        self.assertTrue(self.proxy.cut_done.is_set(), "the big blob was never requested")
        self.assertFalse(self.registry.running())
        self.assertIn(self.proxy.host, result.stderr)
        # Retries are bounded once, not once per layer of retrying (about 4 s of backoff in all).
        self.assertLess(result.elapsed, 30)
        big = image["layers"][1] if len(image["layers"]) > 1 else None
        if big is not None:
            self.assertFalse(big["complete"])
        h.assert_no_full_secret(self, result.stdout + result.stderr)


class TestDroppedConnectionResumes(RegistryTestCase):
    """A connection that drops mid-blob (the registry itself stays up) is resumed with a Range request."""

    @classmethod
    def setUpClass(cls):
        cls.registry = reg = cls.start_registry()
        push(f"oci-archive:{IMG['big']}:latest", reg.ref("big/app", "v1"))
        cls.proxy = rh.Proxy(reg.port, cut_blob_over=4 << 20, cut_after=1 << 20, die_after_cut=False).start()
        cls.addClassCleanup(cls.proxy.stop)

    def test_resumed_with_range(self):
        ref = self.registry.ref("big/app", "v1", host=self.proxy.host)
        image = self.scan_ok("-j", "1", ref, expect_rc=1)
        self.assertTrue(self.proxy.cut_done.is_set(), "the big blob was never cut")
        ranges = [hd.get("range") for m, p, hd in self.proxy.requests if "/blobs/" in p and hd.get("range")]
        self.assertEqual(ranges, [f"bytes={1 << 20}-"], "exactly one resume, from the byte the cut happened at")
        self.assertIn(206, self.proxy.statuses())
        expected = reference_image(self, IMG["big"])
        self.assertEqual([l["diff_id"] for l in image["layers"]], [l["diff_id"] for l in expected["layers"]])
        self.assertEqual(findings_table(image, True), findings_table(expected, True))


class TestRedirectToBlobStorage(RegistryTestCase):
    """Blobs redirected (307) to storage on another origin: fetched from there, and the registry's
    Authorization header never goes with them."""

    @classmethod
    def setUpClass(cls):
        htpasswd = rh.write_htpasswd(cls.class_tmp() / "htpasswd", {USER: PASSWORD})
        cls.registry = reg = cls.start_registry(auth=("htpasswd", htpasswd))
        push(f"oci-archive:{IMG['leaky']}:latest", reg.ref("app/oci", "v1"), creds=f"{USER}:{PASSWORD}")
        cls.store = rh.BlobStore(reg).start()
        cls.addClassCleanup(cls.store.stop)
        cls.proxy = rh.Proxy(reg.port, redirect_blobs_to=cls.store).start()
        cls.addClassCleanup(cls.proxy.stop)

    def test_redirect_drops_authorization(self):
        ref = self.registry.ref("app/oci", "v1", host=self.proxy.host)
        image = self.scan_ok("--creds", f"{USER}:{PASSWORD}", ref)
        self.assertSameFindings(image, IMG["leaky"])
        # every layer blob and the config blob
        self.assertEqual(self.proxy.statuses().count(307), len(CREATED_BY) + 1, "every blob was redirected")
        self.assertEqual(len(self.store.requests), len(CREATED_BY) + 1)
        for path, headers in self.store.requests:
            self.assertNotIn("authorization", headers, f"Authorization sent to blob storage for {path}")
        blob_gets = [hd for m, p, hd in self.proxy.requests if "/blobs/" in p and m == "GET"]
        self.assertTrue(all("authorization" in hd for hd in blob_gets), "the registry itself did get credentials")


class TestTlsVerification(RegistryTestCase):
    """A registry on HTTPS with a self-signed certificate: refused by default (TLS is verified, and a
    loopback host falls back to plain HTTP only when nothing verifiable answers), accepted with
    --tls-verify=false, and accepted when the certificate is trusted through SSL_CERT_FILE."""

    @classmethod
    def setUpClass(cls):
        cls.cert, key = rh.make_tls_cert(cls.class_tmp())
        cls.registry = reg = cls.start_registry(tls=(cls.cert, key))
        push(f"oci-archive:{IMG['leaky']}:latest", reg.ref("app/oci", "v1"))

    def test_self_signed_refused_by_default(self):
        result, _ = self.scan_fails(self.registry.ref("app/oci", "v1"), code="network")
        self.assertRegex(result.stderr.lower(), "certificate|ssl|tls")

    def test_tls_verify_false(self):
        image = self.scan_ok("--tls-verify=false", self.registry.ref("app/oci", "v1"))
        self.assertSameFindings(image, IMG["leaky"])

    def test_trusted_certificate(self):
        env = scan_env(self.home())
        env["SSL_CERT_FILE"] = str(self.cert)
        image = self.scan_ok(self.registry.ref("app/oci", "v1"), env=env)
        self.assertSameFindings(image, IMG["leaky"])


if __name__ == "__main__":
    unittest.main()
