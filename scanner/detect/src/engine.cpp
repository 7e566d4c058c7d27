// Detector::compile: every rule and anchor pattern into one streaming Hyperscan database, the
// prefilter (the gate) into another; both through the on-disk cache when one is given.
#include <memory>
#include <vector>

#include "engine.h"

namespace layerleak::detect {

namespace {
struct CompileErrorDeleter {
  void operator()(hs_compile_error_t* e) const { hs_free_compile_error(e); }
};
using CompileErrorPtr = std::unique_ptr<hs_compile_error_t, CompileErrorDeleter>;

// hs_compile_multi, or the same database from `cache_dir` when an earlier run compiled these inputs.
hs_error_t compile_database(const CompileInput& in, const std::string& cache_dir, DatabasePtr& out, CompileErrorPtr& error) {
  const std::string key = cache_dir.empty() ? std::string() : database_cache_key(in);
  if (!key.empty()) {
    out = load_cached_database(cache_dir, key);
    if (out) return HS_SUCCESS;
  }
  hs_database_t* db = nullptr;
  hs_compile_error_t* raw_error = nullptr;
  hs_error_t rc = hs_compile_multi(in.expressions.data(), in.flags.data(), in.ids.data(),
                                   static_cast<unsigned>(in.expressions.size()), in.mode, nullptr, &db, &raw_error);
  error.reset(raw_error);
  out.reset(db);
  if (rc == HS_SUCCESS && !key.empty()) store_cached_database(cache_dir, key, *db);
  return rc;
}

// The prefilter: the gate's literals as a single-match streaming database sharing the scratch space.
Status compile_gate(Detector::Impl& impl, const std::string& cache_dir) {
  if (impl.rules.prefilter.empty()) return Ok{};
  CompileInput in;
  for (const rules::Pattern& p : impl.rules.prefilter) {
    in.expressions.push_back(p.regex.c_str());
    in.flags.push_back(HS_FLAG_SINGLEMATCH | (p.caseless ? HS_FLAG_CASELESS : 0u));
    in.ids.push_back(static_cast<unsigned>(in.ids.size()));
  }
  CompileErrorPtr error;
  if (compile_database(in, cache_dir, impl.prefilter, error) != HS_SUCCESS) {
    return make_error(Errc::invalid_argument,
                      std::string("Hyperscan rejected a prefilter pattern: ") + (error ? error->message : "unknown error"));
  }
  // One scratch serves both databases: grown in place for the gate.
  hs_scratch_t* scratch = impl.prototype_scratch.release();
  if (hs_alloc_scratch(impl.prefilter.get(), &scratch) != HS_SUCCESS) {
    impl.prototype_scratch.reset(scratch);
    return make_error(Errc::internal, "Hyperscan could not allocate scratch space");
  }
  impl.prototype_scratch.reset(scratch);
  return Ok{};
}

}  // namespace

Detector::Detector(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Detector::~Detector() = default;
const rules::RuleSet& Detector::rules() const { return impl_->rules; }

Result<std::shared_ptr<const Detector>> Detector::compile(rules::RuleSet rule_set, const CompileOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->rules = std::move(rule_set);
  CompileInput in;
  auto add = [&](const rules::Pattern& p, PatternRef ref) {
    in.expressions.push_back(p.regex.c_str());
    in.flags.push_back(p.caseless ? HS_FLAG_CASELESS : 0u);
    in.ids.push_back(static_cast<unsigned>(impl->patterns.size()));
    impl->patterns.push_back(ref);
  };
  std::vector<PatternRef> finders;
  for (const rules::Rule& rule : impl->rules.rules) {
    for (const rules::Pattern& p : rule.patterns) {
      if (!p.finder.empty()) {
        finders.push_back(PatternRef{&rule, &p, 0});
      } else {
        add(p, PatternRef{&rule, &p, 0});
      }
      Impl::Requirement& need = impl->requirements[&p];
      for (const std::string& name : p.requires_any) {
        if (name.rfind("rule:", 0) == 0) {
          const rules::Rule* target = impl->rules.find(std::string_view(name).substr(5));
          if (!target) return make_error(Errc::invalid_argument, rule.id + " requires unknown rule \"" + name + "\"");
          need.rules.push_back(target);
        } else {
          const rules::Anchor* anchor = impl->rules.find_anchor(name);
          if (!anchor) return make_error(Errc::invalid_argument, rule.id + " requires unknown anchor \"" + name + "\"");
          need.anchors.push_back(static_cast<std::size_t>(anchor - impl->rules.anchors.data()));
        }
      }
    }
  }
  for (const rules::Rule& rule : impl->rules.rules) {
    if (rule.pairs_with.empty()) continue;
    const rules::Rule* other = impl->rules.find(rule.pairs_with);
    if (!other) return make_error(Errc::invalid_argument, rule.id + " pairs with unknown rule \"" + rule.pairs_with + "\"");
    impl->pairs[&rule] = other;
  }
  for (const rules::FrameworkName& f : impl->rules.framework_names) {
    const rules::Anchor* anchor = impl->rules.find_anchor(f.anchor);
    if (!anchor) return make_error(Errc::invalid_argument, "framework name " + f.name + " names unknown anchor \"" + f.anchor + "\"");
    impl->framework_names.emplace_back(f.name, static_cast<std::size_t>(anchor - impl->rules.anchors.data()));
  }
  for (std::size_t a = 0; a < impl->rules.anchors.size(); ++a) {
    for (const rules::Pattern& p : impl->rules.anchors[a].patterns) add(p, PatternRef{nullptr, nullptr, a});
  }
  if (in.expressions.empty()) return make_error(Errc::invalid_argument, "no rule patterns to compile");
  for (const PatternRef& ref : finders) {
    impl->uuid_finders.push_back(static_cast<unsigned>(impl->patterns.size()));
    impl->patterns.push_back(ref);
  }

  CompileErrorPtr error;
  if (compile_database(in, options.database_cache_dir, impl->database, error) != HS_SUCCESS) {
    std::string which = "a rule";
    if (error && error->expression >= 0 && static_cast<std::size_t>(error->expression) < impl->patterns.size()) {
      const PatternRef& ref = impl->patterns[static_cast<std::size_t>(error->expression)];
      which = ref.rule ? "rule " + ref.rule->id : "anchor " + impl->rules.anchors[ref.anchor].id;
    }
    return make_error(Errc::invalid_argument, "Hyperscan rejected a pattern of " + which + ": " +
                                                  (error ? error->message : "unknown error"));
  }
  hs_scratch_t* scratch = nullptr;
  if (hs_alloc_scratch(impl->database.get(), &scratch) != HS_SUCCESS) {
    return make_error(Errc::internal, "Hyperscan could not allocate scratch space");
  }
  impl->prototype_scratch.reset(scratch);

  if (auto st = compile_gate(*impl, options.database_cache_dir); !st) return std::move(st).error();
  return std::shared_ptr<const Detector>(new Detector(std::move(impl)));
}

}  // namespace layerleak::detect
