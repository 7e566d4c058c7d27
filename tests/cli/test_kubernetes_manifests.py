"""deploy/kubernetes/ is valid Kubernetes and deploys what the docs say.

Validation by real tools, without a cluster (Debian's kubectl 1.20 cannot `create --dry-run=client` without
an API server: it needs discovery to map kinds; checked):
- `kubectl kustomize deploy/kubernetes` (Debian's kubernetes-client): every file parses and the
  kustomization builds; every manifest file is in it.
- `kubectl set env --local -o json` decodes each Deployment and Job into kubectl's typed Go objects (the
  k8s.io/api structs): a wrong type (a string where an int goes, an unquoted `--x=y:` that YAML reads as a
  map), an invalid quantity, an unknown field (dropped by the typed round trip: the output is compared with
  the input) fails.
- Debian's python3-kubernetes (models generated from the Kubernetes OpenAPI schema, 1.22): every object is
  deserialized into its typed model (required fields enforced by the models), and every field of the
  manifest must exist in the model with a value of the model's type.
Then the deployment's own requirements (replicas, probes, limits, securityContext, webhook fields, secrets
never on a command line) and that every flag the manifests pass exists in `layerleak serve --help` /
`layerleak audit --help`. Negative controls make sure each validator rejects a broken manifest.

Debian's kubectl: /usr/bin/kubectl when package kubernetes-client owns it, else the copy scripts/install-deps
unpacks under tools/kubernetes-client/. A missing tool is a failure.
"""

import base64
import copy
import json
import os
import re
import subprocess
import sys
import unittest
from pathlib import Path

if __name__ != "__main__" or "--typed-check" not in sys.argv:
    import helpers as h
    import yaml

NAMESPACE = "layerleak"
DEBIAN_PYTHON = "/usr/bin/python3"
POD_TEMPLATE_KINDS = ("Deployment", "Job")


# ---- typed check with python3-kubernetes (run as: /usr/bin/python3 THIS_FILE --typed-check < docs.json) ----

def _typed_check_main():
    """Reads a JSON list of objects; prints a JSON list with each object's problems (empty lists: all valid)."""
    import datetime
    from kubernetes import client
    api = client.ApiClient()
    primitives = {"str": str, "int": int, "bool": bool, "float": (int, float), "object": object}

    def check(value, type_name, path, problems):
        if value is None:
            return
        m = re.fullmatch(r"list\[(.+)\]", type_name)
        if m:
            if not isinstance(value, list):
                problems.append(f"{path}: expected a list, got {type(value).__name__}")
                return
            for i, item in enumerate(value):
                check(item, m.group(1), f"{path}[{i}]", problems)
            return
        m = re.fullmatch(r"dict\(str, (.+)\)", type_name)
        if m:
            if not isinstance(value, dict):
                problems.append(f"{path}: expected a map, got {type(value).__name__}")
                return
            for k, item in value.items():
                check(item, m.group(1), f"{path}.{k}", problems)
            return
        if type_name in primitives:
            ok = isinstance(value, primitives[type_name]) and not (type_name == "int" and isinstance(value, bool))
            if not ok:
                problems.append(f"{path}: expected {type_name}, got {type(value).__name__} {value!r}")
            return
        if type_name in ("datetime", "date"):
            if not isinstance(value, (str, datetime.date)):
                problems.append(f"{path}: expected a time")
            return
        model = getattr(client, type_name, None)
        if model is None:
            problems.append(f"{path}: unknown model {type_name}")
            return
        if not isinstance(value, dict):
            problems.append(f"{path}: expected an object ({type_name}), got {type(value).__name__}")
            return
        json_to_attr = {v: k for k, v in model.attribute_map.items()}
        for key, item in value.items():
            if key not in json_to_attr:
                problems.append(f"{path}.{key}: no such field in {type_name}")
                continue
            check(item, model.openapi_types[json_to_attr[key]], f"{path}.{key}", problems)

    docs = json.load(sys.stdin)
    results = []
    for doc in docs:
        problems = []
        results.append(problems)
        group_version = doc.get("apiVersion", "")
        version = group_version.rsplit("/", 1)[-1]
        type_name = version[0].upper() + version[1:] + doc.get("kind", "")
        where = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        if getattr(client, type_name, None) is None:
            problems.append(f"{where}: {group_version} {doc.get('kind')} is no Kubernetes type ({type_name})")
            continue
        check(doc, type_name, where, problems)
        try:
            api._ApiClient__deserialize(doc, type_name)  # the models' own required-field checks
        except (ValueError, TypeError) as e:
            problems.append(f"{where}: {e}")
    json.dump(results, sys.stdout)


