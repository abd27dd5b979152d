// What the shim tests share: plain POSIX only, so that the *_test.cpp programs stay
// ignorant of greenshim (they run with and without LD_PRELOAD=libgreenshim.so).
//
//   - a per-test watchdog (no test may hang the binary) and an fd-leak check (ShimTest)
//   - clocks, RAII fds and socket/pipe/TCP-loopback builders
//   - peers on threads, with I/O helpers that work whatever the fd's real O_NONBLOCK
//   - signals: a scoped handler and a one-shot timer that interrupts blocking calls
//   - /proc probes that show whether the shim took over (GREEN_SHIM_EXPECTED=1)
//   - a byte pattern whose position can be recovered, so reordering cannot go unnoticed
#pragma once

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>

#include "common.hpp"
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

extern char** environ;

namespace shim_test {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;  // CLOCK_MONOTONIC

// --- watchdog and clocks (common.hpp) ---------------------------------------------
using shim_common::Stopwatch;


// CPU time (user + system) this process has used, in ms: a blocking wait must not spin.
inline double cpu_ms() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

// Sleeps on whatever thread calls it, resuming after EINTR.
using shim_common::sleep_ms;

// --- fds (Fd: common.hpp) ------------------------------------------------------
using shim_common::Fd;


struct FdPair {
  Fd a, b;
};

inline FdPair socket_pair(int type = SOCK_STREAM) {
  int sv[2] = {-1, -1};
  if (::socketpair(AF_UNIX, type, 0, sv) != 0) ADD_FAILURE() << "socketpair: " << std::strerror(errno);
  return {Fd(sv[0]), Fd(sv[1])};
}

// a = read end, b = write end.
inline FdPair pipe_pair(int flags = 0) {
  int p[2] = {-1, -1};
  if (::pipe2(p, flags) != 0) ADD_FAILURE() << "pipe2: " << std::strerror(errno);
  return {Fd(p[0]), Fd(p[1])};
}

inline sockaddr_in loopback(uint16_t port_net_order = 0) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = port_net_order;
  return a;
}

inline sockaddr_in local_addr(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return a;
}

// A listening TCP socket on 127.0.0.1, port chosen by the kernel.
inline Fd tcp_listener(int backlog = 16, int type_flags = 0) {
  Fd l(::socket(AF_INET, SOCK_STREAM | type_flags, 0));
  const int one = 1;
  ::setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a = loopback();
  if (::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(l, backlog) != 0) {
    ADD_FAILURE() << "tcp listener: " << std::strerror(errno);
  }
  return l;
}

// A TCP port on 127.0.0.1 where nobody listens: the socket stays bound (so that nobody
// else can take the port) but never listens, so a connect there is refused.
inline Fd refusing_port(sockaddr_in* where) {
  Fd s(::socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in a = loopback();
  if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) ADD_FAILURE() << "bind";
  *where = local_addr(s);
  return s;
}

inline int connect_to(int fd, const sockaddr_in& a) {
  return ::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a);
}

// A connected TCP loopback pair: `client` connected to `server` (accepted).
struct TcpPair {
  Fd client, server;
};
inline TcpPair tcp_pair() {
  Fd l = tcp_listener();
  TcpPair p;
  p.client = Fd(::socket(AF_INET, SOCK_STREAM, 0));
  if (connect_to(p.client, local_addr(l)) != 0) ADD_FAILURE() << "connect: " << std::strerror(errno);
  p.server = Fd(::accept(l, nullptr, nullptr));
  if (p.server < 0) ADD_FAILURE() << "accept: " << std::strerror(errno);
  return p;
}

inline void set_timeo(int fd, int opt, int ms) {
  timeval tv{ms / 1000, (ms % 1000) * 1000};
  if (::setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof tv) != 0) ADD_FAILURE() << "setsockopt timeo";
}
inline void set_rcvtimeo(int fd, int ms) { set_timeo(fd, SO_RCVTIMEO, ms); }
inline void set_sndtimeo(int fd, int ms) { set_timeo(fd, SO_SNDTIMEO, ms); }

inline bool has_flag(int fd, int flag) { return (::fcntl(fd, F_GETFL) & flag) != 0; }

