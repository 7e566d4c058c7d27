// Private helpers shared by the suppress sources: file reading, fingerprint syntax, glob syntax.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "layerleak/core.h"

namespace layerleak::suppress::detail {

// Reads a whole file (at most max_bytes); errors name the path (not_found, io, limit).
Result<std::string> read_text_file(const std::string& path, std::size_t max_bytes);

// "sha256:" + 64 hex digits, either case, surrounding blanks already removed.
bool is_fingerprint(std::string_view text);

// Lowercase copy (fingerprints are compared in lowercase).
std::string to_lower(std::string_view text);

// Removes leading and trailing spaces, tabs, CR and LF.
std::string_view trim(std::string_view text);

// Why a glob cannot be used (unclosed '[', trailing '\', empty), or nullopt when it is fine.
std::optional<std::string> glob_problem(std::string_view glob);

}  // namespace layerleak::suppress::detail
