// The one `metaids` binary. Every error of the library arrives here as metaids::Error (or a
// standard exception) and leaves as one line on stderr and a non-zero exit code.
#include <algorithm>
#include <cstdio>
#include <map>
#include <vector>

#include "cli/command.h"
#include "core/error.h"

namespace metaids::cli {
namespace {
std::vector<std::pair<std::string, RegisterFn>>& registry() {
  static std::vector<std::pair<std::string, RegisterFn>> commands;
  return commands;
}
}  // namespace

bool add_command(const std::string& path, RegisterFn fn) {
  registry().emplace_back(path, std::move(fn));
  return true;
}

int& exit_code() {
  static int code = 0;
  return code;
}

void register_all_commands(CLI::App& app) {
  auto commands = registry();
  // Parents before children, then alphabetical: the help text is stable.
  std::sort(commands.begin(), commands.end(), [](const auto& a, const auto& b) {
    const auto da = std::count(a.first.begin(), a.first.end(), '/');
    const auto db = std::count(b.first.begin(), b.first.end(), '/');
    return da != db ? da < db : a.first < b.first;
  });
  for (const auto& [path, fn] : commands) {
    CLI::App* parent = &app;
    const auto slash = path.rfind('/');
    if (slash != std::string::npos) {
      const std::string parent_name = path.substr(0, slash);
      CLI::App* found = nullptr;
      try {
        found = app.get_subcommand(parent_name);
      } catch (const CLI::OptionNotFound&) {
        found = nullptr;
      }
      if (found == nullptr) {
        found = app.add_subcommand(parent_name, "Benchmarks printing one JSON line per measurement");
        found->require_subcommand(1);
      }
      parent = found;
    }
    fn(*parent);
  }
}

}  // namespace metaids::cli

int main(int argc, char** argv) {
  CLI::App app{"metaids: few-shot network threat detection (meta-learned from known attack families)"};
  app.set_version_flag("--version", "metaids 0.1.0");
  app.require_subcommand(1);
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return std::string("metaids: error: ") + e.what() + " (see --help)\n";
  });
  metaids::cli::register_all_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const metaids::Error& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "metaids: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "metaids: error: %s\n", e.what());
    return 1;
  }
  return metaids::cli::exit_code();
}
