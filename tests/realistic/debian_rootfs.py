#!/usr/bin/env python3
"""A real Debian 12 minbase root filesystem must produce no finding above info (issue 14).

Builds the rootfs the way bench/run does (debootstrap --variant=minbase bookworm from Debian's mirror, then
the downloaded .debs removed as `apt-get clean` would), or reuses it from the cache directory
($LAYERLEAK_DEBOOTSTRAP_CACHE, default build/debootstrap-cache in the source tree, shared by every preset),
scans it with `layerleak scan dir:<rootfs> --format json` and fails on any finding above info, printing
each one. Missing debootstrap, a run that is not root or an unreachable mirror is a FAILURE, not a skip:
the check proves nothing unless it ran.

  tests/realistic/debian_rootfs.py [--binary PATH] [--cache-dir DIR] [--rebuild]
The binary defaults to $LAYERLEAK_BIN.
"""
import argparse
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The same mirror and suite as bench/run; $LAYERLEAK_DEBIAN_MIRROR points elsewhere (a local mirror).
DEBIAN_MIRROR = os.environ.get("LAYERLEAK_DEBIAN_MIRROR", "http://deb.debian.org/debian")
SUITE = "bookworm"
SEVERITIES = ["info", "low", "medium", "high", "critical"]
# A minbase rootfs has about 6,700 entries and 200 MB; far fewer means the scan did not see the tree.
MIN_ENTRIES = 3000
MIN_BYTES = 100 * 1000 * 1000


def fail(message):
    print("FAIL: " + message, flush=True)
    print("0 passed, 1 failed")
    sys.exit(1)


def build_rootfs(cache, rebuild):
    """Returns the path of a complete rootfs in `cache`, running debootstrap when there is none."""
    os.makedirs(cache, exist_ok=True)
    rootfs = os.path.join(cache, "rootfs")
    done = os.path.join(cache, "rootfs.done")
    with open(os.path.join(cache, "lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two presets' ctest runs share the cache
        if rebuild and os.path.exists(done):
            os.remove(done)
        if os.path.exists(done) and os.path.exists(os.path.join(rootfs, "etc", "debian_version")):
            print(f"reusing {rootfs} (built {open(done).read().strip()})", flush=True)
            return rootfs
        if shutil.which("debootstrap") is None:
            fail("debootstrap is not installed (scripts/install-deps installs it)")
        if os.geteuid() != 0:
            fail("debootstrap needs root to build the rootfs (or give a built one with $LAYERLEAK_DEBOOTSTRAP_CACHE)")
        partial = rootfs + ".partial"
        for stale in (partial, rootfs):
            if os.path.exists(stale):
                shutil.rmtree(stale)
        print(f"debootstrap --variant=minbase {SUITE} {partial} {DEBIAN_MIRROR}", flush=True)
        start = time.monotonic()
        run = subprocess.run(["debootstrap", "--variant=minbase", SUITE, partial, DEBIAN_MIRROR],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        took = time.monotonic() - start
        if run.returncode != 0:
            print(run.stdout[-4000:])
            fail(f"debootstrap exited {run.returncode} after {took:.0f} s (mirror {DEBIAN_MIRROR} unreachable?)")
        archives = os.path.join(partial, "var", "cache", "apt", "archives")
        for name in os.listdir(archives):
            if name.endswith(".deb"):
                os.remove(os.path.join(archives, name))
        os.rename(partial, rootfs)
        with open(done, "w") as f:
            f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}, debootstrap took {took:.1f} s\n")
        print(f"debootstrap took {took:.1f} s", flush=True)
        return rootfs


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.environ.get("LAYERLEAK_BIN"))
    parser.add_argument("--cache-dir", default=os.environ.get("LAYERLEAK_DEBOOTSTRAP_CACHE")
                        or os.path.join(ROOT, "build", "debootstrap-cache"))
    parser.add_argument("--rebuild", action="store_true", help="run debootstrap again even when cached")
    args = parser.parse_args()
    if not args.binary or not os.access(args.binary, os.X_OK):
        fail(f"no layerleak binary (--binary or $LAYERLEAK_BIN): {args.binary!r}")

    rootfs = build_rootfs(os.path.abspath(args.cache_dir), args.rebuild)
    start = time.monotonic()
    scan = subprocess.run([args.binary, "scan", f"dir:{rootfs}", "--format", "json", "--fail-on", "none"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    took = time.monotonic() - start
    if scan.returncode != 0:
        print(scan.stderr[-4000:])
        fail(f"layerleak scan exited {scan.returncode}")
    report = json.loads(scan.stdout)
    (image,) = report["images"]
    stats = image["stats"]
    print(f"scanned {stats['entries']} entries, {stats['bytes_scanned']} bytes in {took:.1f} s", flush=True)
    if image["errors"] or not image["complete"]:
        fail(f"the scan is incomplete: {image['errors']}")
    if stats["entries"] < MIN_ENTRIES or stats["bytes_scanned"] < MIN_BYTES:
        fail(f"the scan saw too little of the rootfs ({stats['entries']} entries, {stats['bytes_scanned']} bytes)")

    above_info = [f for f in image["findings"] if SEVERITIES.index(f["severity"]) > 0]
    infos = len(image["findings"]) - len(above_info)
    for f in image["findings"]:
        where = f["location"]
        print(f"  {f['severity']:8} {f['rule_id']:28} {f['secret']} {where.get('path')}"
              f":{where.get('line', where.get('offset'))} ({f['encoding']})")
    print(f"{len(above_info)} findings above info, {infos} info", flush=True)
    if above_info:
        fail(f"{len(above_info)} false positives in a stock Debian {SUITE} minbase rootfs")
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
