// glob_match: compiles the glob to tokens, then a dynamic programme over (token, path position), so
// patterns like "**/*/**/*" cost O(tokens x path length) whatever the input, with no recursion.
#include <string>
#include <utility>
#include <vector>

#include "common.h"
#include "layerleak/suppress.h"

namespace layerleak::suppress {

namespace {

enum class Kind {
  literal,     // one given character
  any_char,    // '?': one character except '/'
  char_class,  // '[...]': one character except '/' in (or not in) the ranges
  star,        // '*': any run without '/'
  any_dirs,    // "**/": empty, or any run ending in '/'
  any_all,     // trailing "**": any run, '/' included
};

struct Token {
  Kind kind = Kind::literal;
  char c = 0;
  bool negate = false;
  std::vector<std::pair<char, char>> ranges;
};

// Parses a class starting at glob[i] == '['. On success fills `token`, sets `next` past ']' and
// returns true; returns false when the class is not closed.
bool parse_class(std::string_view glob, std::size_t i, Token& token, std::size_t& next) {
  std::size_t j = i + 1;
  token = Token{Kind::char_class, 0, false, {}};
  if (j < glob.size() && (glob[j] == '!' || glob[j] == '^')) {
    token.negate = true;
    ++j;
  }
  bool first = true;
  while (j < glob.size()) {
    if (glob[j] == ']' && !first) {
      next = j + 1;
      return true;
    }
    first = false;
    char lo = glob[j];
    if (lo == '\\' && j + 1 < glob.size()) lo = glob[++j];
    ++j;
    char hi = lo;
    if (j + 1 < glob.size() && glob[j] == '-' && glob[j + 1] != ']') {
      j += 1;
      hi = glob[j];
      if (hi == '\\' && j + 1 < glob.size()) hi = glob[++j];
      ++j;
    }
    token.ranges.emplace_back(lo, hi);
  }
  return false;
}

// Tokenises an already normalised glob. Malformed pieces degrade to literals; `problem` (if given)
// receives a description of the first one.
std::vector<Token> tokenize(std::string_view glob, std::string* problem) {
  std::vector<Token> tokens;
  std::size_t i = 0;
  while (i < glob.size()) {
    const char c = glob[i];
    if (c == '*') {
      std::size_t run = 1;
      while (i + run < glob.size() && glob[i + run] == '*') ++run;
      const bool segment_start = i == 0 || glob[i - 1] == '/';
      const bool at_end = i + run == glob.size();
      const bool segment_end = at_end || glob[i + run] == '/';
      if (run >= 2 && segment_start && segment_end) {
        if (at_end) {
          tokens.push_back(Token{Kind::any_all, 0, false, {}});
          i += run;
        } else {
          tokens.push_back(Token{Kind::any_dirs, 0, false, {}});
          i += run + 1;  // the '/' belongs to the token
        }
      } else {
        tokens.push_back(Token{Kind::star, 0, false, {}});
        i += run;
      }
    } else if (c == '?') {
      tokens.push_back(Token{Kind::any_char, 0, false, {}});
      ++i;
    } else if (c == '[') {
      Token token;
      std::size_t next = 0;
      if (parse_class(glob, i, token, next)) {
        tokens.push_back(std::move(token));
        i = next;
      } else {
        if (problem && problem->empty()) *problem = "unclosed '[' (write \\[ for a literal bracket)";
        tokens.push_back(Token{Kind::literal, '[', false, {}});
        ++i;
      }
    } else if (c == '\\') {
      if (i + 1 < glob.size()) {
        tokens.push_back(Token{Kind::literal, glob[i + 1], false, {}});
        i += 2;
      } else {
        if (problem && problem->empty()) *problem = "trailing '\\' escapes nothing";
        tokens.push_back(Token{Kind::literal, '\\', false, {}});
        ++i;
      }
    } else {
      tokens.push_back(Token{Kind::literal, c, false, {}});
      ++i;
    }
  }
  return tokens;
}

std::string normalise(std::string_view glob) {
  std::string g(glob);
  if (g.back() == '/') g += "**";
  const bool anchored = g.front() == '/' || g.rfind("**/", 0) == 0 || g == "**";
  if (!anchored) g = "**/" + g;
  return g;
}

bool in_class(const Token& token, char c) {
  bool found = false;
  for (const auto& [lo, hi] : token.ranges) {
    if (c >= lo && c <= hi) {
      found = true;
      break;
    }
  }
  return found != token.negate;
}

}  // namespace

bool glob_match(std::string_view glob, std::string_view path) {
  if (glob.empty()) return false;
  const std::vector<Token> tokens = tokenize(normalise(glob), nullptr);
  const std::size_t m = path.size();
  // next[p]: tokens[t+1..] match path[p..]; cur[p]: tokens[t..] match path[p..].
  std::vector<char> next(m + 1, 0);
  std::vector<char> cur(m + 1, 0);
  next[m] = 1;  // no tokens left: only the empty rest matches
  for (std::size_t t = tokens.size(); t-- > 0;) {
    const Token& token = tokens[t];
    switch (token.kind) {
      case Kind::literal:
      case Kind::any_char:
      case Kind::char_class:
        cur[m] = 0;
        for (std::size_t p = 0; p < m; ++p) {
          const char c = path[p];
          bool one = false;
          if (token.kind == Kind::literal) one = c == token.c;
          else if (token.kind == Kind::any_char) one = c != '/';
          else one = c != '/' && in_class(token, c);
          cur[p] = static_cast<char>(one && next[p + 1]);
        }
        break;
      case Kind::star:
        cur[m] = next[m];
        for (std::size_t p = m; p-- > 0;) cur[p] = static_cast<char>(next[p] || (path[p] != '/' && cur[p + 1]));
        break;
      case Kind::any_all:
        cur[m] = next[m];
        for (std::size_t p = m; p-- > 0;) cur[p] = static_cast<char>(next[p] || cur[p + 1]);
        break;
      case Kind::any_dirs: {
        // Some q >= p with path[q] == '/' and the rest matching path[q+1..], or zero directories.
        bool later_slash = false;
        cur[m] = next[m];
        for (std::size_t p = m; p-- > 0;) {
          later_slash = later_slash || (path[p] == '/' && next[p + 1]);
          cur[p] = static_cast<char>(next[p] || later_slash);
        }
        break;
      }
    }
    std::swap(cur, next);
  }
  return next[0] != 0;
}

namespace detail {

std::optional<std::string> glob_problem(std::string_view glob) {
  if (glob.empty()) return std::string("empty glob");
  std::string problem;
  (void)tokenize(glob, &problem);
  if (!problem.empty()) return problem;
  return std::nullopt;
}

}  // namespace detail

}  // namespace layerleak::suppress
