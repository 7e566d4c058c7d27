"""layerleak on images made by the real tools: umoci builds an OCI layout layer by layer (whiteouts,
overwrites, an opaque directory, an empty_layer history entry), skopeo converts it to a docker-archive,
oci-archives (gzip and zstd) and other layouts. Every format must give the same findings, with layer
digests, diffIDs and compression that agree with what the tools themselves report.

What the tools do (umoci 0.4.7, skopeo 1.9.3), checked in test_tools_wrote_what_we_expect:
- `umoci repack` writes a `.wh.<name>` whiteout for a deleted file or directory; when a directory is
  removed and recreated it writes one whiteout per removed file, never an opaque marker. The opaque case
  (`.wh..wh..opq`) is therefore made with `umoci raw add-layer` from a tar written here.
- `umoci config` adds a history entry with `empty_layer: true`.
- skopeo's docker-archive has uncompressed `<diffID>.tar` layers and records RepoTags in the normalized
  form (`docker.io/example/app:latest`); it cannot add a second image to an existing docker-archive
  ("docker-archive doesn't support modifying existing images"), `--additional-tag` only adds tags.
- `skopeo copy --dest-oci-accept-uncompressed-layers docker-archive:... oci:...` stores uncompressed layers
  but labels them `application/vnd.oci.image.layer.v1.tar+gzip`: a reader must sniff, not trust the name.

Environment (set by CTest): LAYERLEAK_BIN, LAYERLEAK_FIXTURE_TOOL, LAYERLEAK_SOURCE_DIR; umoci and skopeo on
PATH. Missing ones are failures, never skips. Standard library only.
"""

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import tempfile
import unittest
from pathlib import Path

import helpers as h
from helpers import (ACCESS_KEY, SECRET_KEY, SECRET_KEY_2, SECRET_KEY_3, SECRET_KEY_4, SECRET_KEY_5,
                     fingerprint, redact)

ENV_CONTENT = f"# app settings\nSCW_ACCESS_KEY={ACCESS_KEY}\nSCW_SECRET_KEY={SECRET_KEY}\n"
KEEP_CONTENT = f"SCW_SECRET_KEY={SECRET_KEY_2}\n"
KEEP_CONTENT_CLEAN = "SCW_SECRET_KEY=\n"
RUN_CONTENT = f"#!/bin/sh\nexport SCALEWAY_SECRET_KEY={SECRET_KEY_5}\nexec /app/server\n"
CONF_CONTENT = f'scw:\n  SCALEWAY_TOKEN: "{SECRET_KEY_3}"\n'
CFG_CONTENT = f"SCW_TOKEN={SECRET_KEY_4}\n"
CONTENT_OF = {"/app/.env": ENV_CONTENT, "/app/keep.env": KEEP_CONTENT, "/app/run.sh": RUN_CONTENT,
              "/conf/a.yaml": CONF_CONTENT, "/opt/cfg/scw.env": CFG_CONTENT}

CREATED_BY = [
    "COPY app /app",                      # layer 0, history 0
    "RUN rm /app/.env",                   # layer 1, history 1   (history 2: umoci config, empty_layer)
    "RUN rm -rf /conf && mkdir /conf",    # layer 2, history 3
    "COPY cfg /opt/cfg",                  # layer 3, history 4   (opaque directory)
    "COPY README.txt /",                  # layer 4, history 5   (clean)
]
HISTORY_INDEX = [0, 1, 3, 4, 5]


def _expected(rule_id, path, secret, visibility, hidden_by, paired=None):
    line, column, offset = h.text_position(CONTENT_OF[path], secret)
    return {"summary": (rule_id, 0, path, line, column, visibility, hidden_by), "secret": secret,
            "offset": offset, "paired": paired}


EXPECTED = [
    _expected("scaleway.access-key", "/app/.env", ACCESS_KEY, "deleted", 1),
    _expected("scaleway.secret-key", "/app/.env", SECRET_KEY, "deleted", 1, paired=ACCESS_KEY),
    _expected("scaleway.secret-key", "/app/keep.env", SECRET_KEY_2, "overwritten", 1),
    _expected("scaleway.secret-key", "/app/run.sh", SECRET_KEY_5, "runtime", None),
    _expected("scaleway.secret-key", "/conf/a.yaml", SECRET_KEY_3, "deleted", 2),
    _expected("scaleway.secret-key", "/opt/cfg/scw.env", SECRET_KEY_4, "deleted", 3),
]

