"""A populated registry for audit tests and bench/audit: a real docker-registry (Debian's, distribution 2.8) on
127.0.0.1, filled through the distribution API v2 with many repositories and tags built from a handful of
shared base layers, some carrying Scaleway credentials in files written the way real tools write them.

    from registry_population import populate_registry
    pop = populate_registry(workdir)                 # starts a registry (stop with pop.stop())
    pop = populate_registry(workdir, registry=reg)   # or fills one you started (registry_harness.Registry)
    pop.target                                       # "docker://127.0.0.1:PORT"
    pop.tags                                         # {"shop/cart": {"1.0": "sha256:…", …}, …}
    pop.secrets                                      # [Placement(key, path, layer, refs), …]
    pop.distinct_layers, pop.distinct_manifests      # what one audit reads at most once each

How it is fast (a few seconds for 30+ repositories and 100+ tags): every layer is a real gzip'd tar built in
memory with tarfile, pushed ONCE (monolithic upload) into one repository, then cross-repository mounted
(`POST /v2/<repo>/blobs/uploads/?mount=<digest>&from=<repo>`) into every repository whose images use it; image
configs (with the layers' diff_ids and history) and manifests are composed here and PUT directly. Every
request goes over one kept-alive HTTP connection.

What is in it (sizes scale with `repositories`/`tags_per_repository`):
- 4 base images (an Alpine-like, a Debian-like, a Python and a Node runtime), 1-2 layers each, shared by all.
- A shared "ci settings" layer whose `/app/.env` holds SHARED_KEY (SCW_ACCESS_KEY/SCW_SECRET_KEY lines, as
  dotenv files are written): it is in many tags of many repositories (one key copied into many tags).
- A Terraform state (`/srv/infra/terraform.tfstate`, Terraform 1.x JSON, a scaleway_iam_api_key resource) with
  TFSTATE_KEY in one repository, and the scw CLI's `/root/.config/scw/config.yaml` with SCW_CONFIG_KEY in
  another, the latter in a layer that a later layer deletes (a whiteout): still in the image's history.
- One multi-platform OCI index (`platform/multiarch:latest`, linux/amd64 and linux/arm64) whose arm64 image
  alone carries ARM_KEY (scw CLI config again).
- Aliases: several tags of one repository point at the same manifest (`latest` = the newest version), and
  some repositories are Docker schema 2, others OCI manifests.
- Clean repositories (no credential) and placeholders that are not secrets (`SCWXXXXXXXXXXXXXXXXX`,
  `00000000-0000-0000-0000-000000000000`, project IDs).

Standard library only (plus registry_harness for starting the registry).
"""

import concurrent.futures
import gzip
import hashlib
import http.client
import importlib.util
import io
import json
import random
import socket
import sys
import tarfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

# tests/integration/registry_harness.py, loaded by path (putting tests/integration on sys.path would let its
# helpers.py shadow the importing suite's own helpers module).
_HARNESS = Path(__file__).resolve().parent.parent / "integration" / "registry_harness.py"
if "layerleak_registry_harness" in sys.modules:
    registry_harness = sys.modules["layerleak_registry_harness"]
else:
    _spec = importlib.util.spec_from_file_location("layerleak_registry_harness", _HARNESS)
    registry_harness = importlib.util.module_from_spec(_spec)
    sys.modules["layerleak_registry_harness"] = registry_harness
    _spec.loader.exec_module(registry_harness)

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # real access keys never use I, L, O, U
FIXED_TIME = 1_700_000_000  # file mtimes and "created": reproducible digests
ARCH_SUFFIXES = ("amd64", "arm64")


@dataclass(frozen=True)
class Credential:
    name: str            # SHARED_KEY, TFSTATE_KEY, ...
    access_key: str      # SCW + 17 Crockford base32 characters
    secret_key: str      # the credential: a UUIDv4


