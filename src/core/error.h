// metaids::Error is the one exception type of the library. Its message says what was wrong
// and, where it can, what to do; `main` catches it once and prints it as a single line.
#pragma once
#include <fmt/format.h>
#include <stdexcept>
#include <string>

namespace metaids {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
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

}  // namespace metaids