if __name__ == "__main__" and "--typed-check" in sys.argv:
    _typed_check_main()
    sys.exit(0)


# ---- the tests ------------------------------------------------------------------------------------------

def deploy_dir():
    return h.source_dir() / "deploy" / "kubernetes"


def debian_kubectl():
    """Debian's kubectl (package kubernetes-client), wherever scripts/install-deps put it."""
    proc = subprocess.run(["dpkg-query", "-S", "/usr/bin/kubectl"], capture_output=True, text=True)
    if proc.returncode == 0 and proc.stdout.split(":", 1)[0].strip() == "kubernetes-client":
        return "/usr/bin/kubectl"
    copy_path = h.source_dir() / "tools" / "kubernetes-client" / "usr" / "bin" / "kubectl"
    if os.access(copy_path, os.X_OK):
        return str(copy_path)
    raise AssertionError("Debian's kubectl (kubernetes-client) is not installed: run scripts/install-deps")


def kubectl(*args, stdin=None, check=True):
    proc = subprocess.run([debian_kubectl(), *args], input=stdin, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "KUBECONFIG": "/dev/null"})
    if check and proc.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc


def typed_check(docs):
    """Each object's problems found by the python3-kubernetes models (Debian's python3): [[...], [], ...]."""
    if not os.access(DEBIAN_PYTHON, os.X_OK):
        raise AssertionError(f"{DEBIAN_PYTHON} (Debian's python3) is missing")
    proc = subprocess.run([DEBIAN_PYTHON, str(Path(__file__).resolve()), "--typed-check"], input=json.dumps(docs),
                          capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"})
    if proc.returncode != 0:
        raise AssertionError(f"python3-kubernetes typed check failed to run (install python3-kubernetes): {proc.stderr}")
    return json.loads(proc.stdout)


def kubectl_typed_roundtrip(doc):
    """The object after kubectl decoded it into its typed Go struct and encoded it again (pod templates only)."""
    proc = kubectl("set", "env", "--local", "-f", "-", "-o", "json", "LAYERLEAK_MANIFEST_CHECK=1",
                   stdin=json.dumps(doc), check=False)
    if proc.returncode != 0:
        raise ValueError(proc.stderr.strip())
    out = json.loads(proc.stdout)
    for container in out["spec"]["template"]["spec"]["containers"]:
        env = [e for e in container.get("env", []) if e["name"] != "LAYERLEAK_MANIFEST_CHECK"]
        if env:
            container["env"] = env
        else:
            container.pop("env", None)
    return out


def lost_fields(original, decoded, path=""):
    """Paths present in the original and missing (or different) after the typed round trip."""
    if isinstance(original, dict):
        if not isinstance(decoded, dict):
            return [path or "/"]
        lost = []
        for key, value in original.items():
            if key not in decoded:
                if value not in (None, {}, []):
                    lost.append(f"{path}.{key}")
            else:
                lost += lost_fields(value, decoded[key], f"{path}.{key}")
        return lost
    if isinstance(original, list):
        if not isinstance(decoded, list) or len(decoded) != len(original):
            return [path]
        return [p for i, (a, b) in enumerate(zip(original, decoded)) for p in lost_fields(a, b, f"{path}[{i}]")]
    if original != decoded and str(original) != str(decoded):
        return [f"{path} ({original!r} -> {decoded!r})"]
    return []


def help_flags(command):
    proc = h.run_layerleak(command, "--help")
    if proc.returncode != 0:
        raise AssertionError(f"layerleak {command} --help failed: {proc.stderr}")
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", proc.stdout + proc.stderr))


def args_flags(args):
    return [a.split("=", 1)[0] for a in args if a.startswith("--")]


def arg_value(args, flag):
    for i, a in enumerate(args):
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
        if a == flag and i + 1 < len(args):
            return args[i + 1]
    return None


class KubernetesManifests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.built = kubectl("kustomize", str(deploy_dir())).stdout
        cls.docs = [d for d in yaml.safe_load_all(cls.built) if d]
        cls.by_kind = {}
        for d in cls.docs:
            cls.by_kind.setdefault(d["kind"], []).append(d)

    def one(self, kind, name=None):
        found = [d for d in self.by_kind.get(kind, []) if name is None or d["metadata"]["name"] == name]
        self.assertEqual(len(found), 1, f"expected one {kind} {name or ''}: {[d['metadata']['name'] for d in found]}")
        return found[0]

    def container(self, kind, name=None):
        spec = self.one(kind, name)["spec"]["template"]["spec"]
        self.assertEqual(len(spec["containers"]), 1)
        return spec, spec["containers"][0]

    # ---- real-tool validation --------------------------------------------------------------------------

    def test_kustomize_builds_every_manifest_file(self):
        kustomization = yaml.safe_load((deploy_dir() / "kustomization.yaml").read_text())
        files = sorted(p.name for p in deploy_dir().glob("*.yaml") if p.name != "kustomization.yaml")
        self.assertEqual(sorted(kustomization["resources"]), files, "a manifest file is not in kustomization.yaml")
        kinds = sorted(self.by_kind)
        for kind in ("Namespace", "Secret", "ServiceAccount", "Deployment", "Service", "PodDisruptionBudget",
                     "ValidatingWebhookConfiguration", "NetworkPolicy", "Job", "ConfigMap"):
            self.assertIn(kind, kinds)
        for doc in self.docs:
            if doc["kind"] not in ("Namespace", "ValidatingWebhookConfiguration"):
                self.assertEqual(doc["metadata"].get("namespace"), NAMESPACE, doc["metadata"]["name"])

    def test_pod_templates_survive_kubectls_typed_decoding(self):
        for kind in POD_TEMPLATE_KINDS:
            for doc in self.by_kind[kind]:
                decoded = kubectl_typed_roundtrip(doc)
                self.assertEqual(lost_fields(doc, decoded), [], f"{kind}/{doc['metadata']['name']}: fields "
                                 "that kubectl's typed objects do not know or read differently")

    def test_every_object_matches_the_kubernetes_models(self):
        problems = [p for doc_problems in typed_check(self.docs) for p in doc_problems]
        self.assertEqual(problems, [])

    def test_validators_reject_broken_manifests(self):
        deployment = self.one("Deployment")
        cases = {
            "unknown field": lambda d: d["spec"]["template"]["spec"]["containers"][0].__setitem__("argz", ["serve"]),
            "string replicas": lambda d: d["spec"].__setitem__("replicas", "two"),
            "bad quantity": lambda d: d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
                                       .__setitem__("memory", "192Qi"),
            "YAML map in args": lambda d: d["spec"]["template"]["spec"]["containers"][0]["args"]
                                          .append({"--store=postgresql": None}),
        }
        typed_cases = []
        for what, breaker in cases.items():
            broken = copy.deepcopy(deployment)
            breaker(broken)
            try:
                kubectl_rejects = bool(lost_fields(broken, kubectl_typed_roundtrip(broken)))
            except ValueError:
                kubectl_rejects = True
            self.assertTrue(kubectl_rejects, f"kubectl accepted a Deployment with a {what}")
            if what != "bad quantity":  # quantities are plain strings in the Python models
                typed_cases.append((f"a Deployment with a {what}", broken))
        webhook = copy.deepcopy(self.one("ValidatingWebhookConfiguration"))
        del webhook["webhooks"][0]["sideEffects"]
        typed_cases.append(("a webhook without sideEffects", webhook))
        webhook = copy.deepcopy(self.one("ValidatingWebhookConfiguration"))
        webhook["webhooks"][0]["timeoutSecond"] = 10
        typed_cases.append(("a misspelt webhook field", webhook))
        typed_cases.append(("an unknown kind", {"apiVersion": "v1", "kind": "Deploymnet", "metadata": {"name": "x"}}))
        results = typed_check([doc for _, doc in typed_cases])
        for (what, _), problems in zip(typed_cases, results):
            self.assertTrue(problems, f"python3-kubernetes accepted {what}")

    # ---- the deployment's requirements ----------------------------------------------------------------

    def test_serve_deployment(self):
        deployment = self.one("Deployment", "layerleak-serve")
        self.assertGreaterEqual(deployment["spec"]["replicas"], 2)
        spec, c = self.container("Deployment", "layerleak-serve")
        self.assertEqual(c["args"][0], "serve")
        listen = arg_value(c["args"], "--listen")
        port = int(listen.rsplit(":", 1)[1])
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        self.assertEqual(ports["https"], port)
        for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            get = c[probe]["httpGet"]
            self.assertEqual((get["path"], get["scheme"]), (path, "HTTPS"))
            self.assertIn(get["port"], ("https", port))
        for flag in ("--token-file", "--tls-cert", "--tls-key", "--store", "--authfile", "--allow-registry"):
            self.assertIsNotNone(arg_value(c["args"], flag), flag)
        self.assertLess(float(arg_value(c["args"], "--admission-wait")),
                        self.one("ValidatingWebhookConfiguration")["webhooks"][0]["timeoutSeconds"])
        for kind in ("requests", "limits"):
            self.assertIn("memory", c["resources"][kind])
            self.assertIn("cpu", c["resources"][kind])
        self.assertIn("Measured", (deploy_dir() / "serve.yaml").read_text(), "the measured RSS is not written down")
        self.assertTrue(any(p["kind"] == "PodDisruptionBudget" for p in self.docs))
        self.assertEqual(spec["terminationGracePeriodSeconds"] > 10, True)  # serve exits within 10 s
        service = self.one("Service", "layerleak")
        self.assertEqual(service["spec"]["selector"], deployment["spec"]["selector"]["matchLabels"])
        self.assertEqual(service["spec"]["ports"][0]["targetPort"], "https")

    def test_pods_run_unprivileged_with_a_read_only_root(self):
        for kind in POD_TEMPLATE_KINDS:
            spec, c = self.container(kind)
            self.assertTrue(spec["securityContext"]["runAsNonRoot"])
            self.assertGreater(spec["securityContext"]["runAsUser"], 0)
            self.assertFalse(spec.get("automountServiceAccountToken", True))
            sc = c["securityContext"]
            self.assertFalse(sc["allowPrivilegeEscalation"])
            self.assertTrue(sc["readOnlyRootFilesystem"])
            self.assertEqual(sc["capabilities"]["drop"], ["ALL"])
            self.assertNotIn("add", sc["capabilities"])
            mounts = {m["mountPath"] for m in c["volumeMounts"]}
            self.assertIn("/tmp", mounts, f"{kind}: the rules cache needs a writable /tmp")
            env = {e["name"]: e.get("value") for e in c.get("env", [])}
            self.assertTrue(env.get("LAYERLEAK_RULES_CACHE", "").startswith("/tmp/"))

    def test_secrets_come_from_secrets_never_from_the_command_line(self):
        secrets = {d["metadata"]["name"]: d for d in self.by_kind["Secret"]}
        configmaps = {d["metadata"]["name"] for d in self.by_kind["ConfigMap"]}
        for kind in POD_TEMPLATE_KINDS:
            spec, c = self.container(kind)
            for arg in c["args"]:
                self.assertNotIn("REPLACE-ME", arg)
                self.assertIsNone(re.search(r"://[^/@\s]+:[^/@\s]+@", arg), f"credentials in an argument: {arg}")
            self.assertNotIn("--creds", args_flags(c["args"]))
            self.assertEqual(arg_value(c["args"], "--store"), "postgresql:", "the store from libpq's PG* environment")
            store = [e["secretRef"]["name"] for e in c["envFrom"]]
            self.assertEqual(store, ["layerleak-store"])
            self.assertIn("PGPASSWORD", secrets["layerleak-store"]["stringData"])
            for volume in spec["volumes"]:
                if "secret" in volume:
                    self.assertIn(volume["secret"]["secretName"], secrets)
                if "configMap" in volume:
                    self.assertIn(volume["configMap"]["name"], configmaps)
            mounted = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
            authfile = arg_value(c["args"], "--authfile")
            self.assertTrue(authfile.startswith(mounted["registry-auth"] + "/"))
            self.assertEqual(secrets["layerleak-registry-auth"]["type"], "kubernetes.io/dockerconfigjson")
        _, serve = self.container("Deployment")
        mounted = {m["name"]: m["mountPath"] for m in serve["volumeMounts"]}
        self.assertEqual(arg_value(serve["args"], "--token-file"), mounted["token"] + "/token")
        self.assertEqual(arg_value(serve["args"], "--tls-cert"), mounted["tls"] + "/tls.crt")
        self.assertIn("token", secrets["layerleak-api-token"]["stringData"])
        self.assertEqual(secrets["layerleak-tls"]["type"], "kubernetes.io/tls")

    def test_webhook(self):
        config = self.one("ValidatingWebhookConfiguration")
        self.assertEqual(len(config["webhooks"]), 1)
        webhook = config["webhooks"][0]
        self.assertIn(webhook["failurePolicy"], ("Fail", "Ignore"))
        self.assertEqual(webhook["sideEffects"], "None")
        self.assertIn("v1", webhook["admissionReviewVersions"])
        self.assertTrue(1 <= webhook["timeoutSeconds"] <= 30)
        service = webhook["clientConfig"]["service"]
        self.assertEqual((service["namespace"], service["name"], service["path"]),
                         (NAMESPACE, "layerleak", "/v1/kubernetes/admission"))
        svc = self.one("Service", "layerleak")
        self.assertIn(service.get("port", 443), [p["port"] for p in svc["spec"]["ports"]])
        rules = webhook["rules"][0]
        self.assertIn("pods", rules["resources"])
        self.assertIn("CREATE", rules["operations"])
        excluded = [e for e in webhook["namespaceSelector"]["matchExpressions"]
                    if e["key"] == "kubernetes.io/metadata.name" and e["operator"] == "NotIn"]
        self.assertTrue(excluded and NAMESPACE in excluded[0]["values"], "the scanner's namespace is not excluded")
        placeholder = base64.b64decode(webhook["clientConfig"]["caBundle"], validate=True).decode()
        self.assertTrue(placeholder.startswith("REPLACE-ME"), placeholder)
        self.assertIn("caBundle", (deploy_dir() / "webhook.yaml").read_text().split("apiVersion")[0])
        self.assertIn("caBundle", (h.source_dir() / "docs" / "deployment.md").read_text())

    def test_audit_job_runs_cooperating_workers(self):
        job = self.one("Job", "layerleak-audit")
        self.assertGreaterEqual(job["spec"]["parallelism"], 2)
        self.assertGreaterEqual(job["spec"]["completions"], job["spec"]["parallelism"])
        spec, c = self.container("Job")
        self.assertEqual(spec["restartPolicy"], "Never")
        self.assertEqual(c["args"][0], "audit")
        self.assertTrue(c["args"][1].startswith("docker://"))
        self.assertEqual(arg_value(c["args"], "--fail-on"), "none", "findings must not make the Job retry")
        # Every pod of the Job joins one run: the run id comes from the Job's UID label on its pods.
        self.assertEqual(arg_value(c["args"], "--run-id"), "$(JOB_UID)")
        env = {e["name"]: e for e in c["env"]}
        self.assertEqual(env["JOB_UID"]["valueFrom"]["fieldRef"]["fieldPath"], "metadata.labels['controller-uid']")

    def test_network_policies(self):
        ports = {p["port"] for d in self.by_kind["NetworkPolicy"] for rule in d["spec"].get("egress", [])
                 for p in rule.get("ports", [])}
        self.assertTrue({53, 443, 5432} <= ports, ports)
        ingress = {p["port"] for d in self.by_kind["NetworkPolicy"] for rule in d["spec"].get("ingress", [])
                   for p in rule.get("ports", [])}
        self.assertEqual(ingress, {8443})

    def test_manifest_flags_exist_in_the_binary(self):
        for kind, command in (("Deployment", "serve"), ("Job", "audit")):
            _, c = self.container(kind)
            known = help_flags(command)
            unknown = [f for f in args_flags(c["args"]) if f not in known]
            self.assertEqual(unknown, [], f"{kind} passes flags `layerleak {command} --help` does not list")


if __name__ == "__main__":
    unittest.main()
