// Socket hooks: creation, accept, connect, the recv/send families, options.
//
// Each call on an owned socket is made non-blocking by itself (MSG_DONTWAIT, fd_table.hpp);
// what the program sees is libc's behaviour for the blocking mode it chose. SIGPIPE is
// raised exactly when libc would raise it: we never add MSG_NOSIGNAL.
#include <fcntl.h>
#include <netinet/in.h>

#include <algorithm>
#include <sys/socket.h>

#include "write_all.hpp"

using namespace green::shim;


namespace {

std::int64_t timeval_ns(const void* v) {
  const auto* tv = static_cast<const timeval*>(v);
  return static_cast<std::int64_t>(tv->tv_sec) * 1000000000 + tv->tv_usec * 1000;
}

// Sockets created outside a greenlet (a real thread, hooks off) are left for
// fd_classify() to adopt at their first blocking call from a greenlet.
void created(int fd, int type, bool stream) {
  if (fd < 0) return;
  if (green::detail::Hub* hub = green_context()) fd_created(fd, true, (type & SOCK_NONBLOCK) != 0, hub, stream);
}

bool is_stream(int type) { return (type & 0xf) == SOCK_STREAM; }

// A recv that must fill the whole buffer (MSG_WAITALL) on a socket that is non-blocking
// underneath: the kernel returns what it has, so keep receiving until full, EOF or error.
template <class Op>
ssize_t recv_all(int fd, size_t len, Op op) {
  size_t done = 0;
  // SO_RCVTIMEO bounds the whole call, not each piece.
  FdState* st = fd_state(fd);
  const green::detail::Deadline deadline =
      st != nullptr && st->rcv_timeout_ns > 0 ? green::detail::now_ns() + st->rcv_timeout_ns : green::detail::kNoDeadline;
  for (;;) {
    const ssize_t r = io_call(fd, kRead, [&](int f) { return op(done, f); }, 0, true, deadline);
    if (r < 0) return done > 0 ? static_cast<ssize_t>(done) : -1;
    done += static_cast<size_t>(r);
    if (r == 0 || done >= len) return static_cast<ssize_t>(done);
  }
}

}  // namespace

GREEN_HOOK(int, socket, (int domain, int type, int protocol)) {
  GREEN_BOOKKEEPING();
  const int fd = REAL(socket)(domain, type, protocol);
  created(fd, type, is_stream(type));
  return fd;
}

GREEN_HOOK(int, socketpair, (int domain, int type, int protocol, int sv[2])) {
  GREEN_BOOKKEEPING();
  const int r = REAL(socketpair)(domain, type, protocol, sv);
  if (r == 0) {
    created(sv[0], type, is_stream(type));
    created(sv[1], type, is_stream(type));
  }
  return r;
}

GREEN_HOOK(int, accept4, (int fd, struct sockaddr* addr, socklen_t* len, int flags)) {
  // accept has no per-call non-blocking flag: a listening socket gets a real O_NONBLOCK at
  // its first cooperative accept (the program keeps seeing its own flag).
  const int r = io_call(fd, kRead, [&](int f) {
    if (f != 0) {
      FdState* st = fd_state(fd);
      if (st != nullptr && !st->nonblock_ours) {
        const int fl = REAL(fcntl)(fd, F_GETFL);
        if (fl >= 0 && REAL(fcntl)(fd, F_SETFL, fl | O_NONBLOCK) == 0) st->nonblock_ours = true;
      }
    }
    return REAL(accept4)(fd, addr, len, flags);
  }, 0, true);
  FdState* listener = fd_state(fd);
  created(r, (flags & SOCK_NONBLOCK) ? SOCK_NONBLOCK : 0, listener != nullptr && listener->stream);
  return r;
}

GREEN_HOOK(int, accept, (int fd, struct sockaddr* addr, socklen_t* len)) {
  return accept4(fd, addr, len, 0);
}

