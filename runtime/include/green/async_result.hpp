// AsyncResult<T>: a value (or an exception) that one greenlet sets and others wait for —
// gevent.event.AsyncResult, a one-shot future. AsyncResult<> carries no value.
#pragma once

#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "detail/core.hpp"
#include "errors.hpp"

// The API is what the library exports; everything else in it is hidden (Makefile).
#pragma GCC visibility push(default)

namespace green {

template <class T = void>
class AsyncResult {
 public:
  AsyncResult() = default;
  AsyncResult(const AsyncResult&) = delete;
  AsyncResult& operator=(const AsyncResult&) = delete;

  template <class U = T, class = std::enable_if_t<!std::is_void_v<U>>>
  void set(U value) {
    value_.emplace(std::move(value));
    exception_ = nullptr;
    done();
  }
  template <class U = T, class = std::enable_if_t<std::is_void_v<U>>>
  void set() {
    value_ = true;
    exception_ = nullptr;
    done();
  }
  void set_exception(std::exception_ptr e) {
    exception_ = std::move(e);
    value_.reset();
    done();
  }

  bool ready() const noexcept { return ready_; }
  bool successful() const noexcept { return ready_ && !exception_; }
  std::exception_ptr exception() const noexcept { return exception_; }

  // Waits until set; false on timeout.
  bool wait(Duration timeout = forever) {
    const detail::Deadline deadline = detail::deadline_after(timeout);
    while (!ready_) {
      if (detail::wait_on(waiters_, deadline) == detail::Wake::timed_out) return ready_;
    }
    return true;
  }
  // Waits, then returns the value or rethrows; TimeoutError if the timeout passes first.
  auto get(Duration timeout = forever) {
    if (!wait(timeout)) throw TimeoutError();
    if (exception_) std::rethrow_exception(exception_);
    if constexpr (std::is_void_v<T>) {
      return;
    } else {
      return *value_;
    }
  }

 private:
  using Stored = std::conditional_t<std::is_void_v<T>, bool, T>;
  void done() {
    ready_ = true;
    waiters_.notify_all();
  }
  std::optional<Stored> value_;
  std::exception_ptr exception_;
  bool ready_ = false;
  detail::WaitQueue waiters_;
};

}  // namespace green

#pragma GCC visibility pop