IMG = {}       # name -> path or transport string
_TMP = None
LEAKY = None   # the UmociImage


def _layer0(rootfs):
    for d in ("app", "conf", "opt/cfg"):
        (rootfs / d).mkdir(parents=True, exist_ok=True)
    (rootfs / "app" / ".env").write_text(ENV_CONTENT)
    (rootfs / "app" / "keep.env").write_text(KEEP_CONTENT)
    (rootfs / "app" / "run.sh").write_text(RUN_CONTENT)
    (rootfs / "app" / "run.sh").chmod(0o755)
    (rootfs / "conf" / "a.yaml").write_text(CONF_CONTENT)
    (rootfs / "conf" / "b.txt").write_text("b\n")
    (rootfs / "opt" / "cfg" / "scw.env").write_text(CFG_CONTENT)


def _layer1(rootfs):
    (rootfs / "app" / ".env").unlink()
    (rootfs / "app" / "keep.env").write_text(KEEP_CONTENT_CLEAN)


def _layer2(rootfs):
    shutil.rmtree(rootfs / "conf")
    (rootfs / "conf").mkdir()
    (rootfs / "conf" / "c.txt").write_text("clean\n")


def _layer4(rootfs):
    (rootfs / "README.txt").write_text("This image is clean from here on.\n")


