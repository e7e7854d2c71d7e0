// FakeIbmCloud: the fake's request handling, independent of sockets. It routes
// a request to the IAM, Monitoring or admin API, applies injected faults
// (status, latency, dropped connection) and records the request. Not
// thread-safe: the server calls it from its one io_context thread.
#pragma once

#include <chrono>
#include <cstddef>

#include "http_messages.h"
#include "state.h"
#include "world.h"

namespace sto::fake {

struct FakeOptions {
  std::size_t max_recent_requests = 100;
  Clock clock = [] { return std::chrono::system_clock::now(); };
};

// How to answer one request: the response, after `delay`, unless `drop`
// says to close the connection without answering.
struct Reply {
  Response response;
  std::chrono::milliseconds delay{0};
  bool drop = false;
};

class FakeIbmCloud {
 public:
  explicit FakeIbmCloud(State initial, FakeOptions options = {});

  // Never throws: a failure inside a handler becomes a 500.
  Reply handle(const Request& request);

 private:
  Response route(const Request& request, std::string_view path);
  Response fault_response(const Request& request, std::string_view path, int status,
                          std::int64_t retry_after_seconds);

  World world_;
};

// The key a request is counted under: "METHOD /route/{param}".
std::string endpoint_of(const Request& request);

}  // namespace sto::fake
