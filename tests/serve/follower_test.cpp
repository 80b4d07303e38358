// A sensor's model follower (detect/model_follower.h) against a real service on loopback.
#include "detect/model_follower.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <filesystem>
#include <mutex>
#include <thread>

#include "serve/http_server.h"
#include "serve/traffic.h"

namespace metaids::serve {
namespace {

namespace fs = std::filesystem;
using testing::first_rows;
using testing::traffic;

constexpr const char* kToken = "0123456789abcdef-test-token";

struct Running {
  std::unique_ptr<HttpServer> server;
  std::thread thread;
  Running(Service& service, int listen_port) {
    HttpOptions http;
    http.port = listen_port;
    http.token = kToken;
    server = std::make_unique<HttpServer>(service, http);
    this->port = server->bind();
    thread = std::thread([this] { server->run(); });
  }
  ~Running() {
    server->stop();
    thread.join();
  }
  int port = 0;
};

detect::FollowerOptions follow(int port, double refresh_s) {
  detect::FollowerOptions o;
  o.url = fmt::format("http://127.0.0.1:{}/", port);
  o.refresh_s = refresh_s;
  return o;
}

struct FollowerTest : ::testing::Test {
  fs::path dir = fs::temp_directory_path() / fmt::format("metaids-follow-{}", ::getpid());
  std::mutex log_mutex;
  std::vector<std::string> logged;
  detect::ModelFollower::Log log = [this](const std::string& line) {
    std::lock_guard lock(log_mutex);
    logged.push_back(line);
  };
  size_t count_logged(const std::string& needle) {
    std::lock_guard lock(log_mutex);
    return static_cast<size_t>(std::count_if(logged.begin(), logged.end(),
                                             [&](const auto& l) { return l.find(needle) != std::string::npos; }));
  }
  void TearDown() override { fs::remove_all(dir); }
  std::unique_ptr<Service> open() {
    ServiceOptions o;
    o.state = dir;
    return std::make_unique<Service>(o, [](const std::string&) {});
  }
  template <typename F>
  static bool wait_for(F condition, double seconds) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) {
      if (condition()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return condition();
  }
};

TEST_F(FollowerTest, FollowsNewVersionsAndSurvivesTheServiceRestarting) {
  auto service = open();
  auto running = std::make_unique<Running>(*service, 0);
  const int port = running->port;
  detect::ModelFollower follower(follow(port, 0.2), log);
  const auto first = follower.fetch_now();
  ASSERT_TRUE(first);
  EXPECT_EQ(follower.version(), service->snapshot()->entry.version);
  follower.start(follower.version());
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(follower.take(), nullptr);  // nothing new: 304s
  EXPECT_GE(follower.stats().not_modified, 1u);
  // An adaptation at the service reaches the follower within a refresh or two.
  const auto snap = service->snapshot();
  const std::string adapted =
      service->adapt(parse_adapt_request(first_rows(traffic().beacon, 5), BodyFormat::csv, "C2 beacon", snap->layout, {}),
                     *snap, "test")["version"];
  std::shared_ptr<const model::Model> next;
  ASSERT_TRUE(wait_for([&] { return (next = follower.take()) != nullptr; }, 2.0));
  EXPECT_EQ(next->version(), adapted);
  EXPECT_EQ(next->classes.back().name, "C2 beacon");
  // The service goes away: said once, however many refreshes fail.
  running.reset();
  service.reset();
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  EXPECT_EQ(count_logged("cannot be reached"), 1u);
  EXPECT_GE(follower.stats().unreachable, 2u);
  EXPECT_EQ(follower.take(), nullptr);
  // It comes back with the same state: said once, and no new model (the same version).
  service = open();
  running = std::make_unique<Running>(*service, port);
  ASSERT_TRUE(wait_for([&] { return count_logged("answers again") == 1; }, 2.0));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(count_logged("answers again"), 1u);
  EXPECT_EQ(follower.take(), nullptr);
  follower.stop();
}

TEST_F(FollowerTest, BadFilesAreRefusedOnceAndTheLastGoodModelKept) {
  auto service = open();
  const std::string good = *service->snapshot()->bytes;
  std::mutex mutex;
  std::string body = good, etag = service->snapshot()->etag;
  httplib::Server fake;
  fake.Get("/v1/model/file", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mutex);
    if (!etag.empty()) res.set_header("ETag", etag);
    if (!etag.empty() && req.get_header_value("If-None-Match").find(etag) != std::string::npos) {
      res.status = 304;
      return;
    }
    res.set_content(body, "application/octet-stream");
  });
  const int port = fake.bind_to_any_port("127.0.0.1");
  std::thread thread([&] { fake.listen_after_bind(); });
  detect::ModelFollower follower(follow(port, 0.1), log);
  ASSERT_TRUE(follower.fetch_now());
  follower.start(follower.version());
  // 1. A file that is not what its ETag says (a byte flipped on the way).
  {
    std::lock_guard lock(mutex);
    body[body.size() / 2] ^= 1;
    etag = "\"" + std::string(64, 'a') + "\"";
  }
  ASSERT_TRUE(wait_for([&] { return count_logged("refused") == 1; }, 2.0));
  // The service keeps serving it: later checks get 304 for the refused tag, which is neither a
  // new refusal nor a usable model.
  const auto not_modified = follower.stats().not_modified;
  ASSERT_TRUE(wait_for([&] { return follower.stats().not_modified >= not_modified + 2; }, 2.0));
  EXPECT_EQ(count_logged("refused"), 1u);
  EXPECT_EQ(count_logged("usable model again"), 0u);
  // 2. A damaged file without an ETag: the file's own CRC-32 refuses it.
  {
    std::lock_guard lock(mutex);
    etag.clear();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  EXPECT_EQ(count_logged("refused"), 2u);
  EXPECT_GE(count_logged("corrupted"), 1u);
  EXPECT_GE(follower.stats().refused, 3u);
  EXPECT_EQ(follower.take(), nullptr);
  // 3. Not a model at all.
  {
    std::lock_guard lock(mutex);
    body = "<html>proxy error</html>";
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_EQ(count_logged("refused"), 3u);
  EXPECT_EQ(follower.take(), nullptr);
  // 4. Good again.
  {
    std::lock_guard lock(mutex);
    body = good;
  }
  ASSERT_TRUE(wait_for([&] { return count_logged("usable model again") == 1; }, 2.0));
  follower.stop();
  fake.stop();
  thread.join();
}

}  // namespace
}  // namespace metaids::serve
