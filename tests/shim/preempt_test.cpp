// Preemption (runtime/hub_preempt.cpp, GREEN_PREEMPT_MS): a thread that computes without
// ever blocking lets the others run, its registers (vector state included) come back as
// they were, and a thread that blocks signals is left alone. Plain POSIX threads: without
// the shim, the kernel's scheduler gives the same results.
#include <cmath>

#include "signal_util.hpp"

using namespace threads_test;

namespace {
class PreemptTest : public ThreadsTest {};

double now_s() {
  timespec t;
  ::clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}
}  // namespace

// A spins, without a single call, until B has run: B can only run if A is preempted.
TEST_F(PreemptTest, ASpinningThreadLetsTheOthersRun) {
  std::atomic<bool> b_ran{false};
  pthread_t a = spawn([&]() -> void* {
    while (!b_ran.load(std::memory_order_relaxed)) {
    }
    return as_ptr(1);
  });
  pthread_t b = spawn([&]() -> void* {
    expect_threads_alive(2);
    b_ran = true;
    return as_ptr(2);
  });
  EXPECT_EQ(as_int(join(a)), 1u);
  EXPECT_EQ(as_int(join(b)), 2u);
}

// The main thread sleeps while a thread spins: the sleep ends (the hub gets to run its
// timer) and main stops the spinner.
TEST_F(PreemptTest, ASleepEndsWhileAThreadSpins) {
  std::atomic<bool> stop{false};
  pthread_t a = spawn([&]() -> void* {
    long spins = 0;
    while (!stop.load(std::memory_order_relaxed)) ++spins;
    return as_ptr(spins > 0 ? 1 : 2);
  });
  Stopwatch sw;
  sleep_ms(50);
  stop = true;
  EXPECT_EQ(as_int(join(a)), 1u);
  EXPECT_LT(sw.ms(), 2000);
}

namespace {
// Work that keeps values in vector registers across a long loop.
double vector_work(long n, double scale) {
  double acc[4] = {0, 0, 0, 0};
  for (long i = 0; i < n; ++i) {
    for (int k = 0; k < 4; ++k) acc[k] += scale * static_cast<double>((i + k) & 1023);
  }
  return acc[0] + acc[1] * 2 + acc[2] * 3 + acc[3] * 4;
}
}  // namespace

// Two threads compute at once (each preempted many times): each gets what it gets alone.
TEST_F(PreemptTest, APreemptedThreadsRegistersComeBackIntact) {
  constexpr long kN = 30000000;
  const double alone1 = vector_work(kN, 0.5), alone2 = vector_work(kN, 0.25);
  double r1 = 0, r2 = 0;
  pthread_t t1 = spawn([&]() -> void* {
    r1 = vector_work(kN, 0.5);
    return nullptr;
  });
  pthread_t t2 = spawn([&]() -> void* {
    r2 = vector_work(kN, 0.25);
    return nullptr;
  });
  join(t1);
  join(t2);
  EXPECT_EQ(r1, alone1);
  EXPECT_EQ(r2, alone2);
}

// While a thread blocks every signal, it is not preempted: a ticking thread does not tick
// during its 150 ms of computing. (Only under the shim: real threads run side by side.)
TEST_F(PreemptTest, AThreadThatBlocksSignalsIsNotPreempted) {
  std::atomic<int> ticks{0};
  std::atomic<bool> stop{false};
  pthread_t ticker = spawn([&]() -> void* {
    while (!stop) {
      sleep_ms(2);
      ++ticks;
    }
    return nullptr;
  });
  sleep_ms(20);
  pthread_t masked = spawn([&]() -> void* {
    sigset_t all;
    sigfillset(&all);
    ::pthread_sigmask(SIG_BLOCK, &all, nullptr);
    const int before = ticks.load();
    const double end = now_s() + 0.15;
    while (now_s() < end) {
    }
    return as_ptr(static_cast<std::uintptr_t>(ticks.load() - before));
  });
  const auto ticked = as_int(join(masked));
  stop = true;
  join(ticker);
  if (shim_expected()) {
    EXPECT_EQ(ticked, 0u) << "a thread that blocks every signal was preempted";
  }
}

