// A sensor that follows a detection service (`metaids detect --model-url URL --refresh S`):
// a background thread asks the service for its model file every S seconds, with the ETag of
// the file it has (If-None-Match), so an unchanged model costs one small request. A new file is
// verified before it is offered: its SHA-256 against the ETag (the service's checksum), then
// decoded (the file's own CRC-32 and every value, model::from_file) and checked to read the
// same columns. The detector takes it between batches (take(), then Detector::replace_model).
//
//   ModelFollower follower({.url = "http://10.0.0.2:8080", .refresh_s = 10}, log);
//   auto first = follower.fetch_now();     // at start: the service's model, or nullptr
//   follower.start(first_etag);            // then every refresh_s seconds
//   ... at every tick: if (auto m = follower.take()) detector.replace_model(m);
//
// The last good model stays in use when the service cannot be reached or sends a file that
// fails a check; each condition is logged once when it begins (and once when it ends), not at
// every refresh. A refused file's ETag is sent back in If-None-Match with the good one, so the
// same bad file is not downloaded again and again.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "model/model.h"

namespace metaids::detect {

struct FollowerOptions {
  std::string url;        // http://host:port (a path prefix allowed); /v1/model/file is appended
  double refresh_s = 10;  // between two requests
  double timeout_s = 5;   // connect, read and write timeouts of one request
  std::string token;      // sent as a bearer token when not empty
  std::uint64_t max_bytes = 256u << 20;  // a larger file is refused
  // Input columns the model must read (the detector's); empty: any.
  std::vector<std::string> columns;
  // Applied to every new model before it is offered (e.g. --fpr); may throw to refuse it.
  std::function<void(model::Model&)> prepare;
};

struct FollowerStats {
  std::uint64_t requests = 0, not_modified = 0, updates = 0, unreachable = 0, refused = 0;
};

class ModelFollower {
 public:
  using Log = std::function<void(const std::string&)>;
  ModelFollower(FollowerOptions options, Log log);
  ~ModelFollower();
  ModelFollower(const ModelFollower&) = delete;
  ModelFollower& operator=(const ModelFollower&) = delete;

  // One request now, on the calling thread: the service's model (verified), or nullptr when it
  // cannot be had (logged). Its ETag becomes the one sent from then on.
  std::shared_ptr<const model::Model> fetch_now();
  // Starts the background thread; `in_use_version` is the version of the model the detector
  // has (a file of that version is not offered again).
  void start(const std::string& in_use_version);
  void stop();
  // The newest verified model not yet taken, or nullptr (an atomic load when there is none).
  std::shared_ptr<const model::Model> take();
  FollowerStats stats() const;
  // The version (first 12 hex digits of the file's SHA-256) of the newest verified model.
  std::string version() const;

 private:
  enum class State { ok, unreachable, refused };
  std::shared_ptr<const model::Model> fetch();
  void set_state(State state, const std::string& key, const std::string& message);
  void loop();

  FollowerOptions options_;
  Log log_;
  std::string scheme_host_port_, path_;
  mutable std::mutex mutex_;
  std::string good_etag_, bad_etag_, version_, in_use_version_;
  State state_ = State::ok;
  std::string state_key_;
  std::shared_ptr<const model::Model> pending_;
  std::atomic<bool> has_pending_{false};
  FollowerStats stats_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace metaids::detect
