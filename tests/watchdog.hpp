// The one watchdog every test binary installs (tests/shim, tests/runtime): SIGALRM ends the
// binary with the name of the test that hung, so that a bug shows up as one named failure,
// not as tests/run's 300 s timeout. GoogleTest and POSIX only.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace test_watchdog {

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

}  // namespace test_watchdog
