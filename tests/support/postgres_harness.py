"""A throwaway PostgreSQL server for tests: Debian's PostgreSQL 15 (initdb and postgres from
/usr/lib/postgresql/15/bin), its cluster in a temporary directory, run as an unprivileged user, listening on a
unix socket inside that directory (and, when asked, on 127.0.0.1 at a free port), trust authentication for
local connections only, durability switched off for speed. Stopped and removed afterwards, also when the test
fails or is interrupted (KeyboardInterrupt; atexit); the server is this process's child under a parent-death
signal, so even a SIGKILLed test run leaves no server behind.

Usage, one server per test module (starting one takes about a second):

    from postgres_harness import PostgresServer

    class T(unittest.TestCase):
        @classmethod
        def setUpClass(cls):
            cls.pg = PostgresServer.start_for_class(cls)   # stopped by addClassCleanup
        def test_x(self):
            uri = self.pg.create_database()                 # a fresh, empty database per test
            run(["layerleak", "audit", ..., "--store", uri])

    with PostgresServer() as pg:                            # or as a context manager
        pg.psql("select 1")

Root: initdb and postgres refuse to run as root. When the tests run as root (CI does), the cluster belongs to
the `postgres` system user that Debian's postgresql-common creates (else `nobody`), and the commands run
through setpriv with that user's uid/gid and no supplementary groups; the temporary directory is made over to
that user. Clients connect as the database superuser `postgres` from any local account (trust).

A missing PostgreSQL is a skip for a developer without the packages and a FAILURE under CI=true (CI must test
the PostgreSQL store; scripts/install-deps installs `postgresql`).

Standard library only. Run this file to check the harness: `python3 tests/support/postgres_harness.py`.
"""

import atexit
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.parse
from pathlib import Path

PG_VERSION = "15"
PG_BIN_DIRS = (f"/usr/lib/postgresql/{PG_VERSION}/bin",)
SUPERUSER = "postgres"
START_TIMEOUT = 30
STOP_TIMEOUT = 15

# Settings for a disposable test cluster: no durability (the data dies with the test), small memory, quick
# checkpoints out of the way, no log collector (the log goes to postgres.log in the directory), no TCP unless asked.
FAST_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "checkpoint_timeout": "30min",
    "shared_buffers": "32MB",
    "max_connections": "100",
    "logging_collector": "off",
    "log_min_messages": "warning",
    "log_line_prefix": "'%m [%p] '",
    "dynamic_shared_memory_type": "posix",
    "jit": "off",
    "autovacuum": "off",
}


def _in_ci():
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def postgres_bin_dir():
    """The directory of initdb/postgres/psql/pg_isready. Missing: SkipTest, or AssertionError under CI=true."""
    for directory in PG_BIN_DIRS:
        if all(os.access(os.path.join(directory, tool), os.X_OK) for tool in ("initdb", "postgres", "psql", "pg_isready")):
            return Path(directory)
    message = (f"PostgreSQL {PG_VERSION} is not installed (no initdb/postgres/psql/pg_isready in {', '.join(PG_BIN_DIRS)}); "
               "scripts/install-deps installs Debian's postgresql")
    if _in_ci():
        raise AssertionError(message)
    raise unittest.SkipTest(message)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _service_account():
    """(uid, gid, name) the cluster runs as: ourselves when not root, else postgres (or nobody)."""
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.geteuid())
        return entry.pw_uid, entry.pw_gid, entry.pw_name
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return entry.pw_uid, entry.pw_gid, entry.pw_name
    raise AssertionError("running as root and there is no 'postgres' or 'nobody' user to run PostgreSQL as")


