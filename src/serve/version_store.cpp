#include "serve/version_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fmt/format.h>
#include <regex>

#include "core/atomic_file.h"
#include "core/error.h"
#include "model/digest.h"
#include "model/model.h"
#include "serve/requests.h"

namespace metaids::serve {

namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxLogEvents = 200;

void fsync_path(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;  // pruned or replaced since: nothing to sync
  const int rc = ::fsync(fd);
  const int saved = errno;
  ::close(fd);
  if (rc != 0 && saved != EINVAL && saved != EROFS) fail("cannot fsync {}: {}", path.string(), std::strerror(saved));
}

std::string now_iso() { return model::iso8601_utc(model::now_seconds()); }

}  // namespace

nlohmann::json VersionEntry::to_json() const {
  nlohmann::json j = {{"seq", seq},         {"version", version}, {"sha256", sha256}, {"file", file},
                      {"size", size},       {"created", created}, {"event", event}};
  if (!label.empty()) j["label"] = label;
  if (!parent.empty()) j["parent"] = parent;
  if (pruned) j["pruned"] = true;
  return j;
}

VersionEntry VersionEntry::from_json(const nlohmann::json& j) {
  VersionEntry e;
  e.seq = j.at("seq").get<std::int64_t>();
  e.version = j.at("version").get<std::string>();
  e.sha256 = j.at("sha256").get<std::string>();
  e.file = j.at("file").get<std::string>();
  e.size = j.at("size").get<std::uint64_t>();
  e.created = j.at("created").get<std::string>();
  e.event = j.at("event").get<std::string>();
  e.label = j.value("label", std::string());
  e.parent = j.value("parent", std::string());
  e.pruned = j.value("pruned", false);
  require(e.sha256.size() == 64 && e.sha256.substr(0, 12) == e.version, "version {} does not match its SHA-256",
          e.version);
  // A file name from the index is never a path out of the state directory.
  require(e.file == fmt::format("versions/{:06d}-{}.mids", e.seq, e.version), "unexpected file name {}", e.file);
  return e;
}

VersionStore::VersionStore(Options options, Log log) : options_(std::move(options)), log_(std::move(log)) {
  require(options_.keep >= 1, "--keep-versions must be at least 1");
  std::error_code ec;
  fs::create_directories(options_.dir / "versions", ec);
  require(!ec, "cannot create the state directory {}: {}", (options_.dir / "versions").string(), ec.message());
  {
    // Before the writer starts: if reading fails, no thread is left running (what it queues
    // waits for the writer).
    std::lock_guard lock(mutex_);
    read_index();
  }
  writer_ = std::thread([this] { writer(); });
}

VersionStore::~VersionStore() {
  {
    std::lock_guard lock(sync_mutex_);
    stopping_ = true;
  }
  sync_wake_.notify_all();
  writer_.join();  // writes and syncs what is queued first
}

void VersionStore::read_index() {
  const fs::path index = options_.dir / "index.json";
  if (!fs::exists(index)) {
    rebuild_from_files();
    return;
  }
  try {
    const nlohmann::json j = read_json_file(index);
    require(j.is_object() && j.value("format", 0) == 1, "not a version index of format 1");
    std::vector<VersionEntry> entries;
    for (const auto& e : j.at("versions")) entries.push_back(VersionEntry::from_json(e));
    std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.seq < b.seq; });
    entries_ = std::move(entries);
    last_seq_ = entries_.empty() ? 0 : entries_.back().seq;
    current_ = j.value("current", std::string());
    events_.clear();
    if (j.contains("log") && j["log"].is_array())
      for (const auto& event : j["log"]) events_.push_back(std::make_shared<const std::string>(event.dump()));
  } catch (const std::exception& e) {
    log_(fmt::format("serve: {} cannot be read ({}); rebuilding the version list from the files", index.string(),
                     e.what()));
    entries_.clear();
    current_.clear();
    rebuild_from_files();
  }
}

void VersionStore::rebuild_from_files() {
  static const std::regex name(R"(([0-9]{6,})-([0-9a-f]{12})\.mids)");
  std::vector<VersionEntry> found;
  for (const auto& item : fs::directory_iterator(options_.dir / "versions")) {
    std::smatch m;
    const std::string file = item.path().filename().string();
    if (!item.is_regular_file() || !std::regex_match(file, m, name)) continue;
    VersionEntry e;
    e.seq = std::stoll(m[1].str());
    e.version = m[2].str();
    e.file = "versions/" + file;
    e.size = item.file_size();
    e.sha256 = model::sha256_file(item.path());
    e.created = now_iso();
    e.event = "recovered";
    if (e.sha256.substr(0, 12) != e.version) {
      log_(fmt::format("serve: {} is damaged (its SHA-256 is not its name); left out", item.path().string()));
      continue;
    }
    found.push_back(e);
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.seq < b.seq; });
  entries_ = std::move(found);
  last_seq_ = entries_.empty() ? 0 : entries_.back().seq;
  if (!entries_.empty()) {
    current_ = entries_.back().version;
    log_(fmt::format("serve: found {} version file(s) without an index; the newest, {}, is current",
                     entries_.size(), current_));
    write_index_locked();
  }
}