namespace {

// connect has no per-call non-blocking flag either: the socket is non-blocking just for the
// call that starts the connection, which then proceeds in the kernel.
int connect_nonblocking(int fd, const struct sockaddr* addr, socklen_t len, const FdState& st) {
  if (st.nonblock_ours) return REAL(connect)(fd, addr, len);
  const int fl = REAL(fcntl)(fd, F_GETFL);
  if (fl < 0) return -1;
  REAL(fcntl)(fd, F_SETFL, fl | O_NONBLOCK);
  const int r = REAL(connect)(fd, addr, len);
  const int e = errno;
  REAL(fcntl)(fd, F_SETFL, fl);
  errno = e;
  return r;
}

// AF_UNIX reports a full backlog as EAGAIN, and nothing wakes a poller when room appears
// (the kernel wakes only blocking connectors): retry with a growing pause.
constexpr std::int64_t kUnixBacklogPollNs = 1000000;

}  // namespace

GREEN_HOOK(int, connect, (int fd, const struct sockaddr* addr, socklen_t len)) {
  green::detail::Hub* hub = green_context();
  FdState* st = cooperative_fd(hub, fd);
  if (st == nullptr || st->mode != FdState::Mode::owned) return REAL(connect)(fd, addr, len);
  const green::detail::Deadline deadline = io_deadline(*st, kWrite);
  int r = connect_nonblocking(fd, addr, len, *st);
  std::int64_t pause = kUnixBacklogPollNs;
  while (r < 0 && errno == EAGAIN) {
    if (deadline != green::detail::kNoDeadline && green::detail::now_ns() >= deadline) return -1;
    green::detail::Deadline until = green::detail::now_ns() + pause;
    if (until > deadline) until = deadline;
    pause = std::min<std::int64_t>(pause * 2, 20 * kUnixBacklogPollNs);
    const green::detail::Wake w = hub->park(until);
    if (w != green::detail::Wake::timed_out && after_wake(w) == Resume::fail) return -1;
    r = connect_nonblocking(fd, addr, len, *st);
  }
  if (r == 0 || errno != EINPROGRESS) return r;
  // Until the socket is writable: a wake-up may be a token left from before the connect
  // (an unconnected socket is writable and hung up), or a turn passed on.
  do {
    const green::detail::Wake w = wait_ready(hub, fd, *st, kWrite, deadline);
    if (w == green::detail::Wake::timed_out) {
      errno = EINPROGRESS;  // Linux: a blocking connect that outlives SO_SNDTIMEO
      return -1;
    }
    if (after_wake(w) == Resume::fail) return -1;
  } while (!ready_now(fd, kWrite));
  int err = 0;
  socklen_t elen = sizeof err;
  if (REAL(getsockopt)(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0) return -1;
  if (err != 0) {
    errno = err;
    return -1;
  }
  // Settles the socket's state as a blocking connect leaves it: without this, Linux lets a
  // second connect() return 0 instead of EISCONN.
  const int saved = errno;
  connect_nonblocking(fd, addr, len, *st);
  errno = saved;
  return 0;
}

GREEN_HOOK(int, shutdown, (int fd, int how)) {
  GREEN_BOOKKEEPING();
  return REAL(shutdown)(fd, how);
}

GREEN_HOOK(int, setsockopt, (int fd, int level, int name, const void* value, socklen_t len)) {
  GREEN_BOOKKEEPING();
  const int r = REAL(setsockopt)(fd, level, name, value, len);
  if (r == 0 && level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO) &&
      len >= sizeof(timeval)) {
    if (FdState* st = fd_state(fd)) {
      const std::int64_t ns = timeval_ns(value);
      fd_for_each_dup(fd, *st, [&](FdState& s) { (name == SO_RCVTIMEO ? s.rcv_timeout_ns : s.snd_timeout_ns) = ns; });
    }
  }
  return r;
}

GREEN_HOOK(int, getsockopt, (int fd, int level, int name, void* value, socklen_t* len)) {
  GREEN_BOOKKEEPING();
  return REAL(getsockopt)(fd, level, name, value, len);
}

