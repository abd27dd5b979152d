// Event: a flag greenlets wait for (gevent.event.Event, threading.Event). set() may be
// called from any OS thread: each waiter is woken through its own hub. As gevent's, a
// wait with no timeout on a hub that has nothing else to do raises LoopExit, even if
// another thread could still set the Event.
#pragma once

#include <atomic>

#include "detail/core.hpp"

// The API is what the library exports; everything else in it is hidden (Makefile).
#pragma GCC visibility push(default)

namespace green {

class Event {
 public:
  Event() = default;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  // Sets the flag and wakes every waiter.
  void set() noexcept;
  void clear() noexcept { flag_.store(false, std::memory_order_release); }
  bool is_set() const noexcept { return flag_.load(std::memory_order_acquire); }
  // Waits until the flag is set; returns the flag (false only on timeout).
  bool wait(Duration timeout = forever);

 private:
  std::atomic<bool> flag_{false};
  detail::SpinLock lock_;  // guards waiters_
  detail::WaitQueue waiters_;
};

}  // namespace green

#pragma GCC visibility pop
