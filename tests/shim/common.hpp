// What every plain shim test program shares with the others: the watchdog
// (../watchdog.hpp), a stopwatch, a sleep that survives EINTR, and an owning fd. Plain POSIX and
// GoogleTest only.
#pragma once

#include <gtest/gtest.h>

#include "../watchdog.hpp"
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
