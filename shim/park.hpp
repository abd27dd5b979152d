// Parking for the hooks that wait on time alone (sleeps, and polls that found nothing).
#pragma once

#include <cerrno>
#include <ctime>

#include "hook.hpp"

namespace green::shim {

inline std::int64_t timespec_ns(const timespec& ts) {
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}
inline timespec ns_timespec(std::int64_t ns) {
  if (ns < 0) ns = 0;
  return timespec{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
}
inline bool valid_timespec(const timespec& ts) {
  return ts.tv_sec >= 0 && ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000;
}
// An absolute time on `clock` (the pthread and sem *timedwait/*clockwait argument) as a
// monotonic deadline, fixed when the wait starts.
inline detail::Deadline abs_deadline(clockid_t clock, const timespec* abstime) {
  timespec now;
  clock_gettime(clock, &now);
  return detail::now_ns() + (timespec_ns(*abstime) - timespec_ns(now));
}

// A poll/select timeout in ms (negative = none) as a deadline.
inline detail::Deadline ms_deadline(int ms) {
  return ms < 0 ? detail::kNoDeadline : detail::now_ns() + static_cast<std::int64_t>(ms) * 1000000;
}

// The one mapping from why a wait ended to what a hook reports: 0 when nothing went wrong
// (notified: try again; timed_out when `on_timeout` is 0), else the errno value. A pending
// kill, Timeout or cancellation is thrown, as at every blocking point.
inline int wake_errno(detail::Wake w, int on_timeout) {
  switch (w) {
    case detail::Wake::none:
    case detail::Wake::notified:
      return 0;
    case detail::Wake::timed_out:
      return on_timeout;
    case detail::Wake::closed:
      return EBADF;  // another greenlet closed the fd
    case detail::Wake::signaled:
      return EINTR;  // a handler ran that this wait's ParkPolicy lets interrupt it
    case detail::Wake::interrupted:
      detail::raise_for(w);
      return EINTR;
    case detail::Wake::loop_exit:
      return EDEADLK;  // nothing can ever wake it
  }
  return EINTR;
}

// Waits on `q`, whose object `lock` guards (held on entry and again on return), as whatever
// the caller is: a greenlet parks with `policy`; any other thread sleeps in the kernel
// until notified or the deadline (Waiter::woken).
inline detail::Wake wait_locked(detail::WaitQueue& q, detail::Deadline deadline, detail::SpinLock& lock,
                                detail::ParkPolicy policy, const detail::AfterEnqueue* then = nullptr) {
  if (green_context() != nullptr) return detail::wait_on_locked(q, deadline, lock, policy, then);
  return detail::wait_on_locked_os_thread(q, deadline, lock, then);
}

// Parks until `deadline`. Returns 0, or -1 with errno EINTR if interrupted (a pending
// C++ exception from the API is thrown instead).
int park_until(detail::Hub* hub, detail::Deadline deadline);

}  // namespace green::shim
