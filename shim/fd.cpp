// fd hooks: read/write and their vector forms, sendfile, close, dup, pipe, fcntl, ioctl.
//
// Departures from POSIX: none intended. On an owned socket a read or write is made as
// recv/send with MSG_DONTWAIT (which the kernel treats as read/write with O_NONBLOCK for
// this call only), so the file description's flags stay the program's own.
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstdarg>

#include "write_all.hpp"

using namespace green::shim;


namespace {

ssize_t recvmsg_iov(int fd, const struct iovec* iov, int count, int flags) {
  msghdr m{};
  m.msg_iov = const_cast<iovec*>(iov);
  m.msg_iovlen = static_cast<size_t>(count);
  return REAL(recvmsg)(fd, &m, flags);
}

ssize_t sendmsg_iov(int fd, const struct iovec* iov, int count, int flags) {
  msghdr m{};
  m.msg_iov = const_cast<iovec*>(iov);
  m.msg_iovlen = static_cast<size_t>(count);
  return REAL(sendmsg)(fd, &m, flags);
}

// sendfile() has no MSG_DONTWAIT: on a socket that blocks in the kernel it is made with the
// file description non-blocking for this one call (the program's flags are back before it
// returns; a greenlet on another fd of the same description is not affected: its calls
// carry MSG_DONTWAIT anyway).
template <class Off>
ssize_t sendfile_call(int out, int in, Off* off, size_t count, ssize_t (*real)(int, int, Off*, size_t)) {
  return io_call(out, kWrite, [&](int f) -> ssize_t {
    if (f == 0) return real(out, in, off, count);
    const int flags = REAL(fcntl)(out, F_GETFL);
    if (flags < 0) return -1;
    REAL(fcntl)(out, F_SETFL, flags | O_NONBLOCK);
    const ssize_t r = real(out, in, off, count);
    const int e = errno;
    REAL(fcntl)(out, F_SETFL, flags);
    errno = e;
    return r;
  });
}

}  // namespace

GREEN_HOOK(ssize_t, sendfile, (int out, int in, off_t* off, size_t count)) {
  ensure_real();
  return sendfile_call(out, in, off, count, REAL(sendfile));
}

GREEN_HOOK(ssize_t, sendfile64, (int out, int in, off64_t* off, size_t count)) {
  ensure_real();
  return sendfile_call(out, in, off, count, REAL(sendfile64));
}

GREEN_HOOK(ssize_t, read, (int fd, void* buf, size_t n)) {
  // A zero-length read is answered at once (0, or the fd's error): it must not become a
  // zero-length recv, which on a stream socket waits for data.
  if (n == 0) {
    ensure_real();
    return REAL(read)(fd, buf, 0);
  }
  return io_call(fd, kRead, [&](int f) { return f ? REAL(recv)(fd, buf, n, f) : REAL(read)(fd, buf, n); }, n);
}

GREEN_HOOK(ssize_t, __read_chk, (int fd, void* buf, size_t n, size_t buflen)) {
  if (n > buflen) __chk_fail();
  return read(fd, buf, n);
}

GREEN_HOOK(ssize_t, readv, (int fd, const struct iovec* iov, int count)) {
  if (count < 0 || count > IOV_MAX || iov_total(iov, count) == SIZE_MAX) return REAL(readv)(fd, iov, count);
  const size_t want = iov_total(iov, count);
  if (want == 0) return REAL(readv)(fd, iov, count);  // answered at once, as read(fd, buf, 0)
  return io_call(fd, kRead, [&](int f) { return f ? recvmsg_iov(fd, iov, count, f) : REAL(readv)(fd, iov, count); }, want);
}

GREEN_HOOK(ssize_t, write, (int fd, const void* buf, size_t n)) {
  return write_all(fd, n, [&](size_t done, size_t max, int f) {
    const char* p = static_cast<const char*>(buf) + done;
    // send() without MSG_NOSIGNAL raises SIGPIPE exactly as write() does.
    return f ? REAL(send)(fd, p, max, f) : REAL(write)(fd, p, max);
  });
}

GREEN_HOOK(ssize_t, writev, (int fd, const struct iovec* iov, int count)) {
  if (count < 0 || count > IOV_MAX) return REAL(writev)(fd, iov, count);  // EINVAL as libc
  const size_t total = iov_total(iov, count);
  if (total == SIZE_MAX) return REAL(writev)(fd, iov, count);
  return write_all(fd, total, [&](size_t done, size_t max, int f) {
    if (done == 0 && max == total) return f ? sendmsg_iov(fd, iov, count, f) : REAL(writev)(fd, iov, count);
    IovWindow w(iov, count, done, max);
    return f ? sendmsg_iov(fd, w.data(), w.size(), f) : REAL(writev)(fd, w.data(), w.size());
  });
}

