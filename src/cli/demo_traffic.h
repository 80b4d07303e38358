// The README's main job: the detect → calibrate → adapt → detect loop on generated traffic.
#pragma once
#include <cstdint>
#include <string>

namespace metaids::cli {

struct TrafficDemoOptions {
  std::string model;                  // empty: the built-in model
  std::string new_family = "beacon";  // the family the analyst labels flows of
  int shots = 5;
  bool quick = false;
  std::uint64_t seed = 0;
  std::string keep_dir;               // empty: a temporary directory, removed at the end
};

void run_traffic_demo(const TrafficDemoOptions& options);

}  // namespace metaids::cli
