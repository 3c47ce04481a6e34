// One GOCACHEPROG protocol stream: reads requests, runs them concurrently on
// a bounded pool, writes each response as it finishes. Knows the wire format
// and nothing of storage.
#pragma once

#include <cstddef>
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
  ThreadPool pool_;
};

}  // namespace gocachefs
