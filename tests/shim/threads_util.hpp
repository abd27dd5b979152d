// What the thread and sync tests (thread_test … futex_test) share. Plain POSIX only: the
// programs know nothing of greenshim and run with and without LD_PRELOAD=libgreenshim.so.
//
//   - a per-test watchdog, so that a hang is one named failure and not tests/run's timeout
//   - an fd-leak check (ThreadsTest), RAII fds and socketpairs
//   - spawn(): pthread_create for a lambda, with the lambda's return value as the thread's;
//     reader(): a thread blocked in read() until release() writes it a byte
//   - clocks: stopwatches, absolute deadlines on a chosen clock, wait_until()
//   - the takeover probe: under GREEN_SHIM_EXPECTED=1 many live threads must share one
//     OS thread (/proc/self/task has one entry); without it they must be real threads
//
// Waiting in these tests always goes through a blocking call (nanosleep, join, a lock):
// under the shim a loop that spins without one would never let another greenlet run.
#pragma once

#include <dirent.h>
#include <dlfcn.h>
#include <gtest/gtest.h>

#include "common.hpp"
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <utility>

namespace threads_test {

using namespace std::chrono_literals;

// --- watchdog and clocks (common.hpp) ---------------------------------------------
using shim_common::Stopwatch;


// Sleeps the calling thread, resuming after EINTR.
using shim_common::sleep_ms;

// `ms` (negative: in the past) from now on `clock`, as the absolute timespec the timed pthread calls take.
inline timespec abs_in(clockid_t clock, int ms) {
  timespec t{};
  ::clock_gettime(clock, &t);
  const long long ns = static_cast<long long>(t.tv_sec) * 1000000000LL + t.tv_nsec + ms * 1000000LL;
  t.tv_sec = static_cast<time_t>(ns / 1000000000LL);
  t.tv_nsec = static_cast<long>(ns % 1000000000LL);
  return t;
}

// Polls `pred` every millisecond (sleeping in between) for up to `ms`; its last value.
template <class Pred>
bool wait_until(Pred&& pred, int ms = 5000) {
  Stopwatch sw;
  while (!pred()) {
    if (sw.ms() > ms) return pred();
    sleep_ms(1);
  }
  return true;
}

// --- fds (Fd: common.hpp) ------------------------------------------------------
using shim_common::Fd;


struct SocketPair {
  Fd a, b;
};

inline SocketPair socket_pair() {
  int sv[2] = {-1, -1};
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) ADD_FAILURE() << "socketpair: " << std::strerror(errno);
  return {Fd(sv[0]), Fd(sv[1])};
}

inline std::set<std::string> open_fds() {
  std::set<std::string> out;
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return out;
  const int self = ::dirfd(d);
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.' || std::atoi(e->d_name) == self) continue;
    char target[512] = {};
    const std::string link = std::string("/proc/self/fd/") + e->d_name;
    const ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
    // anon_inode fds (epoll, eventfd) are left out: a preloaded shim makes its loop's own.
    if (n > 0 && std::strncmp(target, "anon_inode:", 11) == 0) continue;
    out.insert(std::string(e->d_name) + " -> " + target);
  }
  ::closedir(d);
  return out;
}

// The fixture every test uses: checks that the test closed every fd it opened.
class ThreadsTest : public testing::Test {
 protected:
  void SetUp() override { before_ = open_fds(); }
  void TearDown() override {
    for (const auto& e : open_fds()) {
      if (before_.count(e) == 0) ADD_FAILURE() << "fd " << e << " leaked";
    }
  }

 private:
  std::set<std::string> before_;
};

// --- threads -------------------------------------------------------------------------
// pthread_create for a lambda returning the thread's value. The lambda is freed by a
// unique_ptr, so also when the thread is cancelled or calls pthread_exit.
using Body = std::function<void*()>;

inline void* run_body(void* p) {
  std::unique_ptr<Body> body(static_cast<Body*>(p));
  return (*body)();
}

