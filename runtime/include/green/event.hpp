// Event: a flag greenlets wait for (gevent.event.Event, threading.Event).
#pragma once

#include "detail/core.hpp"

namespace green {

class Event {
 public:
  Event() = default;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  // Sets the flag and wakes every waiter.
  void set() noexcept;
  void clear() noexcept { flag_ = false; }
  bool is_set() const noexcept { return flag_; }
  // Waits until the flag is set; returns the flag (false only on timeout).
  bool wait(Duration timeout = forever);

 private:
  bool flag_ = false;
  detail::WaitQueue waiters_;
};

}  // namespace green
