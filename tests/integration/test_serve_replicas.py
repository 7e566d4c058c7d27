"""Two real `layerleak serve` replicas sharing one PostgreSQL store (`--store postgresql://…`), in front of one
real docker-registry behind a recording proxy that slows blob downloads (so the two requests really overlap):
the same digest requested from both at once is scanned exactly once (one replica scans, the other waits for
its report: registry blob GETs and /metrics say so), and a verdict written by one replica is answered by the
other.

Environment (set by CTest): LAYERLEAK_BIN, LAYERLEAK_SOURCE_DIR, LAYERLEAK_FIXTURE_TOOL; docker-registry,
skopeo and PostgreSQL 15 installed (PostgreSQL missing: a failure under CI=true). Standard library only.
"""

import concurrent.futures
import sys
import time
import unittest
from pathlib import Path

import helpers as h
import registry_harness as rh
from test_serve import LEAKY_ENTRIES, CLEAN_ENTRIES, image_spec, push, start_serve

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "support"))
from postgres_harness import PostgresServer  # noqa: E402

BLOB_DELAY = 0.7  # seconds per blob GET through the proxy: a scan lasts a few seconds


def log(message):
    print(f"[replicas] {message}", file=sys.stderr, flush=True)


class ServeReplicasTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        rh.require_tool("skopeo")
        rh.registry_bin()
        cls.pg = PostgresServer.start_for_class(cls)
        cls.root = Path(h.make_class_tempdir(cls, "layerleak-replicas-"))
        cls.images = {}
        for name, entries in (("leaky", LEAKY_ENTRIES), ("clean", CLEAN_ENTRIES)):
            cls.images[name] = str(h.build_fixture(image_spec(name, entries), cls.root / f"{name}.tar", "oci-archive"))
        cls.registry = rh.Registry(cls.root / "registry").start()
        cls.addClassCleanup(cls.registry.stop)
        cls.proxy = rh.Proxy(cls.registry.port, blob_delay=BLOB_DELAY).start()
        cls.addClassCleanup(cls.proxy.stop)

    def replicas(self):
        uri = self.pg.create_database()
        serves = []
        for _ in range(2):
            work = h.make_tempdir(self, "layerleak-replica-")
            serves.append(start_serve(self, work, "--store", uri, "--workers", "2"))
        return serves

    def blob_gets(self):
        with self.proxy._lock:
            return [path for method, path, _ in self.proxy.log if method == "GET" and "/blobs/" in path]

    def test_one_scan_for_a_digest_requested_from_both_replicas_at_once(self):
        a, b = self.replicas()
        digest = push(self.images["leaky"], self.registry, "replicas/leaky", "1")
        reference = f"docker://{self.proxy.host}/replicas/leaky@{digest}"
        before = len(self.blob_gets())
        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            docs = list(pool.map(lambda serve: serve.scan(reference), (a, b)))
        elapsed = time.monotonic() - started
        for doc in docs:
            self.assertEqual(doc["status"], "done", doc)
            image = doc["report"]["images"][0]
            self.assertTrue(image["complete"], doc)
            self.assertEqual(image["manifest_digest"], digest)
            self.assertIn("/app/.env", {f["location"]["path"] for f in image["findings"]})
        blobs = self.blob_gets()[before:]
        # Config and three layers, each read once: one scan, not two.
        self.assertEqual(len(blobs), 4, blobs)
        self.assertEqual(len(set(blobs)), 4, blobs)
        metrics = [serve.metrics() for serve in (a, b)]
        scans = [sum(m[f'layerleak_scans_total{{verdict="{v}"}}'] for v in ("allow", "deny", "unknown")) for m in metrics]
        self.assertEqual(sum(scans), 1, metrics)
        waited = metrics[scans.index(0)]
        self.assertEqual(waited["layerleak_scan_claim_waits_total"], 1)
        self.assertEqual(waited["layerleak_scans_from_replica_total"], 1)
        log(f"two replicas, one digest at once: {sum(scans)} scan, {len(blobs)} blob GETs, {elapsed:.2f} s")

    def test_a_verdict_written_by_one_replica_is_answered_by_the_other(self):
        a, b = self.replicas()
        leaky = push(self.images["leaky"], self.registry, "replicas/verdict-leaky", "1")
        clean = push(self.images["clean"], self.registry, "replicas/verdict-clean", "1")
        for digest in (leaky, clean):
            self.assertEqual(b.json("GET", f"/v1/verdicts/{digest}")["verdict"], "unknown")
        self.assertEqual(a.scan(f"docker://{self.proxy.host}/replicas/verdict-leaky@{leaky}")["status"], "done")
        self.assertEqual(a.scan(f"docker://{self.proxy.host}/replicas/verdict-clean:1")["status"], "done")
        verdict = b.json("GET", f"/v1/verdicts/{leaky}")
        self.assertEqual(verdict["verdict"], "deny", verdict)
        self.assertIn("scaleway.secret-key", verdict["reason"])
        self.assertEqual(b.json("GET", f"/v1/verdicts/{clean}")["verdict"], "allow")
        # A scan request for that digest on B is answered from the store: no scan, no registry request.
        before = len(self.proxy.log)
        doc = b.scan(f"docker://{self.proxy.host}/replicas/verdict-leaky@{leaky}")
        self.assertEqual(doc["status"], "done")
        self.assertEqual(len(self.proxy.log), before)
        metrics = b.metrics()
        self.assertEqual(sum(metrics[f'layerleak_scans_total{{verdict="{v}"}}'] for v in ("allow", "deny", "unknown")), 0)
        self.assertEqual(metrics["layerleak_scans_from_cache_total"], 1)


if __name__ == "__main__":
    unittest.main()
