#include "serve/http_server.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <httplib.h>

#include <charconv>
#include <chrono>
#include <cstring>
#include <fmt/format.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "serve/console_assets.h"

namespace metaids::serve {

namespace {

using Clock = std::chrono::steady_clock;

// When this worker thread began the request it is serving (set before routing, read by the
// logger after the response is written; one request at a time per thread).
struct RequestClock {
  Clock::time_point started;
  bool valid = false;
};
RequestClock& request_clock() {
  thread_local RequestClock clock;
  return clock;
}

void json_response(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n", "application/json");
}

void json_error(httplib::Response& res, int status, const std::string& message) {
  json_response(res, status, {{"error", message}, {"status", status}});
}

Endpoint endpoint_of(const std::string& path) {
  if (path == "/v1/score") return Endpoint::score;
  if (path == "/v1/adapt") return Endpoint::adapt;
  if (path == "/v1/model") return Endpoint::model;
  if (path == "/v1/model/file") return Endpoint::model_file;
  if (path == "/v1/rollback") return Endpoint::rollback;
  if (path == "/v1/versions") return Endpoint::versions;
  if (path == "/v1/alerts") return Endpoint::alerts;
  if (path.rfind("/v1/flows", 0) == 0) return Endpoint::flows;
  if (path == "/healthz") return Endpoint::healthz;
  if (path == "/metrics") return Endpoint::metrics;
  if (find_console_asset(path) != nullptr) return Endpoint::console;
  return Endpoint::other;
}

// Paths whose answers show traffic (addresses, features) need the token like every POST.
bool needs_token(const httplib::Request& req) {
  if (req.method != "GET" && req.method != "HEAD") return true;
  return req.path.rfind("/v1/alerts", 0) == 0 || req.path.rfind("/v1/flows", 0) == 0;
}

bool equal_in_constant_time(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const auto x = static_cast<unsigned char>(i < a.size() ? a[i] : 0);
    const auto y = static_cast<unsigned char>(i < b.size() ? b[i] : 0);
    diff = static_cast<unsigned char>(diff | (x ^ y));
  }
  return diff == 0;
}

bool etag_matches(const std::string& if_none_match, const std::string& etag) {
  size_t at = 0;
  while (at < if_none_match.size()) {
    size_t end = if_none_match.find(',', at);
    if (end == std::string::npos) end = if_none_match.size();
    std::string_view tag(if_none_match.data() + at, end - at);
    while (!tag.empty() && tag.front() == ' ') tag.remove_prefix(1);
    while (!tag.empty() && tag.back() == ' ') tag.remove_suffix(1);
    if (tag.rfind("W/", 0) == 0) tag.remove_prefix(2);
    if (tag == "*" || tag == etag) return true;
    at = end + 1;
  }
  return false;
}

size_t size_param(const httplib::Request& req, const char* name, size_t fallback, size_t max) {
  if (!req.has_param(name)) return fallback;
  const std::string text = req.get_param_value(name);
  size_t value = 0;
  const auto r = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || r.ec != std::errc() || r.ptr != text.data() + text.size() || value > max)
    throw RequestError(400, fmt::format("?{}= must be a whole number from 0 to {}", name, max));
  return value;
}

std::vector<std::uint64_t> id_list(const std::string& text) {
  std::vector<std::uint64_t> ids;
  size_t at = 0;
  while (at <= text.size()) {
    size_t end = text.find(',', at);
    if (end == std::string::npos) end = text.size();
    std::uint64_t id = 0;
    const auto r = std::from_chars(text.data() + at, text.data() + end, id);
    if (end == at || r.ec != std::errc() || r.ptr != text.data() + end)
      throw RequestError(400, "?ids= must be flow ids separated by commas");
    ids.push_back(id);
    if (ids.size() > 10000) throw RequestError(413, "more than 10000 ids in one request");
    at = end + 1;
  }
  return ids;
}

