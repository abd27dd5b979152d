// The retry loop every I/O hook uses: try; on EAGAIN park until the fd is ready (or the
// SO_RCVTIMEO/SO_SNDTIMEO deadline); retry. A hook body is then one call to io_call().
//
// errno: whatever the last real call left, except where we decide the outcome ourselves
// (EAGAIN after a socket timeout, EBADF when another greenlet closed the fd).
// An exception pending for the greenlet (a green::Timeout or kill() from the C++ API) is
// thrown from the hook: only C++ API users can cause one.
#pragma once

#include <poll.h>

#include "fd_table.hpp"
#include "hook.hpp"

namespace green::shim {

enum : int { kRead = 1, kWrite = 2 };

// What a parked I/O call does next, given why it woke.
enum class Resume { retry, fail };

inline Resume after_wake(detail::Wake w) {
  switch (w) {
    case detail::Wake::notified:
      return Resume::retry;
    case detail::Wake::closed:
      errno = EBADF;
      return Resume::fail;
    case detail::Wake::timed_out:
      errno = EAGAIN;  // what SO_RCVTIMEO/SO_SNDTIMEO make libc return
      return Resume::fail;
    case detail::Wake::interrupted:
      detail::raise_for(w);  // a Timeout or kill() from the C++ API
      errno = EINTR;
      return Resume::fail;
    default:
      errno = EINTR;
      return Resume::fail;
  }
}

// The fd's state if this call must cooperate, else nullptr (go straight to libc).
inline FdState* cooperative_fd(detail::Hub* hub, int fd) noexcept {
  if (hub == nullptr) return nullptr;
  FdState* st = fd_state(fd);
  if (st == nullptr) return nullptr;
  if (st->mode == FdState::Mode::unknown) fd_classify(fd, *st);
  if (st->mode == FdState::Mode::passthrough || st->user_nonblock) return nullptr;
  return st;
}

inline detail::Deadline io_deadline(const FdState& st, int dir) noexcept {
  const std::int64_t t = dir == kRead ? st.rcv_timeout_ns : st.snd_timeout_ns;
  return t > 0 ? detail::now_ns() + t : detail::kNoDeadline;
}

// Whether `fd` is ready for `dir` right now (one real poll, no wait).
inline bool ready_now(int fd, int dir) noexcept {
  pollfd p{fd, static_cast<short>(dir == kRead ? POLLIN : POLLOUT), 0};
  return REAL(poll)(&p, 1, 0) > 0;
}

// Runs `op` (a real call, returning -1/errno on failure) as a blocking call would behave,
// parking the greenlet instead of the thread.
template <class Op>
auto io_call(int fd, int dir, Op op) -> decltype(op()) {
  detail::Hub* hub = green_context();
  FdState* st = cooperative_fd(hub, fd);
  if (st == nullptr) return op();
  const detail::Deadline deadline = io_deadline(*st, dir);
  if (st->mode == FdState::Mode::foreign) {
    // The real fd blocks: call it only once it is ready.
    if (!ready_now(fd, dir) &&
        after_wake(hub->wait_fd(fd, dir, deadline, &st->waiters)) == Resume::fail) {
      return -1;
    }
    return op();
  }
  for (;;) {
    auto r = op();
    if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) return r;
    if (after_wake(hub->wait_fd(fd, dir, deadline, &st->waiters)) == Resume::fail) return -1;
  }
}

}  // namespace green::shim
