"""Hostile images: every case is generated here (no checked-in blobs), scanned by the real binary, and must
end as specified: exit 2 with a clear message for malformed or mismatched content, exit 0/1 with the skip in
stats.skipped for limits; always valid JSON, never a crash, within seconds and bounded memory.

Run with LAYERLEAK_HOSTILE_TABLE=1 to print the table (case, exit status, seconds, peak RSS) for notes.
"""
import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile
import time
import unittest
import zipfile
from pathlib import Path

from helpers import build_fixture, file_entry, layerleak_bin, make_class_tempdir

SECRET = "6f2c1b7e-3d4a-4c5b-9e8f-0a1b2c3d6b7c"
KEY_FILE = f"SCW_SECRET_KEY={SECRET}\n"
TIME_LIMIT_S = 30
RSS_LIMIT_MB = 256
TABLE = []


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tar_bytes(members):
    """members: list of (name, bytes) or tarfile.TarInfo with data."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def raw_header(name, size, typeflag=b"0"):
    """A ustar header written by hand (for names and sizes tarfile refuses)."""
    header = bytearray(512)
    header[0:len(name[:100])] = name[:100]
    header[100:108] = b"0000644\0"
    header[108:116] = b"0000000\0"
    header[116:124] = b"0000000\0"
    header[124:136] = f"{size:011o}\0".encode() if size < 8**11 else b"\x80" + size.to_bytes(11, "big")
    header[136:148] = b"00000000000\0"
    header[156:157] = typeflag
    header[257:263] = b"ustar\0"
    header[263:265] = b"00"
    header[148:156] = b"        "
    header[148:156] = f"{sum(header):06o}\0 ".encode()
    return bytes(header)


def write_layout(directory, layers, config_extra=None, manifest_hook=None, index_text=None):
    """An OCI layout from raw layer blobs: layers = [(blob_bytes, diff_id, media_type)]."""
    directory = Path(directory)
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)

    def put(data):
        digest = sha(data)
        (blobs / digest.split(":")[1]).write_bytes(data)
        return digest

    config = {"architecture": "amd64", "os": "linux", "config": {},
              "rootfs": {"type": "layers", "diff_ids": [diff for _, diff, _ in layers]},
              "history": [{"created_by": f"step {i}"} for i in range(len(layers))]}
    config.update(config_extra or {})
    config_bytes = json.dumps(config).encode()
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(config_bytes),
                           "size": len(config_bytes)},
                "layers": [{"mediaType": media, "digest": put(blob), "size": len(blob)} for blob, _, media in layers]}
    if manifest_hook:
        manifest = manifest_hook(manifest)
    manifest_bytes = json.dumps(manifest).encode() if isinstance(manifest, dict) else manifest
    manifest_digest = put(manifest_bytes)
    (directory / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    if index_text is None:
        index_text = json.dumps({"schemaVersion": 2, "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest,
             "size": len(manifest_bytes)}]})
    (directory / "index.json").write_text(index_text)
    return directory


def gz_layer(tar):
    return (gzip.compress(tar, compresslevel=1, mtime=0), sha(tar), "application/vnd.oci.image.layer.v1.tar+gzip")


def run_measured(args):
    """Runs the binary; returns (returncode, stdout, stderr, seconds)."""
    start = time.monotonic()
    proc = subprocess.Popen([layerleak_bin(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        stdout, stderr = proc.communicate(timeout=TIME_LIMIT_S * 4)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"hang: {args}")
    seconds = time.monotonic() - start
    return proc.returncode, stdout, stderr, seconds


def peak_rss_mb(args):
    """Peak RSS of the scanner process alone, from GNU time (a fork of this Python process would count
    the interpreter's own memory)."""
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", layerleak_bin(), *args], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, errors="replace", timeout=TIME_LIMIT_S * 4)
    return int(proc.stderr.strip().splitlines()[-1]) / 1024


class HostileImages(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = make_class_tempdir(cls)

    @classmethod
    def tearDownClass(cls):
        if os.environ.get("LAYERLEAK_HOSTILE_TABLE") and TABLE:
            print("\n| case | exit | seconds | peak RSS MB |\n|---|---|---|---|")
            for row in TABLE:
                print("| %s | %d | %.2f | %.1f |" % row)

    def check(self, name, image, expect_rc, message=None, skipped=None, extra=()):
        args = ["scan", "--no-progress", "--format", "json", *extra, str(image)]
        rc, stdout, stderr, seconds = run_measured(args)
        rss = peak_rss_mb(args)
        TABLE.append((name, rc, seconds, rss))
        detail = f"{name}: rc={rc}\nstderr: {stderr.decode(errors='replace')[:2000]}"
        self.assertIn(rc, expect_rc if isinstance(expect_rc, tuple) else (expect_rc,), detail)
        self.assertLess(seconds, TIME_LIMIT_S, detail)
        self.assertLess(rss, RSS_LIMIT_MB, detail)
        doc = json.loads(stdout)  # valid JSON whatever happened
        image_doc = doc["images"][0]
        self.assertEqual(doc["complete"], rc != 2, detail)
        if rc == 2:
            self.assertFalse(image_doc["complete"])
            self.assertTrue(image_doc["errors"], detail)
            self.assertIn("layerleak: error:", stderr.decode(errors="replace"))
        if message:
            text = " ".join(e["message"] for e in image_doc["errors"]) + stderr.decode(errors="replace")
            self.assertIn(message, text, detail)
        if skipped:
            reasons = " ".join(s["reason"] for s in image_doc["stats"]["skipped"])
            self.assertIn(skipped, reasons, detail + "\n" + json.dumps(image_doc["stats"]))
        return image_doc

    def fixture(self, name, layers, options=None, fmt="oci-archive"):
        spec = {"images": [{"layers": layers}], "options": options or {}}
        out = self.tmp / (name + (".tar" if fmt != "oci-dir" else ""))
        return build_fixture(spec, out, fmt)

    def leaky_layers(self, compression):
        return [{"compression": compression, "entries": [file_entry("app/.env", KEY_FILE)]},
                {"compression": compression, "entries": [file_entry("etc/motd", "hello\n")]}]

    # ---- malformed or mismatched content: exit 2, message, the rest kept ----------------------------

    def test_truncated_gzip_layer(self):
        image = self.fixture("trunc-gz", self.leaky_layers("gzip"), {"truncate_last_layer_blob": True})
        doc = self.check("truncated gzip layer", image, 2, "layer 1")
        self.assertEqual(len(doc["findings"]), 1)  # layer 0 was complete

    def test_truncated_zstd_layer(self):
        image = self.fixture("trunc-zst", self.leaky_layers("zstd"), {"truncate_last_layer_blob": True})
        self.check("truncated zstd layer", image, 2, "layer 1")

    def test_blob_digest_mismatch(self):
        image = self.fixture("corrupt", self.leaky_layers("gzip"), {"corrupt_last_layer_blob": True})
        self.check("layer blob digest mismatch", image, 2, "layer 1")

    def test_blob_digest_mismatch_uncompressed_and_zstd(self):
        # The digests are computed on tap threads beside the scan (an uncompressed blob's once, as its
        # diffID too): a changed byte must still end the layer with the blob's mismatch.
        for compression in ("none", "zstd"):
            with self.subTest(compression=compression):
                image = self.fixture(f"corrupt-{compression}", self.leaky_layers(compression),
                                     {"corrupt_last_layer_blob": True})
                self.check("layer blob digest mismatch", image, 2, "layer 1")

    def test_blob_longer_than_its_descriptor(self):
        # A blob that goes on after what its descriptor declares (zeros after a valid gzip member or after
        # the tar's end-of-archive blocks, which a reader would otherwise accept as padding for ever) ends
        # the layer as soon as it does; layer 0 stays scanned.
        for compression in ("gzip", "none"):
            with self.subTest(compression=compression):
                layout = self.fixture(f"longer-{compression}", self.leaky_layers(compression), fmt="oci-dir")
                index = json.loads((layout / "index.json").read_text())
                manifest_digest = index["manifests"][0]["digest"].split(":")[1]
                manifest = json.loads((layout / "blobs" / "sha256" / manifest_digest).read_text())
                last = manifest["layers"][-1]
                with open(layout / "blobs" / "sha256" / last["digest"].split(":")[1], "ab") as blob:
                    blob.write(b"\0" * (4 << 20))
                doc = self.check(f"blob longer than declared ({compression})", layout, 2,
                                 f"layer blob is longer than the {last['size']} bytes its descriptor declares")
                self.assertEqual(len(doc["findings"]), 1)  # layer 0 was complete

    def test_blob_shorter_than_its_descriptor(self):
        # A registry or layout that declares a layer larger than its blob (the digest still matching) ends
        # the layer with an error: the size is what a pull checks a blob against, and orders the scan.
        tar = tar_bytes([("app/.env", f"SCW_SECRET_KEY={SECRET}\n".encode())])
        for extra in (1, 10 ** 12):
            with self.subTest(extra=extra):
                def lie(manifest, extra=extra):
                    manifest["layers"][0]["size"] += extra
                    return manifest
                layer = gz_layer(tar)
                layout = write_layout(self.tmp / f"shorter-{extra}", [layer], manifest_hook=lie)
                self.check(f"blob shorter than declared (+{extra})", f"oci:{layout}", 2,
                           f"layer blob is {len(layer[0])} bytes, shorter than the {len(layer[0]) + extra} bytes")

    def test_descriptor_size_that_is_not_a_byte_count(self):
        tar = tar_bytes([("a.txt", b"x")])
        for size in (-5, 1234.5, "12", 18446744073709551621):
            with self.subTest(size=size):
                def bad(manifest, size=size):
                    manifest["layers"][0]["size"] = size
                    return manifest
                layout = write_layout(self.tmp / f"size-{abs(hash(str(size)))}", [gz_layer(tar)], manifest_hook=bad)
                self.check(f"descriptor size {size}", f"oci:{layout}", 2, "is not a byte count")

    def test_diff_id_mismatch(self):
        image = self.fixture("diffid", self.leaky_layers("gzip"), {"wrong_diff_id": True})
        self.check("config diff_ids do not match", image, 2, "diffID")

    def test_missing_blob(self):
        image = self.fixture("missing", self.leaky_layers("gzip"), {"drop_first_layer_blob": True})
        self.check("manifest references a missing blob", image, 2, "missing")

    def test_invalid_json_manifest(self):
        layout = write_layout(self.tmp / "badjson", [gz_layer(tar_bytes([("a", b"x")]))],
                              manifest_hook=lambda m: b'{"schemaVersion": 2, "config": ')
        self.check("invalid JSON manifest", f"oci:{layout}", 2, "invalid JSON")

    def test_deeply_nested_json_index(self):
        layout = write_layout(self.tmp / "deepjson", [gz_layer(tar_bytes([("a", b"x")]))],
                              index_text="[" * 200000 + "]" * 200000)
        self.check("index.json nested 200000 deep", f"oci:{layout}", 2, "nested deeper")

    def test_deeply_nested_config(self):
        layout = write_layout(self.tmp / "deepcfg", [gz_layer(tar_bytes([("a", b"x")]))],
                              config_extra={"config": {"Labels": {}}, "x": json.loads("[" * 60 + "]" * 60)})
        # 60 levels is within the limit and must just work
        self.check("config nested 60 deep (allowed)", f"oci:{layout}", 0)

    def test_oversized_json(self):
        layout = write_layout(self.tmp / "bigjson", [gz_layer(tar_bytes([("a", b"x")]))],
                              index_text=json.dumps({"schemaVersion": 2, "manifests": [], "pad": "x" * (40 << 20)}))
        self.check("index.json of 40 MB", f"oci:{layout}", 2, "limit")

    def test_layer_not_a_tar(self):
        blob = gzip.compress(b"this is not a tar archive at all\n" * 100, mtime=0)
        layout = write_layout(self.tmp / "notar", [(blob, sha(gzip.decompress(blob)), "application/vnd.oci.image.layer.v1.tar+gzip")])
        self.check("layer that is not a tar", f"oci:{layout}", 2, "as a tar archive")

    def test_zero_byte_layer(self):
        layout = write_layout(self.tmp / "empty", [(b"", sha(b""), "application/vnd.oci.image.layer.v1.tar")])
        self.check("0-byte layer", f"oci:{layout}", 2, "layer 0")

    def test_unknown_media_type_is_scanned(self):
        blob, diff, _ = gz_layer(tar_bytes([("app/.env", KEY_FILE.encode())]))
        layout = write_layout(self.tmp / "unknownmt", [(blob, diff, "application/x-unheard-of")])
        doc = self.check("unknown layer media type (sniffed, scanned)", f"oci:{layout}", 1)
        self.assertEqual(doc["findings"][0]["location"]["path"], "/app/.env")

    def test_header_claims_100_gib(self):
        tar = raw_header(b"huge.bin", 100 << 30) + b"\0" * 4096
        layout = write_layout(self.tmp / "huge", [(tar, sha(tar), "application/vnd.oci.image.layer.v1.tar")])
        self.check("tar header claiming a 100 GiB file", f"oci:{layout}", 2, "layer 0")

    # ---- limits: exit 0/1 with the skip reported ------------------------------------------------------

    def test_gzip_bomb_layer(self):
        # A tar holding one 2 GiB file of zeros, as 33 gzip members (cheap to build, 2 GiB to inflate).
        size = 2 << 30
        chunk = 64 << 20
        header = raw_header(b"zeros.bin", size)
        zero_member = gzip.compress(b"\0" * chunk, compresslevel=9, mtime=0)
        blob = gzip.compress(header, mtime=0) + zero_member * (size // chunk) + gzip.compress(b"\0" * 1024, mtime=0)
        digest = hashlib.sha256(header)
        zeros = b"\0" * chunk
        for _ in range(size // chunk):
            digest.update(zeros)
        digest.update(b"\0" * 1024)
        layout = write_layout(self.tmp / "gzbomb", [(blob, "sha256:" + digest.hexdigest(), "application/vnd.oci.image.layer.v1.tar+gzip")])
        self.check("gzip bomb: 2 GiB of zeros in a layer", f"oci:{layout}", 0, skipped="--max-file-size")

    def test_zip_bomb_in_layer(self):
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
            z.writestr("zeros.txt", b"\0" * (256 << 20))
            z.writestr("config/.env", KEY_FILE)
        layers = [{"compression": "gzip", "entries": [{"type": "file", "path": "opt/bomb.zip",
                                                      "content_base64": __import__("base64").b64encode(out.getvalue()).decode()}]}]
        image = self.fixture("zipbomb", layers)
        self.check("zip bomb inside a layer", image, (0, 1), skipped="ratio")

    def test_thirty_level_nest(self):
        data = KEY_FILE.encode()
        name = ".env"
        for level in range(30):
            data = gzip.compress(tar_bytes([(name, data)]), mtime=0)
            name = f"level{level}.tar.gz"
        layers = [{"compression": "gzip", "entries": [{"type": "file", "path": "data/" + name,
                                                      "content_base64": __import__("base64").b64encode(data).decode()}]}]
        image = self.fixture("nest30", layers)
        self.check("30-level nested archives", image, (0, 1), skipped="--max-archive-depth")

    # ---- names are data --------------------------------------------------------------------------------

    def test_dot_dot_and_absolute_names(self):
        layers = [{"compression": "gzip", "entries": [
            {"type": "raw", "name": "../../etc/evil.env", "content": KEY_FILE},
            {"type": "raw", "name": "/abs/path.env", "content": KEY_FILE}]}]
        doc = self.check("tar names with ../ and absolute paths", self.fixture("dotdot", layers), 1)
        self.assertEqual(sorted(f["location"]["path"] for f in doc["findings"]), ["/abs/path.env", "/etc/evil.env"])
        self.assertFalse((Path("/etc/evil.env")).exists())

    def test_symlink_loop(self):
        layers = [{"compression": "gzip", "entries": [
            {"type": "symlink", "path": "a", "target": "b"}, {"type": "symlink", "path": "b", "target": "a"},
            {"type": "symlink", "path": "etc/passwd-link", "target": "/etc/passwd"},
            file_entry("app/.env", KEY_FILE)]}]
        doc = self.check("symlink loop and links out of the image", self.fixture("symloop", layers), 1)
        self.assertEqual([f["location"]["path"] for f in doc["findings"]], ["/app/.env"])

    def test_long_pax_path(self):
        long_name = "d/" * 32000 + "key.env"
        layers = [{"compression": "gzip", "entries": [
            {"type": "raw", "name": long_name, "content": KEY_FILE, "pax_path": True}]}]
        doc = self.check("64 KiB PAX path", self.fixture("longpax", layers), 1)
        self.assertTrue(doc["findings"][0]["location"]["path"].endswith("/key.env"))

    def test_non_utf8_names(self):
        layers = [{"compression": "gzip", "entries": [
            {"type": "raw", "name_base64": __import__("base64").b64encode(b"app/caf\xe9-\xff.env").decode(),
             "content": KEY_FILE}]}]
        doc = self.check("non-UTF-8 file name", self.fixture("nonutf8", layers), 1)
        self.assertEqual(len(doc["findings"]), 1)
        # Invalid UTF-8 bytes are escaped as \xNN, not dropped or replaced.
        self.assertEqual(doc["findings"][0]["location"]["path"], "/app/caf\\xe9-\\xff.env")

    def test_duplicate_entries(self):
        layers = [{"compression": "gzip", "entries": [
            file_entry("app/.env", KEY_FILE), file_entry("app/.env", "clean now\n")]}]
        doc = self.check("duplicate entries in one layer", self.fixture("dups", layers), 1)
        self.assertEqual(len(doc["findings"]), 1)

    def test_bare_whiteout(self):
        layers = [{"compression": "gzip", "entries": [file_entry("app/.env", KEY_FILE)]},
                  {"compression": "gzip", "entries": [{"type": "raw", "name": "app/.wh.", "content": ""}]}]
        doc = self.check("bare .wh. whiteout", self.fixture("barewh", layers), 1)
        self.assertEqual(doc["findings"][0]["visibility"], "runtime")


if __name__ == "__main__":
    unittest.main()
