// shim/futex.cpp, as a plain POSIX program: syscall(SYS_futex, …) waits and wakes as the
// kernel's do (EAGAIN, ETIMEDOUT, EINVAL, wake counts), and the C++ types libstdc++
// builds on it — std::atomic::wait/notify, std::counting_semaphore, std::latch,
// std::barrier — work across threads. Runs without the shim and under LD_PRELOAD, where
// every thread is a greenlet of the main OS thread, so a futex wait must park the
// greenlet instead of putting the OS thread to sleep.
#include <linux/futex.h>
#include <sys/syscall.h>

#include <atomic>
#include <barrier>
#include <climits>
#include <latch>
#include <semaphore>
#include <vector>

#include "threads_util.hpp"

using namespace threads_test;

namespace {

class FutexTest : public ThreadsTest {};

long futex(std::atomic<int>* word, int op, int val, const timespec* ts = nullptr, int val3 = 0) {
  return ::syscall(SYS_futex, reinterpret_cast<int*>(word), op, val, ts, nullptr, val3);
}

}  // namespace

// --- the raw system call -------------------------------------------------------------

TEST_F(FutexTest, WaitOnAChangedValueIsEagain) {
  std::atomic<int> w{1};
  errno = 0;
  EXPECT_EQ(futex(&w, FUTEX_WAIT_PRIVATE, 0), -1);
  EXPECT_EQ(errno, EAGAIN);
}

TEST_F(FutexTest, WaitTimesOut) {
  std::atomic<int> w{0};
  Stopwatch sw;
  timespec rel{0, 100 * 1000000L};  // FUTEX_WAIT: relative
  errno = 0;
  EXPECT_EQ(futex(&w, FUTEX_WAIT_PRIVATE, 0, &rel), -1);
  EXPECT_EQ(errno, ETIMEDOUT);
  EXPECT_GE(sw.ms(), 95);
  EXPECT_LT(sw.ms(), 1000);
  // FUTEX_WAIT_BITSET: absolute, on CLOCK_MONOTONIC unless FUTEX_CLOCK_REALTIME.
  Stopwatch sw2;
  timespec abs = abs_in(CLOCK_MONOTONIC, 80);
  errno = 0;
  EXPECT_EQ(futex(&w, FUTEX_WAIT_BITSET_PRIVATE, 0, &abs, FUTEX_BITSET_MATCH_ANY), -1);
  EXPECT_EQ(errno, ETIMEDOUT);
  EXPECT_GE(sw2.ms(), 75);
  EXPECT_LT(sw2.ms(), 1000);
  Stopwatch sw3;
  abs = abs_in(CLOCK_REALTIME, 80);
  errno = 0;
  EXPECT_EQ(futex(&w, FUTEX_WAIT_BITSET_PRIVATE | FUTEX_CLOCK_REALTIME, 0, &abs, FUTEX_BITSET_MATCH_ANY), -1);
  EXPECT_EQ(errno, ETIMEDOUT);
  EXPECT_GE(sw3.ms(), 75);
  EXPECT_LT(sw3.ms(), 1000);
}

TEST_F(FutexTest, WaitWithABadTimeoutIsEinval) {
  std::atomic<int> w{0};
  timespec bad{0, 1000000000L};
  errno = 0;
  EXPECT_EQ(futex(&w, FUTEX_WAIT_PRIVATE, 0, &bad), -1);
  EXPECT_EQ(errno, EINVAL);
}

TEST_F(FutexTest, WakeWithoutWaitersIsZero) {
  std::atomic<int> w{0};
  EXPECT_EQ(futex(&w, FUTEX_WAKE_PRIVATE, INT_MAX), 0);
}

// Four threads sleep on one word; a wake of 1 wakes exactly one and returns 1, a wake of
// all wakes the other three and returns 3.
TEST_F(FutexTest, WakeWakesAsManyAsAskedAndCountsThem) {
  std::atomic<int> tickets{0};
  std::atomic<int> announced{0}, done{0};
  std::vector<pthread_t> ts;
  for (int i = 0; i < 4; ++i) {
    ts.push_back(spawn([&]() -> void* {
      announced.fetch_add(1);
      for (;;) {
        int t = tickets.load();
        if (t > 0) {
          if (tickets.compare_exchange_strong(t, t - 1)) break;
          continue;
        }
        timespec rel{5, 0};  // bounded: a lost wake fails the test instead of hanging it
        if (futex(&tickets, FUTEX_WAIT_PRIVATE, 0, &rel) != 0 && errno == ETIMEDOUT) return as_ptr(1);
      }
      done.fetch_add(1);
      return nullptr;
    }));
  }
  ASSERT_TRUE(wait_until([&] { return announced.load() == 4; }));
  sleep_ms(100);  // all inside FUTEX_WAIT by now
  expect_threads_alive(4);
  tickets = 1;
  EXPECT_EQ(futex(&tickets, FUTEX_WAKE_PRIVATE, 1), 1);
  EXPECT_TRUE(wait_until([&] { return done.load() == 1; }));
  sleep_ms(50);
  EXPECT_EQ(done.load(), 1);
  tickets = 3;
  EXPECT_EQ(futex(&tickets, FUTEX_WAKE_PRIVATE, INT_MAX), 3);
  for (pthread_t t : ts) EXPECT_EQ(join(t), nullptr);
  EXPECT_EQ(done.load(), 4);
}