@dataclass
class Placement:
    """One credential in one file of one layer, and every repo:tag whose image contains that layer."""
    credential: Credential
    path: str                     # absolute path in the image
    layer_digest: str             # the compressed blob's digest
    diff_id: str
    visibility: str               # runtime or deleted
    refs: list = field(default_factory=list)        # ["repo:tag", ...]
    platforms: list = field(default_factory=list)   # platform of the image(s) holding it ("linux/arm64", ...)


@dataclass
class Population:
    registry: object              # registry_harness.Registry
    owns_registry: bool
    tags: dict                    # repo -> {tag -> manifest (or index) digest}
    manifests: dict               # digest -> {"repo", "media_type", "platform"|None, "layers": [digests]}
    credentials: list             # [Credential]
    secrets: list                 # [Placement]
    layers: dict                  # blob digest -> {"diff_id", "size", "name"}
    push_seconds: float = 0.0

    @property
    def host(self):
        return self.registry.host

    @property
    def target(self):
        return f"docker://{self.registry.host}"

    @property
    def repositories(self):
        return sorted(self.tags)

    @property
    def tag_count(self):
        return sum(len(t) for t in self.tags.values())

    @property
    def refs(self):
        """Every "repo:tag", sorted."""
        return sorted(f"{r}:{t}" for r, tags in self.tags.items() for t in tags)

    @property
    def distinct_manifests(self):
        """Distinct image manifests (an index counts its platform manifests, not itself)."""
        return len([d for d, m in self.manifests.items() if m["media_type"] != OCI_INDEX])

    @property
    def distinct_top_digests(self):
        """Distinct digests that tags point at (indexes and single manifests)."""
        return len({d for tags in self.tags.values() for d in tags.values()})

    @property
    def distinct_layers(self):
        return len({layer for m in self.manifests.values() for layer in m["layers"]})

    def secrets_in(self, repo, tag):
        ref = f"{repo}:{tag}"
        return [p for p in self.secrets if ref in p.refs]

    def repos_with_secrets(self):
        return sorted({ref.split(":", 1)[0] for p in self.secrets for ref in p.refs})

    def ground_truth(self):
        """A JSON-able summary (bench/audit writes it beside its results)."""
        return {
            "target": self.target,
            "repositories": len(self.tags),
            "tags": self.tag_count,
            "distinct_top_digests": self.distinct_top_digests,
            "distinct_manifests": self.distinct_manifests,
            "distinct_layers": self.distinct_layers,
            "secrets": [{"credential": p.credential.name, "access_key": p.credential.access_key,
                         "path": p.path, "visibility": p.visibility, "layer": p.layer_digest,
                         "refs": len(p.refs), "platforms": p.platforms} for p in self.secrets],
            "push_seconds": round(self.push_seconds, 2),
        }

    def stop(self):
        if self.owns_registry:
            self.registry.stop()


# ---- credentials ------------------------------------------------------------------------------------

def make_credential(name, rng):
    while True:
        body = "".join(rng.choice(CROCKFORD) for _ in range(17))
        if not any(c * 3 in body for c in CROCKFORD) and "XXXX" not in body:
            break
    h = "%032x" % rng.getrandbits(128)
    secret = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:32]}"
    return Credential(name, "SCW" + body, secret)


def uuid4(rng):
    h = "%032x" % rng.getrandbits(128)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:32]}"


def dotenv(cred, project_id):
    return (f"# written by the deploy job\nAPP_ENV=production\nLOG_LEVEL=info\n"
            f"SCW_ACCESS_KEY={cred.access_key}\nSCW_SECRET_KEY={cred.secret_key}\n"
            f"SCW_DEFAULT_PROJECT_ID={project_id}\nSCW_DEFAULT_REGION=fr-par\n"
            f"DATABASE_URL=postgres://app@db:5432/app\n")


def scw_config(cred, org_id, project_id, zone="fr-par-1"):
    # What `scw init` writes to ~/.config/scw/config.yaml.
    return (f"access_key: {cred.access_key}\nsecret_key: {cred.secret_key}\n"
            f"default_organization_id: {org_id}\ndefault_project_id: {project_id}\n"
            f"default_region: {zone.rsplit('-', 1)[0]}\ndefault_zone: {zone}\n")


