#include "src/session.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <spdlog/spdlog.h>

#include "src/body_decoder.h"

namespace gocachefs {

namespace {
// Request lines are a few hundred bytes; anything this long is garbage.
constexpr std::size_t kMaxRequestLine = 64 * 1024;

Response hit_response(std::int64_t id, const CacheHit& hit) {
  return Response{.id = id, .output_id = hit.output_id, .size = hit.size, .time_ns = hit.put_time_ns,
                  .disk_path = hit.disk_path};
}
}  // namespace

Session::Session(int in_fd, int out_fd, SessionOptions options)
    : in_(in_fd),
      out_fd_(out_fd),
      log_requests_(spdlog::should_log(spdlog::level::debug)),
      pool_(options.workers, options.workers * 4) {}

Session::Summary Session::summary() const {
  return {gets_.load(), misses_.load(), puts_.load(), put_bytes_.load(), errors_.load()};
}

void Session::greet() {
  Response hello;
  hello.known_commands = {"get", "put", "close"};
  reply(hello);
}

int Session::run(Cache& cache) {
  cache_ = &cache;
  try {
    serve();
  } catch (const ProtocolError& e) {
    // Nothing after this point can be matched to a request. Finish what is
    // in flight so its responses go out, then stop.
    pool_.wait_idle();
    cache_->flush();
    spdlog::error("protocol error, exiting: {}", e.what());
    std::fprintf(stderr, "gocachefs: protocol error: %s\n", e.what());
    return 2;
  }
  return 0;
}

void Session::serve() {
  while (auto line = in_.read_line(kMaxRequestLine)) {
    if (line->find_first_not_of(" \t\r") == std::string::npos) continue;  // the blank line after each request
    Request request = parse_request(*line);
    if (!seen_ids_.insert(request.id).second && request.error.empty()) {
      request.error = "request ID " + std::to_string(request.id) + " was already used";
    } else if (log_requests_) {
      std::lock_guard lock(out_mutex_);
      started_[request.id] = std::chrono::steady_clock::now();
    }
    if (!request.error.empty()) {
      skip_body(request);
      reply_error(request.id, request.error);
    } else if (request.command == "get") {
      skip_body(request);
      handle_get(request);
    } else if (request.command == "put") {
      handle_put(request);
    } else if (request.command == "close") {
      skip_body(request);
      pool_.wait_idle();
      cache_->finish_uploads();
      cache_->finish_warming();  // cmd/go kills us once close is answered
      cache_->tell_lazy_failures();
      reply(Response{.id = request.id});
      // cmd/go waits for our stdout to close, not for us to exit: let it go
      // before the bookkeeping.
      close_output();
      cache_->flush();
      return;
    } else {
      skip_body(request);
      reply_error(request.id, "unknown command \"" + request.command + "\"");
    }
  }
  // cmd/go always sends close; a client that just went away gets the same
  // orderly finish.
  pool_.wait_idle();
  cache_->flush();
}

void Session::handle_get(const Request& request) {
  if (!request.action_id) return reply_error(request.id, "get without ActionID");
  ++gets_;
  // A local get costs ~10 us, less than handing it to a worker thread and
  // waking it, so it is answered right here on the reader thread; only a
  // trip to the remote goes to the pool.
  if (auto hit = cache_->get_local(*request.action_id)) return reply(hit_response(request.id, *hit));
  if (!cache_->has_remote()) return reply(Response{.id = request.id, .miss = true});
  pool_.submit([this, id = request.id, action_id = *request.action_id] {
    const auto hit = cache_->get_remote(action_id);
    reply(hit ? hit_response(id, *hit) : Response{.id = id, .miss = true});
  });
}

void Session::handle_put(const Request& request) {
  if (!request.action_id || !request.output_id) {
    skip_body(request);
    return reply_error(request.id, "put needs both ActionID and OutputID");
  }
  ++puts_;
  put_bytes_ += request.body_size;
  std::shared_ptr<PendingPut> put;
  try {
    put = cache_->begin_put(*request.action_id, *request.output_id, request.body_size);
  } catch (const std::exception& e) {
    skip_body(request);
    return reply_error(request.id, std::string("put: ") + e.what());
  }
  if (request.body_size > 0) {
    // A sink that fails (disk full, ...) stops writing, but the rest of the
    // body is still read to stay in step with the stream.
    std::string sink_error;
    const BodySink sink = [&](const char* data, std::size_t size) {
      if (!sink_error.empty()) return;
      try {
        put->writer->append(data, size);
      } catch (const std::exception& e) {
        sink_error = std::string("storing put body: ") + e.what();
      }
    };
    std::string error = read_body(in_, request.body_size, sink);
    if (error.empty()) error = sink_error;
    if (!error.empty()) return reply_error(request.id, error);
  }
  pool_.submit([this, id = request.id, put] {
    try {
      reply(Response{.id = id, .disk_path = cache_->finish_put(*put)});
    } catch (const std::exception& e) {
      reply_error(id, std::string("put: ") + e.what());
    }
  });
}

// Requests other than a well-formed put may still be followed by a body
// line (cmd/go sends one whenever BodySize > 0); read it to stay in step.
void Session::skip_body(const Request& request) {
  if (request.body_size == 0 || in_.peek_after_whitespace() != '"') return;
  read_body(in_, request.body_size, nullptr);
}

void Session::reply_error(std::int64_t id, const std::string& message) {
  spdlog::warn("request {}: {}", id, message);
  reply(Response{.id = id, .err = message});
}

void Session::close_output() {
  std::lock_guard lock(out_mutex_);
  if (!out_broken_) close(out_fd_);
  out_broken_ = true;
}

void Session::reply(const Response& response) {
  if (response.miss) ++misses_;
  if (!response.err.empty()) ++errors_;
  const std::string line = serialize(response);
  std::lock_guard lock(out_mutex_);
  if (log_requests_) {
    if (const auto it = started_.find(response.id); it != started_.end()) {
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - it->second).count();
      spdlog::debug("request {}: {} in {:.2f} ms", response.id,
                    response.miss ? "miss" : !response.err.empty() ? "error" : "done", ms);
      started_.erase(it);
    }
  }
  if (out_broken_) return;
  const char* p = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    const ssize_t n = write(out_fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      // The go command has gone away; nobody is left to answer.
      spdlog::warn("writing response failed, dropping further responses: {}", std::strerror(errno));
      out_broken_ = true;
      return;
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

}  // namespace gocachefs
