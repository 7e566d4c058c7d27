// plan_remediation: what to do about each leaked credential, once per credential, in the order an incident
// needs it: check for misuse, inventory what uses it, rotate, purge. Derived from the report alone, so
// every format prints the same plan and a report read back gives it again.
#include <algorithm>
#include <map>
#include <set>

#include "reporters.h"

namespace layerleak::report {

namespace {

// A word for a POSIX shell: as is when it holds only safe characters, else single-quoted.
std::string shell_word(const std::string& text) {
  const bool safe = !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("@%+=:,./_-").find(c) != std::string_view::npos;
  });
  if (safe) return text;
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

int status_rank(const std::string& status) {
  if (status == "live") return 0;
  if (status == "unknown" || status.empty()) return 1;
  if (status == "unsupported") return 2;
  return 3;  // invalid
}

std::string where_of(const Finding& f) {
  if (!f.location.path.empty()) return f.location.path;
  return f.location.kind == "manifest" ? "manifest " + f.location.field : "image configuration " + f.location.field;
}

std::vector<RemediationStep> steps_for(const RemediationPlan& plan, const std::string& raw_access_key,
                                       const std::optional<ApiKeyInfo>& info, std::size_t images) {
  const bool scaleway_key = plan.rule_id == "scaleway.secret-key";
  const std::string key_words = plan.access_key.empty() ? std::string("this key") : "API key " + plan.access_key;
  std::vector<RemediationStep> steps;

  RemediationStep misuse{"check_misuse", "Check for misuse", "", {}};
  misuse.text = "In the Scaleway console, open Audit Trail and list the events of " + key_words +
                " since the first image that carries it was built; look for resources, "
                "regions or source addresses you do not know. Check Cockpit and Billing (consumption) for "
                "anomalies over the same period.";
  if (info && !info->created_at.empty()) misuse.text += " The key exists since " + info->created_at + ".";
  if (plan.verification_status == "invalid") {
    misuse.text += " The API rejects the key now (invalid): it may have worked while the image was public.";
  }
  steps.push_back(std::move(misuse));

  RemediationStep inventory{"inventory", "Inventory what uses it", "", {}};
  inventory.text = "Every service deployed from the " + std::to_string(images) + (images == 1 ? " image" : " images") +
                   " and " + std::to_string(plan.locations.size()) +
                   (plan.locations.size() == 1 ? " location" : " locations") +
                   " listed here uses this credential and stops working when it is revoked; also search your "
                   "deployments, CI variables and secret stores for it.";
  steps.push_back(std::move(inventory));

  RemediationStep rotate{"rotate", "Rotate", "", {}};
  if (scaleway_key) {
    rotate.text = "Create a new API key for the same bearer with the least privilege it needs and an expiry date, "
                  "deploy it through a secret manager or the runtime environment (never ENV, ARG or COPY in a "
                  "Dockerfile; for build-time use, BuildKit's RUN --mount=type=secret), then delete the old key.";
    std::string create = "scw iam api-key create";
    if (info && !info->application_id.empty()) {
      create += " application-id=" + shell_word(info->application_id);
    } else if (info && !info->user_id.empty()) {
      create += " user-id=" + shell_word(info->user_id);
    } else {
      create += " application-id=<APPLICATION_ID>";
    }
    if (info && !info->default_project_id.empty()) create += " default-project-id=" + shell_word(info->default_project_id);
    create += " expires-at=<YYYY-MM-DDT00:00:00Z> description=" +
              shell_word("replaces " + (plan.access_key.empty() ? std::string("a leaked key") : plan.access_key));
    rotate.commands.push_back(create);
    if (!raw_access_key.empty()) {
      // Quoted unless it has the access key's form: a redacted one ("SCW0****6GH8") holds glob characters.
      rotate.commands.push_back("scw iam api-key delete access-key=" + shell_word(plan.access_key));
    } else {
      rotate.text += " No access key was found next to this secret key: find it in the console (IAM, API keys) "
                     "and delete it there.";
    }
  } else {
    rotate.text = "Revoke this token where it was created (Kapsule: reset the cluster's admin token or kubeconfig; "
                  "Cockpit: delete the token; Serverless: delete the token; Messaging: delete the credentials), "
                  "issue a new one with the least privilege and an expiry, and deploy it through a secret manager "
                  "or the runtime environment, never in the image.";
  }
  steps.push_back(std::move(rotate));

  RemediationStep purge{"purge", "Purge", "", {}};
  purge.text = "Rebuild every image without the credential and delete the leaked tags and digests from every "
               "registry and mirror: a file deleted in a later layer still ships the key to anyone who pulls the "
               "image.";
  std::set<std::string> deletes;
  for (const CredentialLocation& loc : plan.locations) {
    // Only a registry reference names something `skopeo delete` can remove; the digest pins the manifest.
    if (loc.image.rfind("docker://", 0) != 0 || loc.manifest_digest.empty()) continue;
    std::string repository = loc.image;
    if (auto at = repository.find('@'); at != std::string::npos) repository.resize(at);
    if (auto colon = repository.rfind(':'); colon != std::string::npos && repository.find('/', colon) == std::string::npos &&
                                            colon > std::string("docker://").size() &&
                                            repository.find('/', std::string("docker://").size()) < colon) {
      repository.resize(colon);  // drop the tag, keep a registry port
    }
    deletes.insert("skopeo delete " + shell_word(repository + "@" + loc.manifest_digest));
  }
  purge.commands.assign(deletes.begin(), deletes.end());
  steps.push_back(std::move(purge));
  return steps;
}

}  // namespace