// Fills the socket's send path (and the peer's receive buffer) without blocking.
inline size_t fill_socket(int fd) {
  static char chunk[65536];
  size_t total = 0;
  for (;;) {
    const ssize_t r = ::send(fd, chunk, sizeof chunk, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (r > 0) {
      total += static_cast<size_t>(r);
    } else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // AF_UNIX takes big chunks until full, then single small ones may still fit.
      const ssize_t one = ::send(fd, chunk, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (one <= 0) return total;
      total += 1;
    } else {
      ADD_FAILURE() << "fill_socket: " << std::strerror(errno);
      return total;
    }
  }
}

// The fds open in this process (with what they point to).
inline std::vector<std::pair<int, std::string>> open_fds() {
  std::vector<std::pair<int, std::string>> out;
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return out;
  const int self = ::dirfd(d);
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    const int fd = std::atoi(e->d_name);
    if (fd == self) continue;
    char target[512] = {};
    const std::string link = std::string("/proc/self/fd/") + e->d_name;
    const ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
    out.emplace_back(fd, n > 0 ? std::string(target, static_cast<size_t>(n)) : std::string());
  }
  ::closedir(d);
  return out;
}

// Runs `f` and returns its result with the errno it left (0 if it left none).
struct Outcome {
  long r;
  int err;
};
template <class F>
Outcome outcome(F&& f) {
  errno = 0;
  const long r = static_cast<long>(f());
  return {r, errno};
}

// --- did the shim take over? ---------------------------------------------------------
// tests/run sets GREEN_SHIM_EXPECTED=1 for the run under LD_PRELOAD.
inline bool shim_expected() {
  const char* v = std::getenv("GREEN_SHIM_EXPECTED");
  return v != nullptr && std::strcmp(v, "1") == 0;
}

// The file status flags the kernel really holds ("flags:" in /proc/self/fdinfo/<fd>,
// octal), whatever fcntl(F_GETFL) reports.
inline int kernel_flags(int fd) {
  std::ifstream in("/proc/self/fdinfo/" + std::to_string(fd));
  std::string key;
  while (in >> key) {
    if (key == "flags:") {
      std::string octal;
      in >> octal;
      return static_cast<int>(std::strtol(octal.c_str(), nullptr, 8));
    }
  }
  ADD_FAILURE() << "no flags: in fdinfo of " << fd;
  return -1;
}

// Whether an epoll instance is open in this process (a hub's libev loop is one).
inline bool has_eventpoll() {
  for (const auto& [fd, target] : open_fds()) {
    if (target == "anon_inode:[eventpoll]") return true;
  }
  return false;
}

// Whether an epoll instance of this process watches `fd` (a "tfd:" line in the fdinfo of
// an eventpoll fd): the program's own epoll sets aside, that means a hub waited on it.
inline bool watched_by_epoll(int fd) {
  for (const auto& [ep, target] : open_fds()) {
    if (target != "anon_inode:[eventpoll]") continue;
    std::ifstream in("/proc/self/fdinfo/" + std::to_string(ep));
    std::string key;
    while (in >> key) {
      int watched = -1;
      if (key == "tfd:" && in >> watched && watched == fd) return true;
    }
  }
  return false;
}

inline int thread_count() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/task");
  if (d == nullptr) return -1;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n;
}

// --- the fixture every plain test uses -----------------------------------------------
// Checks that a test closes every fd it opened. anon_inode fds (epoll, eventfd) are left
// out: a preloaded shim may create its loop's own on first use.
class ShimTest : public testing::Test {
 protected:
  void SetUp() override { before_ = snapshot(); }
  void TearDown() override {
    for (const auto& e : snapshot()) {
      if (before_.count(e) == 0) ADD_FAILURE() << "fd " << e.first << " (" << e.second << ") leaked";
    }
  }

 private:
  static std::set<std::pair<int, std::string>> snapshot() {
    std::set<std::pair<int, std::string>> s;
    for (auto& e : open_fds()) {
      if (e.second.rfind("anon_inode:", 0) != 0) s.insert(e);
    }
    return s;
  }
  std::set<std::pair<int, std::string>> before_;
};

// --- peers ---------------------------------------------------------------------------
// A thread, joined when it goes out of scope. Without the shim it is an OS thread; under
// it, a greenlet of the main thread's hub: a peer must then wait only through blocking
// calls (a spin would keep the main greenlet from ever running again).
class Peer {
 public:
  template <class F>
  explicit Peer(F&& f) : t_(std::forward<F>(f)) {}
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;
  ~Peer() { join(); }
  void join() {
    if (t_.joinable()) t_.join();
  }

 private:
  std::thread t_;
};

