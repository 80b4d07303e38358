// Locating ../shared/data for tests. A user's clone has no ../shared: tests that need it call
// METAIDS_REQUIRE_SHARED_DATA(path) and are skipped with a message when it is absent.
#pragma once
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <optional>

namespace metaids::test {

// $METAIDS_DATA if set, else the directory configured at build time (../shared/data).
inline std::filesystem::path shared_data_dir() {
  if (const char* env = std::getenv("METAIDS_DATA"); env != nullptr && *env != '\0') return env;
  return METAIDS_SHARED_DATA;
}

inline std::filesystem::path test_data_dir() { return METAIDS_TEST_DATA; }

}  // namespace metaids::test

// Skips the current test (with the reason) unless shared_data_dir()/relative exists.
#define METAIDS_REQUIRE_SHARED_DATA(relative)                                                   \
  do {                                                                                          \
    if (!std::filesystem::exists(::metaids::test::shared_data_dir() / (relative)))              \
      GTEST_SKIP() << "shared data absent: " << (::metaids::test::shared_data_dir() / (relative)) \
                   << " (set METAIDS_DATA to the shared/data folder to run this test)";         \
  } while (0)
