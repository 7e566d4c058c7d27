"""Test harness for the registry (docker://) integration tests: a real distribution registry (Debian's
`docker-registry`, distribution 2.8) on 127.0.0.1, a small token issuer for its `auth: token` mode, and a
forwarding proxy that can slow blob downloads down or cut one off and kill the registry behind it.

Everything listens on 127.0.0.1 on a port the kernel picked, keeps its files in a temporary directory given
by the caller, and is stopped by stop() (terminate, then kill after a timeout): register stop() with
addCleanup/addClassCleanup so that no process outlives a test class.

Facts about distribution 2.8 that this harness relies on (checked against its source, registry/auth/token):
- A token is a JWT. The registry checks, in this order: `iss` is the configured `issuer`; `aud` is the
  configured `service` (a string, or a list containing it); `exp` and `nbf` with a LEEWAY OF 60 SECONDS;
  a non-empty signature; then the signing key. The key comes from the header: `x5c` (standard base64 DER
  certificates, leaf first) verified against `rootcertbundle` (a self-signed certificate that is itself in
  the bundle verifies), else `jwk`, else `kid` looked up among the bundle's keys by libtrust key ID (not an
  RFC 7638 thumbprint). The signature is verified with the key and `alg` (RS256 = RSASSA-PKCS1-v1_5 SHA-256,
  what `openssl dgst -sha256 -sign` makes).
- Because of the 60 s leeway a token whose `exp` is a second away is still accepted for a minute. To make the
  registry really refuse a token after a few seconds the issuer writes `exp = now + lifetime - 60` and
  answers `expires_in = lifetime` (see TokenIssuer): the token is accepted for `lifetime` seconds (rounded
  down to whole seconds, at least lifetime - 1), then the registry answers 401 with a fresh challenge.
- The challenge is `WWW-Authenticate: Bearer realm="<realm>",service="<service>",scope="repository:<name>:pull"`
  (no scope on GET /v2/); a token without the needed access gets 401 with `error="insufficient_scope"`.
- htpasswd: bcrypt entries only, file read once at start-up; works over plain HTTP.

Standard library only; crypto through the `openssl` command-line tool.
"""

import base64
import hashlib
import http.client
import http.server
import json
import os
import secrets
import shutil
import socket
import sys
import subprocess
import threading
import time
import urllib.parse
from datetime import datetime, timezone
from pathlib import Path

REGISTRY_BIN = "/usr/bin/docker-registry"
REGISTRY_LEEWAY = 60  # distribution's registry/auth/token.Leeway, applied to exp and nbf
START_TIMEOUT = 20
STOP_TIMEOUT = 5


def require_tool(name):
    path = shutil.which(name)
    if path is None:
        raise AssertionError(f"required tool {name!r} is not installed (not on PATH)")
    return path


def registry_bin():
    path = REGISTRY_BIN if os.access(REGISTRY_BIN, os.X_OK) else shutil.which("docker-registry")
    if path is None:
        raise AssertionError("required tool docker-registry (Debian package docker-registry) is not installed")
    return path


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now (bind port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def basic_auth_value(user, password):
    return base64.b64encode(f"{user}:{password}".encode("utf-8")).decode("ascii")


def stop_process(proc, timeout=STOP_TIMEOUT):
    """SIGTERM, wait, then SIGKILL: a process started by the harness never outlives it."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


def http_status(url, timeout=2.0):
    """Status of GET url (plain HTTP, or HTTPS without certificate checks), or None when nothing answers."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https":
        import ssl
        conn = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout,
                                           context=ssl._create_unverified_context())
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("GET", parts.path or "/")
        resp = conn.getresponse()
        resp.read()
        return resp.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


# ---- htpasswd ---------------------------------------------------------------------------------------

def write_htpasswd(path, users):
    """A bcrypt htpasswd file (the only kind distribution accepts), made with apache2-utils' htpasswd."""
    htpasswd = require_tool("htpasswd")
    lines = []
    for user, password in users.items():
        proc = subprocess.run([htpasswd, "-Bbn", user, password], capture_output=True, timeout=60, check=False)
        if proc.returncode != 0:
            raise AssertionError(f"htpasswd failed: {proc.stderr.decode(errors='replace')}")
        lines.append(proc.stdout.decode().strip())
    Path(path).write_text("\n".join(lines) + "\n")
    return Path(path)


# ---- the registry -----------------------------------------------------------------------------------

