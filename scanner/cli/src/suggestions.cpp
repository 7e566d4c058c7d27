// "Did you mean": unknown subcommands and long options are caught before CLI11 parses, so the message
// names the closest valid spelling instead of CLI11's "The following arguments were not expected".
#include <CLI/CLI.hpp>
#include <algorithm>
#include <numeric>

#include "cli_internal.h"

namespace layerleak::cli {

namespace {

std::vector<std::string> subcommand_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) names.push_back(sub->get_name());
  return names;
}

const CLI::App* find_subcommand(const CLI::App& app, std::string_view name) {
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    if (sub->get_name() == name) return sub;
  }
  return nullptr;
}

std::vector<std::string> long_option_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::Option* option : app.get_options()) {
    for (const std::string& name : option->get_lnames()) names.push_back("--" + name);
  }
  return names;
}

std::string unknown_command(std::string_view word, const CLI::App& parent) {
  std::string message = "unknown command \"" + std::string(word) + "\"";
  if (auto best = closest_match(word, subcommand_names(parent))) return message + "; did you mean \"" + *best + "\"?";
  std::string all;
  for (const std::string& name : subcommand_names(parent)) all += (all.empty() ? "" : ", ") + name;
  return message + " (commands: " + all + ")";
}

std::string unknown_option(std::string_view name, const CLI::App& command, const std::string& command_path) {
  std::string message = "unknown option " + std::string(name);
  if (auto best = closest_match(name, long_option_names(command))) return message + "; did you mean " + *best + "?";
  return message + " (see layerleak " + command_path + "--help)";
}

}  // namespace

std::optional<std::string> closest_match(std::string_view word, const std::vector<std::string>& candidates) {
  // Why at least 2: a swapped pair of letters ("scna", "--fail-no") is two substitutions. Why a third of
  // the length beyond that: further away is a different word, and a wrong guess misleads more than none.
  const std::size_t limit = std::max<std::size_t>(2, word.size() / 3);
  std::optional<std::string> best;
  std::size_t best_distance = limit + 1;
  for (const std::string& candidate : candidates) {
    const std::size_t d = edit_distance(word, candidate);
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  return best;
}

std::optional<std::string> unknown_argument(int argc, char** argv, const CLI::App& app) {
  const CLI::App* command = &app;
  std::string command_path;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--") break;
    if (arg.starts_with("--")) {
      const std::string_view name = arg.substr(0, arg.find('='));
      const std::vector<std::string> known = long_option_names(*command);
      if (std::find(known.begin(), known.end(), name) == known.end()) return unknown_option(name, *command, command_path);
      continue;
    }
    if (arg.starts_with("-")) continue;
    // A bare word is a subcommand while the current command has subcommands, otherwise an operand or
    // an option's value.
    if (subcommand_names(*command).empty()) continue;
    const CLI::App* sub = find_subcommand(*command, arg);
    if (sub == nullptr) return unknown_command(arg, *command);
    command = sub;
    command_path += std::string(arg) + " ";
  }
  return std::nullopt;
}

}  // namespace layerleak::cli
