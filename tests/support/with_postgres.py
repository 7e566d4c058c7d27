"""Runs a command with a throwaway PostgreSQL server: LAYERLEAK_TEST_POSTGRES is set to the server's URI (its
`postgres` database, superuser, unix socket), then the server is stopped and removed whatever the outcome.

    python3 with_postgres.py COMMAND [ARG...]

CTest's store.postgresql runs the unit tests tagged [store] this way, so every Store case runs against
PostgreSQL as well as SQLite. Without PostgreSQL installed this fails under CI=true and exits 77 otherwise
(CTest's SKIP_RETURN_CODE: reported as skipped, never as passed).
"""

import os
import subprocess
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from postgres_harness import PostgresServer  # noqa: E402


def main(argv):
    if len(argv) < 2:
        print("usage: with_postgres.py COMMAND [ARG...]", file=sys.stderr)
        return 2
    try:
        server = PostgresServer().start()
    except unittest.SkipTest as skip:
        print(f"with_postgres: skipped: {skip}", file=sys.stderr)
        return 77
    try:
        env = dict(os.environ)
        env["LAYERLEAK_TEST_POSTGRES"] = server.uri()
        print(f"with_postgres: {env['LAYERLEAK_TEST_POSTGRES']}", file=sys.stderr, flush=True)
        return subprocess.run(argv[1:], env=env).returncode
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
