"""The CI integrations: the GitHub Action (action.yml, ci/github-action-entrypoint) and the GitLab CI template
(ci/layerleak.gitlab-ci.yml).

- Both files validate against our own JSON Schemas of the formats (tests/data/schemas/, written from
  GitHub's and GitLab's documentation; see the README there), and a broken copy of each does not.
- The action's scan step (ci/github-action-entrypoint), run with a fake $GITHUB_OUTPUT against samples/leaky-app.tar, writes the report,
  `report=<path>` and `exit-code=<status>`, and exits with the scan's status (0, 1 or 2).
- The GitLab job's script, run by /bin/sh with the real binary as `layerleak`, writes
  gl-secret-detection-report.json and fails the job on findings.

Needs python3-jsonschema and python3-yaml (scripts/install-deps); missing, they fail the tests.
"""

import copy
import json
import os
import re
import unittest
from pathlib import Path

import yaml

import helpers as h

SCHEMAS = Path(__file__).resolve().parent.parent / "data" / "schemas"
ACTION_SCHEMA = SCHEMAS / "github-action.schema.json"
GITLAB_SCHEMA = SCHEMAS / "gitlab-ci.schema.json"
SAMPLE = "samples/leaky-app.tar"


def load_yaml(path):
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))


class SchemaCase(unittest.TestCase):
    schema = None

    def assertValid(self, doc):
        self.assertEqual(h.report_schema.schema_errors(doc, self.schema), [])

    def assertRejected(self, doc, mutate, expected_path):
        broken = copy.deepcopy(doc)
        mutate(broken)
        errors = h.report_schema.schema_errors(broken, self.schema)
        self.assertTrue(errors, "the schema accepted a broken file")
        self.assertTrue(any(e.startswith(expected_path) for e in errors), errors)


class GitHubActionMetadata(SchemaCase):
    schema = ACTION_SCHEMA

    @classmethod
    def setUpClass(cls):
        cls.src = h.source_dir()
        cls.action = load_yaml(cls.src / "action.yml")

    def test_action_validates(self):
        self.assertValid(self.action)

    def test_composite_action_builds_the_dockerfile_and_runs_the_entrypoint(self):
        runs = self.action["runs"]
        self.assertEqual(runs["using"], "composite", "a container action would run as the image's non-root user")
        build, scan = runs["steps"]
        self.assertIn('docker build --tag layerleak-action:local "$GITHUB_ACTION_PATH"', build["run"])
        self.assertTrue((self.src / "Dockerfile").is_file())
        self.assertEqual(scan["id"], "scan")
        self.assertEqual(scan["run"], '"$GITHUB_ACTION_PATH/ci/github-action-entrypoint"')
        self.assertEqual(scan["env"]["LAYERLEAK_ACTION_IMAGE"], "layerleak-action:local")
        self.assertTrue(os.access(self.src / "ci" / "github-action-entrypoint", os.X_OK))
        # Every input reaches the script through the environment, as INPUT_<NAME>.
        for name in self.action["inputs"]:
            self.assertEqual(scan["env"]["INPUT_" + name.upper().replace("-", "_")], "${{ inputs.%s }}" % name)
        for output in ("report", "exit-code"):
            self.assertEqual(self.action["outputs"][output]["value"], "${{ steps.scan.outputs.%s }}" % output)

    def test_no_expression_is_spliced_into_a_script(self):
        # `${{ inputs.image }}` inside `run:` would let an image name like `x"; curl …` run as shell code.
        for step in self.action["runs"]["steps"]:
            self.assertNotIn("${{", step.get("run", ""), step)

    def test_inputs_and_outputs(self):
        inputs = self.action["inputs"]
        self.assertEqual(set(inputs), {"image", "format", "fail-on", "baseline", "output"})
        self.assertIs(inputs["image"]["required"], True)
        self.assertEqual(inputs["format"]["default"], "sarif")
        self.assertEqual(inputs["fail-on"]["default"], "medium")
        self.assertIn("report", self.action["outputs"])
        self.assertIn("exit-code", self.action["outputs"])

    def test_schema_rejects_a_broken_action(self):
        a = self.action
        self.assertRejected(a, lambda d: d["runs"].pop("steps"), "$.runs")
        self.assertRejected(a, lambda d: d["runs"].update(using="docker2"), "$.runs")
        self.assertRejected(a, lambda d: d["runs"].update(using="node20"), "$.runs")
        self.assertRejected(a, lambda d: d["runs"]["steps"][0].pop("shell"), "$.runs")
        self.assertRejected(a, lambda d: d["runs"]["steps"][0].update(uses="actions/checkout@v4"), "$.runs")
        self.assertRejected(a, lambda d: d["runs"]["steps"][1].update(enviroment={}), "$.runs")
        self.assertRejected(a, lambda d: d["outputs"]["report"].pop("value"), "$.outputs")
        self.assertRejected(a, lambda d: d.pop("description"), "$")
        self.assertRejected(a, lambda d: d.update(input={}), "$")
        self.assertRejected(a, lambda d: d["inputs"]["format"].update(defualt="json"), "$.inputs.format")
        self.assertRejected(a, lambda d: d["inputs"]["image"].pop("description"), "$.inputs.image")
        self.assertRejected(a, lambda d: d["inputs"]["image"].update(required="yes"), "$.inputs.image.required")
        self.assertRejected(a, lambda d: d["branding"].update(color="pink"), "$.branding.color")