GREEN_HOOK(ssize_t, recv, (int fd, void* buf, size_t n, int flags)) {
  if (flags & MSG_DONTWAIT) return REAL(recv)(fd, buf, n, flags);
  if ((flags & MSG_WAITALL) && n > 0) {
    return recv_all(fd, n, [&](size_t done, int f) {
      // Cooperative pieces drop MSG_WAITALL (the loop waits); a plain call keeps it.
      return REAL(recv)(fd, static_cast<char*>(buf) + done, n - done, f ? ((flags & ~MSG_WAITALL) | f) : flags);
    });
  }
  const size_t want = (flags & (MSG_PEEK | MSG_OOB | MSG_TRUNC)) ? 0 : n;
  return io_call(fd, kRead, [&](int f) { return REAL(recv)(fd, buf, n, flags | f); }, want, true);
}

GREEN_HOOK(ssize_t, __recv_chk, (int fd, void* buf, size_t n, size_t buflen, int flags)) {
  if (n > buflen) __chk_fail();
  return recv(fd, buf, n, flags);
}

GREEN_HOOK(ssize_t, recvfrom, (int fd, void* buf, size_t n, int flags, struct sockaddr* addr,
                               socklen_t* alen)) {
  if (flags & MSG_DONTWAIT) return REAL(recvfrom)(fd, buf, n, flags, addr, alen);
  return io_call(fd, kRead, [&](int f) { return REAL(recvfrom)(fd, buf, n, flags | f, addr, alen); }, 0, true);
}

GREEN_HOOK(ssize_t, __recvfrom_chk, (int fd, void* buf, size_t n, size_t buflen, int flags,
                                     struct sockaddr* addr, socklen_t* alen)) {
  if (n > buflen) __chk_fail();
  return recvfrom(fd, buf, n, flags, addr, alen);
}

GREEN_HOOK(ssize_t, recvmsg, (int fd, struct msghdr* msg, int flags)) {
  if (flags & MSG_DONTWAIT) return REAL(recvmsg)(fd, msg, flags);
  return io_call(fd, kRead, [&](int f) { return REAL(recvmsg)(fd, msg, flags | f); }, 0, true);
}

GREEN_HOOK(ssize_t, send, (int fd, const void* buf, size_t n, int flags)) {
  if (flags & MSG_DONTWAIT) return REAL(send)(fd, buf, n, flags);
  return write_all(fd, n, [&](size_t done, size_t max, int f) {
    return REAL(send)(fd, static_cast<const char*>(buf) + done, max, flags | f);
  }, true);
}

GREEN_HOOK(ssize_t, sendto, (int fd, const void* buf, size_t n, int flags,
                             const struct sockaddr* addr, socklen_t alen)) {
  if (flags & MSG_DONTWAIT) return REAL(sendto)(fd, buf, n, flags, addr, alen);
  // A datagram goes whole or not at all; a stream socket ignores the address.
  return write_all(fd, n, [&](size_t done, size_t max, int f) {
    return REAL(sendto)(fd, static_cast<const char*>(buf) + done, max, flags | f, addr, alen);
  }, true);
}

GREEN_HOOK(ssize_t, sendmsg, (int fd, const struct msghdr* msg, int flags)) {
  if (flags & MSG_DONTWAIT || msg == nullptr) return REAL(sendmsg)(fd, msg, flags);
  const size_t total = iov_total(msg->msg_iov, static_cast<int>(msg->msg_iovlen));
  return write_all(fd, total, [&](size_t done, size_t max, int f) {
    if (done == 0 && max == total) return REAL(sendmsg)(fd, msg, flags | f);
    // Ancillary data (SCM_RIGHTS…) went with the first bytes; never send it twice.
    IovWindow w(msg->msg_iov, static_cast<int>(msg->msg_iovlen), done, max);
    msghdr rest = *msg;
    rest.msg_iov = const_cast<iovec*>(w.data());
    rest.msg_iovlen = static_cast<size_t>(w.size());
    if (done > 0) {
      rest.msg_control = nullptr;
      rest.msg_controllen = 0;
    }
    return REAL(sendmsg)(fd, &rest, flags | f);
  }, true);
}