std::string status_text(int status) {
  switch (status) {
    case 400: return "malformed request";
    case 404: return "no such endpoint (see docs/service.md)";
    case 405: return "method not allowed";
    case 408: return "the request took too long to arrive";
    case 413: return "the body is larger than the limit (--max-body)";
    case 414: return "the request line is too long";
    case 416: return "range not satisfiable";
    default: return fmt::format("HTTP status {}", status);
  }
}

}  // namespace

void parse_listen(const std::string& listen, std::string& host, int& port) {
  const size_t colon = listen.rfind(':');
  require_usage(colon != std::string::npos, "--listen must be HOST:PORT (e.g. 127.0.0.1:8080), got '{}'", listen);
  host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "127.0.0.1";
  const std::string p = listen.substr(colon + 1);
  int value = -1;
  const auto r = std::from_chars(p.data(), p.data() + p.size(), value);
  require_usage(!p.empty() && r.ec == std::errc() && r.ptr == p.data() + p.size() && value >= 0 && value <= 65535,
                "--listen: '{}' is not a port (0-65535)", p);
  require_usage(host.find_first_of(" /") == std::string::npos, "--listen: '{}' is not a host", host);
  port = value;
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

std::string read_token_file(const std::string& path) {
  struct stat st {};
  require(::stat(path.c_str(), &st) == 0, "cannot read the token file {}: {}", path, std::strerror(errno));
  require(S_ISREG(st.st_mode), "the token file {} is not a regular file", path);
  require((st.st_mode & S_IROTH) == 0, "the token file {} is readable by every user (mode {:o}); chmod o-r it",
          path, st.st_mode & 07777);
  std::string text = read_whole_file(path);
  text = text.substr(0, text.find('\n'));
  while (!text.empty() && (text.back() == '\r' || text.back() == ' ' || text.back() == '\t')) text.pop_back();
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.erase(text.begin());
  require(text.size() >= 16, "the token in {} is shorter than 16 characters", path);
  for (char c : text)
    require(c > 0x20 && c < 0x7f, "the token in {} must be printable ASCII without spaces", path);
  return text;
}

std::string create_token_file(const std::string& path) {
  unsigned char random[32];
  const int urandom = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  require(urandom >= 0 && ::read(urandom, random, sizeof random) == static_cast<ssize_t>(sizeof random),
          "cannot read /dev/urandom");
  ::close(urandom);
  std::string token;
  for (unsigned char b : random) token += fmt::format("{:02x}", b);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  require(fd >= 0, "cannot create the token file {}: {}", path, std::strerror(errno));
  const std::string line = token + "\n";
  const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
  ::close(fd);
  require(ok, "cannot write the token file {}", path);
  return token;
}

HttpServer::HttpServer(Service& service, HttpOptions options)
    : service_(service), options_(std::move(options)), server_(std::make_unique<httplib::Server>()) {
  require(options_.token.size() >= 16, "internal error: the service needs a token");
  require(options_.threads >= 1 && options_.threads <= 1024, "--threads must be 1 to 1024");
  const size_t threads = options_.threads;
  server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  auto micros = [](double s) {
    return std::chrono::microseconds(static_cast<std::int64_t>(s * 1e6));
  };
  server_->set_tcp_nodelay(true);
  server_->set_read_timeout(micros(options_.read_timeout_s));
  server_->set_write_timeout(micros(options_.write_timeout_s));
  server_->set_keep_alive_timeout(std::max<time_t>(1, static_cast<time_t>(options_.keep_alive_s)));
  server_->set_keep_alive_max_count(options_.keep_alive_requests);
  server_->set_payload_max_length(options_.max_body);
  server_->set_default_headers({{"X-Content-Type-Options", "nosniff"},
                                {"X-Frame-Options", "DENY"},
                                {"Referrer-Policy", "no-referrer"},
                                {"Cache-Control", "no-store"}});
  routes();
}

HttpServer::~HttpServer() { stop(); }

int HttpServer::bind() {
  if (options_.port == 0) {
    const int port = server_->bind_to_any_port(options_.host);
    require(port > 0, "cannot listen on {}: {}", options_.host, std::strerror(errno));
    return port;
  }
  require(server_->bind_to_port(options_.host, options_.port), "cannot listen on {}:{}: {}", options_.host,
          options_.port, std::strerror(errno));
  return options_.port;
}

void HttpServer::run() { server_->listen_after_bind(); }

void HttpServer::stop() {
  if (server_) server_->stop();
}

void HttpServer::routes() {
  httplib::Server& s = *server_;
  Service& service = service_;
  const RequestLimits limits = service.options().limits;

  // Before the body is read: the token, the body's size and encoding.
  auto refuse_early = [this](const httplib::Request& req, httplib::Response& res) -> bool {
    if (needs_token(req)) {
      const std::string auth = req.get_header_value("Authorization");
      const bool bearer = auth.size() > 7 && (auth.compare(0, 7, "Bearer ") == 0 || auth.compare(0, 7, "bearer ") == 0);
      if (!bearer || !equal_in_constant_time(std::string_view(auth).substr(7), options_.token)) {
        res.set_header("WWW-Authenticate", "Bearer");
        json_error(res, 401, bearer ? "the bearer token is not the service's" : "this needs the service's token: Authorization: Bearer TOKEN");
        return true;
      }
    }
    const std::string encoding = req.get_header_value("Content-Encoding");
    if (!encoding.empty() && encoding != "identity") {
      json_error(res, 415, "compressed request bodies are not accepted (Content-Encoding)");
      return true;
    }
    if (req.has_header("Transfer-Encoding")) {
      json_error(res, 411, "send the body with a Content-Length, not chunked");
      return true;
    }
    if (req.has_header("Content-Length")) {
      const std::string text = req.get_header_value("Content-Length");
      size_t length = 0;
      const auto r = std::from_chars(text.data(), text.data() + text.size(), length);
      if (text.empty() || r.ec != std::errc() || r.ptr != text.data() + text.size()) {
        json_error(res, 400, "a malformed Content-Length");
        return true;
      }
      if (length > options_.max_body) {
        json_error(res, 413, fmt::format("the body is larger than {} bytes (the limit, --max-body)", options_.max_body));
        return true;
      }
    }
    return false;
  };
  s.set_pre_routing_handler([refuse_early](const httplib::Request& req, httplib::Response& res) {
    request_clock() = {Clock::now(), true};
    if (refuse_early(req, res)) {
      res.set_header("Connection", "close");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  s.set_expect_100_continue_handler([refuse_early](const httplib::Request& req, httplib::Response& res) {
    request_clock() = {Clock::now(), true};
    return refuse_early(req, res) ? res.status : 100;
  });
  s.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    json_error(res, res.status, status_text(res.status));
    return httplib::Server::HandlerResponse::Handled;
  }));
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr error) {
    std::string message = "internal error";
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      message = std::string("internal error: ") + e.what();
    } catch (...) {
    }
    json_error(res, 500, message);
  });
  s.set_logger([&service](const httplib::Request& req, const httplib::Response& res) {
    RequestClock& clock = request_clock();
    const double seconds = clock.valid ? std::chrono::duration<double>(Clock::now() - clock.started).count() : 0.0;
    clock.valid = false;
    service.metrics().observe(endpoint_of(req.path), res.status, seconds);
  });

  // Every handler: a RequestError is its 4xx, any other error a 500 with its message.
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;
  auto guarded = [](Handler handler) {
    return [handler](const httplib::Request& req, httplib::Response& res) {
      try {
        handler(req, res);
      } catch (const RequestError& e) {
        json_error(res, e.status(), e.what());
      } catch (const std::exception& e) {
        json_error(res, 500, e.what());
      }
    };
  };

  s.Get("/healthz", guarded([&service](const httplib::Request&, httplib::Response& res) {
    const auto snap = service.snapshot();
    json_response(res, 200, {{"status", "ok"}, {"version", snap->entry.version}, {"flows_scored", service.metrics().flows_scored()}});
  }));
  s.Get("/metrics", guarded([&service](const httplib::Request&, httplib::Response& res) {
    const auto snap = service.snapshot();
    res.set_content(service.metrics().render(snap->entry.version, snap->model->classes.size(),
                                             service.store().write_errors()),
                    "text/plain; version=0.0.4; charset=utf-8");
  }));
  s.Post("/v1/score", guarded([&service, limits](const httplib::Request& req, httplib::Response& res) {
    const auto snap = service.snapshot();
    const BodyFormat format = body_format(req.get_header_value("Content-Type"));
    const FlowBatch batch = parse_flow_rows(req.body, format, snap->layout, limits.max_flows);
    res.set_content(service.score(batch, *snap), "application/json");
  }));
  s.Post("/v1/adapt", guarded([&service, limits](const httplib::Request& req, httplib::Response& res) {
    const auto snap = service.snapshot();
    const BodyFormat format = body_format(req.get_header_value("Content-Type"));
    const AdaptRequest request =
        parse_adapt_request(req.body, format, req.get_param_value("label"), snap->layout, limits);
    const nlohmann::json result = service.adapt(request, *snap, req.remote_addr);
    json_response(res, 200, result);
  }));
  s.Post("/v1/rollback", guarded([&service](const httplib::Request& req, httplib::Response& res) {
    const BodyFormat format = body_format(req.get_header_value("Content-Type"));
    if (format != BodyFormat::json) throw RequestError(415, "send the rollback as application/json");
    json_response(res, 200, service.rollback(parse_rollback_request(req.body)));
  }));
  s.Get("/v1/model", guarded([&service](const httplib::Request&, httplib::Response& res) {
    json_response(res, 200, service.model_info());
  }));
  s.Get("/v1/model/file", guarded([&service](const httplib::Request& req, httplib::Response& res) {
    const auto snap = service.snapshot();
    res.set_header("ETag", snap->etag);
    res.set_header("X-Metaids-Version", snap->entry.version);
    if (etag_matches(req.get_header_value("If-None-Match"), snap->etag)) {
      res.status = 304;
      return;
    }
    res.set_header("Content-Disposition", fmt::format("attachment; filename=\"metaids-{}.mids\"", snap->entry.version));
    res.set_content(*snap->bytes, "application/octet-stream");
  }));
  s.Get("/v1/versions", guarded([&service](const httplib::Request&, httplib::Response& res) {
    json_response(res, 200, service.versions());
  }));
  s.Get("/v1/alerts", guarded([&service](const httplib::Request& req, httplib::Response& res) {
    AlertFilter filter;
    filter.signature = req.get_param_value("class");
    filter.host = req.get_param_value("host");
    filter.since_us = static_cast<std::int64_t>(size_param(req, "since_us", 0, std::uint64_t{1} << 62));
    json_response(res, 200, service.alerts(filter, size_param(req, "limit", 500, 10000)));
  }));
  s.Get("/v1/flows", guarded([&service](const httplib::Request& req, httplib::Response& res) {
    const std::vector<std::uint64_t> ids = req.has_param("ids") ? id_list(req.get_param_value("ids")) : std::vector<std::uint64_t>{};
    json_response(res, 200, service.flows(req.get_param_value("host"), ids, size_param(req, "limit", 100, 10000)));
  }));
  s.Get(R"(/v1/flows/(\d{1,20}))", guarded([&service](const httplib::Request& req, httplib::Response& res) {
    const std::string text = req.matches[1].str();
    std::uint64_t id = 0;
    const auto r = std::from_chars(text.data(), text.data() + text.size(), id);
    if (r.ec != std::errc()) throw RequestError(400, "not a flow id");
    json_response(res, 200, service.flow_detail(id));
  }));
  // The console: static files embedded in the binary.
  s.Get(R"(/[A-Za-z0-9._-]*)", [](const httplib::Request& req, httplib::Response& res) {
    const ConsoleAsset* asset = find_console_asset(req.path);
    if (asset == nullptr) {
      json_error(res, 404, "no such endpoint (see docs/service.md)");
      return;
    }
    res.set_header("Cache-Control", "no-cache");
    res.set_header("Content-Security-Policy",
                   "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                   "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'");
    res.set_content(std::string(asset->bytes), std::string(asset->mime));
  });
}

}  // namespace metaids::serve
