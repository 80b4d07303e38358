// `metaids serve`: the detection service (docs/service.md): score and adapt over HTTP, model
// versions under --state, the analyst's console, what sensors follow (detect --model-url).
#include <malloc.h>
#include <pthread.h>
#include <signal.h>

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <thread>

#include "cli/command.h"
#include "core/error.h"
#include "flow/capture.h"
#include "serve/http_server.h"
#include "serve/service.h"

namespace metaids::cli {
namespace {

struct ServeOptions {
  std::string model;
  std::string state;
  std::string listen = "127.0.0.1:8080";
  std::string token_file;
  std::string sync = "background";
  std::size_t keep_versions = 100;
  std::size_t max_class_flows = model::kDefaultMaxClassFlows;
  std::size_t max_body_mib = 32;
  std::size_t max_flows = 100'000;
  std::size_t recent_flows = 65536;
  std::size_t recent_alerts = 10000;
  std::size_t threads = 32;
  double read_timeout_s = 5;
  double write_timeout_s = 5;
  double keep_alive_s = 5;
  std::string pidfile;
  bool quiet = false;
};

void run(const ServeOptions& o) {
  require_usage(!o.state.empty(), "--state DIR is required (the model versions are kept there)");
  require_usage(o.sync == "background" || o.sync == "always", "--sync must be 'background' or 'always'");
  require_usage(o.max_body_mib >= 1 && o.max_body_mib <= 1024, "--max-body must be 1 to 1024 MiB");
  require_usage(o.max_flows >= 1 && o.max_flows <= 10'000'000, "--max-flows-per-request must be 1 to 10^7");
  require_usage(o.keep_versions >= 1, "--keep-versions must be at least 1");
  require_usage(o.read_timeout_s > 0 && o.read_timeout_s <= 3600 && o.write_timeout_s > 0 && o.write_timeout_s <= 3600,
                "--read-timeout and --write-timeout must be in (0, 3600] seconds");
  require_usage(o.keep_alive_s >= 1 && o.keep_alive_s <= 3600, "--keep-alive must be 1 to 3600 seconds");
  require_usage(o.threads >= 1 && o.threads <= 1024, "--threads must be 1 to 1024");
  serve::HttpOptions http;
  serve::parse_listen(o.listen, http.host, http.port);
  // Every adaptation copies and encodes a model of a few hundred kilobytes: with glibc's default
  // those buffers are fresh mmap()s, and their page faults cost about as much as the work. Keep
  // them on the heap.
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);

  std::mutex log_mutex;
  auto log = [&log_mutex, quiet = o.quiet](const std::string& line) {
    if (quiet) return;
    std::lock_guard lock(log_mutex);
    fmt::print(stderr, "{}\n", escape_for_terminal(line));
  };

  std::string token;  // --token-file is read before anything is loaded or written
  if (!o.token_file.empty()) token = serve::read_token_file(o.token_file);
  http.max_body = o.max_body_mib << 20;
  http.read_timeout_s = o.read_timeout_s;
  http.write_timeout_s = o.write_timeout_s;
  http.keep_alive_s = o.keep_alive_s;
  http.threads = o.threads;
  if (!serve::is_loopback(http.host))
    log(fmt::format("serve: listening on {}, beyond this machine: requests and the token cross the network "
                    "unencrypted; put a TLS proxy in front (docs/deploy.md)",
                    http.host));

  serve::ServiceOptions options;
  options.state = o.state;
  options.model = o.model;
  options.keep_versions = o.keep_versions;
  options.max_class_flows = o.max_class_flows;
  options.sync = o.sync == "always" ? serve::VersionStore::Sync::always : serve::VersionStore::Sync::background;
  options.recent_flows = o.recent_flows;
  options.recent_alerts = o.recent_alerts;
  options.limits.max_flows = o.max_flows;

