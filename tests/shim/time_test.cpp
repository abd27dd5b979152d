// shim/time.cpp, as a plain POSIX program: sleep, usleep, nanosleep and clock_nanosleep
// (relative and TIMER_ABSTIME) sleep at least what was asked, return at once for zero or
// past times, reject invalid times, and report interruption by a signal handler as libc
// does. Runs without the shim and under LD_PRELOAD.
#include "support.hpp"

using namespace shim_test;

namespace {

class TimeTest : public ShimTest {};

std::int64_t clock_ns(clockid_t c) {
  timespec ts{};
  ::clock_gettime(c, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

timespec ns_timespec(std::int64_t ns) { return {static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)}; }

void busy_ms(int ms) {
  const auto end = Clock::now() + std::chrono::milliseconds(ms);
  while (Clock::now() < end) {
  }
}

}  // namespace

TEST_F(TimeTest, EverySleepLastsAtLeastTheRequestedTime) {
  const std::vector<std::pair<const char*, std::function<long()>>> sleeps = {
      {"nanosleep", [] {
         timespec ts{0, 100000000};
         return ::nanosleep(&ts, nullptr);
       }},
      {"usleep", [] { return ::usleep(100000); }},
      {"clock_nanosleep MONOTONIC", [] {
         timespec ts{0, 100000000};
         return ::clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, nullptr);
       }},
      {"clock_nanosleep REALTIME", [] {
         timespec ts{0, 100000000};
         return ::clock_nanosleep(CLOCK_REALTIME, 0, &ts, nullptr);
       }},
      {"clock_nanosleep BOOTTIME", [] {
         timespec ts{0, 100000000};
         return ::clock_nanosleep(CLOCK_BOOTTIME, 0, &ts, nullptr);
       }},
  };
  for (const auto& [name, call] : sleeps) {
    Stopwatch sw;
    EXPECT_EQ(call(), 0) << name;
    EXPECT_GE(sw.ms(), 100) << name;
    EXPECT_LT(sw.ms(), 2000) << name;
  }
  Stopwatch sw;
  EXPECT_EQ(::sleep(1), 0u);
  EXPECT_GE(sw.ms(), 1000);
  EXPECT_LT(sw.ms(), 3000);
  if (shim_expected()) {
    EXPECT_TRUE(has_eventpoll()) << "no hub loop after a sleep";
  }
}

TEST_F(TimeTest, AbsoluteSleepsReachTheirDeadline) {
  for (clockid_t c : {CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_BOOTTIME}) {
    const std::int64_t deadline = clock_ns(c) + 120000000;
    const timespec at = ns_timespec(deadline);
    Stopwatch sw;
    EXPECT_EQ(::clock_nanosleep(c, TIMER_ABSTIME, &at, nullptr), 0) << "clock " << c;
    EXPECT_GE(clock_ns(c), deadline) << "clock " << c << " woke early";
    EXPECT_LT(sw.ms(), 2000) << "clock " << c;
  }
}

// Time spent computing between blocking calls must not shorten the next sleep.
TEST_F(TimeTest, ASleepAfterBusyWorkIsStillFull) {
  for (int i = 0; i < 3; ++i) {
    busy_ms(60);
    timespec ts{0, 100000000};
    Stopwatch sw;
    EXPECT_EQ(::nanosleep(&ts, nullptr), 0);
    EXPECT_GE(sw.ms(), 100);
    busy_ms(60);
    sw.reset();
    EXPECT_EQ(::usleep(50000), 0);
    EXPECT_GE(sw.ms(), 50);
  }
}

TEST_F(TimeTest, ZeroAndPastSleepsReturnAtOnce) {
  Stopwatch sw;
  EXPECT_EQ(::sleep(0), 0u);
  EXPECT_EQ(::usleep(0), 0);
  timespec zero{0, 0};
  EXPECT_EQ(::nanosleep(&zero, nullptr), 0);
  EXPECT_EQ(::clock_nanosleep(CLOCK_MONOTONIC, 0, &zero, nullptr), 0);
  const timespec past = ns_timespec(clock_ns(CLOCK_MONOTONIC) - 1000000000);
  EXPECT_EQ(::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &past, nullptr), 0);
  EXPECT_EQ(::clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &zero, nullptr), 0);  // 1970
  timespec one_ns{0, 1};
  EXPECT_EQ(::nanosleep(&one_ns, nullptr), 0);
  EXPECT_LT(sw.ms(), 500);
}