inline pthread_t spawn(Body body, const pthread_attr_t* attr = nullptr) {
  auto* heap = new Body(std::move(body));
  pthread_t t{};
  const int r = ::pthread_create(&t, attr, &run_body, heap);
  if (r != 0) {
    delete heap;
    ADD_FAILURE() << "pthread_create: " << std::strerror(r);
  }
  return t;
}

// A thread made as a library that looks past interposition makes one (jemalloc's
// background threads): with libc's own pthread_create, so under the shim it stays a real
// OS thread. Joined with plain pthread_join.
inline pthread_t spawn_real(Body body) {
  using Create = int (*)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);
  void* libc = ::dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  auto create = libc != nullptr ? reinterpret_cast<Create>(::dlsym(libc, "pthread_create")) : nullptr;
  if (create == nullptr) {
    ADD_FAILURE() << "libc's pthread_create not found";
    return pthread_t{};
  }
  auto* heap = new Body(std::move(body));
  pthread_t t{};
  const int r = create(&t, nullptr, &run_body, heap);
  if (r != 0) {
    delete heap;
    ADD_FAILURE() << "pthread_create: " << std::strerror(r);
  }
  return t;
}

// Joins `t` and returns its value (nullptr, with a failure, if the join failed).
inline void* join(pthread_t t) {
  void* v = nullptr;
  const int r = ::pthread_join(t, &v);
  EXPECT_EQ(r, 0) << std::strerror(r);
  return v;
}

inline void* as_ptr(std::uintptr_t v) { return reinterpret_cast<void*>(v); }
inline std::uintptr_t as_int(void* p) { return reinterpret_cast<std::uintptr_t>(p); }

// A thread parked in read() on `fd` until one byte arrives; returns that byte + 1 (so
// that a failed read, nullptr, cannot pass for a byte). Sets *done when read() returns.
inline pthread_t reader(int fd, std::atomic<bool>* done = nullptr, const pthread_attr_t* attr = nullptr) {
  return spawn(
      [fd, done]() -> void* {
        unsigned char c = 0;
        const ssize_t n = ::read(fd, &c, 1);
        if (done != nullptr) done->store(true);
        return n == 1 ? as_ptr(c + 1u) : nullptr;
      },
      attr);
}

// Runs `wait` while a thread ticks every 5 ms; returns the ticks seen meanwhile.
template <class Wait>
int ticks_during(Wait wait) {
  std::atomic<int> ticks{0};
  std::atomic<bool> stop{false};
  pthread_t ticker = spawn([&]() -> void* {
    while (!stop) {
      sleep_ms(5);
      ++ticks;
    }
    return nullptr;
  });
  wait();
  stop = true;
  join(ticker);
  return ticks.load();
}

// Lets a reader() go with byte `c`.
inline void release(int fd, unsigned char c = 'x') { ASSERT_EQ(::write(fd, &c, 1), 1); }

// --- did the shim take over? ---------------------------------------------------------
// tests/run sets GREEN_SHIM_EXPECTED=1 for the run under LD_PRELOAD.
inline bool shim_expected() {
  const char* v = std::getenv("GREEN_SHIM_EXPECTED");
  return v != nullptr && std::strcmp(v, "1") == 0;
}

inline int os_thread_count() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/task");
  if (d == nullptr) return -1;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n;
}

// Call while at least `alive` threads created by the test are known to be running: under
// the shim they are greenlets on the main OS thread, without it each is an OS thread.
inline void expect_threads_alive(int alive) {
  const int n = os_thread_count();
  if (shim_expected()) {
    EXPECT_EQ(n, 1) << alive << " threads alive: the shim should have made them greenlets";
  } else {
    EXPECT_GE(n, alive + 1);
  }
}

// Raises RLIMIT_NOFILE's soft limit to the hard one; returns the soft limit now in force.
inline rlim_t raise_fd_limit() {
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
    ::getrlimit(RLIMIT_NOFILE, &rl);
  }
  return rl.rlim_cur;
}

}  // namespace threads_test