  // SIGINT/SIGTERM stop the server from a thread that waits for them (blocked everywhere
  // else, so no worker thread is interrupted); SIGHUP is ignored.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  serve::Service service(options, log);
  // A token made for the state directory comes after the model and the versions on disk have
  // loaded, so a bad model is the one error reported and no token is made for a server that
  // never starts.
  if (token.empty()) {
    const std::string path = (std::filesystem::path(o.state) / "token").string();
    if (std::filesystem::exists(path)) {
      token = serve::read_token_file(path);
    } else {
      token = serve::create_token_file(path);
      log(fmt::format("serve: no --token-file: made a token in {} (mode 0600); clients send it as "
                      "'Authorization: Bearer <token>'",
                      path));
    }
  }
  http.token = token;
  serve::HttpServer server(service, http);
  const int port = server.bind();
  PidFile pid(o.pidfile);
  const auto snap = service.snapshot();
  log(fmt::format("serve: listening on http://{}:{}/ ; model version {} ({} classes, {} version(s) in {}); console at /",
                  http.host.find(':') != std::string::npos ? "[" + http.host + "]" : http.host, port,
                  snap->entry.version, snap->model->classes.size(), service.store().entries().size(), o.state));
  std::atomic<int> stopped_by{0};
  std::atomic<bool> finishing{false};  // the server ended by itself: the waiter's wake-up is no stop
  std::thread waiter([&] {
    while (true) {
      int signal = 0;
      if (sigwait(&signals, &signal) != 0) continue;
      if (finishing.load()) return;
      if (signal == SIGHUP) continue;
      stopped_by = signal;
      server.stop();
      return;
    }
  });
  server.run();
  if (stopped_by.load() == 0) {
    // The server ended without a signal (it could not accept): wake the waiter, which returns.
    finishing = true;
    pthread_kill(waiter.native_handle(), SIGTERM);
  }
  waiter.join();
  service.store().sync_now();
  const int signal = stopped_by.load();
  log(fmt::format("serve: stopped{}; {} flows scored", signal ? fmt::format(" by signal {}", signal) : "",
                  service.metrics().flows_scored()));
  if (signal != 0) exit_code() = flow::exit_status_for_signal(signal);
}

void register_serve(CLI::App& parent) {
  auto o = std::make_shared<ServeOptions>();
  CLI::App* cmd = parent.add_subcommand(
      "serve", "The detection service: score and adapt over HTTP, model versions, the analyst's console, what sensors "
               "follow (docs/service.md)");
  cmd->add_option("--model", o->model, "Model an empty --state starts from (default: the built-in model)");
  cmd->add_option("--state", o->state, "Directory of the model versions (index.json, versions/); resumed on restart");
  cmd->add_option("--listen", o->listen, "HOST:PORT to listen on (loopback by default)")->capture_default_str();
  cmd->add_option("--token-file", o->token_file,
                  "File holding the bearer token (not readable by others; default: STATE/token, made if missing)");
  cmd->add_option("--sync", o->sync,
                  "When versions are fsynced: 'background' (when writes pause, within a second) or 'always' (before "
                  "the answer)")
      ->capture_default_str();
  cmd->add_option("--keep-versions", o->keep_versions, "Version files kept (older ones removed)")->capture_default_str();
  add_max_class_flows_option(*cmd, o->max_class_flows);
  cmd->add_option("--max-body", o->max_body_mib, "Largest request body, MiB")->capture_default_str();
  cmd->add_option("--max-flows-per-request", o->max_flows, "Most flows in one score request")->capture_default_str();
  cmd->add_option("--recent-flows", o->recent_flows, "Scored flows kept for adaptation by id (0: none)")
      ->capture_default_str();
  cmd->add_option("--recent-alerts", o->recent_alerts, "Alerts kept for the console")->capture_default_str();
  cmd->add_option("--threads", o->threads, "Connections served at once")->capture_default_str();
  cmd->add_option("--read-timeout", o->read_timeout_s, "Seconds a client may take to send a request")
      ->capture_default_str();
  cmd->add_option("--write-timeout", o->write_timeout_s, "Seconds a client may take to read an answer")
      ->capture_default_str();
  cmd->add_option("--keep-alive", o->keep_alive_s, "Seconds an idle keep-alive connection is kept (it holds a thread)")
      ->capture_default_str();
  cmd->add_option("--pidfile", o->pidfile, "Write the process id here (removed at exit)");
  cmd->add_flag("--quiet,-q", o->quiet, "No log lines on stderr");
  cmd->callback([o] { run(*o); });
}

METAIDS_COMMAND("serve", register_serve);

}  // namespace
}  // namespace metaids::cli
