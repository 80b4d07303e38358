// Subcommand registry. Each src/cli/cmd_*.cpp registers its subcommands with
// METAIDS_COMMAND("name", fn) or, under a parent, METAIDS_COMMAND("bench/meta", fn); `fn`
// receives the parent CLI::App and adds its own subcommand with options and a callback.
// The callback throws metaids::Error on failure; main prints one line and exits non-zero.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <cstdint>
#include <string>

#include "flow/capture.h"
#include "flow/flow_table.h"

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

// --max-class-flows of adapt and serve: the labelled flows a class keeps (model::add_support).
void add_max_class_flows_option(CLI::App& command, std::size_t& max_class_flows);

// The flow table options shared by flows, detect, calibrate and adapt.
struct FlowTableOptions {
  double flow_timeout_s = 120.0;
  double activity_timeout_s = 5.0;
  std::uint64_t max_flows = 1'000'000;
  void add_to(CLI::App& command);
  flow::FlowTableConfig config() const;  // validates; throws metaids::Error
};

// Live capture options shared by flows, detect and calibrate (tcpdump's short forms too).
struct LiveCaptureOptions {
  std::string interface;
  std::string bpf;
  std::string bpf_file;  // -F: the filter read from a file
  int snaplen = 262144;
  int buffer_size = 64 << 20;  // as flow::LiveOptions (docs/performance.md, "kernel drops at 1 Mpps")
  bool immediate = false;
  bool no_promiscuous = false;
  std::string drop_user;
  bool drop_given = false;
  void add_to(CLI::App& command, bool with_interface = true);
  std::string filter() const;                 // --bpf, or the contents of -F
  flow::LiveOptions live_options() const;     // validates
};

// Writes the process id to `path` (atomically) and removes the file when destroyed.
class PidFile {
 public:
  explicit PidFile(std::string path);
  ~PidFile();
  PidFile(const PidFile&) = delete;
  PidFile& operator=(const PidFile&) = delete;

 private:
  std::string path_;
};

}  // namespace metaids::cli

#define METAIDS_CLI_CONCAT_INNER(a, b) a##b
#define METAIDS_CLI_CONCAT(a, b) METAIDS_CLI_CONCAT_INNER(a, b)
#define METAIDS_COMMAND(path, fn) \
  static const bool METAIDS_CLI_CONCAT(metaids_command_registered_, __LINE__) = ::metaids::cli::add_command(path, fn)
