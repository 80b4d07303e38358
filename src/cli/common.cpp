// Helpers shared by several subcommands.
#include <cstdlib>
#include <filesystem>

#include "cli/command.h"
#include "core/error.h"

namespace metaids::cli {

std::string resolve_data_dir(const std::string& option) {
  std::string data_dir = option;
  if (data_dir.empty()) {
    const char* env = std::getenv("METAIDS_DATA");
    require(env != nullptr, "--data is required (or set METAIDS_DATA)");
    data_dir = env;
  }
  require(std::filesystem::is_directory(data_dir), "data directory {} does not exist", data_dir);
  return data_dir;
}

}  // namespace metaids::cli