GREEN_HOOK(int, close, (int fd)) {
  GREEN_BOOKKEEPING();
  // Waiters first: libev must stop watching before the number can be reused.
  fd_closing(hooks_active ? green::detail::Hub::current_if_exists() : nullptr, fd);
  return REAL(close)(fd);
}

GREEN_HOOK(int, dup, (int fd)) {
  GREEN_BOOKKEEPING();
  const int r = REAL(dup)(fd);
  if (r >= 0) fd_duplicated(fd, r);
  return r;
}

GREEN_HOOK(int, dup2, (int from, int to)) {
  GREEN_BOOKKEEPING();
  if (from != to) fd_closing(green::detail::Hub::current_if_exists(), to);
  const int r = REAL(dup2)(from, to);
  if (r >= 0 && from != to) fd_duplicated(from, r);
  return r;
}

GREEN_HOOK(int, dup3, (int from, int to, int flags)) {
  GREEN_BOOKKEEPING();
  if (from != to) fd_closing(green::detail::Hub::current_if_exists(), to);
  const int r = REAL(dup3)(from, to, flags);
  if (r >= 0) fd_duplicated(from, r);
  return r;
}

GREEN_HOOK(int, pipe2, (int fds[2], int flags)) {
  GREEN_BOOKKEEPING();
  const int r = REAL(pipe2)(fds, flags);
  if (r == 0) {
    fd_created(fds[0], false, (flags & O_NONBLOCK) != 0);
    fd_created(fds[1], false, (flags & O_NONBLOCK) != 0);
  }
  return r;
}

GREEN_HOOK(int, pipe, (int fds[2])) { return pipe2(fds, 0); }

namespace {

// fcntl's third argument is an int or a pointer depending on cmd; glibc itself reads it
// as a pointer (sysdeps/unix/sysv/linux/fcntl64.c), which carries either on x86-64.
int fcntl_common(int (*real)(int, int, ...), int fd, int cmd, void* arg) {
  ensure_real();
  FdState* st = nullptr;
  if (cmd == F_GETFL || cmd == F_SETFL || cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) st = fd_state(fd);
  if (st == nullptr || st->mode == FdState::Mode::unknown) {
    const int r = real(fd, cmd, arg);
    if (r >= 0 && st != nullptr && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)) fd_duplicated(fd, r);
    return r;
  }
  switch (cmd) {
    case F_GETFL: {
      const int r = real(fd, cmd);
      if (r < 0 || !st->nonblock_ours) return r;
      return (r & ~O_NONBLOCK) | (st->user_nonblock ? O_NONBLOCK : 0);
    }
    case F_SETFL: {
      const int flags = static_cast<int>(reinterpret_cast<intptr_t>(arg));
      const int r = real(fd, cmd, st->nonblock_ours ? (flags | O_NONBLOCK) : flags);
      if (r == 0) fd_for_each_dup(fd, *st, [&](FdState& s) { s.user_nonblock = (flags & O_NONBLOCK) != 0; });
      return r;
    }
    default: {
      const int r = real(fd, cmd, arg);
      if (r >= 0) fd_duplicated(fd, r);
      return r;
    }
  }
}

}  // namespace

GREEN_HOOK(int, fcntl, (int fd, int cmd, ...)) {
  va_list ap;
  va_start(ap, cmd);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  ensure_real();
  return fcntl_common(REAL(fcntl), fd, cmd, arg);
}

GREEN_HOOK(int, fcntl64, (int fd, int cmd, ...)) {
  va_list ap;
  va_start(ap, cmd);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  ensure_real();
  return fcntl_common(REAL(fcntl64), fd, cmd, arg);
}

GREEN_HOOK(int, ioctl, (int fd, unsigned long request, ...)) {
  va_list ap;
  va_start(ap, request);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  ensure_real();
  if (request == FIONBIO && arg != nullptr) {
    FdState* st = fd_state(fd);
    if (st != nullptr && st->nonblock_ours) {
      // The real fd stays non-blocking; only the program's view changes.
      const int flags = REAL(fcntl)(fd, F_GETFL);
      if (flags < 0) return -1;
      const bool on = *static_cast<int*>(arg) != 0;
      fd_for_each_dup(fd, *st, [&](FdState& s) { s.user_nonblock = on; });
      return 0;
    }
    const int r = REAL(ioctl)(fd, request, arg);
    if (r == 0 && st != nullptr && st->mode != FdState::Mode::unknown) {
      const bool on = *static_cast<int*>(arg) != 0;
      fd_for_each_dup(fd, *st, [&](FdState& s) { s.user_nonblock = on; });
    }
    return r;
  }
  return REAL(ioctl)(fd, request, arg);
}
