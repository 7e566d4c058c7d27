"""The user documentation (README.md, docs/*.md) against what it documents.

- docs/report-format.md names every field of docs/report.schema.json.
- Links are relative and resolve inside the repository (a user's clone has nothing else), and no
  document points at the project's internal design notes.
- The rules file example of docs/rules.md passes `layerleak rules check`, and a broken copy of it fails.
"""

import json
import re
import unittest

import helpers as h


def markdown_files():
    src = h.source_dir()
    return [src / "README.md", *sorted((src / "docs").glob("*.md"))]


class ReportFormat(unittest.TestCase):
    def test_every_schema_field_is_documented(self):
        src = h.source_dir()
        schema = json.loads((src / "docs" / "report.schema.json").read_text())
        text = (src / "docs" / "report-format.md").read_text()
        names = set()

        def walk(node):
            if isinstance(node, dict):
                names.update(node.get("properties", {}).keys())
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)
        walk(schema)
        self.assertGreater(len(names), 40)
        missing = sorted(n for n in names if f"`{n}`" not in text)
        self.assertEqual(missing, [], "fields of report.schema.json not described in docs/report-format.md")

    def test_documented_enums_match_the_schema(self):
        src = h.source_dir()
        defs = json.loads((src / "docs" / "report.schema.json").read_text())["$defs"]
        text = (src / "docs" / "report-format.md").read_text()
        for name in ("severity", "confidence", "visibility", "error_code"):
            for value in defs[name]["enum"]:
                self.assertIn(f"`{value}`", text, f"{name} value {value!r} is not documented")


class Links(unittest.TestCase):
    def test_links_resolve_inside_the_repository(self):
        src = h.source_dir().resolve()
        checked = 0
        for doc in markdown_files():
            text = doc.read_text()
            for target in re.findall(r"\]\(([^)\s]+)\)", text):
                if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                    continue
                path = (doc.parent / target.split("#", 1)[0]).resolve()
                self.assertTrue(path.is_relative_to(src), f"{doc.name} links outside the repository: {target}")
                self.assertTrue(path.exists(), f"{doc.name} links to a missing file: {target}")
                checked += 1
        self.assertGreater(checked, 5)

    def test_no_reference_to_internal_notes(self):
        for doc in markdown_files():
            text = doc.read_text()
            for needle in ("../shared", "CONTRACT.md", "DESIGN.md", "STYLE.md"):
                self.assertNotIn(needle, text, f"{doc.name} refers to {needle}, which a clone does not have")

    def test_readme_links_the_guides(self):
        readme = (h.source_dir() / "README.md").read_text()
        for guide in ("report-format.md", "report.schema.json", "admission.md", "rules.md", "ci.md", "security.md",
                      "detection.md"):
            self.assertTrue(f"(docs/{guide})" in readme, f"README.md does not link docs/{guide}")


class RulesExample(unittest.TestCase):
    def example(self):
        text = (h.source_dir() / "docs" / "rules.md").read_text()
        section = text[text.index("## An example"):]
        return re.search(r"```yaml\n(.*?)```", section, re.DOTALL).group(1)

    def check(self, yaml_text):
        work = h.make_tempdir(self)
        path = work / "acme.yaml"
        path.write_text(yaml_text)
        return h.run_layerleak("rules", "check", "--rules", path)

    def test_example_passes_rules_check(self):
        result = self.check(self.example())
        self.assertEqual(result.returncode, 0, result.describe())
        self.assertIn(" 0 problems", result.stdout)
        listed = h.run_layerleak("rules", "list", "--rules", h.make_tempdir(self) / "none.yaml")
        self.assertNotEqual(listed.returncode, 0)  # a missing rules file is an error, not an empty set

    def test_broken_example_fails_rules_check(self):
        example = self.example()
        token = re.search(r"ACME_DEPLOY_TOKEN=([A-Za-z0-9_-]{64})", example).group(1)
        broken = example.replace("ACME_DEPLOY_TOKEN=${DEPLOY_TOKEN}", "ACME_DEPLOY_TOKEN=" + token)
        self.assertNotEqual(broken, example)
        result = self.check(broken)
        self.assertEqual(result.returncode, 1, result.describe())
        self.assertIn("negative example reported", result.stdout + result.stderr)

    def test_misspelt_key_is_an_error(self):
        example = self.example()
        broken = example.replace("    patterns:\n      # the name", "    pattern:\n      # the name")
        self.assertNotEqual(broken, example)
        result = self.check(broken)
        self.assertEqual(result.returncode, 2, result.describe())
        self.assertIn('unknown rule key "pattern"', result.stderr)


if __name__ == "__main__":
    unittest.main()
