// Blocking writes complete, as libc's would: an owned socket is written with MSG_DONTWAIT,
// so a large write returns short; we keep writing (parking on EAGAIN) until everything is
// out, a timeout or an error, and then report the bytes written if any. Non-blocking
// callers never get here: cooperative_fd() sends them straight to libc.
#pragma once

#include <sys/uio.h>

#include <algorithm>
#include <climits>
#include <vector>

#include "io_wait.hpp"

namespace green::shim {

// A pipe's POLLOUT promises room for PIPE_BUF bytes, no more: a foreign (really blocking)
// pipe is written in pieces that fit, so the real call never blocks the thread.
constexpr size_t kForeignChunk = 4096;

// op(done, max, flags) writes at most `max` bytes starting `done` bytes into the caller's
// data, adding `flags` (MSG_DONTWAIT for an owned socket) to its call.
template <class Op>
ssize_t write_all(int fd, size_t total, Op op, bool socket_call = false) {
  detail::Hub* hub = green_context();
  FdState* st = cooperative_fd(hub, fd);
  if (st == nullptr || (socket_call && !st->is_socket)) return op(0, total, 0);
  if (st->mode == FdState::Mode::foreign && !st->writable) return op(0, total, 0);
  const int flags = st->mode == FdState::Mode::owned ? MSG_DONTWAIT : 0;
  const bool foreign = st->mode == FdState::Mode::foreign;
  const detail::Deadline deadline = io_deadline(*st, kWrite);
  size_t done = 0;
  do {
    if (foreign && !ready_now(fd, kWrite)) {
      if (after_wake(wait_ready(hub, fd, *st, kWrite, deadline)) == Resume::fail) {
        return done > 0 ? static_cast<ssize_t>(done) : -1;
      }
      continue;
    }
    const size_t max = foreign ? std::min(total - done, kForeignChunk) : total - done;
    const ssize_t r = op(done, max, flags);
    if (r >= 0) {
      done += static_cast<size_t>(r);
      if (total == 0) return r;
      continue;
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK) return done > 0 ? static_cast<ssize_t>(done) : -1;
    if (after_wake(wait_ready(hub, fd, *st, kWrite, deadline)) == Resume::fail) {
      return done > 0 ? static_cast<ssize_t>(done) : -1;
    }
  } while (done < total);
  return static_cast<ssize_t>(done);
}

// The part of an iovec array that starts `skip` bytes in and holds at most `max` bytes.
class IovWindow {
 public:
  IovWindow(const iovec* iov, int count, size_t skip, size_t max) {
    for (int i = 0; i < count && max > 0; ++i) {
      size_t len = iov[i].iov_len;
      char* base = static_cast<char*>(iov[i].iov_base);
      if (skip >= len) {
        skip -= len;
        continue;
      }
      base += skip;
      len -= skip;
      skip = 0;
      len = std::min(len, max);
      max -= len;
      parts_.push_back({base, len});
    }
  }
  const iovec* data() const { return parts_.data(); }
  int size() const { return static_cast<int>(parts_.size()); }

 private:
  std::vector<iovec> parts_;
};

// The bytes an iovec array holds; SIZE_MAX when they add up past SSIZE_MAX (which the
// real call rejects with EINVAL).
inline size_t iov_total(const iovec* iov, int count) {
  size_t t = 0;
  for (int i = 0; i < count; ++i) {
    if (iov[i].iov_len > static_cast<size_t>(SSIZE_MAX) - t) return SIZE_MAX;
    t += iov[i].iov_len;
  }
  return t;
}

}  // namespace green::shim