def terraform_state(cred, project_id, application_id, rng):
    # Terraform 1.x state, version 4, as `terraform apply` writes it (two-space JSON, sorted attributes).
    state = {
        "version": 4,
        "terraform_version": "1.5.7",
        "serial": 7,
        "lineage": uuid4(rng),
        "outputs": {},
        "resources": [{
            "mode": "managed",
            "type": "scaleway_iam_api_key",
            "name": "ci",
            "provider": "provider[\"registry.terraform.io/scaleway/scaleway\"]",
            "instances": [{
                "schema_version": 0,
                "attributes": {
                    "access_key": cred.access_key,
                    "application_id": application_id,
                    "created_at": "2024-03-11T09:12:44Z",
                    "default_project_id": project_id,
                    "description": "CI deployer",
                    "editable": True,
                    "expires_at": "",
                    "id": cred.access_key,
                    "secret_key": cred.secret_key,
                    "updated_at": "2024-03-11T09:12:44Z",
                    "user_id": None,
                },
                "sensitive_attributes": [],
                "private": "bnVsbA==",
            }],
        }],
        "check_results": None,
    }
    return json.dumps(state, indent=2) + "\n"


# ---- layers and images ------------------------------------------------------------------------------

class Layer:
    """A gzip'd tar built in memory: files (path -> bytes or str), directories made implicitly, whiteouts."""

    def __init__(self, name, files, whiteouts=(), created_by=None):
        self.name = name
        self.created_by = created_by or f"COPY {name} /"
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
            dirs = set()
            entries = [(p, c) for p, c in files.items()] + [(w, None) for w in whiteouts]
            for path, _ in entries:
                parts = path.strip("/").split("/")[:-1]
                for i in range(1, len(parts) + 1):
                    dirs.add("/".join(parts[:i]))
            for d in sorted(dirs):
                info = tarfile.TarInfo(d + "/")
                info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, FIXED_TIME
                tar.addfile(info)
            for path, content in sorted(files.items()):
                data = content.encode() if isinstance(content, str) else content
                info = tarfile.TarInfo(path.strip("/"))
                info.size, info.mtime = len(data), FIXED_TIME
                info.mode = 0o755 if path.startswith(("/bin/", "/usr/bin/", "/usr/local/bin/")) else 0o644
                tar.addfile(info, io.BytesIO(data))
            for path in sorted(whiteouts):
                parent, _, base = path.strip("/").rpartition("/")
                info = tarfile.TarInfo((parent + "/" if parent else "") + ".wh." + base)
                info.size, info.mtime = 0, FIXED_TIME
                tar.addfile(info, io.BytesIO(b""))
        tar_bytes = raw.getvalue()
        self.diff_id = "sha256:" + hashlib.sha256(tar_bytes).hexdigest()
        self.blob = gzip.compress(tar_bytes, compresslevel=6, mtime=0)
        self.digest = "sha256:" + hashlib.sha256(self.blob).hexdigest()
        self.files = dict(files)


def _filler(rng, size):
    """Text that compresses like real files do (not a single repeated byte)."""
    words = ["lib", "share", "config", "module", "index", "value", "return", "static", "import", "class"]
    out, n = [], 0
    while n < size:  # words and a random token per line: compresses about 2.5:1, as binaries and text do
        line = " ".join(rng.choice(words) for _ in range(8)) + " %016x\n" % rng.getrandbits(64)
        out.append(line)
        n += len(line)
    return "".join(out)[:size]


