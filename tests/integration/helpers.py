"""Helpers for the integration tests: everything of tests/cli/helpers.py (loaded from there, not copied),
plus building images with the real umoci and converting them with the real skopeo.

umoci and skopeo must be installed: a missing tool is a failure, never a skip. Standard library only.
"""

import hashlib
import importlib.util
import json
import shutil
import sys
from pathlib import Path

_CLI_HELPERS = Path(__file__).resolve().parent.parent / "cli" / "helpers.py"
_spec = importlib.util.spec_from_file_location("layerleak_cli_helpers", _CLI_HELPERS)
cli = importlib.util.module_from_spec(_spec)
sys.modules["layerleak_cli_helpers"] = cli
_spec.loader.exec_module(cli)

# Re-export the shared helpers so the tests can write h.scan_json(...), h.SECRET_KEY, ...
for _name in dir(cli):
    if not _name.startswith("_"):
        globals()[_name] = getattr(cli, _name)


def umoci(*args, cwd=None):
    return cli.run_checked([cli.require_tool("umoci"), *args], cwd=cwd)


def skopeo(*args, cwd=None):
    return cli.run_checked([cli.require_tool("skopeo"), "--insecure-policy", *args], cwd=cwd)


def skopeo_json(*args):
    return json.loads(skopeo(*args).stdout)


class UmociImage:
    """An OCI image layout built layer by layer with umoci, as a user would.

    Every layer is made from a FRESH bundle (`umoci unpack` of the current image): repacking one bundle
    twice does not stack layers.
    """

    def __init__(self, workdir, tag="latest"):
        self.workdir = Path(workdir)
        self.layout = self.workdir / "layout"
        self.tag = tag
        self.image = f"{self.layout}:{tag}"
        self._bundles = 0
        umoci("init", "--layout", str(self.layout))
        umoci("new", "--image", self.image)

    def add_layer(self, created_by, edit):
        """Unpacks the image, lets `edit(rootfs: Path)` change the root filesystem, repacks one layer."""
        bundle = self.workdir / f"bundle{self._bundles}"
        self._bundles += 1
        umoci("unpack", "--rootless", "--image", self.image, str(bundle))
        edit(bundle / "rootfs")
        umoci("repack", "--image", self.image, "--history.created_by", created_by, str(bundle))
        shutil.rmtree(bundle)

    def add_raw_layer(self, created_by, layer_tar):
        """Appends an uncompressed layer tar verbatim (umoci compresses it with gzip)."""
        umoci("raw", "add-layer", "--image", self.image, "--history.created_by", created_by, str(layer_tar))

    def config(self, *args):
        umoci("config", "--image", self.image, *args)

    # ---- reading the layout back (by hand, independently of the scanner) ----

    def blob_path(self, digest):
        algorithm, hexdigest = digest.split(":", 1)
        return self.layout / "blobs" / algorithm / hexdigest

    def manifest_descriptor(self):
        index = json.loads((self.layout / "index.json").read_text())
        for desc in index["manifests"]:
            if desc.get("annotations", {}).get("org.opencontainers.image.ref.name") == self.tag:
                return desc
        raise AssertionError(f"no manifest tagged {self.tag} in {self.layout}/index.json")

    def manifest(self):
        return json.loads(self.blob_path(self.manifest_descriptor()["digest"]).read_bytes())

    def config_json(self):
        return json.loads(self.blob_path(self.manifest()["config"]["digest"]).read_bytes())


def read_layout_manifest(layout, tag="latest"):
    """(manifest digest, manifest, config) of `tag` in an OCI layout directory, read by hand."""
    layout = Path(layout)
    index = json.loads((layout / "index.json").read_text())
    [desc] = [d for d in index["manifests"]
              if d.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag]

    def blob(digest):
        algorithm, hexdigest = digest.split(":", 1)
        data = (layout / "blobs" / algorithm / hexdigest).read_bytes()
        assert "sha256:" + hashlib.sha256(data).hexdigest() == digest, f"blob {digest} is corrupt"
        return data

    manifest = json.loads(blob(desc["digest"]))
    config = json.loads(blob(manifest["config"]["digest"]))
    return desc["digest"], manifest, config


def flip_byte(path, offset):
    path = Path(path)
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