class _QuietServer(http.server.ThreadingHTTPServer):
    """A threading HTTP server that does not print a traceback when a client hangs up early (the scanner
    tries HTTPS first on loopback hosts, which a plain-HTTP server sees as a reset connection)."""

    daemon_threads = True

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


class _HttpService:
    """A small HTTP server on 127.0.0.1:<free port> in a daemon thread; subclasses build the handler."""

    _server = None
    _thread = None

    def _serve(self, handler, name):
        self._server = _QuietServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name=name, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=STOP_TIMEOUT)
            self._server = None


class Registry:
    """Debian's docker-registry on 127.0.0.1:<free port> with filesystem storage in `workdir`.

    auth: None, ("htpasswd", PATH) or ("token", {"realm":…, "service":…, "issuer":…, "rootcertbundle":…}).
    """

    def __init__(self, workdir, auth=None, tls=None):
        # tls: (certificate.pem, key.pem) to serve HTTPS instead of plain HTTP
        self.tls = tls
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.root = self.workdir / "storage"
        self.root.mkdir(exist_ok=True)
        self.auth = auth
        self.port = None
        self.proc = None
        self.log_path = self.workdir / "registry.log"

    @property
    def host(self):
        return f"127.0.0.1:{self.port}"

    @property
    def url(self):
        return f"{'https' if self.tls else 'http'}://{self.host}"

    def _config(self):
        lines = [
            "version: 0.1",
            "log:",
            "  level: info",
            "  accesslog:",
            "    disabled: true",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {self.root}",
            "http:",
            f"  addr: 127.0.0.1:{self.port}",
            f"  secret: {secrets.token_hex(16)}",
        ]
        if self.tls is not None:
            lines += ["  tls:", f"    certificate: {self.tls[0]}", f"    key: {self.tls[1]}"]
        if self.auth is not None:
            kind, value = self.auth
            lines.append("auth:")
            if kind == "htpasswd":
                lines += ["  htpasswd:", "    realm: layerleak-test", f"    path: {value}"]
            elif kind == "token":
                lines.append("  token:")
                lines += [f"    {key}: {value[key]}" for key in ("realm", "service", "issuer", "rootcertbundle")]
            else:
                raise ValueError(kind)
        return "\n".join(lines) + "\n"

    def start(self):
        """Starts the registry and waits until GET /v2/ answers (200, or 401 with auth). Retries on a port race."""
        last_log = ""
        for _attempt in range(3):
            self.port = free_port()
            config = self.workdir / "config.yml"
            config.write_text(self._config())
            log = open(self.log_path, "ab")
            try:
                self.proc = subprocess.Popen([registry_bin(), "serve", str(config)], stdin=subprocess.DEVNULL,
                                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            finally:
                log.close()
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline and self.proc.poll() is None:
                status = http_status(self.url + "/v2/", timeout=1.0)
                if status in (200, 401):
                    return self
                time.sleep(0.05)
            stop_process(self.proc)
            last_log = self.log_path.read_text(errors="replace")[-3000:]
            if "address already in use" not in last_log:
                break
        raise AssertionError(f"docker-registry did not become ready on {self.url}\n{last_log}")

    def stop(self):
        stop_process(self.proc)

    def kill(self):
        """Sudden death (SIGKILL), as a crashed registry."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def blob_data_path(self, digest):
        """Where the filesystem driver keeps a blob: <root>/docker/registry/v2/blobs/sha256/xx/<hex>/data."""
        algorithm, hexdigest = digest.split(":", 1)
        path = self.root / "docker" / "registry" / "v2" / "blobs" / algorithm / hexdigest[:2] / hexdigest / "data"
        if not path.is_file():
            raise AssertionError(f"blob {digest} is not in the registry storage ({path})")
        return path

    def ref(self, repo, tag_or_digest="latest", host=None):
        sep = "@" if tag_or_digest.startswith("sha256:") else ":"
        return f"docker://{host or self.host}/{repo}{sep}{tag_or_digest}"


# ---- the token issuer -------------------------------------------------------------------------------

def make_tls_cert(workdir):
    """(cert.pem, key.pem): a self-signed server certificate for 127.0.0.1 and localhost."""
    openssl = require_tool("openssl")
    workdir = Path(workdir)
    key, cert = workdir / "tls-key.pem", workdir / "tls-cert.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   capture_output=True, timeout=60, check=True)
    return cert, key


def make_signing_cert(workdir, cn="layerleak test token issuer"):
    """(key.pem, cert.pem, base64 DER certificate) for RS256 tokens; openssl only."""
    openssl = require_tool("openssl")
    workdir = Path(workdir)
    key, cert = workdir / "token-key.pem", workdir / "token-cert.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", f"/CN={cn}"], capture_output=True, timeout=60, check=True)
    der = subprocess.run([openssl, "x509", "-in", str(cert), "-outform", "DER"], capture_output=True, timeout=60,
                         check=True).stdout
    return key, cert, base64.b64encode(der).decode("ascii")


class TokenIssuer(_HttpService):
    """The token endpoint of the distribution token auth spec, for one registry service.

    GET /token?service=S&scope=repository:NAME:ACTIONS (scope may repeat), with Basic credentials; also the
    OAuth2 form POST (grant_type=password with username/password). Known users get every action they ask for;
    wrong credentials get 401; anonymous requests get 401 (anonymous="refuse") or a token with no access
    (anonymous="empty", as public registries do for private repositories).

    lifetime: how many seconds the REGISTRY accepts a token (see the module docstring on the 60 s leeway);
    `expires_in` tells the client that same number.
    """

    def __init__(self, workdir, users, service="layerleak-registry", issuer="layerleak-test-issuer",
                 lifetime=300, anonymous="refuse"):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.users = dict(users)
        self.service = service
        self.issuer = issuer
        self.lifetime = lifetime
        self.anonymous = anonymous
        self.key, self.cert, self.cert_b64 = make_signing_cert(self.workdir)
        self._lock = threading.Lock()
        self.issued = []     # (subject, [access...]) per token handed out
        self.refused = 0     # 401 answers
        self.requests = []   # (method, path, authorization header present)
        self._server = None
        self._thread = None

    # -- counters --
    def issued_count(self):
        with self._lock:
            return len(self.issued)

    def reset_counts(self):
        with self._lock:
            self.issued.clear()
            self.requests.clear()
            self.refused = 0

    @property
    def realm(self):
        return f"http://127.0.0.1:{self._server.server_address[1]}/token"

    def registry_auth(self):
        return ("token", {"realm": self.realm, "service": self.service, "issuer": self.issuer,
                          "rootcertbundle": str(self.cert)})

    # -- JWT --
    def sign(self, data):
        proc = subprocess.run([require_tool("openssl"), "dgst", "-sha256", "-sign", str(self.key)], input=data,
                              capture_output=True, timeout=60, check=False)
        if proc.returncode != 0:
            raise RuntimeError("openssl dgst -sign failed: " + proc.stderr.decode(errors="replace"))
        return proc.stdout

    def make_token(self, subject, access, now=None):
        now = int(time.time() if now is None else now)
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.cert_b64]}
        claims = {"iss": self.issuer, "sub": subject, "aud": self.service,
                  "exp": now + self.lifetime - REGISTRY_LEEWAY, "nbf": now - REGISTRY_LEEWAY, "iat": now,
                  "jti": secrets.token_hex(12), "access": access}
        signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                         b64url(json.dumps(claims, separators=(",", ":")).encode()))
        return signing_input + "." + b64url(self.sign(signing_input.encode("ascii")))

    @staticmethod
    def parse_scopes(scopes):
        access = []
        for scope in scopes:
            for item in scope.split(" "):
                parts = item.split(":")
                if len(parts) < 3:
                    continue
                access.append({"type": parts[0], "name": ":".join(parts[1:-1]),
                               "actions": [a for a in parts[-1].split(",") if a]})
        return access

    def answer(self, user, password, scopes, anonymous):
        """(status, body dict) for one token request."""
        if anonymous:
            if self.anonymous != "empty":
                return 401, {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}
            subject, access = "", []
        elif self.users.get(user) != password:
            return 401, {"errors": [{"code": "UNAUTHORIZED", "message": "invalid username or password"}]}
        else:
            subject, access = user, self.parse_scopes(scopes)
        now = time.time()
        token = self.make_token(subject, access, now)
        with self._lock:
            self.issued.append((subject, access))
        issued_at = datetime.fromtimestamp(int(now), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return 200, {"token": token, "access_token": token, "expires_in": self.lifetime, "issued_at": issued_at}

    # -- server --
    def start(self):
        issuer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _reply(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status == 401:
                    self.send_header("WWW-Authenticate", 'Basic realm="layerleak-test-issuer"')
                    with issuer._lock:
                        issuer.refused += 1
                self.end_headers()
                self.wfile.write(data)

            def _basic(self):
                value = self.headers.get("Authorization", "")
                if not value.lower().startswith("basic "):
                    return None
                try:
                    user, _, password = base64.b64decode(value[6:].strip()).decode("utf-8").partition(":")
                except (ValueError, UnicodeDecodeError):
                    return ("", None)
                return user, password

            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                with issuer._lock:
                    issuer.requests.append(("GET", url.path, "Authorization" in self.headers))
                if url.path != "/token":
                    return self._reply(404, {"errors": [{"code": "NOT_FOUND"}]})
                query = urllib.parse.parse_qs(url.query)
                if query.get("service", [issuer.service])[0] != issuer.service:
                    return self._reply(400, {"errors": [{"code": "DENIED", "message": "unknown service"}]})
                creds = self._basic()
                user, password = creds if creds else (None, None)
                self._reply(*issuer.answer(user, password, query.get("scope", []), creds is None))

            def do_POST(self):
                url = urllib.parse.urlsplit(self.path)
                with issuer._lock:
                    issuer.requests.append(("POST", url.path, "Authorization" in self.headers))
                length = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
                if url.path != "/token":
                    return self._reply(404, {"errors": [{"code": "NOT_FOUND"}]})
                if form.get("grant_type", [""])[0] != "password":
                    return self._reply(400, {"error": "unsupported_grant_type"})
                user, password = form.get("username", [None])[0], form.get("password", [None])[0]
                self._reply(*issuer.answer(user, password, form.get("scope", []), user is None))

        return self._serve(Handler, "token-issuer")


# ---- a forwarding proxy -----------------------------------------------------------------------------

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}


class Proxy(_HttpService):
    """Plain-HTTP reverse proxy on 127.0.0.1:<free port> in front of a Registry (GET and HEAD only: the scanner
    only reads; push directly to the registry).

    blob_delay: seconds to wait before forwarding each GET of a blob (makes a scan last long enough for a
    short-lived token to expire between blobs).
    cut_blob_over / cut_after / on_cut: the first GET of a blob larger than `cut_blob_over` bytes gets its
    headers and `cut_after` bytes of body, then `on_cut()` runs (e.g. kill the registry) and the connection
    is closed; from then on the proxy is "dead": it closes every new connection without an answer.
    """

    def __init__(self, upstream_port, blob_delay=0.0, cut_blob_over=None, cut_after=1 << 20, on_cut=None,
                 die_after_cut=True, redirect_blobs_to=None):
        self.upstream_port = upstream_port
        # die_after_cut=False: after the cut the proxy keeps serving (a dropped connection, not a dead
        # registry), so a client can resume the blob with a Range request.
        self.die_after_cut = die_after_cut
        # redirect_blobs_to: a BlobStore; every authorised blob GET is answered 307 to it (as registries
        # backed by object storage do).
        self.redirect_blobs_to = redirect_blobs_to
        self.requests = []  # (method, path, headers dict) as received
        self.blob_delay = blob_delay
        self.cut_blob_over = cut_blob_over
        self.cut_after = cut_after
        self.on_cut = on_cut
        self.dead = threading.Event()
        self.cut_done = threading.Event()
        self._lock = threading.Lock()
        self.log = []  # (method, path, status)
        self._server = None
        self._thread = None

    @property
    def port(self):
        return self._server.server_address[1]

    @property
    def host(self):
        return f"127.0.0.1:{self.port}"

    def statuses(self, kind="blobs"):
        with self._lock:
            return [status for _, path, status in self.log if f"/{kind}/" in path]

    def start(self):
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_one_request(self):
                if proxy.dead.is_set():
                    self.close_connection = True
                    return
                super().handle_one_request()

            def _forward(self, method):
                if proxy.dead.is_set():
                    self.close_connection = True
                    return
                is_blob = "/blobs/" in self.path
                with proxy._lock:
                    proxy.requests.append((method, self.path, {k.lower(): v for k, v in self.headers.items()}))
                if is_blob and method == "GET" and proxy.redirect_blobs_to is not None and self.headers.get("Authorization"):
                    digest = self.path.rsplit("/", 1)[1]
                    with proxy._lock:
                        proxy.log.append((method, self.path, 307))
                    self.send_response(307)
                    self.send_header("Location", proxy.redirect_blobs_to.url(digest))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if is_blob and method == "GET" and proxy.blob_delay:
                    time.sleep(proxy.blob_delay)
                conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=60)
                try:
                    # Repeated headers (a client may send several Accept lines) are forwarded one by one.
                    conn.putrequest(method, self.path, skip_host=True, skip_accept_encoding=True)
                    for k, v in self.headers.items():
                        if k.lower() not in _HOP_BY_HOP:
                            conn.putheader(k, v)
                    conn.endheaders()
                    resp = conn.getresponse()
                except (OSError, http.client.HTTPException):
                    self.close_connection = True
                    return
                with proxy._lock:
                    proxy.log.append((method, self.path, resp.status))
                length = resp.getheader("Content-Length")
                cut = (is_blob and method == "GET" and resp.status == 200 and proxy.cut_blob_over is not None
                       and length is not None and int(length) > proxy.cut_blob_over and not proxy.cut_done.is_set())
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in _HOP_BY_HOP and k.lower() != "content-length":
                        self.send_header(k, v)
                body = b"" if method == "HEAD" or cut else resp.read()
                if method == "HEAD":
                    self.send_header("Content-Length", length or "0")
                elif cut:
                    self.send_header("Content-Length", length)
                else:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not cut:
                    self.wfile.write(body)
                    conn.close()
                    return
                sent = 0
                while sent < proxy.cut_after:
                    chunk = resp.read(min(65536, proxy.cut_after - sent))
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                    sent += len(chunk)
                self.wfile.flush()
                proxy.cut_done.set()
                if proxy.die_after_cut:
                    proxy.dead.set()
                if proxy.on_cut is not None:
                    proxy.on_cut()
                conn.close()
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

            def do_GET(self):
                self._forward("GET")

            def do_HEAD(self):
                self._forward("HEAD")

        return self._serve(Handler, "registry-proxy")


class BlobStore(_HttpService):
    """Object storage stand-in on another origin (127.0.0.1:<other port>): serves a Registry's blobs by
    digest at /<digest>, honours Range, and records the headers of every request it gets."""

    def __init__(self, registry):
        self.registry = registry
        self.requests = []  # (path, headers dict)
        self._lock = threading.Lock()
        self._server = None
        self._thread = None

    def url(self, digest):
        return f"http://localhost:{self._server.server_address[1]}/{digest}?signature=test"

    def start(self):
        store = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                with store._lock:
                    store.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                digest = urllib.parse.urlsplit(self.path).path.lstrip("/")
                data = store.registry.blob_data_path(digest).read_bytes()
                start = 0
                status = 200
                rng = self.headers.get("Range", "")
                if rng.startswith("bytes=") and rng.endswith("-"):
                    start = int(rng[6:-1])
                    status = 206
                self.send_response(status)
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(data) - start))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                self.wfile.write(data[start:])

        return self._serve(Handler, "blob-store")


# ---- credentials files and helpers ------------------------------------------------------------------

def write_auth_json(path, host, user, password):
    """docker config.json / containers auth.json with `auths.<host>.auth = base64(user:pass)`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"auths": {host: {"auth": basic_auth_value(user, password)}}}, indent=1))
    return path


def write_credential_helper(bindir, name, host, user, password, log_path):
    """A fake `docker-credential-<name>` (the docker credential helper protocol): `get` reads a server URL on
    standard input and prints {"ServerURL", "Username", "Secret"} when it names `host`, else fails like the
    real helpers ("credentials not found in native keychain", exit 1). Every call is appended to log_path."""
    bindir = Path(bindir)
    bindir.mkdir(parents=True, exist_ok=True)
    script = bindir / f"docker-credential-{name}"
    answer = json.dumps({"Username": user, "Secret": password})
    script.write_text(f"""#!/usr/bin/python3
import json, sys
action = sys.argv[1] if len(sys.argv) > 1 else ""
server = sys.stdin.read().strip()
with open({str(log_path)!r}, "a") as log:
    log.write(json.dumps({{"action": action, "server": server}}) + "\\n")
if action != "get":
    sys.exit(1)
if {host!r} not in server:
    print("credentials not found in native keychain")
    sys.exit(1)
answer = json.loads({answer!r})
answer["ServerURL"] = server
print(json.dumps(answer))
""")
    script.chmod(0o755)
    return script


def sha256_digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()
