// redact_report: the one place where a report is made safe to leave the process.
//
// A secret that became a finding is known by value, and may appear anywhere else in the report too: the
// build step that passed it (`RUN |1 SCW_SECRET_KEY=… make`), a label, an Env entry, a directory named
// after it, an error message quoting a path. Reporters mask a finding's own `secret` field; this pass
// masks every other occurrence, so that no reporter, present or future, has to remember to.
#include <unordered_map>

#include "reporters.h"

namespace layerleak::report {

namespace {

// Shorter values are masked by report::redact alone: replacing every occurrence of, say, a 3-character
// string in free text would mangle the report without protecting anything.
constexpr std::size_t kMinKnownSecret = 8;

void add_secrets(const std::vector<Finding>& findings, std::vector<std::string>& out) {
  for (const Finding& f : findings) {
    if (f.secret.size() >= kMinKnownSecret) out.push_back(f.secret);
    if (f.paired_access_key.size() >= kMinKnownSecret) out.push_back(f.paired_access_key);
  }
}

// Every finding's secret and paired access key across all images (SecretMasker sorts and dedups).
std::vector<std::string> known_secrets(const ScanReport& report) {
  std::vector<std::string> out;
  for (const ImageReport& image : report.images) {
    add_secrets(image.findings, out);
    add_secrets(image.suppressed, out);
  }
  return out;
}

// Rewrites the strings of one report in place. Two kinds of string:
//  - every string: known secrets masked;
//  - free text (anything an image author or a file system chose: paths, build steps, fields, messages,
//    reasons, labels, annotations, references, tags, aliases): known secrets masked, then the hook.
class Redactor {
 public:
  Redactor(std::vector<std::string> secrets, const std::function<std::string(std::string_view)>& hook)
      : masker_(std::move(secrets)), hook_(hook) {}

  void known(std::string& s) const {
    if (!masker_.empty() && !s.empty()) s = masker_.mask(s);
  }

  void free_text(std::string& s) {
    known(s);
    if (!hook_ || s.empty()) return;
    // Why memoise: a layer's build step is repeated in every finding of that layer, and the hook runs the
    // detector over its argument.
    auto [it, inserted] = hook_results_.try_emplace(s);
    if (inserted) it->second = hook_(s);
    s = it->second;
  }

  void map(std::map<std::string, std::string>& m) {
    std::map<std::string, std::string> out;
    for (auto& [key, value] : m) {
      std::string k = key;
      free_text(k);
      free_text(value);
      out.emplace(std::move(k), std::move(value));
    }
    m = std::move(out);
  }

  void finding(Finding& f) {
    // f.secret and f.paired_access_key are left whole: reporters mask them (or show them on request).
    for (std::string* s : {&f.rule_id, &f.title, &f.remediation, &f.fingerprint, &f.encoding, &f.visibility,
                           &f.location.kind, &f.location.layer_digest, &f.location.diff_id}) {
      known(*s);
    }
    for (std::string* s : {&f.location.created_by, &f.location.path, &f.location.field, &f.suppressed_by}) {
      free_text(*s);
    }
    for (std::string& alias : f.aliases) free_text(alias);
    if (f.verification) {  // the API's answer is text someone else chose (a key's description)
      Verification& v = *f.verification;
      free_text(v.reason);
      if (v.api_key) {
        for (std::string* s : {&v.api_key->access_key, &v.api_key->description, &v.api_key->user_id,
                               &v.api_key->application_id, &v.api_key->default_project_id, &v.api_key->created_at,
                               &v.api_key->expires_at}) {
          free_text(*s);
        }
      }
    }
  }

  void layer(LayerSummary& l) {
    for (std::string* s : {&l.digest, &l.diff_id, &l.media_type, &l.compression}) known(*s);
    free_text(l.created_by);
  }

  void image(ImageReport& image) {
    for (std::string* s : {&image.transport, &image.manifest_digest, &image.index_digest, &image.config_digest}) {
      known(*s);
    }
    free_text(image.reference);
    free_text(image.platform);
    for (std::string& tag : image.tags) free_text(tag);
    map(image.labels);
    map(image.annotations);
    for (LayerSummary& l : image.layers) layer(l);
    for (Finding& f : image.findings) finding(f);
    for (Finding& f : image.suppressed) finding(f);
    for (Skipped& s : image.skipped) {
      free_text(s.path);
      free_text(s.reason);
    }
    for (ErrorEntry& e : image.errors) {
      known(e.code);
      free_text(e.message);
    }
  }

 private:
  rules::SecretMasker masker_;
  const std::function<std::string(std::string_view)>& hook_;
  std::unordered_map<std::string, std::string> hook_results_;
};

}  // namespace

std::optional<Redacted> redact_if_needed(const ScanReport& report, const ReportOptions& options) {
  std::vector<std::string> secrets = known_secrets(report);
  if (secrets.empty() && !options.redact_text) return std::nullopt;
  Redactor redactor(std::move(secrets), options.redact_text);
  Redacted out{report, options};
  redactor.known(out.report.tool_version);
  redactor.known(out.report.rules_digest);
  for (ImageReport& image : out.report.images) redactor.image(image);
  redactor.free_text(out.options.commit_sha);
  return out;
}

ScanReport redact_report(const ScanReport& report, const ReportOptions& options) {
  std::optional<Redacted> redacted = redact_if_needed(report, options);
  return redacted ? std::move(redacted->report) : report;
}

}  // namespace layerleak::report
