#include "fd_table.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cstdlib>
#include <new>

#include "real.hpp"

namespace green::shim {

namespace {

// Two-level table: chunks are installed once with a CAS and never freed, so readers on any
// thread need no lock (slots themselves are touched by the fd's own greenlets only).
constexpr int kChunkBits = 10;
constexpr int kChunkSize = 1 << kChunkBits;
constexpr int kChunks = 1 << 12;  // 4M fds
std::atomic<FdState*> chunks[kChunks];

std::int64_t timeval_ns(const timeval& tv) {
  return static_cast<std::int64_t>(tv.tv_sec) * 1000000000 + tv.tv_usec * 1000;
}

}  // namespace

FdState* fd_state(int fd) noexcept {
  if (fd < 0 || fd >= kChunks * kChunkSize) return nullptr;
  std::atomic<FdState*>& slot = chunks[fd >> kChunkBits];
  FdState* chunk = slot.load(std::memory_order_acquire);
  if (chunk == nullptr) {
    auto* fresh = new (std::nothrow) FdState[kChunkSize];
    if (fresh == nullptr) return nullptr;
    if (slot.compare_exchange_strong(chunk, fresh, std::memory_order_acq_rel)) {
      chunk = fresh;
    } else {
      delete[] fresh;
    }
  }
  return &chunk[fd & (kChunkSize - 1)];
}

void fd_classify(int fd, FdState& st, detail::Hub* hub) noexcept {
  struct stat sb;
  if (::fstat(fd, &sb) != 0) {
    st.mode = FdState::Mode::passthrough;  // EBADF and the like: libc reports it
    return;
  }
  const int flags = REAL(fcntl)(fd, F_GETFL);
  st.user_nonblock = flags >= 0 && (flags & O_NONBLOCK) != 0;
  if (S_ISSOCK(sb.st_mode)) {
    st.is_socket = true;
    st.mode = FdState::Mode::owned;
    int type = 0;
    socklen_t tlen = sizeof type;
    st.stream = REAL(getsockopt)(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == 0 && type == SOCK_STREAM;
    st.drained = false;
    // No real O_NONBLOCK: the file description may be the parent's too (each call is
    // made non-blocking by itself, MSG_DONTWAIT; accept sets one and records it).
    st.nonblock_ours = false;
    timeval tv{};
    socklen_t len = sizeof tv;
    if (REAL(getsockopt)(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &len) == 0) st.rcv_timeout_ns = timeval_ns(tv);
    len = sizeof tv;
    if (REAL(getsockopt)(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, &len) == 0) st.snd_timeout_ns = timeval_ns(tv);
    if (hub != nullptr && st.poll.hub == nullptr) hub->netpoll_register(fd, st.poll);
  } else if (S_ISFIFO(sb.st_mode) || S_ISCHR(sb.st_mode) || (sb.st_mode & S_IFMT) == 0) {
    // No file type: an anonymous inode (eventfd, timerfd, signalfd, epoll, inotify), all
    // pollable.
    st.mode = FdState::Mode::foreign;
    const int acc = flags >= 0 ? (flags & O_ACCMODE) : O_RDWR;
    st.readable = acc != O_WRONLY;
    st.writable = acc != O_RDONLY;
  } else {
    st.mode = FdState::Mode::passthrough;
  }
}

void fd_created(int fd, bool is_socket, bool user_nonblock, detail::Hub* hub, bool stream) noexcept {
  FdState* st = fd_state(fd);
  if (st == nullptr) return;
  st->is_socket = is_socket;
  st->nonblock_ours = false;
  st->stream = stream;
  st->drained = false;
  st->user_nonblock = user_nonblock;
  st->rcv_timeout_ns = st->snd_timeout_ns = 0;
  if (is_socket) {
    st->mode = FdState::Mode::owned;
    if (hub != nullptr) {
      if (st->poll.hub != nullptr) st->poll.hub->netpoll_unregister(fd, st->poll);  // stale
      hub->netpoll_register(fd, st->poll);
    }
  } else {
    st->mode = FdState::Mode::foreign;
    const int acc = REAL(fcntl)(fd, F_GETFL) & O_ACCMODE;
    st->readable = acc != O_WRONLY;
    st->writable = acc != O_RDONLY;
  }
}

namespace {

void unlink_dup(int fd, FdState& st) noexcept {
  if (st.dup_next < 0) return;
  // Find the predecessor in the ring and bypass fd.
  int prev = fd;
  for (int cur = st.dup_next; cur >= 0 && cur != fd;) {
    FdState* c = fd_state(cur);
    if (c == nullptr) break;
    prev = cur;
    cur = c->dup_next;
  }
  if (prev != fd) {
    FdState* p = fd_state(prev);
    p->dup_next = st.dup_next == prev ? -1 : st.dup_next;
  }
  st.dup_next = -1;
}

}  // namespace

void fd_closing(detail::Hub* hub, int fd) noexcept {
  FdState* st = fd_state(fd);
  if (st == nullptr) return;
  unlink_dup(fd, *st);
  st->readable = st->writable = true;
  if (hub != nullptr) hub->close_fd_waits(st->waiters);
  if (st->poll.hub != nullptr) st->poll.hub->netpoll_unregister(fd, st->poll);
  st->mode = FdState::Mode::unknown;
  st->user_nonblock = false;
  st->drained = false;
  st->nonblock_ours = false;
  st->is_socket = false;
  st->stream = st->drained = false;
  st->rcv_timeout_ns = st->snd_timeout_ns = 0;
  ++st->generation;
}

void fd_reregister_all(detail::Hub* hub) noexcept {
  for (int c = 0; c < kChunks; ++c) {
    FdState* chunk = chunks[c].load(std::memory_order_acquire);
    if (chunk == nullptr) continue;
    for (int i = 0; i < kChunkSize; ++i) {
      FdState& st = chunk[i];
      if (st.poll.hub != hub) continue;
      st.poll.hub = nullptr;
      ++st.poll.generation;
      hub->netpoll_register((c << kChunkBits) | i, st.poll);
    }
  }
}

void fd_duplicated(int from, int to) noexcept {
  FdState* a = fd_state(from);
  FdState* b = fd_state(to);
  if (a == nullptr || b == nullptr || from == to) return;
  unlink_dup(to, *b);
  b->readable = a->readable;
  b->writable = a->writable;
  b->drained = false;
  // Join from's ring: to follows from.
  b->dup_next = a->dup_next < 0 ? from : a->dup_next;
  a->dup_next = to;
  b->mode = a->mode;
  b->user_nonblock = a->user_nonblock;
  b->nonblock_ours = a->nonblock_ours;
  b->is_socket = a->is_socket;
  b->stream = a->stream;
  b->rcv_timeout_ns = a->rcv_timeout_ns;
  b->snd_timeout_ns = a->snd_timeout_ns;
}

}  // namespace green::shim
