// Timeout: an RAII scope. A blocking call made inside it that outlives the duration throws
// green::TimeoutError (whose `source` is this Timeout), as gevent's `with Timeout(s):`.
// Work that does not block is never interrupted: greenlets are cooperative.
#pragma once

#include <cstdint>
#include <functional>
#include <utility>

#include "detail/core.hpp"
#include "detail/greenlet_impl.hpp"
#include "errors.hpp"

// The API is what the library exports; everything else in it is hidden (Makefile).
#pragma GCC visibility push(default)

namespace green {

class Timeout {
 public:
  // Starts counting now; `forever` makes an inert Timeout.
  explicit Timeout(Duration d);
  ~Timeout();
  Timeout(const Timeout&) = delete;
  Timeout& operator=(const Timeout&) = delete;

  // Stops the clock; a firing not yet delivered is discarded.
  void cancel() noexcept;
  // Whether it fired (the TimeoutError may or may not have been thrown yet).
  bool fired() const noexcept { return fired_; }
  // Whether `e` came from this Timeout (for nested scopes).
  bool is(const TimeoutError& e) const noexcept { return e.source == this; }

 private:
  static void on_fire(void* self);
  detail::TimerSlot slot_;
  detail::GreenletImpl* owner_;
  std::uint64_t order_;  // creation order: a lower one is an enclosing scope
  bool fired_ = false;
};

// Runs f(args...) under a Timeout of `d`; TimeoutError propagates if it fires.
template <class F, class... Args>
decltype(auto) with_timeout(Duration d, F&& f, Args&&... args) {
  Timeout t(d);
  return std::invoke(std::forward<F>(f), std::forward<Args>(args)...);
}

}  // namespace green

#pragma GCC visibility pop