std::vector<RemediationPlan> plan_remediation(const ScanReport& report, const ReportOptions& options) {
  struct Building {
    RemediationPlan plan;
    std::string raw_access_key;
    std::optional<ApiKeyInfo> info;
    std::set<std::string> images;
    std::set<std::tuple<std::string, std::optional<std::size_t>, std::string>> seen;
  };
  std::map<std::string, Building> by_fingerprint;
  for (const ImageReport& image : report.images) {
    for (const Finding& f : image.findings) {
      if (f.rule_id == "scaleway.access-key" || f.severity == rules::Severity::info) continue;
      Building& b = by_fingerprint[f.fingerprint];
      RemediationPlan& plan = b.plan;
      if (plan.fingerprint.empty()) {
        plan.fingerprint = f.fingerprint;
        plan.rule_id = f.rule_id;
        plan.title = f.title;
        plan.severity = f.severity;
      }
      plan.severity = std::max(plan.severity, f.severity);
      if (b.raw_access_key.empty() && !f.paired_access_key.empty()) b.raw_access_key = f.paired_access_key;
      if (f.verification) {
        if (plan.verification_status.empty() || status_rank(f.verification->status) < status_rank(plan.verification_status)) {
          plan.verification_status = f.verification->status;
        }
        if (!b.info && f.verification->api_key) b.info = f.verification->api_key;
      }
      b.images.insert(image.reference);
      const std::string where = where_of(f);
      if (!b.seen.emplace(image.reference, f.location.layer_index, where).second) continue;
      plan.locations.push_back(CredentialLocation{image.reference, image.tags, image.manifest_digest,
                                                  f.location.layer_index, f.location.layer_digest, where, f.visibility});
    }
  }
  std::vector<RemediationPlan> plans;
  for (auto& [fingerprint, b] : by_fingerprint) {
    if (!b.raw_access_key.empty()) {
      b.plan.access_key = options.show_secrets || options.full_access_keys ? b.raw_access_key : redact(b.raw_access_key);
    }
    b.plan.steps = steps_for(b.plan, b.raw_access_key, b.info, b.images.size());
    plans.push_back(std::move(b.plan));
  }
  std::stable_sort(plans.begin(), plans.end(), [](const RemediationPlan& a, const RemediationPlan& b) {
    const int ra = status_rank(a.verification_status), rb = status_rank(b.verification_status);
    if (ra != rb) return ra < rb;
    if (a.severity != b.severity) return a.severity > b.severity;
    return a.fingerprint < b.fingerprint;
  });
  return plans;
}

}  // namespace layerleak::report