const VersionEntry* VersionStore::find_locked(const std::string& version) const {
  for (auto it = entries_.rbegin(); it != entries_.rend(); ++it)
    if (it->version == version || it->sha256 == version) return &*it;
  return nullptr;
}

std::optional<VersionStore::Loaded> VersionStore::resume(const std::function<void(const Loaded&)>& accept) {
  std::unique_lock lock(mutex_);
  if (entries_.empty()) return std::nullopt;
  // The current version first, then the newest before it, then any other (newest first).
  std::vector<const VersionEntry*> order;
  const VersionEntry* current = find_locked(current_);
  if (current != nullptr) order.push_back(current);
  for (auto it = entries_.rbegin(); it != entries_.rend(); ++it)
    if (&*it != current && !it->pruned && (current == nullptr || it->seq < current->seq)) order.push_back(&*it);
  for (auto it = entries_.rbegin(); it != entries_.rend(); ++it)
    if (&*it != current && !it->pruned && current != nullptr && it->seq > current->seq) order.push_back(&*it);
  for (const VersionEntry* e : order) {
    Loaded loaded;
    loaded.entry = *e;
    try {
      if (e->pruned) fail("its file was removed (--keep-versions)");
      loaded.bytes = read_whole_file(options_.dir / e->file);
      const std::string sha = model::sha256_hex(loaded.bytes);
      if (sha != e->sha256) fail("its SHA-256 is {}, the index says {} (the file is damaged)", sha, e->sha256);
      accept(loaded);
    } catch (const std::exception& error) {
      log_(fmt::format("serve: version {} ({}) cannot be used: {}", e->version, e->file, error.what()));
      continue;
    }
    if (e->version != current_) {
      log_(fmt::format("serve: resuming version {} instead of {}", e->version, current_.empty() ? "(none)" : current_));
      const std::string previous = current_;
      current_ = e->version;
      log_event_locked("resume", current_, "the current version " + previous + " could not be used");
      write_index_locked();
    }
    return loaded;
  }
  return std::nullopt;
}

namespace {

// A unique temporary beside the target, renamed over it (no fsync: the writer does that).
void write_and_rename(const fs::path& path, std::string_view bytes) {
  std::string temp = (path.parent_path() / ("." + path.filename().string() + ".XXXXXX")).string();
  const int fd = ::mkostemp(temp.data(), O_CLOEXEC);
  require(fd >= 0, "cannot create a temporary file in {}: {}", path.parent_path().string(), std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int saved = errno;
      ::close(fd);
      ::unlink(temp.c_str());
      fail("cannot write {}: {}", path.string(), std::strerror(saved));
    }
    done += static_cast<size_t>(n);
  }
  ::fchmod(fd, 0640);
  if (::close(fd) != 0 || ::rename(temp.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    ::unlink(temp.c_str());
    fail("cannot write {}: {}", path.string(), std::strerror(saved));
  }
}

}  // namespace

std::uint64_t VersionStore::enqueue_locked(WriteJob job) {
  std::uint64_t ticket = 0;
  {
    std::lock_guard lock(sync_mutex_);
    job.ticket = ticket = ++enqueued_;
    jobs_.push_back(std::move(job));
  }
  sync_wake_.notify_all();
  return ticket;
}

void VersionStore::wait_for(std::uint64_t ticket, bool synced) {
  std::unique_lock lock(sync_mutex_);
  if (synced) sync_requested_ = std::max(sync_requested_, ticket);
  sync_wake_.notify_all();
  done_.wait(lock, [&] { return (synced ? synced_ : written_) >= ticket; });
}