def _opaque_layer_tar(path):
    """opt/cfg/.wh..wh..opq hides everything below /opt/cfg from lower layers; new.env is added."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name in ("opt", "opt/cfg"):
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
        for name, data in (("opt/cfg/.wh..wh..opq", b""), ("opt/cfg/new.env", b"MODE=production\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))


def setUpModule():
    global _TMP, LEAKY
    h.layerleak_bin()
    h.fixture_tool()
    h.source_dir()
    h.require_tool("umoci")
    h.require_tool("skopeo")
    _TMP = tempfile.TemporaryDirectory(prefix="layerleak-integration-")
    root = Path(_TMP.name)

    LEAKY = h.UmociImage(root / "leaky")
    LEAKY.add_layer(CREATED_BY[0], _layer0)
    LEAKY.add_layer(CREATED_BY[1], _layer1)
    LEAKY.config("--config.env", "FOO=bar")
    LEAKY.add_layer(CREATED_BY[2], _layer2)
    _opaque_layer_tar(root / "opaque.tar")
    LEAKY.add_raw_layer(CREATED_BY[3], root / "opaque.tar")
    LEAKY.add_layer(CREATED_BY[4], _layer4)
    src = f"oci:{LEAKY.layout}:latest"
    IMG["layout"] = str(LEAKY.layout)

    IMG["docker-archive"] = str(root / "d.tar")
    h.skopeo("copy", "-q", src, f"docker-archive:{IMG['docker-archive']}:example/app:latest")
    IMG["docker-archive-2tags"] = str(root / "d2.tar")
    h.skopeo("copy", "-q", "--additional-tag", "example/app:v2", src,
             f"docker-archive:{IMG['docker-archive-2tags']}:example/app:latest")
    IMG["oci-archive"] = str(root / "o.tar")
    h.skopeo("copy", "-q", src, f"oci-archive:{IMG['oci-archive']}:latest")
    IMG["oci-archive-zstd"] = str(root / "oz.tar")
    h.skopeo("copy", "-q", "--dest-compress-format", "zstd", src, f"oci-archive:{IMG['oci-archive-zstd']}:latest")
    IMG["layout-zstd"] = str(root / "layout-zstd")
    h.skopeo("copy", "-q", "--dest-compress-format", "zstd", src, f"oci:{IMG['layout-zstd']}:v1")
    IMG["layout-uncompressed"] = str(root / "layout-none")
    h.skopeo("copy", "-q", "--dest-oci-accept-uncompressed-layers", f"docker-archive:{IMG['docker-archive']}",
             f"oci:{IMG['layout-uncompressed']}:latest")

    clean = h.UmociImage(root / "clean")
    clean.add_layer("COPY settings /srv", lambda rootfs: (
        (rootfs / "srv").mkdir(),
        (rootfs / "srv" / "settings.env").write_text(
            "SCW_DEFAULT_PROJECT_ID=6f2c1b7e-3d4a-4c5b-9e8f-0a1b2c3d6b7c\n"
            "SCW_ACCESS_KEY=SCWXXXXXXXXXXXXXXXXX\nSCW_SECRET_KEY=${SCW_SECRET_KEY}\n")))
    clean.config("--config.env", "MODE=prod")
    clean.add_layer("RUN echo ok > /srv/ok", lambda rootfs: (rootfs / "srv" / "ok").write_text("ok\n"))
    IMG["clean-layout"] = str(clean.layout)
    IMG["clean-docker-archive"] = str(root / "clean-d.tar")
    h.skopeo("copy", "-q", f"oci:{clean.layout}:latest", f"docker-archive:{IMG['clean-docker-archive']}:example/clean:1")


def tearDownModule():
    if _TMP is not None:
        _TMP.cleanup()


def findings_table(image):
    return sorted((h.finding_summary(f), f["location"]["diff_id"], f["location"]["offset"], f["fingerprint"])
                  for f in image["findings"])


class RealToolsTestCase(unittest.TestCase):
    maxDiff = None

    def scan_image(self, arg, *options, expect_rc=1):
        result, doc = h.scan_json(self, *options, arg, expect_rc=expect_rc)
        h.assert_report_shape(self, doc)
        return h.only_image(self, doc)

    def assertExpectedFindings(self, image, expected=EXPECTED):
        self.assertEqual(sorted(h.finding_summary(f) for f in image["findings"]),
                         sorted(e["summary"] for e in expected), json.dumps(image["findings"], indent=1))


class TestToolBehaviour(RealToolsTestCase):
    """The fixtures are what the tests think they are (catches a tool upgrade changing them)."""

    def layer_members(self, layer_index):
        manifest = LEAKY.manifest()
        blob = LEAKY.blob_path(manifest["layers"][layer_index]["digest"])
        with tarfile.open(blob, "r:*") as tar:
            names = {m.name[2:] if m.name.startswith("./") else m.name for m in tar.getmembers()}
        return names - {".", ""}

    def test_tools_wrote_what_we_expect(self):
        self.assertEqual(len(LEAKY.manifest()["layers"]), 5)
        self.assertIn("app/.env", self.layer_members(0))
        self.assertIn("app/.wh..env", self.layer_members(1))
        self.assertIn("app/keep.env", self.layer_members(1))
        # umoci: remove + recreate a directory gives per-file whiteouts, not an opaque marker
        members2 = self.layer_members(2)
        self.assertIn("conf/.wh.a.yaml", members2)
        self.assertNotIn("conf/.wh..wh..opq", members2)
        self.assertIn("opt/cfg/.wh..wh..opq", self.layer_members(3))
        self.assertEqual(self.layer_members(4), {"README.txt"})
        history = LEAKY.config_json()["history"]
        self.assertEqual(len(history), 6)
        self.assertTrue(history[2].get("empty_layer"))
        self.assertEqual([history[i]["created_by"] for i in HISTORY_INDEX], CREATED_BY)

    def test_skopeo_docker_archive_layout(self):
        with tarfile.open(IMG["docker-archive"]) as tar:
            manifest = json.load(tar.extractfile("manifest.json"))
        self.assertEqual(len(manifest), 1, "one image per skopeo docker-archive")
        self.assertEqual(manifest[0]["RepoTags"], ["docker.io/example/app:latest"])
        diff_ids = LEAKY.config_json()["rootfs"]["diff_ids"]
        self.assertEqual(manifest[0]["Layers"], [d.split(":", 1)[1] + ".tar" for d in diff_ids])

    def test_skopeo_cannot_add_a_second_image_to_a_docker_archive(self):
        # Documents why there is no multi-image docker-archive made by skopeo here.
        tmp = h.make_tempdir(self)
        target = tmp / "two.tar"
        shutil.copy(IMG["docker-archive"], target)
        r = h.run_command([h.require_tool("skopeo"), "--insecure-policy", "copy", "-q", f"oci:{LEAKY.layout}:latest",
                           f"docker-archive:{target}:example/other:1"])
        self.assertNotEqual(r.returncode, 0, r.describe())


class TestFindings(RealToolsTestCase):
    def test_oci_layout_findings(self):
        image = self.scan_image(IMG["layout"])
        self.assertExpectedFindings(image)
        self.assertEqual(image["transport"], "oci")
        self.assertEqual(image["tags"], ["latest"])
        self.assertEqual(image["platform"], "linux/amd64")
        by_summary = {h.finding_summary(f): f for f in image["findings"]}
        for e in EXPECTED:
            f = by_summary[e["summary"]]
            self.assertEqual(f["secret"], redact(e["secret"]))
            self.assertEqual(f["fingerprint"], fingerprint(f["rule_id"], e["secret"]))
            self.assertEqual(f["paired_access_key"], None if e["paired"] is None else redact(e["paired"]))
            self.assertEqual(f["location"]["offset"], e["offset"])
            self.assertEqual(f["location"]["kind"], "layer")
            self.assertEqual(f["location"]["created_by"], "COPY app /app")

    def test_created_by_skips_empty_layer_history(self):
        image = self.scan_image(IMG["layout"])
        self.assertEqual([l["created_by"] for l in image["layers"]], CREATED_BY)
        self.assertEqual([l["history_index"] for l in image["layers"]], HISTORY_INDEX)
        self.assertNotIn("umoci config", [l["created_by"] for l in image["layers"]])

    def test_layer_entry_counts(self):
        image = self.scan_image(IMG["layout"])
        # Entries as listed in the blobs by Python's tarfile (the root "." entry included when present).
        for layer in image["layers"]:
            blob = LEAKY.blob_path(LEAKY.manifest()["layers"][layer["index"]]["digest"])
            with tarfile.open(blob, "r:*") as tar:
                self.assertEqual(layer["entries"], len(tar.getmembers()), f"layer {layer['index']}")

    def test_all_formats_agree(self):
        sources = [
            IMG["layout"], f"oci:{IMG['layout']}", f"oci:{IMG['layout']}:latest",
            IMG["oci-archive"], f"oci-archive:{IMG['oci-archive']}", f"oci-archive:{IMG['oci-archive']}:latest",
            IMG["oci-archive-zstd"], f"oci-archive:{IMG['oci-archive-zstd']}:latest",
            IMG["layout-zstd"], f"oci:{IMG['layout-zstd']}:v1",
            IMG["layout-uncompressed"],
            IMG["docker-archive"], f"docker-archive:{IMG['docker-archive']}",
            f"docker-archive:{IMG['docker-archive']}:@0",
            f"docker-archive:{IMG['docker-archive']}:docker.io/example/app:latest",
            IMG["docker-archive-2tags"],
        ]
        reference = None
        for source in sources:
            with self.subTest(source=source):
                image = self.scan_image(source)
                self.assertExpectedFindings(image)
                self.assertEqual([l["created_by"] for l in image["layers"]], CREATED_BY)
                self.assertEqual([l["history_index"] for l in image["layers"]], HISTORY_INDEX)
                table = findings_table(image)
                if reference is None:
                    reference = table
                self.assertEqual(table, reference, "findings (and diffIDs, offsets, fingerprints) differ")

    def test_text_report(self):
        r = h.scan(IMG["docker-archive"])
        self.assertEqual(r.returncode, 1, r.describe())
        for e in EXPECTED:
            _, _, path, line, column, visibility, hidden = e["summary"]
            self.assertIn(f"{path}:{line}:{column}", r.stdout)
            self.assertIn(redact(e["secret"]), r.stdout)
        for n in (1, 2, 3):
            self.assertIn(f"deleted by layer {n}", r.stdout)
        self.assertIn("overwritten by layer 1", r.stdout)
        self.assertIn("COPY app /app", r.stdout)
        h.assert_no_full_secret(self, r.stdout + r.stderr)

    def test_only_runtime(self):
        for source in (IMG["layout"], IMG["docker-archive"]):
            image = self.scan_image(source, "--only-runtime")
            self.assertExpectedFindings(image, [e for e in EXPECTED if e["summary"][5] == "runtime"])

    def test_clean_umoci_image_exits_0(self):
        for source in (IMG["clean-layout"], IMG["clean-docker-archive"]):
            with self.subTest(source=source):
                image = self.scan_image(source, expect_rc=0)
                self.assertEqual(image["findings"], [])
                self.assertEqual(len(image["layers"]), 2)
                self.assertEqual([l["created_by"] for l in image["layers"]],
                                 ["COPY settings /srv", "RUN echo ok > /srv/ok"])
                self.assertEqual([l["history_index"] for l in image["layers"]], [0, 2])
                r = h.scan(source)
                self.assertEqual(r.returncode, 0, r.describe())


class TestDigests(RealToolsTestCase):
    """Layer digests, diffIDs, sizes and compression agree with what skopeo (and the layout) say."""

    def check_against_skopeo(self, scan_arg, skopeo_ref, compression, media_type=None):
        image = self.scan_image(scan_arg)
        raw = h.skopeo("inspect", "--raw", skopeo_ref).stdout_bytes
        manifest = json.loads(raw)
        config = h.skopeo_json("inspect", "--config", skopeo_ref)
        layers = image["layers"]
        self.assertEqual([l["digest"] for l in layers], [d["digest"] for d in manifest["layers"]])
        self.assertEqual([l["diff_id"] for l in layers], config["rootfs"]["diff_ids"])
        self.assertEqual([l["compression"] for l in layers], [compression] * len(layers))
        self.assertEqual(image["config_digest"], manifest["config"]["digest"])
        for f in image["findings"]:
            loc = f["location"]
            self.assertEqual(loc["layer_digest"], manifest["layers"][loc["layer_index"]]["digest"])
            self.assertEqual(loc["diff_id"], config["rootfs"]["diff_ids"][loc["layer_index"]])
        if media_type is not None:
            self.assertEqual([l["media_type"] for l in layers], [media_type] * len(layers))
        return image, raw, manifest

    def check_oci(self, scan_arg, skopeo_ref, compression, media_type):
        image, raw, manifest = self.check_against_skopeo(scan_arg, skopeo_ref, compression, media_type)
        self.assertEqual(image["manifest_digest"], "sha256:" + hashlib.sha256(raw).hexdigest())
        self.assertEqual([l["compressed_size"] for l in image["layers"]], [d["size"] for d in manifest["layers"]])
        self.assertEqual([l["media_type"] for l in image["layers"]], [d["mediaType"] for d in manifest["layers"]])
        return image

    def test_oci_layout(self):
        image = self.check_oci(IMG["layout"], f"oci:{IMG['layout']}:latest", "gzip",
                               "application/vnd.oci.image.layer.v1.tar+gzip")
        # Read the layout by hand too.
        digest, manifest, config = h.read_layout_manifest(IMG["layout"])
        self.assertEqual(image["manifest_digest"], digest)
        self.assertEqual([l["digest"] for l in image["layers"]], [d["digest"] for d in manifest["layers"]])
        self.assertEqual([l["diff_id"] for l in image["layers"]], config["rootfs"]["diff_ids"])
        # ... and recompute the diffIDs from the blobs.
        for layer in image["layers"]:
            blob = LEAKY.blob_path(layer["digest"])
            self.assertEqual(layer["digest"], "sha256:" + hashlib.sha256(blob.read_bytes()).hexdigest())
            with subprocess.Popen(["gzip", "-dc", str(blob)], stdout=subprocess.PIPE) as proc:
                diff_id = "sha256:" + hashlib.sha256(proc.stdout.read()).hexdigest()
            self.assertEqual(layer["diff_id"], diff_id)

    def test_oci_archive_gzip(self):
        self.check_oci(IMG["oci-archive"], f"oci-archive:{IMG['oci-archive']}:latest", "gzip",
                       "application/vnd.oci.image.layer.v1.tar+gzip")

    def test_oci_archive_zstd(self):
        self.check_oci(IMG["oci-archive-zstd"], f"oci-archive:{IMG['oci-archive-zstd']}:latest", "zstd",
                       "application/vnd.oci.image.layer.v1.tar+zstd")

    def test_oci_layout_zstd(self):
        self.check_oci(IMG["layout-zstd"], f"oci:{IMG['layout-zstd']}:v1", "zstd",
                       "application/vnd.oci.image.layer.v1.tar+zstd")

    def test_uncompressed_layers_mislabelled_gzip(self):
        # skopeo labels these uncompressed layers +gzip; compression is sniffed from the bytes.
        _, manifest, _ = h.read_layout_manifest(IMG["layout-uncompressed"])
        for d in manifest["layers"]:
            blob = Path(IMG["layout-uncompressed"]) / "blobs" / "sha256" / d["digest"].split(":")[1]
            self.assertNotEqual(blob.read_bytes()[:2], b"\x1f\x8b", "fixture: layer unexpectedly gzip")
        image = self.check_oci(IMG["layout-uncompressed"], f"oci:{IMG['layout-uncompressed']}:latest", "none",
                               "application/vnd.oci.image.layer.v1.tar+gzip")
        # Uncompressed: the blob digest is the diffID.
        self.assertEqual([l["digest"] for l in image["layers"]], [l["diff_id"] for l in image["layers"]])

    def test_docker_archive(self):
        # skopeo presents a docker-archive with a synthesized schema2 manifest whose layer digests are the
        # (uncompressed) diffIDs.
        image, _, _ = self.check_against_skopeo(IMG["docker-archive"], f"docker-archive:{IMG['docker-archive']}",
                                                "none")
        self.assertEqual(image["transport"], "docker-archive")
        self.assertEqual(image["tags"], ["docker.io/example/app:latest"])
        self.assertEqual([l["digest"] for l in image["layers"]], [l["diff_id"] for l in image["layers"]])
        # The config is the very blob umoci wrote.
        self.assertEqual(image["config_digest"], LEAKY.manifest()["config"]["digest"])

    def test_docker_archive_additional_tag(self):
        path = IMG["docker-archive-2tags"]
        image = self.scan_image(path)
        self.assertEqual(sorted(image["tags"]), ["docker.io/example/app:latest", "docker.io/example/app:v2"])
        for ref in ("docker.io/example/app:v2", "docker.io/example/app:latest", "@0"):
            with self.subTest(ref=ref):
                self.assertExpectedFindings(self.scan_image(f"docker-archive:{path}:{ref}"))
        r = h.scan(f"docker-archive:{path}:@1")
        self.assertEqual(r.returncode, 2, "there is one image (with two tags), so @1 does not exist\n" + r.describe())

    def test_docker_archive_short_reference_like_skopeo(self):
        # The REF grammar is skopeo's: skopeo itself accepts the familiar short name for the tag it wrote
        # as docker.io/example/app:latest; layerleak should pick the same image.
        path = IMG["docker-archive"]
        h.skopeo("inspect", "--raw", f"docker-archive:{path}:example/app:latest")
        image = self.scan_image(f"docker-archive:{path}:example/app:latest")
        self.assertExpectedFindings(image)


class TestCorruption(RealToolsTestCase):
    def corrupted_copy(self):
        tmp = h.make_tempdir(self)
        layout = tmp / "layout"
        shutil.copytree(IMG["layout"], layout)
        _, manifest, _ = h.read_layout_manifest(layout)
        return layout, manifest

    def assertLayerError(self, layout, layer_index, digest, codes):
        r, doc = h.scan_json(self, str(layout), expect_rc=2)
        h.assert_report_shape(self, doc)
        image = h.only_image(self, doc)
        self.assertFalse(doc["complete"])
        self.assertFalse(image["complete"])
        errors = [e for e in image["errors"] if e.get("layer_index") == layer_index]
        self.assertTrue(errors, f"no error for layer {layer_index}: {image['errors']}")
        self.assertIn(errors[0]["code"], codes)
        self.assertIn(f"layer {layer_index}", errors[0]["message"])
        self.assertIn(digest, errors[0]["message"])
        self.assertIn(h.ERROR_PREFIX + errors[0]["message"], r.stderr)
        self.assertFalse(image["layers"][layer_index]["complete"])
        # Layer 0 is intact: its findings are still reported. (Their visibility is not checked: when the
        # layer holding a whiteout cannot be read, the deletion cannot be known.)
        got = {h.finding_summary(f)[:5] for f in image["findings"]}
        for e in EXPECTED:
            if e["summary"][1] != layer_index:
                self.assertIn(e["summary"][:5], got)
        self.assertEqual(h.scan("--fail-on", "none", str(layout)).returncode, 2)
        return errors[0]

    def test_flipped_byte_caught_only_by_digest(self):
        # A byte of the gzip header's MTIME field: the stream still inflates fine, only the blob digest
        # can tell.
        layout, manifest = self.corrupted_copy()
        digest = manifest["layers"][3]["digest"]
        h.flip_byte(layout / "blobs" / "sha256" / digest.split(":")[1], 5)
        err = self.assertLayerError(layout, 3, digest, {"digest_mismatch"})
        self.assertIn("mismatch", err["message"])

    def test_flipped_byte_in_compressed_data(self):
        layout, manifest = self.corrupted_copy()
        digest = manifest["layers"][4]["digest"]
        blob = layout / "blobs" / "sha256" / digest.split(":")[1]
        h.flip_byte(blob, blob.stat().st_size // 2)
        self.assertLayerError(layout, 4, digest, {"digest_mismatch", "malformed"})

    def test_missing_layer_blob(self):
        layout, manifest = self.corrupted_copy()
        digest = manifest["layers"][2]["digest"]
        (layout / "blobs" / "sha256" / digest.split(":")[1]).unlink()
        self.assertLayerError(layout, 2, digest, {"not_found", "missing", "malformed"})


if __name__ == "__main__":
    unittest.main()
