// Flow CSVs for the service's tests, made by the binary itself (metaids synth, then metaids
// flows) once per test binary: a mixed capture, and one family the shipped model was never
// trained on (C2 beaconing), so that an adaptation visibly changes the verdicts.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fmt/format.h>
#include <string>

#include "core/atomic_file.h"
#include "core/error.h"

namespace metaids::serve::testing {

struct Traffic {
  std::string mixed;    // CSV text: web, dns, ssh, portscan
  std::string beacon;   // CSV text: beacon flows only
};

inline const Traffic& traffic() {
  static const Traffic t = [] {
    const auto dir = std::filesystem::temp_directory_path() / fmt::format("metaids-serve-traffic-{}", ::getpid());
    std::filesystem::create_directories(dir);
    auto run = [&](const std::string& families, int seed, const std::string& name) {
      const std::string cmd = fmt::format(
          "'{0}' synth --out '{1}/{2}.pcap' --families {3} --sessions 200 --seed {4} --quiet && "
          "'{0}' flows --pcap '{1}/{2}.pcap' --out '{1}/{2}.csv' --quiet",
          METAIDS_BINARY, dir.string(), name, families, seed);
      require(std::system(cmd.c_str()) == 0, "cannot make test traffic: {}", cmd);
      return read_whole_file(dir / (name + ".csv"));
    };
    Traffic made;
    made.mixed = run("web,dns,ssh,portscan", 7, "mixed");
    made.beacon = run("beacon", 8, "beacon");
    std::filesystem::remove_all(dir);
    return made;
  }();
  return t;
}

// The header and the first `n` data lines of a CSV text.
inline std::string first_rows(const std::string& csv, size_t n) {
  size_t at = csv.find('\n');
  for (size_t i = 0; i < n && at != std::string::npos; ++i) at = csv.find('\n', at + 1);
  return at == std::string::npos ? csv : csv.substr(0, at + 1);
}

}  // namespace metaids::serve::testing
