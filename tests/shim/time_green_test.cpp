// shim/time.cpp through greenlets: after green::patch_all(), plain sleep, usleep,
// nanosleep and clock_nanosleep park only the calling greenlet: a hundred greenlets that
// each sleep(1) finish in about a second, sleepers wake in deadline order, zero sleeps let
// the others run, and the C++ API (Timeout, kill) reaches a greenlet inside a plain sleep.
#include <green/green.hpp>

#include <memory>

#include "green_support.hpp"

using namespace shim_test;

namespace {

class TimeGreenTest : public ShimTest {};

timespec ns_timespec(std::int64_t ns) { return {static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)}; }

std::int64_t monotonic_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace

TEST_F(TimeGreenTest, AHundredGreenletsSleepOneSecondTogether) {
  Crew crew;
  int done = 0;
  Stopwatch sw;
  for (int i = 0; i < 100; ++i) {
    crew.spawn([&] {
      if (::sleep(1) == 0) ++done;
    });
  }
  ASSERT_TRUE(crew.join(std::chrono::seconds(5)));
  EXPECT_EQ(done, 100);
  EXPECT_GE(sw.ms(), 1000);
  EXPECT_LT(sw.ms(), 1800) << "the sleeps did not overlap";
}

TEST_F(TimeGreenTest, EverySleepFunctionOverlapsWithTheOthers) {
  Crew crew;
  std::vector<double> slept;
  Stopwatch sw;
  for (int i = 0; i < 20; ++i) {
    crew.spawn([&, i] {
      Stopwatch mine;
      const timespec rel{0, 200000000};
      int r = 0;
      switch (i % 5) {
        case 0: r = ::nanosleep(&rel, nullptr); break;
        case 1: r = ::usleep(200000); break;
        case 2: r = ::clock_nanosleep(CLOCK_MONOTONIC, 0, &rel, nullptr); break;
        case 3: {
          const timespec at = ns_timespec(monotonic_ns() + 200000000);
          r = ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, nullptr);
          break;
        }
        default: {
          timespec now{};
          ::clock_gettime(CLOCK_REALTIME, &now);
          const timespec at = ns_timespec(now.tv_sec * 1000000000LL + now.tv_nsec + 200000000);
          r = ::clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &at, nullptr);
        }
      }
      if (r == 0) slept.push_back(mine.ms());
    });
  }
  ASSERT_TRUE(crew.join(std::chrono::seconds(5)));
  ASSERT_EQ(slept.size(), 20u);
  for (double ms : slept) EXPECT_GE(ms, 199.9);
  EXPECT_LT(sw.ms(), 1000) << "the sleeps did not overlap";
}

TEST_F(TimeGreenTest, SleepersWakeInDeadlineOrder) {
  Crew crew;
  std::vector<int> woke;
  for (int ms : {60, 20, 40, 80, 0}) {
    crew.spawn([&, ms] {
      ::usleep(static_cast<useconds_t>(ms) * 1000);
      woke.push_back(ms);
    });
  }
  ASSERT_TRUE(crew.join());
  EXPECT_EQ(woke, (std::vector<int>{0, 20, 40, 60, 80}));
}

// A loop that waits for another greenlet with sleep(0)/usleep(0)/sched-like zero sleeps
// must let that greenlet run, or it would spin forever.
TEST_F(TimeGreenTest, ZeroSleepsLetTheOthersRun) {
  Crew crew;
  bool flag = false;
  crew.spawn([&] { flag = true; });
  int spins = 0;
  while (!flag && spins < 100000) {
    switch (spins++ % 3) {
      case 0: EXPECT_EQ(::usleep(0), 0); break;
      case 1: EXPECT_EQ(::sleep(0), 0u); break;
      default: {
        const timespec zero{0, 0};
        EXPECT_EQ(::nanosleep(&zero, nullptr), 0);
      }
    }
  }
  EXPECT_TRUE(flag) << "zero sleeps never let the other greenlet run";
  EXPECT_TRUE(crew.join());
}

TEST_F(TimeGreenTest, AGreenTimeoutEndsAPlainSleep) {
  Stopwatch sw;
  bool caught = false;
  {
    green::Timeout t(std::chrono::milliseconds(100));
    try {
      ::sleep(5);
    } catch (const green::TimeoutError& e) {
      caught = t.is(e);
    }
  }
  EXPECT_TRUE(caught);
  EXPECT_GE(sw.ms(), 95);
  EXPECT_LT(sw.ms(), 1000);
}

TEST_F(TimeGreenTest, KillEndsAGreenletInNanosleep) {
  Crew crew;
  bool finished = false;
  auto g = crew.spawn([&] {
    const timespec ten{10, 0};
    ::nanosleep(&ten, nullptr);
    finished = true;
  });
  ::usleep(50000);
  Stopwatch sw;
  EXPECT_TRUE(g.kill(true, std::chrono::seconds(1)));
  EXPECT_FALSE(finished);
  EXPECT_LT(sw.ms(), 500);
}

TEST_F(TimeGreenTest, SleepsStayFullWhileOthersKeepTheThreadBusy) {
  Crew crew;
  std::vector<double> slept;
  for (int i = 0; i < 5; ++i) {
    crew.spawn([&] {
      Stopwatch mine;
      ::usleep(50000);
      slept.push_back(mine.ms());
    });
  }
  crew.spawn([] {  // computes for 30 ms at a time between short sleeps
    for (int i = 0; i < 4; ++i) {
      const auto end = Clock::now() + std::chrono::milliseconds(30);
      while (Clock::now() < end) {
      }
      ::usleep(1000);
    }
  });
  ASSERT_TRUE(crew.join());
  ASSERT_EQ(slept.size(), 5u);
  for (double ms : slept) EXPECT_GE(ms, 50);
}
