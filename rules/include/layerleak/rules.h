// layerleak rules: detection rules as data.
//
// A rule file is YAML: a top-level `rules:` list; each rule has a stable id, a title, a severity, one or
// more Hyperscan patterns whose match *ends* with the secret, the shape of that secret (how the
// confirmation stage extracts and checks it), and positive/negative examples that `rules check` runs.
// The built-in rules (rules/data/*.yaml) are embedded in the binary at build time.
//
// Not responsible for: compiling or running patterns (scanner/detect does that; no Hyperscan here).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "layerleak/core.h"

namespace layerleak::rules {

enum class Severity { info, low, medium, high, critical };
std::string_view severity_name(Severity s) noexcept;
std::optional<Severity> parse_severity(std::string_view text) noexcept;

enum class Confidence { low, medium, high };
std::string_view confidence_name(Confidence c) noexcept;

// How the confirmation stage finds and checks the secret around the end of a pattern match.
enum class SecretShape {
  uuid,         // canonical 8-4-4-4-12 hex UUID, any case
  uuid_base64,  // 48 base64 characters that decode to a canonical UUID (Kubernetes Secret data)
  uuid_base64_newline,  // 52 base64 characters: a UUID and the newline `echo` adds
  access_key,   // "SCW" + 17 Crockford base32 characters
  alnum56,      // 56 [A-Za-z0-9] (Kapsule kubeconfig token)
  token64,      // 64 [A-Za-z0-9_-] (Cockpit token)
  alnum64,      // 64 [A-Za-z0-9] (Messaging SQS/SNS secret)
  jwt,          // a JWT around the match; its payload must start {"application_claim" (Serverless)
  docker_auth,  // base64 "user:password" starting at the match end; the password must be a UUID
  base64_blob,  // a base64 run around the match, decoded and scanned again (encoding "base64")
  nkey_seed,    // a NATS user NKEY seed: "SU" + 56 base32 characters (A-Z, 2-7)
};
std::string_view shape_name(SecretShape s) noexcept;
std::optional<SecretShape> parse_shape(std::string_view text) noexcept;

// One Hyperscan pattern and how to confirm what it matches.
struct Pattern {
  std::string regex;      // Hyperscan syntax
  bool caseless = false;  // HS_FLAG_CASELESS
  SecretShape secret = SecretShape::uuid;
  Confidence confidence = Confidence::medium;
  // File-level context: at least one must hold somewhere in the same file (before or after the
  // match): an anchor id (see Anchor) or "rule:<id>" (a confirmed finding of that rule). Empty: none.
  std::vector<std::string> requires_any;
  // Reject the match when the key name right before the secret is missing or names an ID
  // (*_id, *organization*, *project*, ...).
  bool check_key_name = false;
  unsigned secret_end = 0;  // fixed shapes: bytes between the secret's end and the match end
  // The host name that starts right after the match (URL userinfo) must end with one of these.
  std::vector<std::string> host_after;
  // docker_auth: accept any user name (the pattern itself proves a Scaleway registry); otherwise only
  // the users Scaleway's registry documents (nologin, scaleway).
  bool any_user = false;
  // With check_key_name: when a name on the secret's key path (its own name, the names enclosing it,
  // its INI/TOML section) contains one of these words (lower case), `requires_any` is waived and the
  // confidence becomes high. `named_context: true` means [scw, scaleway].
  std::vector<std::string> named_context;
  // The nearest Terraform resource type above the secret ("type": "…" in state, resource "…" in HCL)
  // must be one of these. Empty: no condition.
  std::vector<std::string> resource_types;
  // The rest of the secret's line must contain one of these (any case): `echo <key> | docker login`.
  std::vector<std::string> line_after;
  // The match is an identifier (a UUID under an ID name), never reported: remembered so that the same
  // value elsewhere in the file is not taken for a key.
  bool id_value = false;
  // Candidates come from a built-in finder instead of `regex` (which is then empty): "uuid" = every
  // canonical UUID whose line before it could name a secret (a secret word, a generic name such as
  // value or default, nothing but blanks, a NUL or a Python marshal string). Why not a regex: a pattern
  // that ends in a UUID after such weak anchors costs Hyperscan a third of its speed on ordinary text.
  std::string finder;
};

// A named piece of file-level context: content patterns and/or path suffixes that make a file
// "Scaleway" (or "a kubeconfig for Kapsule", ...). Anchors produce no findings themselves.
struct Anchor {
  std::string id;
  std::string description;
  std::vector<Pattern> patterns;    // only regex/caseless are used
  std::vector<std::string> paths;   // the file path ends with one of these
  std::vector<std::string> path_contains;  // the file path contains one of these (any case)
};

// A positive or negative example: a file's content and, optionally, its path.
struct Example {
  std::string text;
  std::string path = "/example";
};

struct Rule {
  std::string id;           // stable, lowercase, dotted: "scaleway.secret-key"
  std::string title;        // "Scaleway API secret key"
  std::string description;  // what it finds and why it matters
  std::string remediation;  // what to do about a finding
  Severity severity = Severity::medium;
  std::vector<Pattern> patterns;
  std::vector<Example> examples;           // each must produce at least one finding of this rule
  std::vector<Example> negative_examples;  // each must produce no finding of this rule
  // Pairing: a finding of this rule records the nearest finding of rule `pairs_with` in the same file
  // (a secret key its access key, and back). Without such a finding in the file, the severity becomes
  // `unpaired_severity` when set (an access key alone identifies a key but grants nothing).
  std::string pairs_with;
  std::optional<Severity> unpaired_severity;
};

// A name a framework gives its own secret, in files of that framework: Django's SECRET_KEY in a settings
// module is Django's signing key, whatever else the file says. `anchor` names the framework's files.
struct FrameworkName {
  std::string name;    // exact, case-sensitive: the value's own key
  std::string anchor;  // an Anchor id
};

// A value Scaleway publishes in its documentation, SDKs or examples: found in many images through
// /usr/share/doc, READMEs and vendored SDKs, never a leak. Findings of it are reported as `info`.
struct PublishedExample {
  std::string value;
  std::string kind;    // access_key, secret_key, project_id, organization_id, token
  std::string source;  // where it is published
};

struct RuleSet {
  std::vector<Rule> rules;
  std::vector<Anchor> anchors;
  // Path substrings under which findings are downgraded (SDK test recordings, vendored modules).
  std::vector<std::string> downgrade_paths;
  // The gate: patterns (in practice literals such as "scw") of which every rule pattern and anchor needs
  // at least one somewhere in a file to match at all. A file with none of them (and no path anchor)
  // skips the full matcher, which is what keeps ordinary text at memory-scan speed. Empty: no gate.
  // Merging a rules file that adds rules or anchors without a `prefilter` of its own empties it,
  // because its patterns may match text without these literals.
  std::vector<Pattern> prefilter;
  // Key names of other vendors (snyk, codecov, heroku, ...): a value under such a name is never a
  // Scaleway credential, whatever else the file mentions. Lower-case substrings of the name.
  std::vector<std::string> foreign_names;
  // Names that say nothing about what they hold (value, default, data): the key path above them
  // names the secret instead (Terraform outputs.<name>.value, HCL variable "<name>" { default = ... }).
  std::vector<std::string> generic_names;
  std::vector<PublishedExample> published_examples;
  std::vector<FrameworkName> framework_names;
  std::string digest;  // "sha256:..." over the rule sources, in load order

