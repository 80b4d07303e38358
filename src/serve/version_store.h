// The service's model versions on disk, under --state DIR:
//
//   DIR/index.json                      {"format": 1, "current": "3f2a9c81d0e4", "versions": [...], "log": [...]}
//   DIR/versions/000007-3f2a9c81d0e4.mids   one model file per version (its own CRC-32 inside)
//
// Each version file is written atomically (a unique temporary in the same directory, then
// renamed) and recorded in the index with its SHA-256; its name is the sequence number and the
// version (the first 12 hex digits of that SHA-256). The index is replaced atomically after
// the file is in place, so a crash between the two leaves an unreferenced file, never an
// index naming a file that is not there. On start, resume() checks the current version's
// SHA-256 and lets the caller decode it (which checks the CRC and every value); a version that
// fails is logged and skipped for the newest good one before it. A lost or unreadable index is
// rebuilt from the files, whose names carry their checksum.
//
// Writes are made by one writer thread, in order, off the request path: add() returns once
// the version is recorded in memory and queued (load() waits for the queue, so a version can
// be read back at once). Durability (`Sync`): `background` fsyncs the files when the writes
// pause for 100 ms, at most a second after (a crash of the process in the few milliseconds
// before a file is renamed into place, or a power cut before the fsync, loses the last
// versions; resume() then finds the newest one that is whole); `always` makes add() and
// set_current() wait until the file, the index and the directory are fsynced (about 12-25 ms
// a version on the CI machine's disk).
//
// Thread-safe: every method takes the store's lock.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace metaids::serve {

struct VersionEntry {
  std::int64_t seq = 0;
  std::string version;  // 12 hex digits
  std::string sha256;   // of the file
  std::string file;     // relative to the state directory
  std::uint64_t size = 0;
  std::string created;  // ISO 8601 UTC
  std::string event;    // initial | adapt | recovered
  std::string label;    // the class an adaptation taught
  std::string parent;   // the version it was made from
  bool pruned = false;  // the file is gone (an index of an older metaids); such entries are skipped
  // to_json() as text, made once when the entry first goes into an index (entries do not change).
  std::shared_ptr<const std::string> json_text;
  nlohmann::json to_json() const;
  static VersionEntry from_json(const nlohmann::json& json);
};

class VersionStore {
 public:
  enum class Sync { always, background };
  struct Options {
    std::filesystem::path dir;
    size_t keep = 100;  // version files kept (the current one always)
    Sync sync = Sync::background;
  };
  using Log = std::function<void(const std::string&)>;

  VersionStore(Options options, Log log);
  ~VersionStore();
  VersionStore(const VersionStore&) = delete;
  VersionStore& operator=(const VersionStore&) = delete;

  struct Loaded {
    VersionEntry entry;
    std::string bytes;
  };
  // The version to run: the current one when `accept` takes its bytes, else the newest one
  // before it that it takes (that one becomes current, logged). `accept` throws to refuse
  // (its message is logged). nullopt when the store is empty or nothing is accepted.
  std::optional<Loaded> resume(const std::function<void(const Loaded&)>& accept);
  // Writes a new version and makes it current. Throws metaids::Error when it cannot be written
  // (the store is then unchanged).
  VersionEntry add(std::shared_ptr<const std::string> bytes, const std::string& event, const std::string& label,
                   const std::string& parent);
  VersionEntry add(std::string_view bytes, const std::string& event, const std::string& label,
                   const std::string& parent) {
    return add(std::make_shared<const std::string>(bytes), event, label, parent);
  }
  // A version's bytes, checked against the SHA-256 in the index; `version` is 12 hex digits or
  // the full SHA-256. Throws RequestError 404 (unknown), 410 (pruned) or 409 (damaged).
  Loaded load(const std::string& version);
  // Makes a stored version current (a rollback), recorded in the log (the last 200 events).
  void set_current(const std::string& version, const std::string& reason);

  std::string current() const;
  // Writes that failed (logged; the version stays in memory and in the index).
  std::uint64_t write_errors() const { return write_errors_.load(); }
  std::vector<VersionEntry> entries() const;
  nlohmann::json log() const;
  const std::filesystem::path& dir() const { return options_.dir; }
  // fsyncs whatever the background thread has not synced yet.
  void sync_now();

 private:
  struct WriteJob {
    std::filesystem::path file;  // a version file, or empty
    std::shared_ptr<const std::string> bytes;
    // The index to write after it: each entry's and event's JSON text, made once and shared, so
    // that a version costs the request a few pointer copies, not a copy of the whole index.
    bool has_index = false;
    std::vector<std::shared_ptr<const std::string>> entries, events;
    std::string current;
    std::vector<std::filesystem::path> remove;  // pruned version files, removed after the index
    std::uint64_t ticket = 0;
  };
  void read_index();
  static std::string index_text(const WriteJob& job);
  void rebuild_from_files();
  void write_index_locked();
  WriteJob index_job_locked();  // the index as it is now, and the files pruned since the last one
  void prune_locked();
  void log_event_locked(const std::string& action, const std::string& version, const std::string& detail);
  const VersionEntry* find_locked(const std::string& version) const;
  std::uint64_t enqueue_locked(WriteJob job);
  std::uint64_t last_ticket() {
    std::lock_guard lock(sync_mutex_);
    return enqueued_;
  }
  // Until job `ticket` is written (renamed into place), or synced too.
  void wait_for(std::uint64_t ticket, bool synced);
  void writer();

  Options options_;
  Log log_;
  mutable std::mutex mutex_;  // the entries, the current version, the log
  std::vector<VersionEntry> entries_;  // by seq
  std::int64_t last_seq_ = 0;
  std::string current_;
  std::set<std::string> pruned_;  // versions removed in this run (410 rather than 404)
  std::vector<std::filesystem::path> pending_removals_;
  std::deque<std::shared_ptr<const std::string>> events_;  // the log, each event's JSON text
  // The writer thread and its queue (sync_mutex_ is taken after mutex_, never before).
  std::mutex sync_mutex_;
  std::condition_variable sync_wake_, done_;
  std::deque<WriteJob> jobs_;
  std::uint64_t enqueued_ = 0, written_ = 0, synced_ = 0, sync_requested_ = 0;
  bool stopping_ = false;
  std::atomic<std::uint64_t> write_errors_{0};
  std::thread writer_;
};

}  // namespace metaids::serve