def _base_layers(rng, scale):
    """The shared bases: name -> [Layer]."""
    fill = max(1, scale)

    def blob(n):
        return _filler(rng, n * fill)

    alpine = [Layer("alpine-rootfs", {
        "/etc/os-release": 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\n',
        "/etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n",
        "/bin/busybox": blob(60_000), "/lib/ld-musl-x86_64.so.1": blob(40_000),
        "/etc/apk/repositories": "https://dl-cdn.alpinelinux.org/alpine/v3.19/main\n",
    }, created_by="ADD alpine-minirootfs-3.19.1-x86_64.tar.gz /")]
    debian = [Layer("debian-rootfs", {
        "/etc/os-release": 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n',
        "/etc/passwd": "root:x:0:0:root:/root:/bin/bash\n",
        "/usr/bin/bash": blob(90_000), "/usr/lib/x86_64-linux-gnu/libc.so.6": blob(120_000),
        "/var/lib/dpkg/status": blob(30_000),
    }, created_by="ADD rootfs.tar.xz /")]
    python = debian + [Layer("python-runtime", {
        "/usr/local/bin/python3.12": blob(80_000),
        "/usr/local/lib/python3.12/os.py": blob(40_000),
        "/usr/local/lib/python3.12/site-packages/README.txt": "This directory exists so that 3rd party packages can be installed here.\n",
    }, created_by="RUN /bin/sh -c set -eux; ./configure --enable-optimizations && make install")]
    node = debian + [Layer("node-runtime", {
        "/usr/local/bin/node": blob(110_000),
        "/usr/local/lib/node_modules/npm/package.json": '{"name": "npm", "version": "10.5.0"}\n',
    }, created_by="RUN /bin/sh -c set -ex && tar -xJf node-v20.12.0-linux-x64.tar.xz -C /usr/local")]
    return {"alpine": alpine, "debian": debian, "python": python, "node": node}


def _config(layers, arch="amd64", media=DOCKER_CONFIG, env=()):
    history = [{"created": "2024-03-11T09:12:44Z", "created_by": layer.created_by} for layer in layers]
    config = {
        "architecture": arch, "os": "linux", "created": "2024-03-11T09:12:44Z",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", *env],
                   "WorkingDir": "/app", "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": history,
    }
    return json.dumps(config, separators=(",", ":"), sort_keys=True).encode()


# ---- the registry API -------------------------------------------------------------------------------