  const Rule* find(std::string_view id) const;
  const Anchor* find_anchor(std::string_view id) const;
};

// Parses one YAML rule document. `origin` (a file name) prefixes every error message.
// Fails with Errc::malformed (bad YAML or schema) or Errc::invalid_argument (bad values).
Result<RuleSet> parse_rules(std::string_view yaml_text, std::string_view origin);

// The rules compiled into the binary.
Result<RuleSet> builtin_rules();

// Adds the rules of `extra` to `base`; a duplicate id is an error naming both origins.
Status merge_rules(RuleSet& base, RuleSet extra);

// Static checks that need no matcher: ids well-formed and unique, titles present, patterns non-empty,
// every `requires` names a known anchor or rule, every rule has at least one example and one negative
// example. Returns one message per problem.
std::vector<std::string> lint_rules(const RuleSet& set);

// How a secret is shown when it is not shown in full: the first 4 and last 4 characters kept, the middle
// replaced by "****"; a secret of 12 characters or fewer is masked entirely. Idempotent: an already
// redacted value ("6f2c****6b7c") is returned as it is. The one implementation:
// report::redact and detect::redact_text both use it. Lives here, the lowest part both depend on.
std::string redact_secret(std::string_view secret);

// Masks a fixed set of secrets in any number of texts: every occurrence becomes redact_secret(secret).
// Built once; then one pass over each text whatever the number of secrets (an index on the secrets'
// first bytes). Scans left to right; where several secrets start at the same place the longest wins, so
// a secret that contains another is masked whole. Empty secrets are ignored. Immutable: thread-safe.
class SecretMasker {
 public:
  explicit SecretMasker(std::vector<std::string> secrets);
  bool empty() const { return secrets_.empty(); }
  std::string mask(std::string_view text) const;

 private:
  std::vector<std::string> secrets_;  // distinct, longest first
  std::size_t prefix_ = 0;            // bytes of the index key: min(8, shortest secret)
  std::unordered_map<std::string_view, std::vector<std::size_t>> by_prefix_;  // into secrets_, longest first
};

}  // namespace layerleak::rules