class GitLabTemplate(SchemaCase):
    schema = GITLAB_SCHEMA

    @classmethod
    def setUpClass(cls):
        cls.src = h.source_dir()
        cls.template = load_yaml(cls.src / "ci" / "layerleak.gitlab-ci.yml")

    def test_template_validates(self):
        self.assertValid(self.template)

    def test_secret_detection_report_and_variables(self):
        job = self.template["layerleak"]
        self.assertEqual(job["artifacts"]["reports"]["secret_detection"], "gl-secret-detection-report.json")
        self.assertEqual(job["artifacts"]["when"], "always", "the report must be kept when findings fail the job")
        script = "\n".join(job["script"])
        self.assertIn("--format gitlab", script)
        self.assertIn("--output gl-secret-detection-report.json", script)
        for name in ("LAYERLEAK_IMAGE", "LAYERLEAK_FAIL_ON", "LAYERLEAK_SCANNER_IMAGE"):
            self.assertIn(name, self.template["variables"])
            self.assertIn("$" + name, script + json.dumps(job["image"]))

    def test_schema_rejects_a_broken_template(self):
        t = self.template
        self.assertRejected(t, lambda d: d["layerleak"]["artifacts"]["reports"].update(secret_detections="x.json"),
                            "$.layerleak.artifacts.reports")
        self.assertRejected(t, lambda d: d["layerleak"].update(scripts=d["layerleak"].pop("script")), "$.layerleak")
        self.assertRejected(t, lambda d: d["layerleak"]["artifacts"].update(when="sometimes"), "$.layerleak.artifacts.when")
        self.assertRejected(t, lambda d: d["layerleak"].update(when="later"), "$.layerleak.when")
        self.assertRejected(t, lambda d: d["layerleak"]["image"].update(entry_point=[""]), "$.layerleak.image")
        self.assertRejected(t, lambda d: d["layerleak"]["rules"].append({"iff": "$X"}), "$.layerleak.rules[2]")
        self.assertRejected(t, lambda d: d["variables"].update({"BAD-NAME": "x"}), "$.variables")


