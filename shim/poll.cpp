// Multiplexing hooks: poll, ppoll, select, pselect, epoll_wait, epoll_pwait.
//
// Each first asks the kernel with a zero timeout (so regular files, errors and anything
// already ready come back at once, exactly as libc reports them); if nothing is ready it
// parks on the fds through the hub and asks again when one fires or the timeout passes.
//
// ppoll/pselect/epoll_pwait's mask is the calling thread's while it waits (MaskDuring).
#include <sys/epoll.h>
#include <sys/select.h>

#include <vector>

#include "park.hpp"
#include "signal_state.hpp"

using namespace green::shim;


namespace {

// A handler ran as the wait's mask was set: -1/EINTR before waiting.
int interrupted() {
  errno = EINTR;
  return -1;
}

int poll_events(short e) { return ((e & (POLLIN | POLLPRI | POLLRDHUP)) ? 1 : 0) | ((e & POLLOUT) ? 2 : 0); }

// libev watches readable and writable only: a poll that asks for nothing (hang-ups and
// errors are always reported) or for POLLPRI (out-of-band data) is re-checked this often.
constexpr std::int64_t kRecheckNs = 10000000;

// try(): the kernel call with a zero timeout. Parks between tries until the deadline.
template <class Try>
int wait_loop(green::detail::Hub* hub, const std::vector<int>& fds, const std::vector<int>& events,
              green::detail::Deadline deadline, Try attempt, bool recheck = false) {
  for (;;) {
    const int r = attempt();
    if (r != 0) return r;
    if (deadline != green::detail::kNoDeadline && green::detail::now_ns() >= deadline) return 0;
    green::detail::Deadline until = deadline;
    if (recheck && green::detail::now_ns() + kRecheckNs < until) until = green::detail::now_ns() + kRecheckNs;
    const green::detail::Wake w = hub->wait_fds(fds.data(), events.data(), fds.size(), until,
                                                {true, green::detail::Eintr::always});
    if (w == green::detail::Wake::timed_out) continue;  // the next try says what is ready
    if (w == green::detail::Wake::loop_exit) {
      // Nobody else can run: nothing will change unless the kernel says so. Wait for real.
      const int ms = deadline == green::detail::kNoDeadline
                         ? -1
                         : static_cast<int>((deadline - green::detail::now_ns() + 999999) / 1000000);
      std::vector<pollfd> pfds;
      for (size_t i = 0; i < fds.size(); ++i) {
        pfds.push_back({fds[i], static_cast<short>(((events[i] & 1) ? POLLIN : 0) | ((events[i] & 2) ? POLLOUT : 0)), 0});
      }
      REAL(poll)(pfds.data(), pfds.size(), ms < 0 && deadline != green::detail::kNoDeadline ? 0 : ms);
      continue;
    }
    if (const int e = wake_errno(w, 0)) {
      errno = e;
      return -1;
    }
  }
}

int green_poll(green::detail::Hub* hub, struct pollfd* fds, nfds_t n, green::detail::Deadline deadline,
               const sigset_t* mask) {
  std::vector<int> fdv, ev;
  fdv.reserve(n);
  ev.reserve(n);
  bool recheck = false;
  for (nfds_t i = 0; i < n; ++i) {
    fdv.push_back(fds[i].fd);
    ev.push_back(poll_events(fds[i].events));
    if (fds[i].fd >= 0 && ((fds[i].events & ~(POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM)) != 0 ||
                           (fds[i].events & (POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM)) == 0)) {
      recheck = true;
    }
  }
  static const timespec zero{0, 0};
  return wait_loop(hub, fdv, ev, deadline, [&] {
    return mask ? REAL(ppoll)(fds, n, &zero, mask) : REAL(poll)(fds, n, 0);
  }, recheck);
}

int green_select(green::detail::Hub* hub, int nfds, fd_set* r, fd_set* w, fd_set* e,
                 green::detail::Deadline deadline, const sigset_t* mask) {
  std::vector<int> fdv, ev;
  for (int fd = 0; fd < nfds && fd < FD_SETSIZE; ++fd) {
    const int want = ((r && FD_ISSET(fd, r)) || (e && FD_ISSET(fd, e)) ? 1 : 0) | (w && FD_ISSET(fd, w) ? 2 : 0);
    if (want != 0) {
      fdv.push_back(fd);
      ev.push_back(want);
    }
  }
  fd_set r0, w0, e0;
  if (r) r0 = *r;
  if (w) w0 = *w;
  if (e) e0 = *e;
  static const timespec zero{0, 0};
  bool recheck = false;  // exceptfds: out-of-band data, which libev cannot watch
  for (int fd = 0; e != nullptr && fd < nfds && fd < FD_SETSIZE; ++fd) recheck = recheck || FD_ISSET(fd, e);
  return wait_loop(hub, fdv, ev, deadline, [&] {
    // select overwrites its sets even when nothing is ready: start each try from the
    // caller's sets.
    if (r) *r = r0;
    if (w) *w = w0;
    if (e) *e = e0;
    return REAL(pselect)(nfds, r, w, e, &zero, mask);
  }, recheck);
}

}  // namespace

