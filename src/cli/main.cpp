// The one `metaids` binary. Every error of the library arrives here as metaids::Error (or a
// standard exception) and leaves as one line on stderr, its untrusted bytes escaped, and an
// exit code: 2 for a usage error (CLI11's parse errors, metaids::UsageError), 1 for an error
// while running, 0 for --help and --version (core/error.h lists them).
#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "cli/command.h"
#include "core/atomic_file.h"
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

namespace {

// One line on stderr; the message may quote file names and file contents, so it is escaped.
int print_error(std::string_view what, int code, const char* hint = "") {
  std::fflush(stdout);
  std::fprintf(stderr, "metaids: error: %s%s\n", metaids::escape_for_terminal(what).c_str(), hint);
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  // SIGINT, SIGTERM and SIGHUP remove the temporary files of outputs being written (commands
  // that handle these signals themselves replace this).
  metaids::install_output_cleanup_on_signals();
  CLI::App app{"metaids: few-shot network threat detection (meta-learned from known attack families)"};
  app.set_version_flag("--version", "metaids 0.1.0");
  app.require_subcommand(1);
  app.footer("Exit status: 0 success, 1 error while running, 2 usage error.");
  metaids::cli::register_all_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version arrive as "errors" with exit code 0: CLI11 prints them.
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);
    // For `metaids frobnicate` CLI11 says "A subcommand is required": name the word instead.
    const std::vector<std::string> unknown = app.remaining(true);
    if (dynamic_cast<const CLI::RequiredError*>(&e) != nullptr && !unknown.empty()) {
      std::string command = "metaids";
      for (const CLI::App* at = &app; !at->get_subcommands().empty();) {
        at = at->get_subcommands().front();
        command += " " + at->get_name();
      }
      const std::string message = "'" + unknown.front() + "' is not a command or option of " + command;
      return print_error(message, metaids::kExitUsage, " (see --help)");
    }
    return print_error(e.what(), metaids::kExitUsage, " (see --help)");
  } catch (const metaids::UsageError& e) {
    return print_error(e.what(), metaids::kExitUsage, " (see --help)");
  } catch (const std::exception& e) {
    return print_error(e.what(), metaids::kExitFailure);
  }
  return metaids::cli::exit_code();
}