class ActionEntrypoint(unittest.TestCase):
    """ci/github-action-entrypoint as the runner starts it: inputs in INPUT_* variables, a $GITHUB_OUTPUT file."""

    @classmethod
    def setUpClass(cls):
        cls.src = h.source_dir()
        cls.script = cls.src / "ci" / "github-action-entrypoint"
        cls.sample = cls.src / SAMPLE

    def run_action(self, **inputs):
        work = h.make_tempdir(self, "layerleak-action-")
        output = work / "github_output"
        output.write_text("")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GITHUB_OUTPUT": str(output),
               "GITHUB_ACTIONS": "true", "LAYERLEAK_BIN": h.layerleak_bin()}
        for name, value in inputs.items():
            env["INPUT_" + name.upper()] = value
        result = h.run_command([self.script], cwd=work, env=env, timeout=120)
        outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
        return work, result, outputs

    def test_findings_write_the_sarif_report_and_exit_1(self):
        work, result, outputs = self.run_action(image=str(self.sample))
        self.assertEqual(result.returncode, 1, result.describe())
        self.assertEqual(outputs, {"report": "layerleak.sarif", "exit-code": "1"})
        # Written as the runner's user (the container runs with its uid), so the next steps can read it.
        self.assertEqual((work / outputs["report"]).stat().st_uid, os.getuid())
        sarif = json.loads((work / outputs["report"]).read_text())
        self.assertEqual(sarif["version"], "2.1.0")
        rules = {r["ruleId"] for run in sarif["runs"] for r in run["results"]}
        self.assertIn("scaleway.secret-key", rules)
        h.assert_no_full_secret(self, (work / outputs["report"]).read_text(), where="the action's report")

    def test_fail_on_none_exits_0(self):
        work, result, outputs = self.run_action(image=str(self.sample), fail_on="none", format="json",
                                                output="clean.json")
        self.assertEqual(result.returncode, 0, result.describe())
        self.assertEqual(outputs, {"report": "clean.json", "exit-code": "0"})
        self.assertTrue(json.loads((work / "clean.json").read_text())["images"][0]["findings"])

    def test_json_report_path_and_schema(self):
        work, result, outputs = self.run_action(image=str(self.sample), format="json", output="report.json",
                                                fail_on="critical")
        self.assertEqual(result.returncode, 1, result.describe())
        self.assertEqual(outputs["report"], "report.json")
        h.report_schema.assert_valid_report(json.loads((work / "report.json").read_text()))

    def test_baseline_suppresses_and_exits_0(self):
        work, first, outputs = self.run_action(image=str(self.sample), format="json")
        self.assertEqual(first.returncode, 1, first.describe())
        baseline = work / outputs["report"]
        _, result, outputs = self.run_action(image=str(self.sample), format="json", baseline=str(baseline))
        self.assertEqual(result.returncode, 0, result.describe())
        self.assertEqual(outputs["exit-code"], "0")

    def test_unreadable_image_exits_2(self):
        work, result, outputs = self.run_action(image=str(self.src / "samples" / "no-such-image.tar"), format="json")
        self.assertEqual(result.returncode, 2, result.describe())
        self.assertEqual(outputs["exit-code"], "2")
        self.assertFalse(json.loads((work / outputs["report"]).read_text())["complete"])

    def test_missing_image_input_exits_2(self):
        _, result, outputs = self.run_action(format="json")
        self.assertEqual(result.returncode, 2, result.describe())
        self.assertIn("'image' is required", result.stderr)
        self.assertEqual(outputs, {})

    def test_bad_format_exits_2(self):
        _, result, _ = self.run_action(image=str(self.sample), format="xml")
        self.assertEqual(result.returncode, 2, result.describe())

    def test_unwritable_github_output_exits_2(self):
        work = h.make_tempdir(self, "layerleak-action-")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GITHUB_OUTPUT": str(work / "missing" / "out"),
               "INPUT_IMAGE": str(self.sample), "LAYERLEAK_BIN": h.layerleak_bin()}
        result = h.run_command([self.script], cwd=work, env=env)
        self.assertEqual(result.returncode, 2, result.describe())
        self.assertIn("GITHUB_OUTPUT", result.stderr)


