// The service on HTTP (cpp-httplib, Debian's libcpp-httplib-dev): routes, the bearer token,
// limits and timeouts, JSON errors, metrics. The endpoints are in docs/service.md.
//
//   HttpServer http(service, {.host = "127.0.0.1", .port = 8080, .token = token});
//   int port = http.bind();   // throws when the address cannot be bound
//   http.run();               // until stop() (from another thread)
//
// What a client cannot do to it (docs/security.md, "HTTP requests"):
//   - change anything without the token: every POST, and the GETs that show traffic
//     (/v1/alerts, /v1/flows), need `Authorization: Bearer TOKEN`, checked in constant time
//     before the body is read;
//   - send more than max_body bytes (413 before it is read), a compressed body (415), more
//     flows than the limits (413), or anything malformed: a 4xx with {"error": "..."}, never a
//     crash; an exception in a handler is a 500 with its message;
//   - stall the others: reads and writes time out (read_timeout_s, write_timeout_s), idle
//     keep-alive connections are closed after keep_alive_s, and `threads` connections are
//     served at once (more wait for a worker).
// Responses go out with TCP_NODELAY, on keep-alive connections.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "serve/service.h"

namespace httplib {
class Server;
}

namespace metaids::serve {

struct HttpOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port (bind() returns it)
  std::string token;  // required: the service refuses to start without one
  size_t max_body = 32u << 20;
  double read_timeout_s = 5;
  double write_timeout_s = 5;
  double keep_alive_s = 5;
  size_t keep_alive_requests = 10000;
  size_t threads = 32;
};

// "127.0.0.1:8080", "[::1]:8080", "localhost:8080", ":8080" (loopback) → host and port.
// Throws UsageError for anything else.
void parse_listen(const std::string& listen, std::string& host, int& port);
bool is_loopback(const std::string& host);
// The token in a file: the first line, without surrounding blanks; at least 16 characters;
// the file must not be readable by others (mode o+r is refused). Throws metaids::Error.
std::string read_token_file(const std::string& path);
// A new random token (32 bytes of /dev/urandom as hex) written to `path` with mode 0600.
std::string create_token_file(const std::string& path);

class HttpServer {
 public:
  HttpServer(Service& service, HttpOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int bind();
  void run();
  void stop();

 private:
  void routes();
  Service& service_;
  HttpOptions options_;
  std::unique_ptr<httplib::Server> server_;
};

}  // namespace metaids::serve
