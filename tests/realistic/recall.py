#!/usr/bin/env python3
"""Scores the real layerleak binary on the realistic corpus (tests/data/realistic).

Runs `layerleak scan dir:<context dir> --format json --show-secrets` once per context directory (each is a
tiny root filesystem), then scores with the same rules as tests/unit/test_realistic_corpus.cpp:
- an expected finding is found when the scan reports, for that file, its rule_id and secret (and its
  encoding / severity where the manifest gives them);
- a false positive is a reported finding above `info` (above the entry's max_severity when set) whose
  rule_id and secret the file's entry does not expect; findings in files the manifest does not list count
  as false positives too.
Prints a per-context table and totals; exits 1 when recall < 0.98 or there is any false positive, 2 when
a scan could not run.

Usage: recall.py [--bin PATH] [--corpus DIR] [--min-recall 0.98] [--verbose]
(--bin defaults to $LAYERLEAK_BIN.)
"""
import argparse
import json
import os
import subprocess
import sys

SEVERITIES = ["info", "low", "medium", "high", "critical"]
HERE = os.path.dirname(os.path.abspath(__file__))


def redact(secret):
    if len(secret) <= 8:
        return "*" * len(secret)
    return secret[:4] + "****" + secret[-4:]


def load_manifest(corpus):
    with open(os.path.join(corpus, "manifest.json"), encoding="utf-8") as fh:
        doc = json.load(fh)
    contexts = {}  # (kind, context) -> {in-image path: entry}
    for key, entry in doc["files"].items():
        kind = key.split("/", 1)[0]
        prefix = f"{kind}/{entry['context']}/"
        if kind not in ("positive", "negative") or not key.startswith(prefix):
            raise SystemExit(f"manifest key {key!r} does not match <kind>/<context>/<path> with context {entry['context']!r}")
        contexts.setdefault((kind, entry["context"]), {})["/" + key[len(prefix):]] = entry
    return contexts


def scan(binary, directory):
    proc = subprocess.run([binary, "scan", "dir:" + directory, "--format", "json", "--show-secrets", "--fail-on", "none",
                           "--no-progress"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"layerleak exited {proc.returncode} on {directory}: {proc.stderr.strip()[:500]}")
    report = json.loads(proc.stdout)
    findings = []
    for image in report.get("images", []):
        if not image.get("complete", True) or image.get("errors"):
            raise RuntimeError(f"incomplete scan of {directory}: {image.get('errors')}")
        findings.extend(image.get("findings", []))
    return findings


def matches(expected, finding):
    return (finding["rule_id"] == expected["rule_id"] and finding["secret"] == expected["secret"]
            and ("encoding" not in expected or finding.get("encoding") == expected["encoding"])
            and ("severity" not in expected or finding.get("severity") == expected["severity"]))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default=os.environ.get("LAYERLEAK_BIN"), help="layerleak binary (default $LAYERLEAK_BIN)")
    parser.add_argument("--corpus", default=os.path.join(HERE, "..", "data", "realistic"))
    parser.add_argument("--min-recall", type=float, default=0.98)
    parser.add_argument("--verbose", action="store_true", help="also list every finding that was found")
    args = parser.parse_args()
    if not args.bin:
        parser.error("no binary: pass --bin or set LAYERLEAK_BIN")
    corpus = os.path.abspath(args.corpus)
    contexts = load_manifest(corpus)

    rows, misses, false_positives = [], [], []
    total_expected = total_found = 0
    for (kind, context), files in sorted(contexts.items()):
        directory = os.path.join(corpus, kind, context)
        try:
            findings = scan(args.bin, directory)
        except (RuntimeError, json.JSONDecodeError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        by_path = {}
        for f in findings:
            # A finding inside an archive member (app.jar!/BOOT-INF/…) belongs to the archive file.
            by_path.setdefault(f["location"]["path"].split("!/", 1)[0], []).append(f)
        expected = found = fps = 0
        for path, entry in sorted(files.items()):
            reported = by_path.pop(path, [])
            for x in entry.get("findings", []):
                expected += 1
                if any(matches(x, f) for f in reported):
                    found += 1
                    if args.verbose:
                        print(f"found  {kind}/{context}{path}: {x['rule_id']} {redact(x['secret'])}")
                    continue
                instead = [f"{f['rule_id']} {f.get('encoding')} {f.get('severity')}" for f in reported if f["secret"] == x["secret"]]
                misses.append(f"{kind}/{context}{path}: {x['rule_id']} {redact(x['secret'])}"
                              + (f" encoding {x['encoding']}" if "encoding" in x else "")
                              + (f" severity {x['severity']}" if "severity" in x else "")
                              + (f" (reported instead: {'; '.join(instead)})" if instead else ""))
            ceiling = SEVERITIES.index(entry.get("max_severity", "info"))
            wanted = {(x["rule_id"], x["secret"]) for x in entry.get("findings", [])}
            for f in reported:
                if SEVERITIES.index(f["severity"]) <= ceiling or (f["rule_id"], f["secret"]) in wanted:
                    continue
                fps += 1
                false_positives.append(f"{kind}/{context}{path}: {f['rule_id']} {redact(f['secret'])} ({f['severity']}, "
                                       f"{f.get('encoding')}, line {f['location'].get('line')})")
        for path, reported in by_path.items():  # findings in files the manifest does not list
            for f in reported:
                if SEVERITIES.index(f["severity"]) > 0:
                    fps += 1
                    false_positives.append(f"{kind}/{context}{path} (not in the manifest): {f['rule_id']} {redact(f['secret'])}")
        rows.append((f"{kind}/{context}", expected, found, fps))
        total_expected += expected
        total_found += found

    width = max(len(r[0]) for r in rows)
    print(f"{'context'.ljust(width)}  expected  found  recall  false-pos")
    for name, expected, found, fps in rows:
        recall = f"{found / expected:.2f}" if expected else "   -"
        print(f"{name.ljust(width)}  {expected:8d}  {found:5d}  {recall:>6}  {fps:9d}")
    recall = total_found / total_expected if total_expected else 0.0
    print(f"{'TOTAL'.ljust(width)}  {total_expected:8d}  {total_found:5d}  {recall:6.3f}  {len(false_positives):9d}")
    if misses:
        print(f"\n{len(misses)} missed:")
        for m in misses:
            print("  " + m)
    if false_positives:
        print(f"\n{len(false_positives)} false positives:")
        for m in false_positives:
            print("  " + m)
    ok = total_expected > 0 and recall >= args.min_recall and not false_positives
    print(f"\n{'PASS' if ok else 'FAIL'}: recall {recall:.3f} (need >= {args.min_recall}), {len(false_positives)} false positives (need 0)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
