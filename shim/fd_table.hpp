// The one owner of per-fd state: how greenshim treats each fd, the user's view of
// O_NONBLOCK, SO_RCVTIMEO/SO_SNDTIMEO, and who waits on it.
//
// Modes, decided when the fd is created through a hook or, for any other fd, on its first
// blocking call (fstat):
//
//   unknown ──create via socket()/accept()/socketpair()──► owned
//      │                                                   (real O_NONBLOCK set by us;
//      │                                                    try, EAGAIN → park, retry)
//      ├──first use, fstat says socket ──────────────────► owned (adopted)
//      ├──first use, pipe/FIFO/tty/char device ──────────► foreign
//      │      (real flag left alone: the file description may be shared with other
//      │       processes; park until ready, then make the real call)
//      └──first use, regular file/dir/block device ──────► passthrough
//   close() ─────────────────────────────────────────────► unknown, generation + 1
//
// Pipes made by pipe()/pipe2() start foreign for the same reason: their ends are handed to
// child processes, which must not inherit an O_NONBLOCK they never asked for.
#pragma once

#include <atomic>
#include <cstdint>

#include "hub.hpp"
#include "netpoll.hpp"

namespace green::shim {

struct FdState {
  enum class Mode : std::uint8_t { unknown, owned, foreign, passthrough };
  Mode mode = Mode::unknown;
  bool user_nonblock = false;   // the user's O_NONBLOCK (owned fds: the real flag is ours)
  bool is_socket = false;
  bool stream = false;          // SOCK_STREAM: a short read means the queue was drained
  bool drained = false;         // the last read was short: wait for an edge before the next
  std::int64_t rcv_timeout_ns = 0;  // SO_RCVTIMEO; 0 = none
  std::int64_t snd_timeout_ns = 0;  // SO_SNDTIMEO; 0 = none
  std::uint32_t generation = 0;     // bumped at close: a stale wake-up cannot match
  detail::FdWaitList waiters;       // greenlets waiting through libev (wait_fd)
  detail::PollDesc poll;            // owned sockets: the netpoller's registration
};

// Returns the state of `fd` (creating its slot), or nullptr for a negative or huge fd.
FdState* fd_state(int fd) noexcept;
// Decides the mode of an fd seen for the first time.
// `hub`, if given, registers an adopted socket with its netpoller.
void fd_classify(int fd, FdState& st, detail::Hub* hub = nullptr) noexcept;
// Records an fd just created by a hook: sockets become owned (real O_NONBLOCK, registered
// with `hub`'s netpoller), pipes foreign. `user_nonblock` is what the caller asked for
// (SOCK_NONBLOCK, O_NONBLOCK).
void fd_created(int fd, bool is_socket, bool user_nonblock, detail::Hub* hub = nullptr,
                bool stream = false) noexcept;
// Forgets `fd` (it is being closed): wakes its waiters with EBADF, bumps the generation.
void fd_closing(detail::Hub* hub, int fd) noexcept;
// In a fork child: registers again with `hub`'s new netpoller every fd it held.
void fd_reregister_all(detail::Hub* hub) noexcept;
// Copies the state of `from` to `to` (dup): they share one file description.
void fd_duplicated(int from, int to) noexcept;

}  // namespace green::shim
