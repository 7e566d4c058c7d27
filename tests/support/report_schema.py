"""Validation of JSON documents against the JSON Schemas the project publishes or tests against.

One function for every Python suite that reads a layerleak JSON report (tests/cli/helpers.py loads this
file; the integration and security suites reach it through those helpers), so every report a test produces
is checked against docs/report.schema.json, the schema users are told to rely on.

Needs Debian's python3-jsonschema (scripts/install-deps installs it). Without it, importing this module
raises: a missing validator is a failure, never a skip, or the schema would silently stop being checked.
"""

import json
from pathlib import Path

try:
    import jsonschema
except ImportError as exc:  # a loud failure, never a skip
    raise AssertionError("python3-jsonschema is not installed: every JSON report must be checked against "
                         "docs/report.schema.json (run scripts/install-deps)") from exc

SOURCE_DIR = Path(__file__).resolve().parent.parent.parent
REPORT_SCHEMA_PATH = SOURCE_DIR / "docs" / "report.schema.json"

_validators = {}


def validator(schema_path):
    """A (cached) validator for the JSON Schema at `schema_path`, itself checked against its meta-schema."""
    schema_path = Path(schema_path)
    key = str(schema_path.resolve())
    if key not in _validators:
        schema = json.loads(schema_path.read_text(encoding="utf-8"))
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        _validators[key] = cls(schema)
    return _validators[key]


def schema_errors(document, schema_path=REPORT_SCHEMA_PATH):
    """Every way `document` breaks the schema, as "json.path: message" lines (empty when it is valid)."""
    errors = sorted(validator(schema_path).iter_errors(document), key=lambda e: list(e.absolute_path))
    return [f"{e.json_path}: {e.message}" for e in errors]


def assert_valid(document, schema_path=REPORT_SCHEMA_PATH, what="JSON report"):
    """Raises AssertionError listing the violations when `document` does not validate."""
    errors = schema_errors(document, schema_path)
    if errors:
        shown = "\n  ".join(errors[:20])
        more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
        raise AssertionError(f"{what} does not validate against {Path(schema_path).name}:\n  {shown}{more}")


def assert_valid_report(document):
    """A layerleak JSON report (scan --format json, serve's job `report`) against docs/report.schema.json."""
    assert_valid(document, REPORT_SCHEMA_PATH, "JSON report")