// Counts 5 ms ticks until stopped (or destroyed): a thread that only runs if the others let
// it, which is what a blocking call under test must do.
class ThreadTicker {
 public:
  ThreadTicker()
      : peer_([this] {
          while (!stop_) {
            sleep_ms(5);
            ++ticks_;
          }
        }) {}
  ~ThreadTicker() { stop(); }
  int ticks() const { return ticks_; }
  void stop() {
    stop_ = true;
    peer_.join();
  }

 private:
  std::atomic<int> ticks_{0};
  std::atomic<bool> stop_{false};
  Peer peer_;
};

// Waits until `fd` is ready for `events`; used by the peers below on EAGAIN.
inline void await(int fd, short events) {
  pollfd p{fd, events, 0};
  while (::poll(&p, 1, -1) < 0 && errno == EINTR) {
  }
}

// The peers' I/O: complete, and correct whether the fd is really blocking or not (a shim
// that left its own O_NONBLOCK on a shared file description showed through to a peer
// once; socket_test's BlockingSocketSharedWithAThreadBlocksThere checks that). The peers
// are not what is under test, so they must not depend on it.
inline bool write_fully(int fd, const void* data, size_t n) {
  struct stat sb {};
  const bool sock = ::fstat(fd, &sb) == 0 && S_ISSOCK(sb.st_mode);
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t r = sock ? ::send(fd, p, n, MSG_NOSIGNAL) : ::write(fd, p, n);
    if (r > 0) {
      p += r;
      n -= static_cast<size_t>(r);
    } else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      await(fd, POLLOUT);
    } else if (!(r < 0 && errno == EINTR)) {
      return false;
    }
  }
  return true;
}

// Reads exactly n bytes unless EOF or an error comes first; returns the count read.
inline size_t read_fully(int fd, void* data, size_t n) {
  char* p = static_cast<char*>(data);
  size_t done = 0;
  while (done < n) {
    const ssize_t r = ::read(fd, p + done, n - done);
    if (r > 0) {
      done += static_cast<size_t>(r);
    } else if (r == 0) {
      break;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      await(fd, POLLIN);
    } else if (errno != EINTR) {
      break;
    }
  }
  return done;
}

// --- signals -------------------------------------------------------------------------
// Installs `handler` for `sig` with `flags` (no SA_RESTART unless given); restores the
// previous disposition at scope exit.
class ScopedSignal {
 public:
  ScopedSignal(int sig, void (*handler)(int), int flags = 0) : sig_(sig) {
    struct sigaction sa {};
    sa.sa_handler = handler;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    ::sigaction(sig, &sa, &old_);
  }
  ~ScopedSignal() { ::sigaction(sig_, &old_, nullptr); }
  ScopedSignal(const ScopedSignal&) = delete;
  ScopedSignal& operator=(const ScopedSignal&) = delete;

 private:
  int sig_;
  struct sigaction old_ {};
};

// Sends `sig` to the calling thread once, `ms` after construction (a POSIX timer aimed
// at this thread, so that it interrupts the blocking call this thread makes next).
class SignalAfter {
 public:
  SignalAfter(int sig, int ms) {
    sigevent sev{};
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = sig;
    sev._sigev_un._tid = static_cast<pid_t>(::gettid());
    if (::timer_create(CLOCK_MONOTONIC, &sev, &timer_) != 0) {
      ADD_FAILURE() << "timer_create: " << std::strerror(errno);
      return;
    }
    itimerspec its{};
    its.it_value = {ms / 1000, (ms % 1000) * 1000000L};
    ::timer_settime(timer_, 0, &its, nullptr);
    armed_ = true;
  }
  ~SignalAfter() {
    if (armed_) ::timer_delete(timer_);
  }
  SignalAfter(const SignalAfter&) = delete;
  SignalAfter& operator=(const SignalAfter&) = delete;

 private:
  timer_t timer_{};
  bool armed_ = false;
};

// Counts deliveries of the signals it is installed for.
inline volatile sig_atomic_t signals_caught = 0;
inline void count_signal(int) { signals_caught = signals_caught + 1; }

// --- child processes -------------------------------------------------------------------
// Some behaviour is only visible from another program: one the shim is not loaded into,
// or one that inherits our fds. SHIM_TEST_CHILD(name) defines a routine that runs instead
// of the tests when run_child(name) re-executes this binary; its return is the exit code.
inline constexpr const char* kChildVar = "SHIM_TEST_CHILD";