GREEN_HOOK(int, poll, (struct pollfd* fds, nfds_t n, int timeout)) {
  green::detail::Hub* hub = green_context();
  if (hub == nullptr || timeout == 0) return REAL(poll)(fds, n, timeout);
  return green_poll(hub, fds, n, ms_deadline(timeout), nullptr);
}

GREEN_HOOK(int, __poll_chk, (struct pollfd* fds, nfds_t n, int timeout, size_t fdslen)) {
  if (fdslen / sizeof(*fds) < n) __chk_fail();
  return poll(fds, n, timeout);
}

GREEN_HOOK(int, ppoll, (struct pollfd* fds, nfds_t n, const struct timespec* ts, const sigset_t* mask)) {
  green::detail::Hub* hub = green_context();
  if (hub == nullptr || (ts && ts->tv_sec == 0 && ts->tv_nsec == 0)) return REAL(ppoll)(fds, n, ts, mask);
  if (ts && !valid_timespec(*ts)) {
    errno = EINVAL;
    return -1;
  }
  const green::detail::Deadline d = ts ? green::detail::now_ns() + timespec_ns(*ts) : green::detail::kNoDeadline;
  const MaskDuring during(mask);
  if (during.handled) return interrupted();
  return green_poll(hub, fds, n, d, during.active() ? nullptr : mask);
}

GREEN_HOOK(int, select, (int nfds, fd_set* r, fd_set* w, fd_set* e, struct timeval* tv)) {
  green::detail::Hub* hub = green_context();
  if (hub == nullptr || (tv && tv->tv_sec == 0 && tv->tv_usec == 0) || nfds < 0) {
    return REAL(select)(nfds, r, w, e, tv);
  }
  // Linux accepts tv_usec of a second or more (it adds it up); only negatives are EINVAL.
  if (tv && (tv->tv_sec < 0 || tv->tv_usec < 0)) {
    errno = EINVAL;
    return -1;
  }
  const green::detail::Deadline d =
      tv ? green::detail::now_ns() + static_cast<std::int64_t>(tv->tv_sec) * 1000000000 + tv->tv_usec * 1000
         : green::detail::kNoDeadline;
  const int rc = green_select(hub, nfds, r, w, e, d, nullptr);
  if (tv) {
    // Linux reports the time left in the timeval (select(2), NOTES).
    const std::int64_t left = rc >= 0 && d > green::detail::now_ns() ? d - green::detail::now_ns() : 0;
    tv->tv_sec = static_cast<time_t>(left / 1000000000);
    tv->tv_usec = static_cast<suseconds_t>((left % 1000000000) / 1000);
  }
  return rc;
}

GREEN_HOOK(int, pselect, (int nfds, fd_set* r, fd_set* w, fd_set* e, const struct timespec* ts,
                          const sigset_t* mask)) {
  green::detail::Hub* hub = green_context();
  if (hub == nullptr || (ts && ts->tv_sec == 0 && ts->tv_nsec == 0) || nfds < 0) {
    return REAL(pselect)(nfds, r, w, e, ts, mask);
  }
  if (ts && !valid_timespec(*ts)) {
    errno = EINVAL;
    return -1;
  }
  const green::detail::Deadline d = ts ? green::detail::now_ns() + timespec_ns(*ts) : green::detail::kNoDeadline;
  const MaskDuring during(mask);
  if (during.handled) return interrupted();
  return green_select(hub, nfds, r, w, e, d, during.active() ? nullptr : mask);
}

GREEN_HOOK(int, epoll_pwait, (int epfd, struct epoll_event* events, int max, int timeout,
                              const sigset_t* mask)) {
  green::detail::Hub* hub = green_context();
  if (hub == nullptr || timeout == 0) return REAL(epoll_pwait)(epfd, events, max, timeout, mask);
  // An epoll fd is itself pollable: readable when one of its fds is ready.
  const std::vector<int> fdv{epfd}, ev{1};
  const MaskDuring during(mask);
  if (during.handled) return interrupted();
  const sigset_t* kernel_mask = during.active() ? nullptr : mask;
  return wait_loop(hub, fdv, ev, ms_deadline(timeout),
                   [&] { return REAL(epoll_pwait)(epfd, events, max, 0, kernel_mask); });
}

GREEN_HOOK(int, epoll_wait, (int epfd, struct epoll_event* events, int max, int timeout)) {
  return epoll_pwait(epfd, events, max, timeout, nullptr);
}
