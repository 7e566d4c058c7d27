"""The shared test harnesses tell the truth: tests/support/postgres_harness.py and
tests/support/registry_population.py, which the store, audit and serve tests build on.

- PostgreSQL: starts as an unprivileged owner, answers on its unix socket (and TCP only when asked), a fresh
  database per create_database(), stopped and removed by stop().
- The populated registry: its catalog, tags and manifest digests (HEAD, as a client resolves them) are the
  ground truth's, it has >= 30 repositories and >= 100 tags, and `layerleak scan` finds exactly the keys the
  ground truth places in a sample of tags (a shared dotenv, a Terraform state, a deleted scw config, the arm64
  image of an index), and none in a clean tag.
"""

import json
import os
import pwd
import sys
import unittest
import urllib.request
from pathlib import Path

import helpers as h

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "support"))
import postgres_harness  # noqa: E402
import registry_population as rp  # noqa: E402


class PostgresHarness(unittest.TestCase):
    def test_server_life_cycle(self):
        pg = postgres_harness.PostgresServer().start()
        try:
            root = pg.root
            owner = pwd.getpwuid(os.stat(pg.data_dir).st_uid).pw_uid
            if os.geteuid() == 0:
                self.assertNotEqual(owner, 0, "the cluster must not belong to root")
            self.assertEqual(pg.psql("select 6 * 7").strip(), "42")
            self.assertEqual(pg.psql("show fsync").strip(), "off")
            self.assertEqual(pg.psql("show listen_addresses").strip(), "", "TCP must be off unless asked")
            uri = pg.create_database()
            self.assertTrue(uri.startswith("postgresql://postgres@/"), uri)
            name = uri.split("/")[3].split("?")[0]
            self.assertEqual(pg.psql("select current_database()", database=name).strip(), name)
            self.assertNotEqual(pg.create_database(), uri)
        finally:
            pg.stop()
        self.assertFalse(root.exists(), "stop() must remove the cluster's directory")
        self.assertIsNotNone(pg.proc.poll(), "stop() must end the postmaster")


class PopulatedRegistry(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = h.make_class_tempdir(cls)
        cls.pop = rp.populate_registry(cls.work)
        cls.addClassCleanup(cls.pop.stop)

    def get_json(self, path):
        with urllib.request.urlopen(f"http://{self.pop.host}{path}", timeout=30) as resp:
            return json.load(resp)

    def test_catalog_tags_and_digests_are_the_ground_truth(self):
        self.assertGreaterEqual(len(self.pop.repositories), 30)
        self.assertGreaterEqual(self.pop.tag_count, 100)
        self.assertLess(self.pop.distinct_layers, self.pop.tag_count * 2, "bases are not shared")
        self.assertEqual(sorted(self.get_json("/v2/_catalog?n=1000")["repositories"]), self.pop.repositories)
        accept = ", ".join((rp.DOCKER_MANIFEST, rp.OCI_MANIFEST, rp.OCI_INDEX))
        for repo in self.pop.repositories:
            self.assertEqual(sorted(self.get_json(f"/v2/{repo}/tags/list")["tags"]), sorted(self.pop.tags[repo]))
            for tag, digest in self.pop.tags[repo].items():
                request = urllib.request.Request(f"http://{self.pop.host}/v2/{repo}/manifests/{tag}", method="HEAD",
                                                 headers={"Accept": accept})
                with urllib.request.urlopen(request, timeout=30) as resp:
                    self.assertEqual(resp.headers["Docker-Content-Digest"], digest, f"{repo}:{tag}")

    def test_ground_truth_shapes(self):
        by_name = {}
        for placement in self.pop.secrets:
            by_name.setdefault(placement.credential.name, []).append(placement)
        self.assertEqual(sorted(by_name), ["ARM_KEY", "SCW_CONFIG_KEY", "SHARED_KEY", "TFSTATE_KEY"])
        self.assertEqual(len(by_name["SHARED_KEY"]), 1, "one layer carries the shared key")
        self.assertGreaterEqual(len(by_name["SHARED_KEY"][0].refs), 20, "the shared key is in many tags")
        self.assertEqual(by_name["ARM_KEY"][0].platforms, ["linux/arm64"])
        self.assertEqual(by_name["SCW_CONFIG_KEY"][0].visibility, "deleted")
        indexes = [m for m in self.pop.manifests.values() if m["media_type"] == rp.OCI_INDEX]
        self.assertEqual(len(indexes), 1)

    def findings(self, ref, *extra):
        result = h.run_layerleak("scan", "--format", "json", "--show-secrets", *extra, f"docker://{self.pop.host}/{ref}",
                                 timeout=120)
        self.assertIn(result.returncode, (0, 1), result.stderr)
        doc = json.loads(result.stdout)
        return sorted({(f["rule_id"], f["secret"], f["location"]["path"], f["visibility"])
                       for image in doc["images"] for f in image["findings"]})  # a file may repeat a key

    def expected(self, ref, platform="linux/amd64"):
        found = []
        for p in self.pop.secrets:
            if ref in p.refs and platform in p.platforms:
                found.append(("scaleway.access-key", p.credential.access_key, p.path, p.visibility))
                found.append(("scaleway.secret-key", p.credential.secret_key, p.path, p.visibility))
        return sorted(found)

    def test_scan_finds_exactly_the_placed_keys(self):
        samples = []
        for name in ("SHARED_KEY", "TFSTATE_KEY", "SCW_CONFIG_KEY"):
            samples.append(next(p for p in self.pop.secrets if p.credential.name == name).refs[0])
        clean = next(ref for ref in self.pop.refs
                     if not any(ref in p.refs for p in self.pop.secrets) and not ref.startswith("platform/"))
        samples.append(clean)
        for ref in samples:
            self.assertEqual(self.findings(ref), self.expected(ref), ref)
        self.assertEqual(self.expected(clean), [])
        ref = "platform/multiarch:latest"
        self.assertEqual(self.findings(ref, "--platform", "linux/arm64"), self.expected(ref, "linux/arm64"))
        self.assertNotEqual(self.expected(ref, "linux/arm64"), [])
        self.assertEqual(self.findings(ref, "--platform", "linux/amd64"), [])


if __name__ == "__main__":
    unittest.main()
