// Subcommand registry. Each src/cli/cmd_*.cpp registers its subcommands with
// METAIDS_COMMAND("name", fn) or, under a parent, METAIDS_COMMAND("bench/meta", fn); `fn`
// receives the parent CLI::App and adds its own subcommand with options and a callback.
// The callback throws metaids::Error on failure; main prints one line and exits non-zero.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <string>

namespace metaids::cli {

using RegisterFn = std::function<void(CLI::App& parent)>;

// Returns true so that it can initialise a static in the registering file.
bool add_command(const std::string& path, RegisterFn fn);

// Registers all commands under `app` (called once by main).
void register_all_commands(CLI::App& app);

// The --data directory of the dataset commands: the option if given, else $METAIDS_DATA;
// throws metaids::Error when neither is set or the directory does not exist.
std::string resolve_data_dir(const std::string& option);

// Exit code a command callback wants main to return (0 unless set).
int& exit_code();

}  // namespace metaids::cli

#define METAIDS_CLI_CONCAT_INNER(a, b) a##b
#define METAIDS_CLI_CONCAT(a, b) METAIDS_CLI_CONCAT_INNER(a, b)
#define METAIDS_COMMAND(path, fn) \
  static const bool METAIDS_CLI_CONCAT(metaids_command_registered_, __LINE__) = ::metaids::cli::add_command(path, fn)