def _clean_env(home):
    """The environment of the server's processes: no PG* variables of the caller, C locale."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update({"LC_ALL": "C", "LANG": "C", "HOME": str(home), "TZ": "UTC"})
    return env


_LIVE = set()  # servers not stopped yet, stopped at interpreter exit whatever happened


@atexit.register
def _stop_leftovers():
    for server in list(_LIVE):
        server.stop()


class PostgresServer:
    """One throwaway cluster. start() / stop(); also a context manager and start_for_class()."""

    def __init__(self, tcp=False, settings=None, parent_dir=None):
        self.tcp = tcp
        self.settings = dict(FAST_SETTINGS)
        self.settings.update(settings or {})
        self.parent_dir = parent_dir
        self.bin = None
        self.root = None
        self.port = None
        self._uid = self._gid = None
        self.user_name = None
        self._databases = 0
        self.started = False
        self.proc = None

    # ---- paths and addresses ----------------------------------------------------------------------

    @property
    def data_dir(self):
        return self.root / "data"

    @property
    def socket_dir(self):
        return self.root / "sock"

    @property
    def log_path(self):
        return self.root / "postgres.log"

    @property
    def host(self):
        """The host for libpq: the socket directory, or 127.0.0.1 for a TCP server."""
        return "127.0.0.1" if self.tcp else str(self.socket_dir)

    def uri(self, database="postgres", user=SUPERUSER, via=None):
        """A libpq connection URI. via="socket" or "tcp" (default: TCP when the server listens on it)."""
        via = via or ("tcp" if self.tcp else "socket")
        db = urllib.parse.quote(database, safe="")
        if via == "tcp":
            if not self.tcp:
                raise ValueError("this server does not listen on TCP (PostgresServer(tcp=True))")
            return f"postgresql://{user}@127.0.0.1:{self.port}/{db}?sslmode=disable"
        host = urllib.parse.quote(str(self.socket_dir), safe="")
        return f"postgresql://{user}@/{db}?host={host}&port={self.port}"

    def env(self, database="postgres"):
        """PG* variables for libpq's environment form (`--store postgresql:` reads them)."""
        return {"PGHOST": self.host, "PGPORT": str(self.port), "PGUSER": SUPERUSER, "PGDATABASE": database,
                "PGSSLMODE": "disable"}

    # ---- life cycle --------------------------------------------------------------------------------

    def _as_owner(self, argv, **kwargs):
        """Runs argv as the cluster's owner (setpriv when we are root)."""
        if os.geteuid() == 0:
            argv = ["setpriv", f"--reuid={self._uid}", f"--regid={self._gid}", "--clear-groups", "--", *argv]
        return subprocess.run(argv, env=_clean_env(self.root), cwd=self.root, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, **kwargs)

    def start(self):
        self.bin = postgres_bin_dir()
        self._uid, self._gid, self.user_name = _service_account()
        # A short path: a unix socket path is limited to 107 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="llpg-", dir=self.parent_dir or "/tmp"))
        _LIVE.add(self)
        try:
            self.socket_dir.mkdir()
            if os.geteuid() == 0:
                for path in (self.root, self.socket_dir):
                    os.chown(path, self._uid, self._gid)
            os.chmod(self.root, 0o755)  # clients of other accounts reach the socket directory
            os.chmod(self.socket_dir, 0o755)
            proc = self._as_owner([str(self.bin / "initdb"), "-D", str(self.data_dir), "-U", SUPERUSER,
                                   "--auth-local=trust", "--auth-host=reject", "--encoding=UTF8", "--locale=C",
                                   "--no-sync", "--no-instructions"], timeout=120)
            if proc.returncode != 0:
                raise AssertionError(f"initdb failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
            self._write_hba()
            self._start_server()
            self.started = True
            return self
        except BaseException:
            self.stop()
            raise

    def _write_hba(self):
        # Local (unix socket) connections: trust. TCP: trust from 127.0.0.1 only. Nothing else.
        lines = ["local all all trust"]
        if self.tcp:
            lines.append("host all all 127.0.0.1/32 trust")
        (self.data_dir / "pg_hba.conf").write_text("\n".join(lines) + "\n")

    def _start_server(self):
        """Runs the postmaster in the foreground as our child, not daemonized by pg_ctl, under setpriv
        --pdeathsig: if this Python process dies without cleaning up (SIGKILL, a ctest timeout), the kernel
        sends the postmaster SIGQUIT (immediate shutdown) and no server outlives the tests."""
        last = ""
        for _attempt in range(3):
            self.port = free_port()
            settings = dict(self.settings)
            settings["port"] = str(self.port)
            settings["unix_socket_directories"] = f"'{self.socket_dir}'"
            settings["listen_addresses"] = "'127.0.0.1'" if self.tcp else "''"
            conf = "\n".join(f"{k} = {v}" for k, v in settings.items()) + "\n"
            (self.data_dir / "postgresql.auto.conf").write_text(conf)
            if os.geteuid() == 0:
                os.chown(self.data_dir / "postgresql.auto.conf", self._uid, self._gid)
                os.chown(self.data_dir / "pg_hba.conf", self._uid, self._gid)
            argv = ["setpriv", "--pdeathsig", "QUIT"]
            if os.geteuid() == 0:
                argv += [f"--reuid={self._uid}", f"--regid={self._gid}", "--clear-groups"]
            argv += ["--", str(self.bin / "postgres"), "-D", str(self.data_dir)]
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(argv, env=_clean_env(self.root), cwd=self.root, stdin=subprocess.DEVNULL,
                                             stdout=log, stderr=subprocess.STDOUT)
            if self._ready():
                return
            last = self.log()[-3000:]
            self._stop_postmaster()
            if "could not bind" not in last and "already in use" not in last:
                break
        raise AssertionError(f"PostgreSQL did not start:\n{last}")

    def _ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and self.proc.poll() is None:
            proc = subprocess.run([str(self.bin / "pg_isready"), "-q", "-h", self.host, "-p", str(self.port),
                                   "-U", SUPERUSER, "-d", "postgres"], env=_clean_env(self.root), capture_output=True)
            if proc.returncode == 0:
                return True
            time.sleep(0.05)
        return False

    def _stop_postmaster(self):
        """SIGQUIT (immediate shutdown: the data is thrown away anyway), then SIGKILL after a timeout."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGQUIT)
        try:
            self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT)

    def stop(self):
        """Stops the server (immediate shutdown) and removes its directory. Safe to call twice."""
        if self.root is None:
            return
        try:
            self._stop_postmaster()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            _LIVE.discard(self)
            self.root = None
            self.started = False

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    @classmethod
    def start_for_class(cls, test_class, **kwargs):
        """Starts one server for a TestCase class (call in setUpClass); stopped by addClassCleanup."""
        server = cls(**kwargs)
        server.start()
        test_class.addClassCleanup(server.stop)
        return server

    # ---- using it ---------------------------------------------------------------------------------

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except (OSError, AttributeError):
            return ""

    def psql(self, sql, database="postgres", check=True):
        """Runs SQL with psql (unaligned, tuples only, stop on the first error); returns stdout."""
        proc = subprocess.run([str(self.bin / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                               "-h", self.host, "-p", str(self.port), "-U", SUPERUSER, "-d", database, "-c", sql],
                              env=_clean_env(self.root), capture_output=True, text=True, timeout=60)
        if check and proc.returncode != 0:
            raise AssertionError(f"psql failed ({proc.returncode}) on {sql!r}:\n{proc.stderr}")
        return proc.stdout

    def create_database(self, name=None):
        """Creates an empty database (a fresh name unless given) and returns its URI."""
        if name is None:
            self._databases += 1
            name = f"t{self._databases}_{secrets.token_hex(3)}"
        if not name.replace("_", "").isalnum():
            raise ValueError(f"database name {name!r}: letters, digits and _ only")
        self.psql(f'CREATE DATABASE "{name}"')
        return self.uri(name)

    def drop_database(self, name):
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def connections(self, database=None):
        """Client backends connected now (to `database` or any)."""
        where = "backend_type = 'client backend' AND pid <> pg_backend_pid()"
        if database is not None:
            where += f" AND datname = '{database}'"
        return int(self.psql(f"SELECT count(*) FROM pg_stat_activity WHERE {where}").strip())


def _self_check():
    started = time.monotonic()
    for tcp in (False, True):
        with PostgresServer(tcp=tcp) as pg:
            root = pg.root
            assert pg.psql("select 40 + 2").strip() == "42"
            uri = pg.create_database()
            db = urllib.parse.urlsplit(uri).path.lstrip("/")
            pg.psql("create table t (k text primary key); insert into t values ('a')", database=db)
            assert pg.psql("select count(*) from t", database=db).strip() == "1"
            owner = pwd.getpwuid(os.stat(pg.data_dir).st_uid).pw_name
            print(f"tcp={tcp} uri={uri} owner={owner} ready after {time.monotonic() - started:.2f}s")
            if shutil.which("psql"):
                out = subprocess.run(["psql", "-X", "-A", "-t", "-c", "select current_database()", uri],
                                     capture_output=True, text=True, env=_clean_env("/"))
                assert out.stdout.strip() == db, (out.stdout, out.stderr)
        assert not root.exists(), root
    print(f"ok in {time.monotonic() - started:.2f}s")


if __name__ == "__main__":
    _self_check()
