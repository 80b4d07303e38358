// The service on HTTP, in process: a real server on a loopback port, real HTTP clients.
#include "serve/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include "model/digest.h"
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "serve/traffic.h"

namespace metaids::serve {
namespace {

namespace fs = std::filesystem;
using testing::first_rows;
using testing::traffic;

constexpr const char* kToken = "0123456789abcdef-test-token";

struct HttpTest : ::testing::Test {
  fs::path dir = fs::temp_directory_path() / fmt::format("metaids-http-{}", ::getpid());
  std::unique_ptr<Service> service;
  std::unique_ptr<HttpServer> server;
  std::thread thread;
  int port = 0;

  void start(HttpOptions http = {}) {
    ServiceOptions o;
    o.state = dir;
    o.limits.max_flows = 1000;
    service = std::make_unique<Service>(o, [](const std::string&) {});
    http.port = 0;
    http.token = kToken;
    server = std::make_unique<HttpServer>(*service, http);
    port = server->bind();
    thread = std::thread([this] { server->run(); });
  }
  void TearDown() override {
    if (server) server->stop();
    if (thread.joinable()) thread.join();
    fs::remove_all(dir);
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(std::chrono::seconds(10));
    return c;
  }
  static httplib::Headers auth(const std::string& token = kToken) { return {{"Authorization", "Bearer " + token}}; }
  static nlohmann::json json_of(const httplib::Result& r) { return nlohmann::json::parse(r->body); }
};

TEST_F(HttpTest, MutatingRequestsNeedTheToken) {
  start();
  auto c = client();
  const std::string csv = first_rows(traffic().mixed, 3);
  auto none = c.Post("/v1/score", csv, "text/csv");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(none->get_header_value("WWW-Authenticate"), "Bearer");
  EXPECT_NE(json_of(none)["error"].get<std::string>().find("token"), std::string::npos);
  auto wrong = client().Post("/v1/adapt", auth("0123456789abcdef-test-tokeN"), "{}", "application/json");
  EXPECT_EQ(wrong->status, 401);
  EXPECT_EQ(client().Get("/v1/alerts")->status, 401);
  EXPECT_EQ(client().Post("/v1/rollback", R"({"version":"000000000000"})", "application/json")->status, 401);
  auto ok = client().Post("/v1/score", auth(), csv, "text/csv");
  ASSERT_EQ(ok->status, 200) << ok->body;
  EXPECT_EQ(json_of(ok)["flows"], 3);
  // Reading the model and the service's health needs no token.
  EXPECT_EQ(client().Get("/v1/model")->status, 200);
  EXPECT_EQ(client().Get("/healthz")->status, 200);
}

TEST_F(HttpTest, OversizedCompressedAndMalformedRequestsGetJsonErrors) {
  HttpOptions http;
  http.max_body = 4096;
  start(http);
  auto post = [&](const std::string& path, const std::string& body, const std::string& type,
                  httplib::Headers headers = auth()) {
    auto r = client().Post(path, headers, body, type);
    EXPECT_TRUE(r);
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json") << path << " " << r->status;
    EXPECT_TRUE(json_of(r).contains("error")) << r->body;
    return r->status;
  };
  EXPECT_EQ(post("/v1/score", std::string(5000, 'x'), "text/csv"), 413);
  auto gzip = auth();
  gzip.emplace("Content-Encoding", "gzip");
  EXPECT_EQ(post("/v1/score", "xx", "text/csv", gzip), 415);
  EXPECT_EQ(post("/v1/score", "a,b", "application/x-www-form-urlencoded"), 415);
  EXPECT_EQ(post("/v1/score", "{\"columns\": [", "application/json"), 400);
  EXPECT_EQ(post("/v1/score", "\"a\nb", "text/csv"), 400);
  EXPECT_EQ(post("/v1/adapt", R"({"label":"x","flow_ids":[42]})", "application/json"), 404);
  EXPECT_EQ(post("/v1/rollback", R"({"version":"../etc/passwd"})", "application/json"), 400);
  EXPECT_EQ(post("/v1/rollback", R"({"version":"000000000000"})", "application/json"), 404);
  auto missing = client().Get("/no/such/thing");
  EXPECT_EQ(missing->status, 404);
  EXPECT_TRUE(json_of(missing).contains("error"));
  // The server is still there and answers.
  EXPECT_EQ(client().Get("/healthz")->status, 200);
}

TEST_F(HttpTest, TheModelFileCarriesItsChecksumAsETag) {
  start();
  auto r = client().Get("/v1/model/file");
  ASSERT_EQ(r->status, 200);
  const std::string etag = r->get_header_value("ETag");
  EXPECT_EQ(etag, "\"" + model::sha256_hex(r->body) + "\"");
  EXPECT_EQ(model::from_file(model::decode_model(r->body, "test"), "test").version(),
            r->get_header_value("X-Metaids-Version"));
  auto same = client().Get("/v1/model/file", {{"If-None-Match", "\"other\", " + etag}});
  EXPECT_EQ(same->status, 304);
  EXPECT_TRUE(same->body.empty());
  // After an adaptation the file is another one.
  auto adapted = client().Post("/v1/adapt?label=C2%20beacon", auth(), first_rows(traffic().beacon, 5), "text/csv");
  ASSERT_EQ(adapted->status, 200) << adapted->body;
  auto changed = client().Get("/v1/model/file", {{"If-None-Match", etag}});
  EXPECT_EQ(changed->status, 200);
  EXPECT_EQ(changed->get_header_value("X-Metaids-Version"), json_of(adapted)["version"]);
}

TEST_F(HttpTest, MetricsInPrometheusTextFormat) {
  start();
  client().Post("/v1/score", auth(), traffic().mixed, "text/csv");
  client().Post("/v1/score", "", "text/csv");  // 401
  // A request is counted after its answer is written: wait for the two to be counted.
  std::string text, type;
  for (int i = 0; i < 100; ++i) {
    auto m = client().Get("/metrics");
    ASSERT_EQ(m->status, 200);
    text = m->body;
    type = m->get_header_value("Content-Type");
    if (text.find("endpoint=\"score\",code=\"4xx\"} 1") != std::string::npos &&
        text.find("endpoint=\"score\",code=\"2xx\"} 1") != std::string::npos)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(type.rfind("text/plain; version=0.0.4", 0), 0u);
  for (const char* needle :
       {"# TYPE metaids_flows_scored_total counter", "metaids_alerts_total{class=\"", "metaids_unknown_total ",
        "metaids_adaptations_total 0", "metaids_version_write_errors_total 0", "metaids_model_info{version=\"", "# TYPE metaids_http_request_duration_seconds histogram",
        "metaids_http_request_duration_seconds_bucket{endpoint=\"score\",le=\"+Inf\"} 2",
        "metaids_http_requests_total{endpoint=\"score\",code=\"2xx\"} 1",
        "metaids_http_requests_total{endpoint=\"score\",code=\"4xx\"} 1"})
    EXPECT_NE(text.find(needle), std::string::npos) << needle << "\n" << text.substr(0, 2000);
}

// Opens a connection and sends part of a request's headers, then nothing.
int slow_client(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  const char partial[] = "POST /v1/score HTTP/1.1\r\nHost: x\r\n";
  EXPECT_EQ(::send(fd, partial, sizeof partial - 1, 0), static_cast<ssize_t>(sizeof partial - 1));
  return fd;
}

TEST_F(HttpTest, SlowClientsTimeOutAndDoNotStallTheOthers) {
  HttpOptions http;
  http.threads = 4;
  http.read_timeout_s = 1;
  http.keep_alive_s = 1;  // a worker is held for at most about read timeout + keep-alive timeout
  start(http);
  std::vector<int> slow;
  for (int i = 0; i < 3; ++i) slow.push_back(slow_client(port));
  // One worker is left: answered at once.
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(client().Get("/healthz")->status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(1500));  // not a timeout's wait
  // Now every worker is held by a slow client: the next request waits for their timeout only.
  slow.push_back(slow_client(port));
  const auto t1 = std::chrono::steady_clock::now();
  EXPECT_EQ(client().Get("/healthz")->status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - t1, std::chrono::seconds(4));
  for (int fd : slow) {
    char buffer[256];
    timeval timeout{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    // The server gave up on it (a closed connection, or a 408 and then closed).
    while (::recv(fd, buffer, sizeof buffer, 0) > 0) {
    }
    ::close(fd);
  }
}

TEST_F(HttpTest, ConcurrentClientsScoreWhileAnotherAdapts) {
  start();
  const std::string csv = first_rows(traffic().mixed, 50);
  std::atomic<int> bad{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t)
    clients.emplace_back([&] {
      httplib::Client c("127.0.0.1", port);
      c.set_keep_alive(true);
      c.set_read_timeout(std::chrono::seconds(60));  // a loaded CI machine (sanitizers)
      while (!stop) {
        auto r = c.Post("/v1/score", auth(), csv, "text/csv");
        if (!r || r->status != 200 || json_of(r)["flows"] != 50) ++bad;
      }
    });
  std::string last;
  for (int i = 0; i < 5; ++i) {
    auto r = client().Post(fmt::format("/v1/adapt?label=class{}", i), auth(), first_rows(traffic().beacon, 3), "text/csv");
    ASSERT_EQ(r->status, 200) << r->body;
    last = json_of(r)["version"];
  }
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(json_of(client().Get("/v1/model"))["version"], last);
  EXPECT_EQ(json_of(client().Get("/v1/versions"))["versions"].size(), 6u);
}

TEST(Listen, AddressesAndTokens) {
  std::string host;
  int port = 0;
  parse_listen("127.0.0.1:8080", host, port);
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 8080);
  parse_listen("[::1]:9", host, port);
  EXPECT_EQ(host, "::1");
  parse_listen(":80", host, port);
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_THROW(parse_listen("8080", host, port), UsageError);
  EXPECT_THROW(parse_listen("h:99999", host, port), UsageError);
  EXPECT_TRUE(is_loopback("127.0.0.2"));
  EXPECT_FALSE(is_loopback("0.0.0.0"));
  const auto path = fs::temp_directory_path() / fmt::format("metaids-token-{}", ::getpid());
  fs::remove(path);
  const std::string token = create_token_file(path.string());
  EXPECT_EQ(read_token_file(path.string()), token);
  EXPECT_EQ(fs::status(path).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
  fs::permissions(path, fs::perms::others_read, fs::perm_options::add);
  EXPECT_THROW(read_token_file(path.string()), Error);
  fs::remove(path);
  write_file_atomically(path, "short\n");
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_THROW(read_token_file(path.string()), Error);
  fs::remove(path);
}

}  // namespace
}  // namespace metaids::serve
