// One GOCACHEPROG protocol stream: reads requests, runs them concurrently on
// a bounded pool, writes each response as it finishes. Knows the wire format
// and nothing of storage.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <unordered_map>
#include <mutex>
#include <string>
#include <unordered_set>

#include "src/cache.h"
#include "src/input_stream.h"
#include "src/protocol.h"
#include "src/thread_pool.h"

namespace gocachefs {

struct SessionOptions {
  std::size_t workers = 8;
};

class Session {
 public:
  Session(int in_fd, int out_fd, SessionOptions options = {});

  // Sends the handshake. It needs no store, so it goes out first and cmd/go
  // carries on while the store opens.
  void greet();

  // Serves requests from `cache` until `close` or end of input (exit code
  // 0), or until the stream cannot be understood any more (exit code 2,
  // after telling stderr why).
  int run(Cache& cache);

  // What this go command asked and got, for its line in the log.
  struct Summary {
    std::uint64_t gets = 0, misses = 0, puts = 0, put_bytes = 0, errors = 0;
  };
  Summary summary() const;

 private:
  void serve();
  void handle_get(const Request& request);
  void handle_put(const Request& request);
  void skip_body(const Request& request);
  void reply(const Response& response);
  void reply_error(std::int64_t id, const std::string& message);
  void close_output();

  Cache* cache_ = nullptr;
  InputStream in_;
  int out_fd_;
  std::mutex out_mutex_;  // one response line at a time
  bool out_broken_ = false;
  std::unordered_set<std::int64_t> seen_ids_;  // reader thread only
  std::atomic<std::uint64_t> gets_{0}, misses_{0}, puts_{0}, put_bytes_{0}, errors_{0};
  // At debug level: when each request came, to log its time (under out_mutex_).
  bool log_requests_ = false;
  std::unordered_map<std::int64_t, std::chrono::steady_clock::time_point> started_;
  ThreadPool pool_;
};

}  // namespace gocachefs
