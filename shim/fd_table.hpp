// The one owner of per-fd state: how greenshim treats each fd, the user's view of
// O_NONBLOCK, SO_RCVTIMEO/SO_SNDTIMEO, and who waits on it.
//
// An fd's file description may be shared with other processes (inherited, passed over
// SCM_RIGHTS) and with glibc's own internal calls (stdio on a socket), so greenshim leaves
// its O_NONBLOCK flag alone wherever it can. Modes, decided when the fd is created through a
// hook or, for any other fd, at its first blocking call (fstat):
//
//   unknown ──socket()/accept()/socketpair(), or fstat says socket──► owned
//      │     (each call made non-blocking by itself: MSG_DONTWAIT; try, EAGAIN → park,
//      │      retry. Only a listening socket gets a real O_NONBLOCK, at its first
//      │      accept: accept has no per-call flag. The program still sees its own.)
//      ├──pipe()/pipe2(), or a FIFO, tty or character device ─────────► foreign
//      │     (park until ready, then make the real call)
//      └──regular file, directory, block device ──────────────────────► passthrough
//   close() ────────────────────────────────────────────────────────► unknown, generation + 1
#pragma once

#include <atomic>
#include <cstdint>

#include "hub.hpp"
#include "netpoll.hpp"

namespace green::shim {

struct FdState {
  enum class Mode : std::uint8_t { unknown, owned, foreign, passthrough };
  Mode mode = Mode::unknown;
  bool user_nonblock = false;   // the user's O_NONBLOCK
  bool nonblock_ours = false;   // we set the real O_NONBLOCK (a listening socket)
  bool is_socket = false;
  bool stream = false;          // SOCK_STREAM: a short read means the queue was drained
  bool drained = false;         // the last read was short: wait for an edge before the next
  std::int64_t rcv_timeout_ns = 0;  // SO_RCVTIMEO; 0 = none
  std::int64_t snd_timeout_ns = 0;  // SO_SNDTIMEO; 0 = none
  std::uint32_t generation = 0;     // bumped at close: a stale wake-up cannot match
  detail::FdWaitList waiters;       // greenlets waiting through libev (wait_fd)
  detail::PollDesc poll;            // owned sockets: the netpoller's registration
  bool readable = true;             // foreign fds: the access mode allows reading
  bool writable = true;
  int dup_next = -1;                // ring of fds sharing one file description (dup)
};

// Applies `fn` to the state of `fd` and of every fd dup()ed from it: O_NONBLOCK and socket
// options belong to the file description they share.
template <class Fn>
void fd_for_each_dup(int fd, FdState& st, Fn fn);

// Returns the state of `fd` (creating its slot), or nullptr for a negative or huge fd.
FdState* fd_state(int fd) noexcept;
// Decides the mode of an fd seen for the first time.
// `hub`, if given, registers an adopted socket with its netpoller.
void fd_classify(int fd, FdState& st, detail::Hub* hub = nullptr) noexcept;
// Records an fd just created by a hook: sockets become owned (registered with `hub`'s
// netpoller), pipes foreign. `user_nonblock` is what the caller asked for
// (SOCK_NONBLOCK, O_NONBLOCK).
void fd_created(int fd, bool is_socket, bool user_nonblock, detail::Hub* hub = nullptr,
                bool stream = false) noexcept;
// Forgets `fd` (it is being closed): wakes its waiters with EBADF, bumps the generation.
void fd_closing(detail::Hub* hub, int fd) noexcept;
// In a fork child: registers again with `hub`'s new netpoller every fd it held.
void fd_reregister_all(detail::Hub* hub) noexcept;
// Copies the state of `from` to `to` (dup): they share one file description.
void fd_duplicated(int from, int to) noexcept;

template <class Fn>
void fd_for_each_dup(int fd, FdState& st, Fn fn) {
  fn(st);
  for (int other = st.dup_next; other >= 0 && other != fd;) {
    FdState* o = fd_state(other);
    if (o == nullptr) break;
    fn(*o);
    other = o->dup_next;
  }
}

}  // namespace green::shim
