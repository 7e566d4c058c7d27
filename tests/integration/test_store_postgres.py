"""`scan --store` against a real PostgreSQL 15 (tests/support/postgres_harness.py: initdb/pg_ctl in a temporary
directory, unix socket, stopped after): layer results go to the database, a re-scan reads no layer and gives
the same report as an uncached scan and as the SQLite store, the PG* environment form, and failures that
never print the URI's password.

Environment (set by CTest): LAYERLEAK_BIN, LAYERLEAK_SOURCE_DIR, LAYERLEAK_FIXTURE_TOOL. PostgreSQL missing:
a failure under CI=true, a skip otherwise. Standard library only.
"""

import json
import os
import subprocess
import sys
import unittest
import urllib.parse
from pathlib import Path

import helpers as h

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "support"))
from postgres_harness import PostgresServer  # noqa: E402


def log(message):
    print(f"[store] {message}", file=sys.stderr, flush=True)


def image_spec():
    filler = "".join(f"line {i}: lorem ipsum {i * 7919 % 104729}\n" for i in range(20000))
    return {"images": [{"repo_tags": ["example/store:1"], "layers": [
        {"compression": "gzip", "created_by": "ADD rootfs.tar /",
         "entries": [{"type": "file", "path": "usr/share.txt", "content": filler},
                     {"type": "file", "path": "etc/os-release", "content": "ID=debian\n"}]},
        {"compression": "zstd", "created_by": "COPY .env /app/",
         "entries": [{"type": "dir", "path": "app"},
                     {"type": "file", "path": "app/.env",
                      "content": f"SCW_ACCESS_KEY={h.ACCESS_KEY}\nSCW_SECRET_KEY={h.SECRET_KEY}\n"}]},
        {"compression": "gzip", "created_by": "RUN rm /app/.env",
         "entries": [{"type": "whiteout", "path": "app/.env"}]},
    ]}]}


def normalised(doc):
    for image in doc["images"]:
        image["stats"]["duration_ms"] = 0
        for key in ("started_at", "finished_at"):
            image.pop(key, None)
    for key in ("started_at", "finished_at"):
        doc.pop(key, None)
    return doc


class StorePostgresTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = PostgresServer.start_for_class(cls)
        cls.root = h.make_class_tempdir(cls, "layerleak-store-")
        cls.image = "oci-archive:" + str(h.build_fixture(image_spec(), Path(cls.root) / "image.tar", "oci-archive"))

    def scan(self, *extra, env=None):
        args = [h.layerleak_bin(), "scan", "--format", "json", "--show-secrets", "--no-progress", *extra, self.image]
        proc = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env, stdin=subprocess.DEVNULL)
        self.assertEqual(proc.returncode, 1, f"{args}\n{proc.stderr}")
        return normalised(json.loads(proc.stdout)), proc.stderr

    def db_name(self, uri):
        return urllib.parse.urlsplit(uri).path.lstrip("/")

    def test_layer_results_in_postgres_give_the_same_report(self):
        uri = self.pg.create_database()
        db = self.db_name(uri)
        plain, _ = self.scan()
        first, _ = self.scan("--store", uri)
        self.assertEqual(first, plain)
        # One row per distinct layer, and the schema applied once.
        self.assertEqual(self.pg.psql("SELECT count(*) FROM layers", database=db).strip(), "3")
        self.assertEqual(self.pg.psql("SELECT count(*) FROM blobs", database=db).strip(), "3")
        # Every migration once, in order, from 1 (3 = the verification results of issue 17).
        self.assertEqual(self.pg.psql("SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_migrations",
                                      database=db).strip(), "1,2,3")
        # A re-scan is answered from the database: a layer is put (created = now()) only after a miss, so
        # unchanged timestamps mean every layer was a hit.
        stamps = self.pg.psql("SELECT string_agg(created::text, ',' ORDER BY diff_id) FROM layers", database=db)
        second, _ = self.scan("--store", uri)
        self.assertEqual(second, plain)
        self.assertEqual(self.pg.psql("SELECT string_agg(created::text, ',' ORDER BY diff_id) FROM layers", database=db), stamps)
        sqlite, _ = self.scan("--store", str(Path(self.root) / "sqlite-store"))
        self.assertEqual(sqlite, plain)
        self.assertTrue((Path(self.root) / "sqlite-store" / "layerleak-cache.sqlite3").is_file())

    def test_misses_are_scanned_and_stored_again(self):
        uri = self.pg.create_database()
        db = self.db_name(uri)
        first, _ = self.scan("--store", uri)
        self.assertIn(h.SECRET_KEY, {f["secret"] for f in first["images"][0]["findings"]})
        # Without the blob rows no layer is known: each is read again and put back.
        self.pg.psql("DELETE FROM blobs", database=db)
        again, _ = self.scan("--store", uri)
        self.assertEqual(again, first)
        self.assertEqual(self.pg.psql("SELECT count(*) FROM blobs", database=db).strip(), "3")
        # Results of another profile (other rules or limits) are never used: stored again under ours.
        self.pg.psql("UPDATE layers SET profile = 'elsewhere'", database=db)
        third, _ = self.scan("--store", uri)
        self.assertEqual(third, first)
        self.assertEqual(self.pg.psql("SELECT count(*) FROM layers", database=db).strip(), "6")

    def test_environment_form(self):
        uri = self.pg.create_database()
        db = self.db_name(uri)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(self.pg.env(db))
        plain, _ = self.scan()
        stored, _ = self.scan("--store", "postgresql:", env=env)
        self.assertEqual(stored, plain)
        self.assertEqual(self.pg.psql("SELECT count(*) FROM layers", database=db).strip(), "3")

    def test_unreachable_store_and_bad_specs_fail_without_the_password(self):
        for spec in ("postgresql://scanner:s3cretPassw0rd@127.0.0.1:1/layerleak?connect_timeout=3",
                     "postgressql://scanner:s3cretPassw0rd@db/layerleak"):
            r = h.run_layerleak("scan", "--store", spec, self.image)
            self.assertEqual(r.returncode, 2, r.describe())
            self.assertIn("--store", r.stderr)
            self.assertNotIn("s3cretPassw0rd", r.stderr + r.stdout)
        r = h.run_layerleak("scan", "--store", "x", "--cache", "y", self.image)
        self.assertEqual(r.returncode, 2, r.describe())
        r = h.run_layerleak("serve", "--store", "x", "--cache", "y")
        self.assertEqual(r.returncode, 2, r.describe())
        r = h.run_layerleak("serve", "--listen", "127.0.0.1:0", "--store",
                            "postgresql://scanner:s3cretPassw0rd@127.0.0.1:1/layerleak?connect_timeout=3")
        self.assertEqual(r.returncode, 2, r.describe())
        self.assertIn("--store", r.stderr)
        self.assertNotIn("s3cretPassw0rd", r.stderr + r.stdout)
        self.assertFalse(Path("x").exists() or Path("y").exists())


if __name__ == "__main__":
    unittest.main()