TEST_F(TimeTest, InvalidTimesAreRejected) {
  for (const timespec bad : {timespec{0, 1000000000}, timespec{0, -1}, timespec{-1, 0}}) {
    timespec rem{};
    const Outcome o = outcome([&] { return ::nanosleep(&bad, &rem); });
    EXPECT_EQ(o.r, -1) << bad.tv_sec << "s " << bad.tv_nsec << "ns";
    EXPECT_EQ(o.err, EINVAL) << bad.tv_sec << "s " << bad.tv_nsec << "ns";
    // clock_nanosleep returns the error and leaves errno alone.
    for (int flags : {0, TIMER_ABSTIME}) {
      errno = 0;
      EXPECT_EQ(::clock_nanosleep(CLOCK_MONOTONIC, flags, &bad, nullptr), EINVAL) << flags;
      EXPECT_EQ(errno, 0);
    }
  }
  timespec ts{0, 1000000};
  errno = 0;
  EXPECT_EQ(::clock_nanosleep(CLOCK_THREAD_CPUTIME_ID, 0, &ts, nullptr), EINVAL);
  EXPECT_EQ(::clock_nanosleep(static_cast<clockid_t>(12345), 0, &ts, nullptr), EINVAL);
  EXPECT_EQ(errno, 0);
}

// A handler interrupts a sleep whether or not it has SA_RESTART (signal(7): nanosleep is
// never restarted): -1/EINTR and the time left.
TEST_F(TimeTest, NanosleepInterruptedReportsTheTimeLeft) {
  ScopedSignal handler(SIGUSR1, count_signal, SA_RESTART);
  signals_caught = 0;
  timespec ts{1, 0}, rem{};
  Stopwatch sw;
  Outcome o{0, 0};
  {
    SignalAfter interrupt(SIGUSR1, 100);
    o = outcome([&] { return ::nanosleep(&ts, &rem); });
  }
  EXPECT_EQ(signals_caught, 1);
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, EINTR);
  EXPECT_LT(sw.ms(), 700) << "the signal did not end the sleep";
  const double left_ms = rem.tv_sec * 1e3 + rem.tv_nsec / 1e6;
  EXPECT_GT(left_ms, 300);
  EXPECT_LT(left_ms, 1000);
}

TEST_F(TimeTest, ClockNanosleepInterruptedReturnsEintr) {
  ScopedSignal handler(SIGUSR1, count_signal, 0);
  signals_caught = 0;
  timespec ts{1, 0}, rem{};
  Stopwatch sw;
  int r = 0;
  {
    SignalAfter interrupt(SIGUSR1, 100);
    r = ::clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &rem);
  }
  EXPECT_EQ(r, EINTR);
  EXPECT_LT(sw.ms(), 700);
  EXPECT_GT(rem.tv_sec * 1e3 + rem.tv_nsec / 1e6, 300);

  const timespec at = ns_timespec(clock_ns(CLOCK_MONOTONIC) + 1000000000);
  sw.reset();
  {
    SignalAfter interrupt(SIGUSR1, 100);
    r = ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, nullptr);
  }
  EXPECT_EQ(r, EINTR);
  EXPECT_LT(sw.ms(), 700);
  EXPECT_EQ(signals_caught, 2);
}

TEST_F(TimeTest, SleepAndUsleepInterruptedReturnEarly) {
  ScopedSignal handler(SIGUSR1, count_signal, 0);
  Stopwatch sw;
  unsigned left = 0;
  {
    SignalAfter interrupt(SIGUSR1, 100);
    left = ::sleep(2);
  }
  EXPECT_GE(left, 1u);  // 1.9 s left: glibc reports whole seconds
  EXPECT_LE(left, 2u);
  EXPECT_LT(sw.ms(), 1000);
  sw.reset();
  Outcome o{0, 0};
  {
    SignalAfter interrupt(SIGUSR1, 100);
    o = outcome([] { return ::usleep(900000); });
  }
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, EINTR);
  EXPECT_LT(sw.ms(), 700);
}