// --- std::atomic wait / notify -------------------------------------------------------

TEST_F(FutexTest, AtomicWaitNotifyAll) {
  constexpr int kN = 100;
  std::atomic<int> flag{0};
  std::atomic<int> waiting{0}, woke{0};
  std::vector<pthread_t> ts;
  for (int i = 0; i < kN; ++i) {
    ts.push_back(spawn([&]() -> void* {
      waiting.fetch_add(1);
      flag.wait(0);
      woke.fetch_add(1);
      return nullptr;
    }));
  }
  ASSERT_TRUE(wait_until([&] { return waiting.load() == kN; }));
  sleep_ms(50);
  EXPECT_EQ(woke.load(), 0);
  expect_threads_alive(kN);
  flag = 1;
  flag.notify_all();
  for (pthread_t t : ts) join(t);
  EXPECT_EQ(woke.load(), kN);
}

TEST_F(FutexTest, AtomicWaitPingPong) {
  constexpr int kRounds = 200;
  std::atomic<int> turn{0};  // even: main's turn, odd: the thread's
  pthread_t t = spawn([&]() -> void* {
    for (int i = 0; i < kRounds; ++i) {
      int v;
      while (((v = turn.load()) & 1) == 0) turn.wait(v);
      turn.store(v + 1);
      turn.notify_one();
    }
    return nullptr;
  });
  for (int i = 0; i < kRounds; ++i) {
    int v;
    while (((v = turn.load()) & 1) == 1) turn.wait(v);
    turn.store(v + 1);
    turn.notify_one();
  }
  join(t);
  EXPECT_EQ(turn.load(), 2 * kRounds);
}

// --- std::counting_semaphore, std::latch, std::barrier ------------------------------

TEST_F(FutexTest, CountingSemaphore) {
  std::counting_semaphore<16> sem(0);
  EXPECT_FALSE(sem.try_acquire());
  Stopwatch sw;
  EXPECT_FALSE(sem.try_acquire_for(100ms));
  EXPECT_GE(sw.ms(), 95);
  EXPECT_LT(sw.ms(), 1000);
  std::atomic<int> got{0};
  std::vector<pthread_t> ts;
  for (int i = 0; i < 10; ++i) {
    ts.push_back(spawn([&]() -> void* {
      sem.acquire();
      got.fetch_add(1);
      return nullptr;
    }));
  }
  sleep_ms(50);
  EXPECT_EQ(got.load(), 0);
  expect_threads_alive(10);
  sem.release(4);
  EXPECT_TRUE(wait_until([&] { return got.load() == 4; }));
  sleep_ms(30);
  EXPECT_EQ(got.load(), 4);
  sem.release(6);
  for (pthread_t t : ts) join(t);
  EXPECT_EQ(got.load(), 10);
  EXPECT_FALSE(sem.try_acquire());
}

TEST_F(FutexTest, BinarySemaphorePingPong) {
  std::binary_semaphore ping(0), pong(0);
  constexpr int kRounds = 200;
  pthread_t t = spawn([&]() -> void* {
    for (int i = 0; i < kRounds; ++i) {
      ping.acquire();
      pong.release();
    }
    return nullptr;
  });
  for (int i = 0; i < kRounds; ++i) {
    ping.release();
    pong.acquire();
  }
  join(t);
  EXPECT_FALSE(pong.try_acquire_for(10ms));
}

TEST_F(FutexTest, Latch) {
  constexpr int kN = 50;
  std::latch start(1), finished(kN);
  std::atomic<int> passed{0};
  std::vector<pthread_t> ts;
  for (int i = 0; i < kN; ++i) {
    ts.push_back(spawn([&]() -> void* {
      start.wait();
      passed.fetch_add(1);
      finished.count_down();
      return nullptr;
    }));
  }
  sleep_ms(50);
  EXPECT_EQ(passed.load(), 0);
  EXPECT_FALSE(finished.try_wait());
  expect_threads_alive(kN);
  start.count_down();
  finished.wait();
  EXPECT_EQ(passed.load(), kN);
  for (pthread_t t : ts) join(t);
}

TEST_F(FutexTest, BarrierWithCompletion) {
  constexpr int kThreads = 8, kPhases = 50;
  std::atomic<int> arrived{0};
  int completions = 0;
  bool all_arrived_each_time = true;
  auto on_completion = [&]() noexcept {
    ++completions;
    if (arrived.load() != kThreads * completions) all_arrived_each_time = false;
  };
  std::barrier sync(kThreads, on_completion);
  std::vector<pthread_t> ts;
  for (int i = 0; i < kThreads; ++i) {
    ts.push_back(spawn([&, i]() -> void* {
      for (int p = 0; p < kPhases; ++p) {
        if ((i + p) % 4 == 0) sleep_ms(1);
        arrived.fetch_add(1);
        sync.arrive_and_wait();
        if (completions < p + 1) return as_ptr(1);  // passed before the phase completed
      }
      return nullptr;
    }));
  }
  for (pthread_t t : ts) EXPECT_EQ(join(t), nullptr);
  EXPECT_EQ(completions, kPhases);
  EXPECT_TRUE(all_arrived_each_time);
}