void VersionStore::writer() {
  // Writes jobs in order (version file, then the index that names it, then pruned files
  // removed), off the request path. fsync() waits for the file system's journal, and so does a
  // file created or renamed during it: syncing while adaptations followed each other made some
  // of them wait 5-25 ms. In `background` mode the writer therefore syncs when the writes pause
  // (kQuiet), at most kMaxDelay after the first unsynced one, or when someone waits for it.
  constexpr auto kQuiet = std::chrono::milliseconds(100);
  constexpr auto kMaxDelay = std::chrono::milliseconds(1000);
  std::set<fs::path> dirty;
  std::uint64_t written = 0;
  std::optional<std::chrono::steady_clock::time_point> first_dirty;
  std::unique_lock lock(sync_mutex_);
  while (true) {
    if (!jobs_.empty()) {
      WriteJob job = std::move(jobs_.front());
      jobs_.pop_front();
      if (job.has_index) {
        // A later index in the queue supersedes this one (it names this job's version too):
        // only the last is written, and the files pruned here are removed after it.
        const auto later = std::find_if(jobs_.begin(), jobs_.end(), [](const WriteJob& j) { return j.has_index; });
        if (later != jobs_.end()) {
          job.has_index = false;
          later->remove.insert(later->remove.end(), job.remove.begin(), job.remove.end());
          job.remove.clear();
        }
      }
      lock.unlock();
      try {
        if (!job.file.empty()) write_and_rename(job.file, *job.bytes);
        if (job.has_index) write_and_rename(options_.dir / "index.json", index_text(job));
        for (const auto& removed : job.remove) {
          std::error_code ec;
          fs::remove(removed, ec);
          dirty.erase(removed);
        }
      } catch (const std::exception& e) {
        ++write_errors_;
        log_(fmt::format("serve: error: {} (the version stays in memory but may not survive a restart)", e.what()));
      }
      if (!job.file.empty()) dirty.insert(job.file);
      if (job.has_index) dirty.insert(options_.dir / "index.json");
      dirty.insert(options_.dir / "versions");
      dirty.insert(options_.dir);
      if (!first_dirty) first_dirty = std::chrono::steady_clock::now();
      written = job.ticket;
      lock.lock();
      written_ = written;
      done_.notify_all();
      continue;
    }
    const bool must_sync = options_.sync == Sync::always || sync_requested_ > synced_ || stopping_;
    if (!dirty.empty()) {
      const auto now = std::chrono::steady_clock::now();
      if (!must_sync && now - *first_dirty < kMaxDelay) {
        const std::uint64_t before = enqueued_;
        sync_wake_.wait_for(lock, kQuiet);
        if (enqueued_ != before || sync_requested_ > synced_ || stopping_) continue;  // more writes, or asked
      }
      std::set<fs::path> paths;
      paths.swap(dirty);
      first_dirty.reset();
      lock.unlock();
      // Files before their directories (a directory's path sorts before its files).
      for (auto it = paths.rbegin(); it != paths.rend(); ++it) {
        try {
          fsync_path(*it);
        } catch (const std::exception& e) {
          ++write_errors_;
          log_(fmt::format("serve: error: {}", e.what()));
        }
      }
      lock.lock();
      synced_ = written;
      done_.notify_all();
      continue;
    }
    synced_ = written_;
    done_.notify_all();
    if (stopping_) return;
    sync_wake_.wait(lock, [this] { return stopping_ || !jobs_.empty() || sync_requested_ > synced_; });
  }
}

void VersionStore::sync_now() {
  std::uint64_t ticket = 0;
  {
    std::lock_guard lock(sync_mutex_);
    ticket = enqueued_;
  }
  wait_for(ticket, true);
}

void VersionStore::write_index_locked() { enqueue_locked(index_job_locked()); }

VersionStore::WriteJob VersionStore::index_job_locked() {
  WriteJob job;
  job.has_index = true;
  job.entries.reserve(entries_.size());
  for (VersionEntry& e : entries_) {
    if (!e.json_text) e.json_text = std::make_shared<const std::string>(e.to_json().dump());
    job.entries.push_back(e.json_text);
  }
  job.current = current_;
  job.events.assign(events_.begin(), events_.end());
  job.remove = std::move(pending_removals_);
  pending_removals_.clear();
  return job;
}

void VersionStore::log_event_locked(const std::string& action, const std::string& version, const std::string& detail) {
  nlohmann::json event = {{"time", now_iso()}, {"action", action}, {"version", version}};
  if (!detail.empty()) event["detail"] = detail;
  events_.push_back(std::make_shared<const std::string>(event.dump()));
  while (events_.size() > kMaxLogEvents) events_.pop_front();
}

void VersionStore::prune_locked() {
  // The oldest versions beyond `keep` leave the disk and the index (which stays small, so that
  // rewriting it with every version costs little); the current one always stays.
  size_t kept = entries_.size();
  for (auto it = entries_.begin(); it != entries_.end() && kept > options_.keep;) {
    if (it->version == current_) {
      ++it;
      continue;
    }
    pending_removals_.push_back(options_.dir / it->file);
    pruned_.insert(it->version);
    it = entries_.erase(it);
    --kept;
  }
}

