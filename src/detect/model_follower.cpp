#include "detect/model_follower.h"

#include <httplib.h>

#include <chrono>
#include <fmt/format.h>

#include "core/error.h"
#include "model/digest.h"
#include "model/model_file.h"

namespace metaids::detect {

ModelFollower::ModelFollower(FollowerOptions options, Log log) : options_(std::move(options)), log_(std::move(log)) {
  const std::string& url = options_.url;
  const bool http = url.rfind("http://", 0) == 0;
  const bool https = url.rfind("https://", 0) == 0;
  require_usage(http || https, "--model-url must start with http:// or https://, got '{}'", url);
  const size_t host_start = http ? 7 : 8;
  const size_t slash = url.find('/', host_start);
  require_usage(slash != host_start && host_start < url.size(), "--model-url '{}' has no host", url);
  scheme_host_port_ = url.substr(0, slash);
  std::string prefix = slash == std::string::npos ? std::string() : url.substr(slash);
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  const std::string file_path = "/v1/model/file";
  path_ = prefix.size() >= file_path.size() && prefix.compare(prefix.size() - file_path.size(), file_path.size(), file_path) == 0
              ? prefix
              : prefix + file_path;
  require_usage(options_.refresh_s >= 0.1 && options_.refresh_s <= 86400, "--refresh must be 0.1 to 86400 seconds");
  require_usage(options_.timeout_s > 0, "the model follower's timeout must be positive");
}

ModelFollower::~ModelFollower() { stop(); }

void ModelFollower::set_state(State state, const std::string& key, const std::string& message) {
  std::unique_lock lock(mutex_);
  if (state == state_ && key == state_key_) return;
  const State before = state_;
  state_ = state;
  state_key_ = key;
  lock.unlock();
  if (state == State::ok) {
    if (before == State::unreachable) log_(fmt::format("detect: the model service {} answers again", options_.url));
    else if (before == State::refused) log_(fmt::format("detect: the model service {} serves a usable model again", options_.url));
    return;
  }
  log_(message);
}

std::shared_ptr<const model::Model> ModelFollower::fetch() {
  httplib::Client client(scheme_host_port_);
  const auto timeout = std::chrono::microseconds(static_cast<std::int64_t>(options_.timeout_s * 1e6));
  client.set_connection_timeout(timeout);
  client.set_read_timeout(timeout);
  client.set_write_timeout(timeout);
  client.set_tcp_nodelay(true);
  client.set_keep_alive(false);
  httplib::Headers headers;
  std::string keeping;
  {
    std::lock_guard lock(mutex_);
    ++stats_.requests;
    std::string tags = good_etag_;
    if (!bad_etag_.empty()) tags += (tags.empty() ? "" : ", ") + bad_etag_;
    if (!tags.empty()) headers.emplace("If-None-Match", tags);
    keeping = version_.empty() ? (in_use_version_.empty() ? std::string("the model it has") : "version " + in_use_version_)
                               : "version " + version_;
  }
  if (!options_.token.empty()) headers.emplace("Authorization", "Bearer " + options_.token);
  std::string body;
  bool too_large = false;
  auto result = client.Get(path_, headers, [&](const char* data, size_t length) {
    if (body.size() + length > options_.max_bytes) {
      too_large = true;
      return false;
    }
    body.append(data, length);
    return true;
  });
  if (!result && !too_large) {
    {
      std::lock_guard lock(mutex_);
      ++stats_.unreachable;
    }
    set_state(State::unreachable, "",
              fmt::format("detect: the model service {} cannot be reached ({}); keeping {} and trying again every {:g} s",
                          options_.url, httplib::to_string(result.error()), keeping, options_.refresh_s));
    return nullptr;
  }
  if (result && result->status == 304) {
    // Not modified: but which of the tags sent? The answer's ETag says; the one refused before
    // is still refused (no "usable again" while the service serves the same bad file).
    const std::string current = result->get_header_value("ETag");
    bool still_refused = false;
    {
      std::lock_guard lock(mutex_);
      ++stats_.not_modified;
      still_refused = state_ == State::refused && (current.empty() || current == bad_etag_);
    }
    if (!still_refused) set_state(State::ok, "", "");
    return nullptr;
  }
  const std::string etag = result ? result->get_header_value("ETag") : std::string();
  auto refuse = [&](const std::string& why) -> std::shared_ptr<const model::Model> {
    {
      std::lock_guard lock(mutex_);
      ++stats_.refused;
      if (!etag.empty()) bad_etag_ = etag;
    }
    set_state(State::refused, etag.empty() ? why : etag,
              fmt::format("detect: refused the model file from {}: {}; keeping {}", options_.url, why, keeping));
    return nullptr;
  };
  if (too_large) return refuse(fmt::format("it is larger than {} bytes", options_.max_bytes));
  if (result->status != 200) {
    // An answer, but not a model: the service is there (a wrong URL, token or state).
    return refuse(fmt::format("the service answered HTTP {}", result->status));
  }
  const std::string sha = model::sha256_hex(body);
  if (!etag.empty()) {
    std::string tag = etag;
    if (tag.rfind("W/", 0) == 0) tag = tag.substr(2);
    if (tag.size() >= 2 && tag.front() == '"' && tag.back() == '"') tag = tag.substr(1, tag.size() - 2);
    if (tag.size() == 64 && tag != sha)
      return refuse(fmt::format("its SHA-256 {} is not the checksum the service sent ({})", sha.substr(0, 12),
                                tag.substr(0, 12)));
  }
  std::shared_ptr<model::Model> m;
  try {
    m = std::make_shared<model::Model>(model::from_file(model::decode_model(body, options_.url), options_.url));
    if (!options_.columns.empty() && m->input_columns() != options_.columns)
      fail("it reads other columns ({}) than the detector's ({})", m->input_columns().size(), options_.columns.size());
    if (options_.prepare) options_.prepare(*m);
  } catch (const std::exception& e) {
    return refuse(e.what());
  }
  const std::string version = sha.substr(0, 12);
  {
    std::lock_guard lock(mutex_);
    good_etag_ = etag.empty() ? "\"" + sha + "\"" : etag;
    if (bad_etag_ == good_etag_) bad_etag_.clear();
    version_ = version;
  }
  set_state(State::ok, "", "");
  return m;
}

std::shared_ptr<const model::Model> ModelFollower::fetch_now() { return fetch(); }

void ModelFollower::start(const std::string& in_use_version) {
  {
    std::lock_guard lock(mutex_);
    in_use_version_ = in_use_version;
    stopping_ = false;
  }
  thread_ = std::thread([this] { loop(); });
}

void ModelFollower::loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, std::chrono::duration<double>(options_.refresh_s), [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    std::shared_ptr<const model::Model> m = fetch();
    lock.lock();
    if (m && version_ != in_use_version_) {
      pending_ = std::move(m);
      in_use_version_ = version_;
      ++stats_.updates;
      has_pending_.store(true, std::memory_order_release);
    }
  }
}

void ModelFollower::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<const model::Model> ModelFollower::take() {
  if (!has_pending_.load(std::memory_order_acquire)) return nullptr;
  std::lock_guard lock(mutex_);
  has_pending_.store(false, std::memory_order_relaxed);
  return std::move(pending_);
}

FollowerStats ModelFollower::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

std::string ModelFollower::version() const {
  std::lock_guard lock(mutex_);
  return version_;
}

}  // namespace metaids::detect