class ActionDockerRun(unittest.TestCase):
    """The action's scan step as on a runner: `docker run` of the image the build step made, checked with a
    stand-in `docker` on PATH that records its arguments and runs the real binary with what follows the image."""

    IMAGE = "layerleak-action:local"

    @classmethod
    def setUpClass(cls):
        cls.src = h.source_dir()
        cls.script = cls.src / "ci" / "github-action-entrypoint"
        cls.sample = cls.src / SAMPLE

    def run_step(self, run_scan=True, extra_env=None, **inputs):
        work = h.make_tempdir(self, "layerleak-action-docker-")
        workspace = work / "workspace"
        workspace.mkdir()
        bindir = work / "bin"
        bindir.mkdir()
        log = work / "docker-args.json"
        docker = bindir / "docker"
        docker.write_text("#!/usr/bin/env python3\n"
                          "import json, os, sys\n"
                          "args = sys.argv[1:]\n"
                          f"json.dump(args, open({str(log)!r}, 'w'))\n"
                          f"if not {run_scan!r}: sys.exit(0)\n"
                          f"rest = args[args.index({self.IMAGE!r}) + 1:]\n"
                          f"os.execv({h.layerleak_bin()!r}, [{h.layerleak_bin()!r}] + rest)\n")
        docker.chmod(0o755)
        output = work / "github_output"
        output.write_text("")
        env = {"PATH": f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}", "GITHUB_OUTPUT": str(output),
               "GITHUB_WORKSPACE": str(workspace), "LAYERLEAK_ACTION_IMAGE": self.IMAGE}
        env.update(extra_env or {})
        for name, value in inputs.items():
            env["INPUT_" + name.upper()] = value
        result = h.run_command([self.script], cwd=workspace, env=env, timeout=120)
        args = json.loads(log.read_text()) if log.exists() else None
        outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
        return workspace, result, args, outputs

    def options(self, args):
        """docker's own options: everything between `run` and the image."""
        self.assertEqual(args[0], "run")
        return args[1:args.index(self.IMAGE)]

    def test_runs_as_the_runner_user_with_the_workspace(self):
        workspace, result, args, outputs = self.run_step(image=str(self.sample), format="json")
        self.assertEqual(result.returncode, 1, result.describe())
        self.assertEqual(outputs, {"report": "layerleak-report.json", "exit-code": "1"})
        options = self.options(args)
        self.assertIn("--rm", options)
        self.assertEqual(options[options.index("--user") + 1], f"{os.getuid()}:{os.getgid()}")
        self.assertEqual(options[options.index("--network") + 1], "host")
        ws = str(workspace.resolve())
        self.assertIn(f"{ws}:{ws}", options)
        self.assertEqual(options[options.index("--workdir") + 1], ws)
        self.assertNotIn("--privileged", options)
        self.assertFalse(any("docker.sock" in a for a in options), options)
        self.assertEqual(args[args.index(self.IMAGE) + 1:][-1], str(self.sample))
        self.assertEqual((workspace / "layerleak-report.json").stat().st_uid, os.getuid())

    def test_an_image_outside_the_workspace_is_mounted_read_only(self):
        _, result, args, _ = self.run_step(image="oci-archive:" + str(self.sample), format="json",
                                           fail_on="none")
        self.assertEqual(result.returncode, 0, result.describe())
        samples = str(self.sample.parent.resolve())
        self.assertIn(f"{samples}:{samples}:ro", self.options(args))

    def test_a_registry_image_mounts_nothing_else(self):
        workspace, _, args, _ = self.run_step(run_scan=False, image="docker://registry.example/app:1")
        ws = str(workspace.resolve())
        volumes = [a for i, a in enumerate(self.options(args)) if i and self.options(args)[i - 1] == "--volume"]
        self.assertEqual(volumes, [f"{ws}:{ws}"])

    def test_docker_daemon_images_get_the_socket_and_its_group(self):
        import socket
        work = h.make_tempdir(self, "layerleak-action-sock-")
        path = work / "docker.sock"
        server = socket.socket(socket.AF_UNIX)
        self.addCleanup(server.close)
        server.bind(str(path))
        _, result, args, _ = self.run_step(run_scan=False, image="docker-daemon:app:1",
                                           extra_env={"DOCKER_HOST": f"unix://{path}"})
        self.assertEqual(result.returncode, 0, result.describe())
        options = self.options(args)
        self.assertIn(f"{path}:/var/run/docker.sock", options)
        self.assertEqual(options[options.index("--group-add") + 1], str(path.stat().st_gid))

    def test_without_the_built_image_exits_2(self):
        workspace, result, args, outputs = self.run_step(image=str(self.sample),
                                                         extra_env={"LAYERLEAK_ACTION_IMAGE": ""})
        self.assertEqual(result.returncode, 2, result.describe())
        self.assertIn("LAYERLEAK_ACTION_IMAGE", result.stderr)
        self.assertIsNone(args)


