// shim/once.cpp, as a plain POSIX program: pthread_once runs its routine exactly once
// however many threads race for it, holds every caller until the routine is done, and —
// when the routine is left by cancellation — behaves as if it had never been called.
// std::call_once likewise. Runs without the shim and under LD_PRELOAD, where every
// thread is a greenlet of the main OS thread.
#include <atomic>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "threads_util.hpp"

using namespace threads_test;

namespace {

class OnceTest : public ThreadsTest {};

std::atomic<int> init_runs{0};
std::atomic<bool> init_finished{false};
void slow_init() {
  init_runs.fetch_add(1);
  sleep_ms(100);  // the other callers arrive meanwhile and must wait
  init_finished = true;
}

}  // namespace

TEST_F(OnceTest, RunsExactlyOnceFromSixteenThreads) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  init_runs = 0;
  init_finished = false;
  constexpr int kN = 16;
  std::vector<pthread_t> ts;
  for (int i = 0; i < kN; ++i) {
    ts.push_back(spawn([]() -> void* {
      if (::pthread_once(&once, &slow_init) != 0) return as_ptr(1);
      return as_ptr(init_finished.load() ? 100 : 2);  // 2: returned before init ended
    }));
  }
  sleep_ms(50);
  expect_threads_alive(kN);
  for (pthread_t t : ts) EXPECT_EQ(as_int(join(t)), 100u);
  EXPECT_EQ(init_runs.load(), 1);
  EXPECT_EQ(::pthread_once(&once, &slow_init), 0);  // done: returns at once
  EXPECT_EQ(init_runs.load(), 1);
}

namespace {
std::atomic<int> counts[8];
template <int I>
void count_init() {
  counts[I].fetch_add(1);
}
}  // namespace

TEST_F(OnceTest, EachControlRunsItsOwnRoutineOnce) {
  static pthread_once_t onces[4] = {PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT};
  static void (*const inits[4])() = {&count_init<0>, &count_init<1>, &count_init<2>, &count_init<3>};
  for (auto& c : counts) c = 0;
  std::vector<pthread_t> ts;
  for (int i = 0; i < 16; ++i) {
    ts.push_back(spawn([i]() -> void* {
      for (int k = 0; k < 4; ++k) ::pthread_once(&onces[(i + k) % 4], inits[(i + k) % 4]);
      return nullptr;
    }));
  }
  for (pthread_t t : ts) join(t);
  for (int k = 0; k < 4; ++k) EXPECT_EQ(counts[k].load(), 1) << k;
}

namespace {
std::atomic<int> cancellable_runs{0};
std::atomic<bool> first_inside{false};
void cancellable_init() {
  // The first run sleeps (a cancellation point) and is cancelled there; later runs end.
  if (cancellable_runs.fetch_add(1) == 0) {
    first_inside = true;
    sleep_ms(10000);
  }
}
}  // namespace

// POSIX: "If an init_routine is a cancellation point and is canceled, the effect on
// once_control shall be as if pthread_once() was never called." A thread waiting in
// pthread_once meanwhile then runs the routine itself.
TEST_F(OnceTest, CancelledRoutineLeavesTheOnceUnrun) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  cancellable_runs = 0;
  first_inside = false;
  pthread_t first = spawn([]() -> void* {
    ::pthread_once(&once, &cancellable_init);
    return as_ptr(1);
  });
  ASSERT_TRUE(wait_until([] { return first_inside.load(); }));
  pthread_t second = spawn([]() -> void* {
    ::pthread_once(&once, &cancellable_init);  // waits for the first
    return as_ptr(2);
  });
  sleep_ms(30);
  Stopwatch sw;
  EXPECT_EQ(::pthread_cancel(first), 0);
  EXPECT_EQ(join(first), PTHREAD_CANCELED);
  EXPECT_EQ(as_int(join(second)), 2u);
  EXPECT_LT(sw.ms(), 2000);
  EXPECT_EQ(cancellable_runs.load(), 2);
  EXPECT_EQ(::pthread_once(&once, &cancellable_init), 0);
  EXPECT_EQ(cancellable_runs.load(), 2);
}

TEST_F(OnceTest, StdCallOnce) {
  std::once_flag flag;
  std::atomic<int> runs{0};
  std::vector<pthread_t> ts;
  for (int i = 0; i < 16; ++i) {
    ts.push_back(spawn([&]() -> void* {
      std::call_once(flag, [&] {
        runs.fetch_add(1);
        sleep_ms(50);
      });
      return as_ptr(runs.load());
    }));
  }
  for (pthread_t t : ts) EXPECT_EQ(as_int(join(t)), 1u);
  EXPECT_EQ(runs.load(), 1);
}

// A callable that throws leaves the flag unset: the next call runs again.
TEST_F(OnceTest, StdCallOnceRetriesAfterAnException) {
  std::once_flag flag;
  int runs = 0;
  EXPECT_THROW(std::call_once(flag, [&] {
                 ++runs;
                 throw std::runtime_error("first");
               }),
               std::runtime_error);
  pthread_t t = spawn([&]() -> void* {
    std::call_once(flag, [&] { ++runs; });
    return nullptr;
  });
  join(t);
  std::call_once(flag, [&] { ++runs; });
  EXPECT_EQ(runs, 2);
}

// The same, with a second thread already waiting in call_once when the first one's
// callable throws: the waiter then runs its own callable.
// BUG (shim/once.cpp with libstdc++): std::call_once passes the callable to
// pthread_once's routine through thread_local variables (__once_callable, __once_call),
// which greenlets of one OS thread share. The thrower's unwinding clears them, so the
// waiter's pthread_once runs __once_proxy with a null __once_call: SIGSEGV.
TEST_F(OnceTest, StdCallOnceWaiterRunsItsCallableAfterAnException) {
  std::once_flag flag;
  std::atomic<bool> inside{false}, caught{false};
  std::atomic<int> runs{0};
  pthread_t thrower = spawn([&]() -> void* {
    try {
      std::call_once(flag, [&] {
        inside = true;
        sleep_ms(100);
        throw std::runtime_error("first");
      });
    } catch (const std::runtime_error&) {
      caught = true;
    }
    return nullptr;
  });
  ASSERT_TRUE(wait_until([&] { return inside.load(); }));
  pthread_t waiter = spawn([&]() -> void* {
    std::call_once(flag, [&] { runs.fetch_add(1); });
    return nullptr;
  });
  join(thrower);
  join(waiter);
  EXPECT_TRUE(caught.load());
  EXPECT_EQ(runs.load(), 1);
}
