// One piece of work per key however many threads ask for it at once: the
// first caller runs it, the others wait for its result (as CernVM-FS's
// fetcher does one download per hash).
#pragma once

#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>

namespace gocachefs {

template <typename Key, typename Value>
class SingleFlight {
 public:
  Value run(const Key& key, const std::function<Value()>& work) {
    std::unique_lock lock(mutex_);
    if (auto it = flights_.find(key); it != flights_.end()) {
      ++it->second.joined;
      auto shared = it->second.result;
      lock.unlock();
      return shared.get();
    }
    return start(key, work, lock);
  }

  // How many callers have joined the key's running flight (0 when none
  // runs): tests know from it that everyone is waiting.
  std::size_t joined(const Key& key) {
    std::lock_guard lock(mutex_);
    const auto it = flights_.find(key);
    return it == flights_.end() ? 0 : it->second.joined;
  }

  // Runs the work unless someone is running it already (then: empty, at once).
  std::optional<Value> run_unless_running(const Key& key, const std::function<Value()>& work) {
    std::unique_lock lock(mutex_);
    if (flights_.contains(key)) return std::nullopt;
    return start(key, work, lock);
  }

 private:
  Value start(const Key& key, const std::function<Value()>& work, std::unique_lock<std::mutex>& lock) {
    std::promise<Value> promise;
    flights_.emplace(key, Flight{promise.get_future().share()});
    lock.unlock();
    Value value;
    try {
      value = work();
    } catch (...) {
      promise.set_exception(std::current_exception());
      forget(key);
      throw;
    }
    promise.set_value(value);
    forget(key);
    return value;
  }

  void forget(const Key& key) {
    std::lock_guard lock(mutex_);
    flights_.erase(key);
  }
  struct Flight {
    std::shared_future<Value> result;
    std::size_t joined = 0;  // callers waiting for it besides the one running it
  };
  std::mutex mutex_;
  std::map<Key, Flight> flights_;
};

}  // namespace gocachefs