class GitLabJobScript(unittest.TestCase):
    """The template's script run by /bin/sh, as the GitLab runner runs it in the layerleak image."""

    def run_job(self, record_only=False, **variables):
        src = h.source_dir()
        job = load_yaml(src / "ci" / "layerleak.gitlab-ci.yml")
        work = h.make_tempdir(self, "layerleak-gitlab-")
        bindir = work / "bin"
        bindir.mkdir()
        # `layerleak` records its arguments and whether it got a registry password, then runs the real binary
        # (or stops there, for references that would go to the network).
        wrapper = bindir / "layerleak"
        wrapper.write_text("#!/bin/sh\n"
                           f"printf '%s\\n' \"$@\" > '{work}/args'\n"
                           f"printf '%s' \"${{LAYERLEAK_REGISTRY_PASSWORD:-}}\" > '{work}/password'\n"
                           + ("exit 0\n" if record_only else f"exec '{h.layerleak_bin()}' \"$@\"\n"))
        wrapper.chmod(0o755)
        env = {"PATH": f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}", "CI_COMMIT_SHA": "0" * 40}
        for name, spec in job["variables"].items():
            env[name] = spec["value"] if isinstance(spec, dict) else str(spec)
        env.update(variables)
        script = "\n".join(job["layerleak"]["script"])
        result = h.run_command(["/bin/sh", "-e", "-c", script], cwd=work, env=env, timeout=120)
        return work, result

    def test_findings_write_the_report_and_fail_the_job(self):
        work, result = self.run_job(LAYERLEAK_IMAGE=str(h.source_dir() / SAMPLE))
        self.assertEqual(result.returncode, 1, result.describe())
        report = json.loads((work / "gl-secret-detection-report.json").read_text())
        self.assertEqual(report["scan"]["type"], "secret_detection")
        self.assertTrue(report["vulnerabilities"])

    def test_fail_on_none_passes(self):
        work, result = self.run_job(LAYERLEAK_IMAGE=str(h.source_dir() / SAMPLE), LAYERLEAK_FAIL_ON="none")
        self.assertEqual(result.returncode, 0, result.describe())
        self.assertTrue((work / "gl-secret-detection-report.json").is_file())

    def test_job_token_only_for_the_projects_registry(self):
        registry = {"CI_REGISTRY": "registry.example.com", "CI_REGISTRY_USER": "gitlab-ci-token",
                    "CI_REGISTRY_PASSWORD": "job-token-value"}
        work, result = self.run_job(record_only=True, LAYERLEAK_IMAGE="docker://registry.example.com/team/app:1",
                                    **registry)
        self.assertEqual(result.returncode, 0, result.describe())
        args = (work / "args").read_text().splitlines()
        self.assertIn("--creds", args)
        self.assertEqual(args[args.index("--creds") + 1], "gitlab-ci-token")
        self.assertEqual((work / "password").read_text(), "job-token-value")
        self.assertEqual(args[-1], "docker://registry.example.com/team/app:1")
        # Another registry (even one whose name starts the same) never gets the job token.
        for image in ("docker://registry.example.com.evil.test/team/app:1", "docker://docker.io/library/app:1"):
            work, result = self.run_job(record_only=True, LAYERLEAK_IMAGE=image, **registry)
            self.assertEqual(result.returncode, 0, result.describe())
            self.assertNotIn("--creds", (work / "args").read_text().splitlines())
            self.assertEqual((work / "password").read_text(), "")

    def test_baseline_and_extra_args(self):
        work, result = self.run_job(record_only=True, LAYERLEAK_IMAGE="oci-archive:app.tar",
                                    LAYERLEAK_BASELINE="accepted.json", LAYERLEAK_EXTRA_ARGS="--only-runtime --all-platforms")
        self.assertEqual(result.returncode, 0, result.describe())
        args = (work / "args").read_text().splitlines()
        self.assertEqual(args, ["scan", "--format", "gitlab", "--fail-on", "medium", "--output",
                                "gl-secret-detection-report.json", "--baseline", "accepted.json", "--only-runtime",
                                "--all-platforms", "oci-archive:app.tar"])

if __name__ == "__main__":
    unittest.main()
