// Sleep hooks: sleep, usleep, nanosleep, clock_nanosleep park the greenlet on a hub timer.
//
// Departure from POSIX: CLOCK_REALTIME absolute sleeps are converted to a monotonic
// deadline when they start, so a later change of the wall clock does not move them.
#include <cerrno>
#include <climits>

#include "park.hpp"

using namespace green::shim;

namespace green::shim {

int park_until(detail::Hub* hub, detail::Deadline deadline) {
  for (;;) {
    const detail::Wake w = hub->park(deadline, {true, detail::Eintr::always});
    if (w == detail::Wake::loop_exit) {
      // Nothing else can ever run: the program sleeps alone. Finish the sleep for real.
      const std::int64_t left = deadline - detail::now_ns();
      if (left > 0) {
        timespec ts = ns_timespec(left);
        while (REAL(nanosleep)(&ts, &ts) != 0 && errno == EINTR) {
        }
      }
      return 0;
    }
    if (const int e = wake_errno(w, 0)) {
      errno = e;
      return -1;
    }
    if (w == detail::Wake::timed_out) return 0;
  }
}

}  // namespace green::shim

GREEN_HOOK(int, nanosleep, (const struct timespec* req, struct timespec* rem)) {
  green::detail::Hub* hub = green_context();
  if (hub == nullptr || req == nullptr) return REAL(nanosleep)(req, rem);
  if (!valid_timespec(*req)) {
    errno = EINVAL;
    return -1;
  }
  const green::detail::Deadline deadline = green::detail::now_ns() + timespec_ns(*req);
  if (timespec_ns(*req) == 0) {
    hub->yield();
    return 0;
  }
  if (park_until(hub, deadline) == 0) return 0;
  if (rem != nullptr) *rem = ns_timespec(deadline - green::detail::now_ns());
  return -1;
}

GREEN_HOOK(int, clock_nanosleep, (clockid_t clock, int flags, const struct timespec* req,
                                  struct timespec* rem)) {
  green::detail::Hub* hub = green_context();
  const bool known = clock == CLOCK_REALTIME || clock == CLOCK_MONOTONIC ||
                     clock == CLOCK_BOOTTIME || clock == CLOCK_TAI;
  if (hub == nullptr || req == nullptr || !known) return REAL(clock_nanosleep)(clock, flags, req, rem);
  if (!valid_timespec(*req)) return EINVAL;
  std::int64_t rel = timespec_ns(*req);
  if (flags & TIMER_ABSTIME) {
    timespec now;
    clock_gettime(clock, &now);
    rel -= timespec_ns(now);
  }
  const green::detail::Deadline deadline = green::detail::now_ns() + (rel > 0 ? rel : 0);
  if (rel <= 0) {
    hub->yield();
    return 0;
  }
  const int saved = errno;
  if (park_until(hub, deadline) == 0) return 0;
  // clock_nanosleep reports errors by return value and leaves errno alone.
  errno = saved;
  if (rem != nullptr && !(flags & TIMER_ABSTIME)) *rem = ns_timespec(deadline - green::detail::now_ns());
  return EINTR;
}

GREEN_HOOK(int, usleep, (useconds_t us)) {
  GREEN_COOPERATE(usleep, us);
  if (us == 0) {
    hub->yield();
    return 0;
  }
  return park_until(hub, green::detail::now_ns() + static_cast<std::int64_t>(us) * 1000);
}

GREEN_HOOK(unsigned int, sleep, (unsigned int seconds)) {
  GREEN_COOPERATE(sleep, seconds);
  const green::detail::Deadline deadline =
      green::detail::now_ns() + static_cast<std::int64_t>(seconds) * 1000000000;
  if (seconds == 0) {
    hub->yield();
    return 0;
  }
  if (park_until(hub, deadline) == 0) return 0;
  // sleep() returns the seconds left, rounded up like glibc.
  const std::int64_t left = deadline - green::detail::now_ns();
  return left <= 0 ? 0 : static_cast<unsigned>((left + 999999999) / 1000000000);
}
