// The retry loop every I/O hook uses: try; on EAGAIN park until the fd is ready (or the
// SO_RCVTIMEO/SO_SNDTIMEO deadline); retry. A hook body is then one call to io_call().
//
// The operation takes the flags to add to its call: MSG_DONTWAIT for an owned socket (a
// read becomes recv(…, MSG_DONTWAIT), which the kernel treats alike), 0 otherwise.
//
// errno: whatever the last real call left, except where we decide the outcome ourselves
// (EAGAIN after a socket timeout, EBADF when another greenlet closed the fd).
// An exception pending for the greenlet (a green::Timeout or kill() from the C++ API) is
// thrown from the hook: only C++ API users can cause one.
#pragma once

#include <poll.h>
#include <sys/socket.h>

#include "fd_table.hpp"
#include "hook.hpp"
#include "park.hpp"

namespace green::shim {

enum : int { kRead = 1, kWrite = 2 };

// What a parked I/O call does next, given why it woke.
enum class Resume { retry, fail };

inline Resume after_wake(detail::Wake w) {
  // EAGAIN on timeout: what SO_RCVTIMEO/SO_SNDTIMEO make libc return.
  if (const int e = wake_errno(w, EAGAIN)) {
    errno = e;
    return Resume::fail;
  }
  return Resume::retry;
}

// The fd's state if this call must cooperate, else nullptr (go straight to libc).
inline FdState* cooperative_fd(detail::Hub* hub, int fd) noexcept {
  if (hub == nullptr) return nullptr;
  FdState* st = fd_state(fd);
  if (st == nullptr) return nullptr;
  if (st->mode == FdState::Mode::unknown) fd_classify(fd, *st, hub);
  if (st->mode == FdState::Mode::passthrough || st->user_nonblock) return nullptr;
  return st;
}

inline detail::Deadline io_deadline(const FdState& st, int dir) noexcept {
  const std::int64_t t = dir == kRead ? st.rcv_timeout_ns : st.snd_timeout_ns;
  return t > 0 ? detail::now_ns() + t : detail::kNoDeadline;
}

// Parks until `fd` may be ready for `dir`: through the netpoller when the fd is registered
// with this hub, else through a libev watcher for this one wait.
// A signal handler interrupts it unless it has SA_RESTART — or always, on a socket with a
// timeout (signal(7)).
inline detail::Wake wait_ready(detail::Hub* hub, int fd, FdState& st, int dir, detail::Deadline deadline) noexcept {
  const bool timed = (dir == 1 ? st.rcv_timeout_ns : st.snd_timeout_ns) > 0;
  const detail::ParkPolicy policy{true, timed ? detail::Eintr::always : detail::Eintr::unless_restart};
  if (st.poll.hub == hub) return hub->netpoll_wait(st.poll, dir, deadline, policy);
  return hub->wait_fd(fd, dir, deadline, &st.waiters, policy);
}

// Whether `fd` is ready for `dir` right now (one real poll, no wait).
inline bool ready_now(int fd, int dir) noexcept {
  pollfd p{fd, static_cast<short>(dir == kRead ? POLLIN : POLLOUT), 0};
  return REAL(poll)(&p, 1, 0) > 0;
}

// Runs `op(flags)` (a real call, returning -1/errno on failure) as a blocking call would
// behave, parking the greenlet instead of the thread. `want` is the byte count a plain read
// asks for (0 for other calls): it lets a read that follows a short one skip the system
// call that would only say EAGAIN. `deadline` overrides the socket timeout (MSG_WAITALL
// spans several calls under one timeout). `socket_call`: recv, send, accept… on anything
// but a socket fail at once (ENOTSOCK): never wait for them.
template <class Op>
auto io_call(int fd, int dir, Op op, size_t want = 0, bool socket_call = false,
             detail::Deadline deadline = 0) -> decltype(op(0)) {
  detail::Hub* hub = green_context();
  FdState* st = cooperative_fd(hub, fd);
  if (st == nullptr || (socket_call && !st->is_socket)) return op(0);
  if (deadline == 0) deadline = io_deadline(*st, dir);
  if (st->mode == FdState::Mode::foreign) {
    // The wrong end of a pipe fails at once (EBADF): no readiness will ever come.
    if (!(dir == kRead ? st->readable : st->writable)) return op(0);
    // The real fd blocks: call it only once it is ready (a wake may be for a signal whose
    // handler lets the call go on).
    while (!ready_now(fd, dir)) {
      if (after_wake(wait_ready(hub, fd, *st, dir, deadline)) == Resume::fail) return -1;
    }
    return op(0);
  }
  // A short read drained a stream socket; any byte since has raised an edge that the
  // netpoller has either recorded (rd_ready) or will deliver. Without one, read() would
  // only say EAGAIN: park first. The FIN (or an error) may have come with the data, in
  // the edge the short read consumed: then read() says 0 (or the error) at once.
  if (want > 0 && st->drained && st->poll.hub == hub && !st->poll.rd_ready && !st->poll.rd_closed) {
    if (after_wake(wait_ready(hub, fd, *st, dir, deadline)) == Resume::fail) return -1;
  }
  for (;;) {
    auto r = op(MSG_DONTWAIT);
    if (r >= 0) {
      if (want > 0) st->drained = st->stream && r > 0 && static_cast<size_t>(r) < want;
      if (st->poll.hub == hub) hub->netpoll_pass(st->poll, dir);
      return r;
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK) return r;
    if (after_wake(wait_ready(hub, fd, *st, dir, deadline)) == Resume::fail) return -1;
  }
}

}  // namespace green::shim
