"""The Dockerfile, scripts/install-deps and the built binary agree on what layerleak needs at run time.

- The runtime stage of the Dockerfile installs exactly RUNTIME_PACKAGES of scripts/install-deps.
- The runtime stage runs as a non-root user with the binary as ENTRYPOINT; the build stage installs the
  dependencies with scripts/install-deps and runs the test suite with ctest.
- Every runtime package is installed here, and every shared library the built binary (LAYERLEAK_BIN)
  loads belongs to a runtime package, to the C/C++ runtime (libc6, libstdc++6, libgcc-s1), or to one of
  their transitive dependencies: so the slim runtime image can run the binary. That includes the
  libraries it opens only when a command needs them (LOADED_AT_RUN_TIME), which ldd does not show.

Environment (set by CTest): LAYERLEAK_SOURCE_DIR (repository root), LAYERLEAK_BIN (the built binary).
Standard library only.
"""

import json
import os
import re
import shlex
import subprocess
import unittest
from pathlib import Path

SOURCE_DIR = Path(os.environ.get("LAYERLEAK_SOURCE_DIR") or Path(__file__).resolve().parents[2])
DOCKERFILE = SOURCE_DIR / "Dockerfile"
INSTALL_DEPS = SOURCE_DIR / "scripts" / "install-deps"
BINARY_PATH = "/usr/local/bin/layerleak"

# The C and C++ runtime, always present on Debian (also in debian:12-slim).
BASE_PACKAGES = {"libc6", "libstdc++6", "libgcc-s1"}
# Sanitizer runtimes: allowed only for a binary whose CMake cache says it was built with -fsanitize
# (the asan-ubsan preset); the release binary that the Dockerfile ships must not need them.
SANITIZER_PACKAGES = {"libasan8", "libubsan1", "liblsan0", "libtsan2"}
# Opened with dlopen by soname when a command needs them, not linked (start-up cost): registry access and
# --verify, a PostgreSQL store, serve. {soname: the source file that opens it}.
LOADED_AT_RUN_TIME = {
    "libcurl.so.4": "oci/src/registry/libcurl.cpp",
    "libpq.so.5": "scanner/cache/src/libpq.cpp",
    "libmicrohttpd.so.12": "scanner/serve/src/libmicrohttpd.cpp",
}


def run(*args):
    """Runs a command; returns (exit status, stdout, stderr)."""
    proc = subprocess.run(list(args), capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


# ---- parsing scripts/install-deps ---------------------------------------------------------------------

def bash_array(text, name):
    """The words of a bash array literal `NAME=( ... )` (comments and line breaks allowed)."""
    match = re.search(rf"^{re.escape(name)}=\((.*?)\)", text, re.MULTILINE | re.DOTALL)
    if match is None:
        raise AssertionError(f"no {name}=( ... ) array in {INSTALL_DEPS}")
    body = "\n".join(line.split("#", 1)[0] for line in match.group(1).splitlines())
    return shlex.split(body)


def install_deps_packages(name):
    return bash_array(INSTALL_DEPS.read_text(encoding="utf-8"), name)


# ---- parsing the Dockerfile ---------------------------------------------------------------------------

def dockerfile_instructions(text):
    """[(INSTRUCTION, arguments)] with comments dropped and continuation lines joined."""
    instructions = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # a comment line inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        pending += line
        if pending.strip():
            keyword, _, rest = pending.strip().partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
        pending = ""
    if pending.strip():
        keyword, _, rest = pending.strip().partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    return instructions


def dockerfile_stages(text):
    """{stage name: {"from": image, "instructions": [(INSTRUCTION, args)]}}, in file order."""
    stages = {}
    current = None
    for keyword, args in dockerfile_instructions(text):
        if keyword == "FROM":
            words = args.split()
            words = [w for w in words if not w.startswith("--")]  # --platform=...
            image = words[0]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else str(len(stages))
            current = {"from": image, "instructions": []}
            stages[name] = current
        elif current is not None:
            current["instructions"].append((keyword, args))
    return stages


def apt_install_packages(run_args):
    """Package names given to `apt-get install` in one RUN command (options dropped)."""
    packages = []
    for command in re.split(r"&&|\|\||;|\|", run_args):
        words = shlex.split(command)
        for i, word in enumerate(words):
            if word in ("apt-get", "apt") and "install" in words[i + 1:]:
                start = words.index("install", i + 1) + 1
                packages += [w for w in words[start:] if not w.startswith("-")]
                break
    return packages


def exec_form(args):
    """The JSON (exec) form of ENTRYPOINT/CMD as a list, or None for the shell form."""
    try:
        value = json.loads(args)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, list) else None


class DockerfileTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stages = dockerfile_stages(DOCKERFILE.read_text(encoding="utf-8"))

    def stage(self, name):
        self.assertIn(name, self.stages, f"the Dockerfile has no stage named {name!r}")
        return self.stages[name]

    def runs(self, name):
        return [args for keyword, args in self.stage(name)["instructions"] if keyword == "RUN"]

    def test_both_stages_are_debian_12(self):
        # The runtime's shared libraries must have the sonames the build stage linked against.
        self.assertEqual(self.stage("build")["from"], "debian:12")
        self.assertEqual(self.stage("runtime")["from"], "debian:12-slim")

    def test_runtime_packages_match_install_deps(self):
        expected = install_deps_packages("RUNTIME_PACKAGES")
        self.assertTrue(expected, "RUNTIME_PACKAGES is empty")
        installs = [apt_install_packages(args) for args in self.runs("runtime")]
        installs = [packages for packages in installs if packages]
        self.assertEqual(len(installs), 1, f"expected one apt-get install in the runtime stage: {installs}")
        self.assertEqual(set(installs[0]), set(expected),
                         "the runtime stage's apt-get install list differs from RUNTIME_PACKAGES")

    def test_install_deps_lists_are_disjoint_and_nonempty(self):
        groups = {name: install_deps_packages(name)
                  for name in ("BUILD_PACKAGES", "RUNTIME_PACKAGES", "TEST_PACKAGES")}
        for name, packages in groups.items():
            self.assertTrue(packages, f"{name} is empty")
            self.assertEqual(len(packages), len(set(packages)), f"{name} lists a package twice")
        names = sorted(groups)
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                self.assertEqual(set(groups[a]) & set(groups[b]), set(), f"{a} and {b} overlap")

    def test_runtime_stage_runs_as_non_root_user(self):
        users = [args for keyword, args in self.stage("runtime")["instructions"] if keyword == "USER"]
        self.assertTrue(users, "the runtime stage has no USER instruction")
        user = users[-1].split(":", 1)[0]
        self.assertNotIn(user, ("root", "0"), "the runtime stage runs as root")

    def test_runtime_stage_entrypoint_is_the_binary(self):
        instructions = self.stage("runtime")["instructions"]
        entrypoints = [args for keyword, args in instructions if keyword == "ENTRYPOINT"]
        self.assertTrue(entrypoints, "the runtime stage has no ENTRYPOINT")
        entrypoint = exec_form(entrypoints[-1])
        self.assertIsNotNone(entrypoint, "ENTRYPOINT should use the exec (JSON) form")
        self.assertEqual(entrypoint[0], BINARY_PATH)
        copies = [args for keyword, args in instructions if keyword == "COPY"]
        self.assertTrue(any("--from=build" in args and args.split()[-1] == BINARY_PATH for args in copies),
                        f"no COPY --from=build ... {BINARY_PATH} in the runtime stage")

    def test_build_stage_runs_install_deps_and_ctest(self):
        runs = self.runs("build")
        self.assertTrue(any("install-deps" in args for args in runs),
                        "the build stage does not run scripts/install-deps")
        self.assertTrue(any(re.search(r"\bctest\b", args) for args in runs),
                        "the build stage does not run the test suite (ctest)")
        self.assertTrue(any("--preset release" in args for args in runs),
                        "the build stage does not build the release preset")


# ---- the machine and the built binary -----------------------------------------------------------------

def installed(package):
    status, out, _ = run("dpkg-query", "-W", "-f=${db:Status-Abbrev}", package)
    return status == 0 and out.startswith("ii")


def strip_arch(package):
    return package.strip().split(":", 1)[0]


def dependency_closure(roots):
    """roots plus their transitive Depends/PreDepends, per apt-cache."""
    status, out, err = run("apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests",
                           "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances", *sorted(roots))
    if status != 0:
        raise AssertionError(f"apt-cache depends failed ({status}): {err.strip()}")
    closure = set()
    for line in out.splitlines():
        if not line.strip():
            continue
        if not line[0].isspace():
            name = line.strip()  # a package heading
        elif ":" in line:
            kind, _, name = line.strip().lstrip("|").partition(":")
            if kind not in ("Depends", "PreDepends"):
                continue
        else:
            name = line.strip()  # a provider of the virtual package above
        name = strip_arch(name.strip().strip("<>"))
        if name:
            closure.add(name)
    missing = set(roots) - closure
    if missing:
        raise AssertionError(f"apt-cache knows nothing of {sorted(missing)}: run apt-get update")
    return closure


def linked_libraries(binary):
    """[(soname, resolved path or None)] from ldd; [] for a static binary."""
    status, out, err = run("ldd", binary)
    if status != 0:
        if "not a dynamic executable" in out + err:
            return []
        raise AssertionError(f"ldd {binary} failed ({status}): {err.strip()}")
    libraries = []
    for line in out.splitlines():
        line = line.strip()
        if "=>" in line:
            soname, _, rest = line.partition("=>")
            rest = rest.strip()
            path = None if rest.startswith("not found") else rest.split(" (", 1)[0].strip() or None
            libraries.append((soname.strip(), path))
        elif line.startswith("/"):
            path = line.split(" (", 1)[0]
            libraries.append((os.path.basename(path), path))
        # else: the vDSO (linux-vdso.so.1), provided by the kernel
    return libraries


