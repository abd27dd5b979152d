// What every plain shim test program shares with the others: a watchdog that names a hung
// test, a stopwatch, a sleep that survives EINTR, and an owning fd. Plain POSIX and
// GoogleTest only.
#pragma once

#include <gtest/gtest.h>
#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <utility>

namespace shim_common {

using Clock = std::chrono::steady_clock;  // CLOCK_MONOTONIC

// --- watchdog ------------------------------------------------------------------------
// SIGALRM ends the binary with the name of the test that hung: a shim bug must show up as
// one named failure, not as tests/run's 300 s timeout.
inline constexpr unsigned kWatchdogSeconds = 20;
inline char watchdog_test_name[256];

inline void watchdog_fired(int) {
  static const char msg[] = "\nwatchdog: test exceeded its time limit: ";
  (void)!::write(2, msg, sizeof msg - 1);
  (void)!::write(2, watchdog_test_name, std::strlen(watchdog_test_name));
  (void)!::write(2, "\n", 1);
  std::_Exit(3);
}

class Watchdog final : public testing::EmptyTestEventListener {
  void OnTestStart(const testing::TestInfo& t) override {
    std::snprintf(watchdog_test_name, sizeof watchdog_test_name, "%s.%s", t.test_suite_name(),
                  t.name());
    ::alarm(kWatchdogSeconds);
  }
  void OnTestEnd(const testing::TestInfo&) override { ::alarm(0); }
};

[[maybe_unused]] inline const bool watchdog_installed = [] {
  struct sigaction sa {};
  sa.sa_handler = &watchdog_fired;
  ::sigaction(SIGALRM, &sa, nullptr);
  testing::UnitTest::GetInstance()->listeners().Append(new Watchdog);
  return true;
}();

// --- clocks --------------------------------------------------------------------------
class Stopwatch {
 public:
  Stopwatch() : t0_(Clock::now()) {}
  double ms() const { return std::chrono::duration<double, std::milli>(Clock::now() - t0_).count(); }
  void reset() { t0_ = Clock::now(); }

 private:
  Clock::time_point t0_;
};

inline void sleep_ms(int ms) {
  timespec ts{ms / 1000, (ms % 1000) * 1000000L};
  while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) reset(std::exchange(o.fd_, -1));
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  int get() const { return fd_; }
  operator int() const { return fd_; }  // NOLINT: reads like the int it wraps
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace shim_common
