// metaids::Error is the one exception type of the library. Its message says what was wrong
// and, where it can, what to do; `main` catches it once and prints it as a single line, with
// escape_for_terminal applied (messages quote file names and file contents: untrusted bytes).
//
// Exit codes of the `metaids` binary:
//   0  success (also --help and --version)
//   1  an error while running (metaids::Error and anything else thrown)
//   2  a usage error: an unknown option or command, a missing or malformed argument, an
//      option value out of range (CLI11's parse errors and metaids::UsageError)
//   128+N  ended by signal N (for instance 130 for SIGINT, 143 for SIGTERM), as the shell shows it
#pragma once
#include <fmt/format.h>
#include <stdexcept>
#include <string>
#include <string_view>

namespace metaids {

inline constexpr int kExitSuccess = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// An error in how the program was invoked (options that conflict, a value out of range, a
// required option missing), found by command code after parsing: main exits kExitUsage.
class UsageError : public Error {
 public:
  using Error::Error;
};

// Throws metaids::Error with a fmt-formatted message.
template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

// Checks a user-facing precondition; cheap enough for non-hot paths.
template <typename... Args>
void require(bool condition, fmt::format_string<Args...> format, Args&&... args) {
  if (!condition) throw Error(fmt::format(format, std::forward<Args>(args)...));
}

// The same for usage errors (exit code 2).
template <typename... Args>
[[noreturn]] void fail_usage(fmt::format_string<Args...> format, Args&&... args) {
  throw UsageError(fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
void require_usage(bool condition, fmt::format_string<Args...> format, Args&&... args) {
  if (!condition) throw UsageError(fmt::format(format, std::forward<Args>(args)...));
}

// `text` made safe to print on a terminal, on one line: ASCII control characters become \n,
// \r, \t or \xHH; bytes that are not valid UTF-8 become \xHH each; the C1 controls
// (U+0080-U+009F) and the bidirectional overrides and isolates (U+202A-U+202E,
// U+2066-U+2069), which reorder or hide what follows, become \u{HHHH}. Everything else,
// backslashes included, is kept as it is.
std::string escape_for_terminal(std::string_view text);

}  // namespace metaids
