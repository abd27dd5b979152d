// What every runtime test file shares: a per-test watchdog, clocks, a guard that kills
// the greenlets a test leaves behind, /proc/self/maps counting, and child processes.
//
// Every test runs in the main greenlet of the process's main thread, whose hub lives as
// long as the process: a test that leaves a greenlet parked on one of its own stack objects
// would hand the next test a dangling waiter. Hence GreenletGuard, declared after the
// objects the greenlets use, so that it is destroyed (and kills them) first.
//
// Some behaviour is only visible from outside the process (GREEN_* variables are read once
// per process; a crash must not take the whole binary down). GREEN_TEST_CHILD(name) defines
// a routine that runs instead of the tests when this binary is re-executed by run_child().
#pragma once

#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "../watchdog.hpp"
#include "green/green.hpp"

extern char** environ;

namespace green_test {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Set in a child process started by run_child(): the GREEN_TEST_CHILD routine to run.
inline constexpr const char* kChildVar = "GREENSHIM_TEST_CHILD";

// --- watchdog (../watchdog.hpp) and quiet failure reports --------------------------------
// Failure reports of greenlets that die of an exception are silenced here (tests provoke
// many); greenlet_test checks the report itself in a child process, whose environment is
// left as it was given.
[[maybe_unused]] inline const bool quiet_reports = [] {
  if (std::getenv(kChildVar) == nullptr) ::setenv("GREEN_QUIET", "1", 0);
  return true;
}();

// --- time --------------------------------------------------------------------------------
inline Clock::duration since(Clock::time_point t0) { return Clock::now() - t0; }

inline long long ms(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

// Burns CPU without ever blocking: the hub does not run meanwhile, so timers that expire
// now are all handled together at the next poll.
inline void busy_wait(Clock::duration d) {
  const auto end = Clock::now() + d;
  while (Clock::now() < end) {
  }
}

// --- greenlets left behind ---------------------------------------------------------------
class GreenletGuard {
 public:
  GreenletGuard() = default;
  GreenletGuard(const GreenletGuard&) = delete;
  GreenletGuard& operator=(const GreenletGuard&) = delete;
  template <class G>
  const G& operator()(const G& g) {
    gs_.push_back(g);
    return g;
  }
  ~GreenletGuard() {
    for (const auto& g : gs_) {
      if (!g.dead() && !g.kill(true, 1s)) ADD_FAILURE() << "greenlet " << g.id() << " survived kill";
    }
  }

 private:
  std::vector<green::AnyGreenlet> gs_;
};

// --- /proc/self/maps ---------------------------------------------------------------------
inline int maps_lines() {
  std::ifstream in("/proc/self/maps");
  std::string line;
  int n = 0;
  while (std::getline(in, line)) ++n;
  return n;
}

// The permissions ("rw-p", "---p") of the mapping that contains `addr`, or "" if none.
inline std::string maps_perms(const void* addr) {
  std::ifstream in("/proc/self/maps");
  std::string line;
  const auto a = reinterpret_cast<unsigned long>(addr);
  while (std::getline(in, line)) {
    unsigned long lo = 0, hi = 0;
    char perms[8] = {};
    if (std::sscanf(line.c_str(), "%lx-%lx %7s", &lo, &hi, perms) == 3 && lo <= a && a < hi) {
      return perms;
    }
  }
  return "";
}

// --- child processes ---------------------------------------------------------------------
struct ChildResult {
  int status = -1;     // waitpid status
  std::string output;  // stdout and stderr, interleaved
  bool exited_ok() const { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }
  std::string describe() const {
    std::string s = WIFEXITED(status)     ? "exit " + std::to_string(WEXITSTATUS(status))
                    : WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                                          : "status " + std::to_string(status);
    return s + ", output:\n" + output;
  }
};

// Re-executes this binary to run the GREEN_TEST_CHILD routine `name`, with `env` ("K=V"
// sets, "K" removes) applied to our environment, minus any other GREEN_* setting.
inline ChildResult run_child(const std::string& name, const std::vector<std::string>& env) {
  std::vector<std::string> vars;
  auto overridden = [&](const std::string& kv) {
    const std::string key = kv.substr(0, kv.find('='));
    if (key == kChildVar) return true;
    // Settings the tests do not choose are the defaults, whatever our caller set.
    if (key.rfind("GREEN_", 0) == 0 && key != "GREEN_QUIET") return true;
    for (const auto& e : env) {
      if (e.substr(0, e.find('=')) == key) return true;
    }
    return false;
  };
  for (char** p = environ; *p != nullptr; ++p) {
    if (!overridden(*p)) vars.emplace_back(*p);
  }
  for (const auto& e : env) {
    if (e.find('=') != std::string::npos) vars.push_back(e);
  }
  vars.push_back(std::string(kChildVar) + "=" + name);
  std::vector<char*> envp;
  for (auto& v : vars) envp.push_back(v.data());
  envp.push_back(nullptr);

  ChildResult r;
  int fds[2];
  if (::pipe(fds) != 0) return r;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  char exe[] = "/proc/self/exe";
  char* argv[] = {exe, nullptr};
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, exe, &fa, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&fa);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    r.output = "posix_spawn failed";
    return r;
  }
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n > 0) {
      r.output.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  ::close(fds[0]);
  while (::waitpid(pid, &r.status, 0) < 0 && errno == EINTR) {
  }
  return r;
}

// Runs `fn` instead of the tests when this binary was started by run_child(name); its
// return value is the exit status.
inline bool child_entry(const char* name, int (*fn)()) {
  const char* want = std::getenv(kChildVar);
  if (want == nullptr || std::strcmp(want, name) != 0) return false;
  ::alarm(10);
  const int rc = fn();
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(rc);
}

}  // namespace green_test

#define GREEN_TEST_CHILD(name)                                                               \
  static int green_test_child_##name();                                                      \
  [[maybe_unused]] static const bool green_test_child_reg_##name =                           \
      ::green_test::child_entry(#name, &green_test_child_##name);                            \
  static int green_test_child_##name()