def resolve_soname(soname):
    """The path the dynamic loader opens for soname, from its cache (ldconfig -p); None when unknown."""
    ldconfig = next((p for p in ("/sbin/ldconfig", "/usr/sbin/ldconfig") if os.access(p, os.X_OK)), "ldconfig")
    status, out, err = run(ldconfig, "-p")
    if status != 0:
        raise AssertionError(f"ldconfig -p failed ({status}): {err.strip()}")
    for line in out.splitlines():
        name, _, rest = line.strip().partition(" ")
        if name == soname and "x86-64" in rest and "=>" in rest:
            return rest.partition("=>")[2].strip()
    return None


def path_spellings(path):
    """path, its real path, and their /usr-merged spellings (dpkg knows a file under one of them)."""
    candidates = []
    for p in (path, os.path.realpath(path)):
        candidates.append(p)
        candidates.append(p[len("/usr"):] if p.startswith("/usr/") else "/usr" + p)
    return list(dict.fromkeys(candidates))


def owning_packages(paths):
    """{path: packages that ship it} for every path, per one `dpkg -S` over every spelling of every path.
    Why one call: each dpkg -S reads the whole package database (about 0.5 s); one call per library made
    this test the slowest of the release suite."""
    spellings = {path: path_spellings(path) for path in paths}
    everything = sorted({c for candidates in spellings.values() for c in candidates})
    _, out, _ = run("dpkg", "-S", *everything)  # exit status 1 when some spelling is unknown: expected
    shipped = {}
    for line in out.splitlines():
        if line.startswith("diversion by"):
            continue
        owners, sep, file = line.partition(": ")
        if sep:
            shipped.setdefault(file.strip(), set()).update(strip_arch(owner) for owner in owners.split(","))
    result = {}
    for path, candidates in spellings.items():
        result[path] = next((shipped[c] for c in candidates if shipped.get(c)), set())
    return result


def is_sanitizer_build(binary):
    """True when the CMake cache of the build tree holding binary has -fsanitize in its flags."""
    for directory in Path(binary).resolve().parents:
        cache = directory / "CMakeCache.txt"
        if cache.is_file():
            return "-fsanitize=" in cache.read_text(encoding="utf-8", errors="replace")
    return False


class RuntimeDependenciesTest(unittest.TestCase):
    def test_runtime_packages_are_installed(self):
        packages = install_deps_packages("RUNTIME_PACKAGES")
        missing = [p for p in packages if not installed(p)]
        self.assertEqual(missing, [], "RUNTIME_PACKAGES not installed here (run scripts/install-deps)")

    def test_binary_links_only_runtime_packages(self):
        binary = os.environ.get("LAYERLEAK_BIN")
        self.assertTrue(binary, "LAYERLEAK_BIN is not set: it must name the built layerleak binary")
        self.assertTrue(os.access(binary, os.X_OK), f"LAYERLEAK_BIN={binary} is not an executable file")

        roots = set(install_deps_packages("RUNTIME_PACKAGES")) | BASE_PACKAGES
        if is_sanitizer_build(binary):
            roots |= {p for p in SANITIZER_PACKAGES if installed(p)}
        allowed = dependency_closure(roots)

        libraries = linked_libraries(binary)
        for soname in LOADED_AT_RUN_TIME:  # and what they need in turn
            path = resolve_soname(soname)
            libraries.append((soname, path))
            if path:
                libraries += linked_libraries(path)
        unresolved = [soname for soname, path in libraries if path is None]
        self.assertEqual(unresolved, [], f"ldd {binary} (or a library it opens at run time): libraries not found")

        problems = []
        owners_of = owning_packages([path for _, path in libraries])
        for soname, path in libraries:
            owners = owners_of[path]
            if not owners:
                problems.append(f"{soname} ({path}) belongs to no Debian package")
            elif not owners & allowed:
                problems.append(f"{soname} ({path}) comes from {sorted(owners)}, which is neither in "
                                "RUNTIME_PACKAGES nor a dependency of them")
        self.assertEqual(problems, [], "the runtime image would miss libraries:\n  " + "\n  ".join(problems))

    def test_libraries_loaded_at_run_time_are_not_linked(self):
        # Linked again, they would cost every run their start-up time; renamed in the source without this
        # list, the check above would look at the wrong files.
        binary = os.environ.get("LAYERLEAK_BIN")
        self.assertTrue(binary, "LAYERLEAK_BIN is not set: it must name the built layerleak binary")
        linked = {soname for soname, _ in linked_libraries(binary)}
        for soname, source in LOADED_AT_RUN_TIME.items():
            self.assertNotIn(soname, linked, f"{binary} links {soname}: it should be opened only when needed")
            text = (SOURCE_DIR / source).read_text(encoding="utf-8")
            self.assertTrue(f'"{soname}"' in text, f"{source} does not open {soname}: LOADED_AT_RUN_TIME is stale")


if __name__ == "__main__":
    unittest.main()
