// The message of the metaids::Error a callable throws, for tests that check what an error says.
#pragma once
#include <string>
#include <utility>

#include "core/error.h"

namespace metaids::test {

// The message of the metaids::Error thrown by `f`, or "" when it throws nothing.
template <typename F>
std::string error_of(F&& f) {
  try {
    std::forward<F>(f)();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace metaids::test