class _Client:
    """One kept-alive HTTP/1.1 connection to the registry (reopened if the server closes it)."""

    def __init__(self, host):
        self.host = host
        self.conn = None
        self.requests = 0

    def request(self, method, path, body=None, headers=None, expect=(200, 201, 202)):
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, timeout=30)
                self.conn.connect()
                # http.client sends the headers and the body in two writes: without TCP_NODELAY, Nagle's
                # algorithm and the server's delayed ACK cost ~40 ms per upload.
                self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                resp = self.conn.getresponse()
                data = resp.read()
                self.requests += 1
                break
            except (ConnectionError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        if resp.status not in expect:
            raise AssertionError(f"{method} {path}: HTTP {resp.status}: {data[:500]!r}")
        return resp, data

    def close(self):
        if self.conn is not None:
            self.conn.close()


class _Pusher:
    def __init__(self, host):
        self.client = _Client(host)
        self.home = {}        # blob digest -> repository it was first pushed to
        self.linked = set()   # (repo, digest)

    def blob(self, repo, digest, data):
        if (repo, digest) in self.linked:
            return
        if digest in self.home:
            src = urllib.parse.quote(self.home[digest], safe="")
            resp, _ = self.client.request(
                "POST", f"/v2/{repo}/blobs/uploads/?mount={digest}&from={src}",
                headers={"Content-Length": "0"}, expect=(201, 202))
            if resp.status == 201:
                self.linked.add((repo, digest))
                return
            location = resp.getheader("Location")   # mount refused: upload instead (this session)
        else:
            resp, _ = self.client.request("POST", f"/v2/{repo}/blobs/uploads/",
                                          headers={"Content-Length": "0"}, expect=(202,))
            location = resp.getheader("Location")
        parts = urllib.parse.urlsplit(location)
        query = parts.query + ("&" if parts.query else "") + "digest=" + urllib.parse.quote(digest, safe="")
        self.client.request("PUT", f"{parts.path}?{query}", body=data,
                            headers={"Content-Type": "application/octet-stream",
                                     "Content-Length": str(len(data))}, expect=(201,))
        self.home.setdefault(digest, repo)
        self.linked.add((repo, digest))

    def manifest(self, repo, reference, media_type, body):
        self.client.request("PUT", f"/v2/{repo}/manifests/{reference}", body=body,
                            headers={"Content-Type": media_type, "Content-Length": str(len(body))},
                            expect=(201,))
        return "sha256:" + hashlib.sha256(body).hexdigest()


class _Recorder:
    """Records the pushes of _populate (content is built in a fixed order, so digests are reproducible), then
    replays them: blobs used by several repositories pushed once first, then each repository's own blobs,
    mounts and manifests in order, PUSH_THREADS repositories at a time (one connection each)."""

    PUSH_THREADS = 4

    def __init__(self):
        self.ops = {}  # repo -> [("blob", digest, data) | ("manifest", reference, media_type, body)]

    def blob(self, repo, digest, data):
        self.ops.setdefault(repo, []).append(("blob", digest, data))

    def manifest(self, repo, reference, media_type, body):
        self.ops.setdefault(repo, []).append(("manifest", reference, media_type, body))
        return "sha256:" + hashlib.sha256(body).hexdigest()

    def replay(self, host):
        users = {}
        for repo, ops in self.ops.items():
            for op in ops:
                if op[0] == "blob":
                    users.setdefault(op[1], []).append(repo)
        first = _Pusher(host)
        done = set()
        for repo, ops in self.ops.items():  # shared blobs, once each, into their first repository
            for op in ops:
                if op[0] == "blob" and len(set(users[op[1]])) > 1 and op[1] not in done:
                    first.blob(repo, op[1], op[2])
                    done.add(op[1])
        first.client.close()

        def push_repo(item):
            repo, ops = item
            pusher = _Pusher(host)
            pusher.home = dict(first.home)
            pusher.linked = {(r, d) for r, d in first.linked if r == repo}
            try:
                for op in ops:
                    if op[0] == "blob":
                        pusher.blob(repo, op[1], op[2])
                    else:
                        pusher.manifest(repo, op[1], op[2], op[3])
            finally:
                pusher.client.close()

        with concurrent.futures.ThreadPoolExecutor(self.PUSH_THREADS) as pool:
            for _ in pool.map(push_repo, self.ops.items()):
                pass


# ---- population -------------------------------------------------------------------------------------

REPO_NAMES = ["shop/cart", "shop/checkout", "shop/catalog", "shop/search", "shop/payments", "shop/web",
              "data/ingest", "data/etl", "data/warehouse-sync", "data/reports", "ml/trainer", "ml/serving",
              "infra/terraform-runner", "infra/backup", "infra/cron", "infra/dns-sync", "tools/scw-cli",
              "tools/debug", "tools/migrate", "auth/api", "auth/admin", "auth/sso", "mail/sender",
              "mail/templates", "media/thumbnailer", "media/transcoder", "billing/invoices",
              "billing/usage", "support/bot", "support/desk", "edge/proxy", "edge/cdn-purge",
              "search/indexer", "search/crawler", "ops/alerts", "ops/status-page"]


def populate_registry(workdir, registry=None, repositories=32, tags_per_repository=4, seed=16,
                      scale=1):
    """Starts (or takes) a registry and fills it. Returns a Population (the ground truth).

    repositories: how many (>= 8; names from REPO_NAMES, then generated). tags_per_repository: versions per
    repository (each a distinct image), plus a `latest` alias of the newest; a few repositories get one more
    alias. The defaults give 32 repositories and 160+ tags; scale multiplies the base layers' sizes.
    """
    if repositories < 8:
        raise ValueError("repositories must be >= 8 (the credential placements need that many)")
    started = time.monotonic()
    owns = registry is None
    if owns:
        registry = registry_harness.Registry(Path(workdir) / "registry").start()
    try:
        pop = _populate(registry, owns, repositories, tags_per_repository, seed, scale)
    except BaseException:
        if owns:
            registry.stop()
        raise
    pop.push_seconds = time.monotonic() - started
    return pop


def _populate(registry, owns, repositories, tags_per_repository, seed, scale):
    rng = random.Random(seed)
    bases = _base_layers(rng, scale)
    shared = make_credential("SHARED_KEY", rng)
    tfstate = make_credential("TFSTATE_KEY", rng)
    scwconf = make_credential("SCW_CONFIG_KEY", rng)
    armkey = make_credential("ARM_KEY", rng)
    org_id, project_id, app_id = uuid4(rng), uuid4(rng), uuid4(rng)

    ci_layer = Layer("ci-settings", {"/app/.env": dotenv(shared, project_id)}, created_by="COPY .env /app/")
    # Not secrets: placeholders and IDs (an audit must not report them).
    placeholder_layer = Layer("placeholders", {
        "/app/.env.example": "SCW_ACCESS_KEY=SCWXXXXXXXXXXXXXXXXX\nSCW_SECRET_KEY=00000000-0000-0000-0000-000000000000\n"
                             f"SCW_DEFAULT_PROJECT_ID={project_id}\n",
    }, created_by="COPY .env.example /app/")

    tf = Layer("tfstate", {"/srv/infra/terraform.tfstate": terraform_state(tfstate, project_id, app_id, rng),
                           "/srv/infra/main.tf": 'provider "scaleway" {\n  zone = "fr-par-1"\n}\n'},
               created_by="COPY infra/ /srv/infra/")
    names = list(REPO_NAMES[:repositories])
    while len(names) < repositories:
        names.append(f"gen/service-{len(names):03d}")
    base_cycle = ["alpine", "debian", "python", "node"]

    pusher = _Recorder()
    pop = Population(registry=registry, owns_registry=owns, tags={}, manifests={},
                     credentials=[shared, tfstate, scwconf, armkey], secrets=[], layers={})
    placements = {}  # (credential name, layer digest) -> Placement

    def place(cred, path, layer, visibility):
        key = (cred.name, layer.digest)
        if key not in placements:
            placements[key] = Placement(cred, path, layer.digest, layer.diff_id, visibility)
            pop.secrets.append(placements[key])
        return placements[key]

    def push_image(repo, layers, arch="amd64", oci=False, env=()):
        for layer in layers:
            pusher.blob(repo, layer.digest, layer.blob)
            pop.layers.setdefault(layer.digest, {"diff_id": layer.diff_id, "size": len(layer.blob),
                                                 "name": layer.name})
        config = _config(layers, arch, OCI_CONFIG if oci else DOCKER_CONFIG, env)
        config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
        pusher.blob(repo, config_digest, config)
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST if oci else DOCKER_MANIFEST,
            "config": {"mediaType": OCI_CONFIG if oci else DOCKER_CONFIG, "size": len(config),
                       "digest": config_digest},
            "layers": [{"mediaType": OCI_LAYER if oci else DOCKER_LAYER, "size": len(layer.blob),
                        "digest": layer.digest} for layer in layers],
        }
        body = json.dumps(manifest, indent=3).encode()
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        pop.manifests.setdefault(digest, {"repo": repo, "media_type": manifest["mediaType"],
                                          "platform": f"linux/{arch}", "layers": [l.digest for l in layers],
                                          "body": body})
        return digest, body, manifest["mediaType"], len(body)

    def tag(repo, name, digest, media_type, body):
        pusher.manifest(repo, name, media_type, body)
        pop.tags.setdefault(repo, {})[name] = digest

    for i, repo in enumerate(names):
        base = bases[base_cycle[i % len(base_cycle)]]
        oci = i % 3 == 2
        versions = []
        for v in range(tags_per_repository):
            app = Layer(f"{repo}-app-{v}", {
                f"/app/{repo.split('/')[-1]}.py": f"VERSION = '1.{v}.0'\n" + _filler(rng, 2_000),
                "/app/requirements.txt": "requests==2.31.0\nflask==3.0.2\n",
            }, created_by=f"COPY app/ /app/ # v1.{v}")
            layers = list(base)
            extra = []
            if i % 4 == 0 or (i % 4 == 1 and v == tags_per_repository - 1):
                layers.append(ci_layer)             # the shared key: many repositories, many tags
                extra.append((shared, "/app/.env", ci_layer, "runtime"))
            if i % 5 == 3:
                layers.append(placeholder_layer)
            if repo == names[6] and v >= 1:         # a Terraform state left in the image (one layer, reused)
                layers.append(tf)
                extra.append((tfstate, "/srv/infra/terraform.tfstate", tf, "runtime"))
            if repo == names[7] and v == 0:         # scw config copied, then removed: still in history
                conf = Layer("scw-config", {"/root/.config/scw/config.yaml": scw_config(scwconf, org_id, project_id)},
                             created_by="RUN /bin/sh -c scw init --with-ssh-key=false")
                layers.append(conf)
                extra.append((scwconf, "/root/.config/scw/config.yaml", conf, "deleted"))
            layers.append(app)
            if repo == names[7] and v == 0:
                layers.append(Layer("scw-config-rm", {}, whiteouts=["/root/.config/scw/config.yaml"],
                                    created_by="RUN /bin/sh -c rm -f /root/.config/scw/config.yaml"))
            digest, body, media, _ = push_image(repo, layers, oci=oci)
            name = f"1.{v}.0"
            tag(repo, name, digest, media, body)
            for cred, path, layer, visibility in extra:
                p = place(cred, path, layer, visibility)
                p.refs.append(f"{repo}:{name}")
                if "linux/amd64" not in p.platforms:
                    p.platforms.append("linux/amd64")
            versions.append((name, digest, media, body, extra))
        # Aliases: latest = the newest version; some repositories also carry "stable" = the one before.
        aliases = [("latest", versions[-1])]
        if i % 2 == 0 and len(versions) > 1:
            aliases.append(("stable", versions[-2]))
        for alias, (_, digest, media, body, extra) in aliases:
            tag(repo, alias, digest, media, body)
            for cred, path, layer, _ in extra:
                placements[(cred.name, layer.digest)].refs.append(f"{repo}:{alias}")

    # One multi-platform index: linux/amd64 clean, linux/arm64 with a key.
    repo = "platform/multiarch"
    base = bases["alpine"]
    arm_conf = Layer("arm-scw-config", {"/root/.config/scw/config.yaml": scw_config(armkey, org_id, project_id, "nl-ams-1")},
                     created_by="COPY config.yaml /root/.config/scw/config.yaml")
    children = []
    for arch in ARCH_SUFFIXES:
        layers = list(base) + [Layer(f"multiarch-app-{arch}", {"/app/server": _filler(rng, 3_000) + arch})]
        if arch == "arm64":
            layers.append(arm_conf)
        digest, body, media, size = push_image(repo, layers, arch=arch, oci=True)
        pusher.manifest(repo, digest, media, body)
        children.append({"mediaType": media, "digest": digest, "size": size,
                         "platform": {"architecture": arch, "os": "linux"}})
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}, indent=2).encode()
    index_digest = "sha256:" + hashlib.sha256(index).hexdigest()
    pop.manifests[index_digest] = {"repo": repo, "media_type": OCI_INDEX, "platform": None, "layers": [],
                                   "body": index}
    for name in ("latest", "1.0.0"):
        tag(repo, name, index_digest, OCI_INDEX, index)
    p = place(armkey, "/root/.config/scw/config.yaml", arm_conf, "runtime")
    p.refs += [f"{repo}:latest", f"{repo}:1.0.0"]
    p.platforms.append("linux/arm64")

    pusher.replay(registry.host)
    return pop


def _main():
    import argparse
    import tempfile
    parser = argparse.ArgumentParser(description="Start a populated loopback registry and print its ground truth.")
    parser.add_argument("--repositories", type=int, default=32)
    parser.add_argument("--tags-per-repository", type=int, default=4)
    parser.add_argument("--hold", action="store_true", help="keep the registry running until Ctrl-C")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="llpop-") as tmp:
        pop = populate_registry(tmp, repositories=args.repositories, tags_per_repository=args.tags_per_repository)
        try:
            print(json.dumps(pop.ground_truth(), indent=2))
            if args.hold:
                print(f"registry at {pop.target}; Ctrl-C to stop", file=sys.stderr)
                while True:
                    time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            pop.stop()


if __name__ == "__main__":
    _main()