VersionEntry VersionStore::add(std::shared_ptr<const std::string> bytes, const std::string& event,
                               const std::string& label, const std::string& parent) {
  std::uint64_t ticket = 0;
  VersionEntry e;
  e.sha256 = model::sha256_hex(*bytes);  // outside the lock: readers of the index do not wait for it
  e.version = e.sha256.substr(0, 12);
  e.size = bytes->size();
  {
    std::lock_guard lock(mutex_);
    e.seq = (entries_.empty() ? last_seq_ : std::max(last_seq_, entries_.back().seq)) + 1;
    last_seq_ = e.seq;
    e.file = fmt::format("versions/{:06d}-{}.mids", e.seq, e.version);
    e.created = now_iso();
    e.event = event;
    e.label = label;
    e.parent = parent;
    entries_.push_back(e);
    current_ = e.version;
    log_event_locked(event, e.version, label.empty() ? std::string() : "label " + label);
    prune_locked();
    WriteJob job = index_job_locked();
    job.file = options_.dir / e.file;
    job.bytes = std::move(bytes);  // shared with the snapshot that serves it: no copy
    ticket = enqueue_locked(std::move(job));
  }
  if (options_.sync == Sync::always) wait_for(ticket, true);
  return e;
}

VersionStore::Loaded VersionStore::load(const std::string& version) {
  std::uint64_t ticket = 0;
  {
    std::lock_guard lock(sync_mutex_);
    ticket = enqueued_;
  }
  wait_for(ticket, false);  // the file may still be in the write queue
  std::lock_guard lock(mutex_);
  const VersionEntry* e = find_locked(version);
  if (e == nullptr && (pruned_.count(version) != 0 || (version.size() == 64 && pruned_.count(version.substr(0, 12)) != 0)))
    throw RequestError(410, fmt::format("version {} was removed (only the last {} versions are kept)", version,
                                        options_.keep));
  if (e == nullptr) throw RequestError(404, fmt::format("no version {} in this service's state", version));
  Loaded loaded;
  loaded.entry = *e;
  try {
    loaded.bytes = read_whole_file(options_.dir / e->file);
  } catch (const Error& error) {
    throw RequestError(409, fmt::format("version {} cannot be read: {}", version, error.what()));
  }
  if (model::sha256_hex(loaded.bytes) != e->sha256)
    throw RequestError(409, fmt::format("version {} is damaged on disk (its SHA-256 differs from the index)", version));
  return loaded;
}

void VersionStore::set_current(const std::string& version, const std::string& reason) {
  std::uint64_t ticket = 0;
  {
    std::lock_guard lock(mutex_);
    const VersionEntry* e = find_locked(version);
    require(e != nullptr, "no version {}", version);
    const std::string before = current_;
    current_ = e->version;
    log_event_locked(reason, current_, "from " + before);
    write_index_locked();
    ticket = last_ticket();
  }
  if (options_.sync == Sync::always) wait_for(ticket, true);
}

std::string VersionStore::current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

std::vector<VersionEntry> VersionStore::entries() const {
  std::lock_guard lock(mutex_);
  return entries_;
}

nlohmann::json VersionStore::log() const {
  std::vector<std::shared_ptr<const std::string>> events;
  {
    std::lock_guard lock(mutex_);
    events.assign(events_.begin(), events_.end());
  }
  nlohmann::json out = nlohmann::json::array();
  for (const auto& text : events) out.push_back(nlohmann::json::parse(*text));
  return out;
}

std::string VersionStore::index_text(const WriteJob& job) {
  // One entry or event per line; the same JSON document as ever ({"format": 1, …}).
  size_t bytes = 128 + job.current.size();
  for (const auto& t : job.entries) bytes += t->size() + 2;
  for (const auto& t : job.events) bytes += t->size() + 2;
  std::string out;
  out.reserve(bytes);
  out += "{\"format\":1,\"current\":";
  out += nlohmann::json(job.current).dump();
  auto list = [&out](const char* name, const std::vector<std::shared_ptr<const std::string>>& items) {
    out += ",\"";
    out += name;
    out += "\":[";
    for (size_t i = 0; i < items.size(); ++i) {
      out += i == 0 ? "\n" : ",\n";
      out += *items[i];
    }
    out += "]";
  };
  list("versions", job.entries);
  list("log", job.events);
  out += "}\n";
  return out;
}

}  // namespace metaids::serve
