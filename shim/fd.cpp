// fd hooks: read/write and their vector forms, close, dup, pipe, fcntl, ioctl.
//
// Departures from POSIX: none intended. O_NONBLOCK as the program sees it (F_GETFL,
// FIONBIO) is its own choice, whatever greenshim set on the real fd.
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/uio.h>

#include <cstdarg>

#include "write_all.hpp"

using namespace green::shim;

extern "C" void __chk_fail(void) __attribute__((noreturn));

GREEN_HOOK(ssize_t, read, (int fd, void* buf, size_t n)) {
  return io_call(fd, kRead, [&] { return REAL(read)(fd, buf, n); }, n);
}

GREEN_HOOK(ssize_t, __read_chk, (int fd, void* buf, size_t n, size_t buflen)) {
  if (n > buflen) __chk_fail();
  return read(fd, buf, n);
}

GREEN_HOOK(ssize_t, readv, (int fd, const struct iovec* iov, int count)) {
  const size_t want = count > 0 && count <= IOV_MAX ? iov_total(iov, count) : 0;
  return io_call(fd, kRead, [&] { return REAL(readv)(fd, iov, count); }, want);
}

GREEN_HOOK(ssize_t, write, (int fd, const void* buf, size_t n)) {
  return write_all(fd, n, [&](size_t done, size_t max) {
    return REAL(write)(fd, static_cast<const char*>(buf) + done, max);
  });
}

GREEN_HOOK(ssize_t, writev, (int fd, const struct iovec* iov, int count)) {
  if (count < 0 || count > IOV_MAX) return REAL(writev)(fd, iov, count);  // EINVAL as libc
  return write_all(fd, iov_total(iov, count), [&](size_t done, size_t max) {
    if (done == 0 && max == iov_total(iov, count)) return REAL(writev)(fd, iov, count);
    IovWindow w(iov, count, done, max);
    return REAL(writev)(fd, w.data(), w.size());
  });
}

GREEN_HOOK(int, close, (int fd)) {
  ensure_real();
  // Waiters first: libev must stop watching before the number can be reused.
  fd_closing(hooks_active ? green::detail::Hub::current_if_exists() : nullptr, fd);
  return REAL(close)(fd);
}

GREEN_HOOK(int, dup, (int fd)) {
  ensure_real();
  const int r = REAL(dup)(fd);
  if (r >= 0) fd_duplicated(fd, r);
  return r;
}

GREEN_HOOK(int, dup2, (int from, int to)) {
  ensure_real();
  if (from != to) fd_closing(green::detail::Hub::current_if_exists(), to);
  const int r = REAL(dup2)(from, to);
  if (r >= 0 && from != to) fd_duplicated(from, r);
  return r;
}

GREEN_HOOK(int, dup3, (int from, int to, int flags)) {
  ensure_real();
  if (from != to) fd_closing(green::detail::Hub::current_if_exists(), to);
  const int r = REAL(dup3)(from, to, flags);
  if (r >= 0) fd_duplicated(from, r);
  return r;
}

GREEN_HOOK(int, pipe2, (int fds[2], int flags)) {
  ensure_real();
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
      if (r < 0 || st->mode != FdState::Mode::owned) return r;
      return (r & ~O_NONBLOCK) | (st->user_nonblock ? O_NONBLOCK : 0);
    }
    case F_SETFL: {
      const int flags = static_cast<int>(reinterpret_cast<intptr_t>(arg));
      const bool owned = st->mode == FdState::Mode::owned;
      const int r = real(fd, cmd, owned ? (flags | O_NONBLOCK) : flags);
      if (r == 0) st->user_nonblock = (flags & O_NONBLOCK) != 0;
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
    if (st != nullptr && st->mode == FdState::Mode::owned) {
      // The real fd stays non-blocking; only the program's view changes.
      const int flags = REAL(fcntl)(fd, F_GETFL);
      if (flags < 0) return -1;
      st->user_nonblock = *static_cast<int*>(arg) != 0;
      return 0;
    }
    const int r = REAL(ioctl)(fd, request, arg);
    if (r == 0 && st != nullptr && st->mode != FdState::Mode::unknown) {
      st->user_nonblock = *static_cast<int*>(arg) != 0;
    }
    return r;
  }
  return REAL(ioctl)(fd, request, arg);
}
