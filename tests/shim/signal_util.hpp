// What the per-thread signal tests share: a handler that records which thread it ran in,
// and the mask queries. Plain POSIX, as threads_util.hpp.
#pragma once

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>

#include "threads_util.hpp"

namespace signal_test {

// Where the last run of record_thread ran, and how many runs there were.
inline std::atomic<pthread_t> handled_in{};
inline std::atomic<pid_t> handled_tid{0};
inline std::atomic<int> handled{0};

inline void record_thread(int) {
  handled_in.store(::pthread_self());
  handled_tid.store(static_cast<pid_t>(::syscall(SYS_gettid)));
  handled.fetch_add(1);
}

inline void reset_record() {
  handled_in.store(pthread_t{});
  handled_tid.store(0);
  handled.store(0);
}

// Installs `fn` for `sig` (flags as given) for the scope, then restores what was there.
class Handler {
 public:
  Handler(int sig, void (*fn)(int), int flags = 0) : sig_(sig) {
    struct sigaction sa {};
    sa.sa_handler = fn;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    EXPECT_EQ(::sigaction(sig, &sa, &old_), 0);
  }
  ~Handler() { ::sigaction(sig_, &old_, nullptr); }
  Handler(const Handler&) = delete;
  Handler& operator=(const Handler&) = delete;

 private:
  int sig_;
  struct sigaction old_ {};
};

inline sigset_t only(int sig) {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, sig);
  return s;
}

// Whether the calling thread blocks `sig`.
inline bool blocks(int sig) {
  sigset_t now;
  ::pthread_sigmask(SIG_BLOCK, nullptr, &now);
  return sigismember(&now, sig) == 1;
}

inline bool is_pending(int sig) {
  sigset_t p;
  ::sigpending(&p);
  return sigismember(&p, sig) == 1;
}

// Restores the calling thread's mask at the end of the scope.
class KeepMask {
 public:
  KeepMask() { ::pthread_sigmask(SIG_BLOCK, nullptr, &saved_); }
  ~KeepMask() { ::pthread_sigmask(SIG_SETMASK, &saved_, nullptr); }
  KeepMask(const KeepMask&) = delete;
  KeepMask& operator=(const KeepMask&) = delete;

 private:
  sigset_t saved_;
};

}  // namespace signal_test