struct ChildResult {
  int status = -1;         // waitpid status
  std::string output;      // its stdout and stderr
  bool hung = false;       // killed after the time limit
  bool exited_ok() const { return !hung && WIFEXITED(status) && WEXITSTATUS(status) == 0; }
};

// `env`: "K=V" sets, "K" removes, applied to our environment. `fds`: {child fd, our fd}
// to hand over (dup2'd in the child before exec). A child still running after
// `limit_ms` is killed (a routine that may hang runs in a child for that reason).
inline ChildResult run_child(const std::string& name, const std::vector<std::string>& env,
                             const std::vector<std::pair<int, int>>& fds = {}, int limit_ms = 5000) {
  std::vector<std::string> vars;
  auto key = [](const std::string& kv) { return kv.substr(0, kv.find('=')); };
  for (char** p = environ; *p != nullptr; ++p) {
    const std::string kv(*p);
    bool overridden = key(kv) == kChildVar;
    for (const auto& e : env) overridden = overridden || key(e) == key(kv);
    if (!overridden) vars.push_back(kv);
  }
  for (const auto& e : env) {
    if (e.find('=') != std::string::npos) vars.push_back(e);
  }
  vars.push_back(std::string(kChildVar) + "=" + name);
  std::vector<char*> envp;
  for (auto& v : vars) envp.push_back(v.data());
  envp.push_back(nullptr);

  ChildResult r;
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return r;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, out[1], 2);
  for (const auto& [child_fd, our_fd] : fds) posix_spawn_file_actions_adddup2(&fa, our_fd, child_fd);
  char exe[] = "/proc/self/exe";
  char* argv[] = {exe, nullptr};
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, exe, &fa, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&fa);
  ::close(out[1]);
  if (rc != 0) {
    ::close(out[0]);
    r.output = "posix_spawn failed";
    return r;
  }
  char buf[4096];
  const auto give_up = Clock::now() + std::chrono::milliseconds(limit_ms);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(give_up - Clock::now()).count();
    pollfd p{out[0], POLLIN, 0};
    if (left <= 0 || (::poll(&p, 1, static_cast<int>(left)) == 0 && Clock::now() >= give_up)) {
      ::kill(pid, SIGKILL);
      r.hung = true;
      break;
    }
    const ssize_t n = ::read(out[0], buf, sizeof buf);
    if (n > 0) {
      r.output.append(buf, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  ::close(out[0]);
  while (::waitpid(pid, &r.status, 0) < 0 && errno == EINTR) {
  }
  return r;
}

inline bool child_entry(const char* name, int (*fn)()) {
  const char* want = std::getenv(kChildVar);
  if (want == nullptr || std::strcmp(want, name) != 0) return false;
  ::alarm(10);
  const int rc = fn();
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(rc);
}

// The environment of a program the shim is not loaded into.
inline const std::vector<std::string> kWithoutShim = {"LD_PRELOAD", "GREEN_SHIM_EXPECTED"};

// --- data ----------------------------------------------------------------------------
// Byte i of a stream: a hash of i, so that a lost, repeated or reordered chunk breaks it.
inline unsigned char pattern_byte(uint64_t i) {
  uint64_t x = (i >> 3) * 0x9E3779B97F4A7C15ull;
  x ^= x >> 31;
  return static_cast<unsigned char>(x >> (8 * (i & 7)));
}
inline std::vector<unsigned char> pattern(size_t n, uint64_t offset = 0) {
  std::vector<unsigned char> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = pattern_byte(offset + i);
  return v;
}
// -1 when `v` is the pattern from `offset`, else the first wrong index.
inline long mismatch(const unsigned char* v, size_t n, uint64_t offset = 0) {
  for (size_t i = 0; i < n; ++i) {
    if (v[i] != pattern_byte(offset + i)) return static_cast<long>(i);
  }
  return -1;
}
inline long mismatch(const std::vector<unsigned char>& v, uint64_t offset = 0) {
  return mismatch(v.data(), v.size(), offset);
}

inline constexpr size_t kMiB = 1 << 20;

}  // namespace shim_test

#define SHIM_TEST_CHILD(name)                                                   \
  static int shim_test_child_##name();                                          \
  [[maybe_unused]] static const bool shim_test_child_reg_##name =               \
      ::shim_test::child_entry(#name, &shim_test_child_##name);                 \
  static int shim_test_child_##name()
