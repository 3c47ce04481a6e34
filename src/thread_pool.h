// A fixed set of worker threads with a bounded queue: submit() blocks while
// the queue is full, which pushes back on the reader instead of growing
// memory without limit.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace gocachefs {

class ThreadPool {
 public:
  ThreadPool(std::size_t threads, std::size_t max_queued);
  ~ThreadPool();  // runs what is queued, then joins
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Tasks must not throw; a task that does is a bug and terminates.
  void submit(std::function<void()> task);
  // Returns once every submitted task has finished.
  void wait_idle();

 private:
  void work();

  std::mutex mutex_;
  std::condition_variable task_ready_;
  std::condition_variable space_ready_;
  std::condition_variable idle_;
  std::deque<std::function<void()>> queue_;
  std::size_t max_queued_;
  std::size_t running_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace gocachefs
