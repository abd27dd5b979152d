// shim/cond.cpp, as a plain POSIX program: pthread_cond_wait/timedwait/clockwait with
// the default clock and with CLOCK_MONOTONIC (pthread_condattr_setclock), signal versus
// broadcast, errors, a producer/consumer moving a million items,
// std::condition_variable(_any), and process-shared ones across fork(). Runs without the shim and under LD_PRELOAD, where every
// thread is a greenlet of the main OS thread.
#include <sys/mman.h>
#include <sys/wait.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include "threads_util.hpp"

using namespace threads_test;

namespace {

class CondTest : public ThreadsTest {};

void init_errorcheck(pthread_mutex_t* m) {
  pthread_mutexattr_t a;
  ::pthread_mutexattr_init(&a);
  ::pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
  ::pthread_mutex_init(m, &a);
  ::pthread_mutexattr_destroy(&a);
}

void init_monotonic(pthread_cond_t* c) {
  pthread_condattr_t a;
  ASSERT_EQ(::pthread_condattr_init(&a), 0);
  ASSERT_EQ(::pthread_condattr_setclock(&a, CLOCK_MONOTONIC), 0);
  ASSERT_EQ(::pthread_cond_init(c, &a), 0);
  ::pthread_condattr_destroy(&a);
}

}  // namespace

// --- timed waits ---------------------------------------------------------------------

// The deadline is read on the condition variable's clock: were a CLOCK_MONOTONIC time
// (seconds since boot) taken for CLOCK_REALTIME (seconds since 1970), the wait would end
// at once.
TEST_F(CondTest, MonotonicClockAttrTimedwaitTimesOut) {
  pthread_cond_t c;
  init_monotonic(&c);
  pthread_condattr_t a;
  ::pthread_condattr_init(&a);
  ::pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
  clockid_t clock = -1;
  EXPECT_EQ(::pthread_condattr_getclock(&a, &clock), 0);
  EXPECT_EQ(clock, CLOCK_MONOTONIC);
  ::pthread_condattr_destroy(&a);
  pthread_mutex_t m;
  init_errorcheck(&m);
  ASSERT_EQ(::pthread_mutex_lock(&m), 0);
  Stopwatch sw;
  timespec when = abs_in(CLOCK_MONOTONIC, 100);
  EXPECT_EQ(::pthread_cond_timedwait(&c, &m, &when), ETIMEDOUT);
  EXPECT_GE(sw.ms(), 95);
  EXPECT_LT(sw.ms(), 1000);
  EXPECT_EQ(::pthread_mutex_unlock(&m), 0) << "timedwait must return with the mutex held";
  EXPECT_EQ(::pthread_mutex_destroy(&m), 0);
  EXPECT_EQ(::pthread_cond_destroy(&c), 0);
}

TEST_F(CondTest, DefaultClockTimedwaitTimesOut) {
  static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
  pthread_mutex_t m;
  init_errorcheck(&m);
  ASSERT_EQ(::pthread_mutex_lock(&m), 0);
  Stopwatch sw;
  timespec when = abs_in(CLOCK_REALTIME, 100);
  EXPECT_EQ(::pthread_cond_timedwait(&c, &m, &when), ETIMEDOUT);
  EXPECT_GE(sw.ms(), 95);
  EXPECT_LT(sw.ms(), 1000);
  when = abs_in(CLOCK_REALTIME, -1000);  // past: at once
  Stopwatch sw2;
  EXPECT_EQ(::pthread_cond_timedwait(&c, &m, &when), ETIMEDOUT);
  EXPECT_LT(sw2.ms(), 50);
  EXPECT_EQ(::pthread_mutex_unlock(&m), 0);
  EXPECT_EQ(::pthread_mutex_destroy(&m), 0);
}

TEST_F(CondTest, ClockwaitTimesOutOnEitherClock) {
  pthread_cond_t c = PTHREAD_COND_INITIALIZER;
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  ASSERT_EQ(::pthread_mutex_lock(&m), 0);
  for (clockid_t clock : {CLOCK_MONOTONIC, CLOCK_REALTIME}) {
    Stopwatch sw;
    timespec when = abs_in(clock, 80);
    EXPECT_EQ(::pthread_cond_clockwait(&c, &m, clock, &when), ETIMEDOUT) << clock;
    EXPECT_GE(sw.ms(), 75) << clock;
    EXPECT_LT(sw.ms(), 1000) << clock;
  }
  EXPECT_EQ(::pthread_mutex_unlock(&m), 0);
}

TEST_F(CondTest, TimedWaitsRejectBadArguments) {
  pthread_cond_t c = PTHREAD_COND_INITIALIZER;
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  ASSERT_EQ(::pthread_mutex_lock(&m), 0);
  timespec bad{abs_in(CLOCK_REALTIME, 1000).tv_sec, 1000000000L};
  EXPECT_EQ(::pthread_cond_timedwait(&c, &m, &bad), EINVAL);
  bad.tv_nsec = -5;
  EXPECT_EQ(::pthread_cond_clockwait(&c, &m, CLOCK_MONOTONIC, &bad), EINVAL);
  timespec ok = abs_in(CLOCK_MONOTONIC, 1000);
  EXPECT_EQ(::pthread_cond_clockwait(&c, &m, CLOCK_PROCESS_CPUTIME_ID, &ok), EINVAL);
  // Still held after each error.
  EXPECT_EQ(as_int(join(spawn([&m] { return as_ptr(::pthread_mutex_trylock(&m)); }))),
            static_cast<std::uintptr_t>(EBUSY));
  EXPECT_EQ(::pthread_mutex_unlock(&m), 0);
}

TEST_F(CondTest, WaitWithAnUnownedErrorcheckMutexIsEperm) {
  pthread_cond_t c = PTHREAD_COND_INITIALIZER;
  pthread_mutex_t m;
  init_errorcheck(&m);
  EXPECT_EQ(::pthread_cond_wait(&c, &m), EPERM);
  timespec when = abs_in(CLOCK_REALTIME, 1000);
  EXPECT_EQ(::pthread_cond_timedwait(&c, &m, &when), EPERM);
  EXPECT_EQ(::pthread_mutex_destroy(&m), 0);
}

TEST_F(CondTest, TimedwaitWokenBeforeItsDeadline) {
  pthread_cond_t c;
  init_monotonic(&c);
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  bool flag = false;
  pthread_t t = spawn([&]() -> void* {
    sleep_ms(50);
    ::pthread_mutex_lock(&m);
    flag = true;
    ::pthread_cond_signal(&c);
    ::pthread_mutex_unlock(&m);
    return nullptr;
  });
  ::pthread_mutex_lock(&m);
  Stopwatch sw;
  const timespec when = abs_in(CLOCK_MONOTONIC, 5000);
  int r = 0;
  while (!flag && r == 0) r = ::pthread_cond_timedwait(&c, &m, &when);
  EXPECT_EQ(r, 0);
  EXPECT_TRUE(flag);
  EXPECT_LT(sw.ms(), 2000);
  ::pthread_mutex_unlock(&m);
  join(t);
  EXPECT_EQ(::pthread_cond_destroy(&c), 0);
}

// A signal with nobody waiting is not remembered.
TEST_F(CondTest, SignalWithoutWaitersIsLost) {
  pthread_cond_t c = PTHREAD_COND_INITIALIZER;
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  EXPECT_EQ(::pthread_cond_signal(&c), 0);
  EXPECT_EQ(::pthread_cond_broadcast(&c), 0);
  ::pthread_mutex_lock(&m);
  timespec when = abs_in(CLOCK_REALTIME, 50);
  EXPECT_EQ(::pthread_cond_timedwait(&c, &m, &when), ETIMEDOUT);
  ::pthread_mutex_unlock(&m);
}

// --- signal versus broadcast ---------------------------------------------------------

TEST_F(CondTest, SignalWakesOneBroadcastWakesAll) {
  constexpr int kN = 5;
  pthread_cond_t c = PTHREAD_COND_INITIALIZER;
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  int waiting = 0;  // guarded by m
  std::atomic<int> woke{0};
  std::vector<pthread_t> ts;
  for (int i = 0; i < kN; ++i) {
    ts.push_back(spawn([&]() -> void* {
      ::pthread_mutex_lock(&m);
      ++waiting;
      // One wait, no predicate loop: each return is one wake-up (glibc makes no
      // spurious ones in practice).
      ::pthread_cond_wait(&c, &m);
      woke.fetch_add(1);
      ::pthread_mutex_unlock(&m);
      return nullptr;
    }));
  }
  // Once `waiting` is kN under the mutex, all of them are inside pthread_cond_wait.
  ASSERT_TRUE(wait_until([&] {
    ::pthread_mutex_lock(&m);
    const bool all = waiting == kN;
    ::pthread_mutex_unlock(&m);
    return all;
  }));
  expect_threads_alive(kN);
  EXPECT_EQ(::pthread_cond_signal(&c), 0);
  EXPECT_TRUE(wait_until([&] { return woke.load() == 1; }, 2000));
  sleep_ms(100);
  EXPECT_EQ(woke.load(), 1) << "one signal woke more than one waiter";
  EXPECT_EQ(::pthread_cond_signal(&c), 0);
  EXPECT_TRUE(wait_until([&] { return woke.load() == 2; }, 2000));
  sleep_ms(50);
  EXPECT_EQ(woke.load(), 2);
  EXPECT_EQ(::pthread_cond_broadcast(&c), 0);
  EXPECT_TRUE(wait_until([&] { return woke.load() == kN; }, 2000));
  for (pthread_t t : ts) join(t);
  EXPECT_EQ(::pthread_cond_destroy(&c), 0);
}

TEST_F(CondTest, BroadcastReleasesManyWaiters) {
  constexpr int kN = 200;
  pthread_cond_t c = PTHREAD_COND_INITIALIZER;
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  bool go = false;
  int waiting = 0;
  std::vector<pthread_t> ts;
  for (int i = 0; i < kN; ++i) {
    ts.push_back(spawn([&]() -> void* {
      ::pthread_mutex_lock(&m);
      ++waiting;
      while (!go) ::pthread_cond_wait(&c, &m);
      ::pthread_mutex_unlock(&m);
      return as_ptr(1);
    }));
  }
  ASSERT_TRUE(wait_until([&] {
    ::pthread_mutex_lock(&m);
    const bool all = waiting == kN;
    ::pthread_mutex_unlock(&m);
    return all;
  }));
  expect_threads_alive(kN);
  ::pthread_mutex_lock(&m);
  go = true;
  ::pthread_cond_broadcast(&c);
  ::pthread_mutex_unlock(&m);
  int n = 0;
  for (pthread_t t : ts) n += static_cast<int>(as_int(join(t)));
  EXPECT_EQ(n, kN);
}

// --- producer / consumer -------------------------------------------------------------

// 8 producers and 8 consumers over one mutex and two condition variables (not full, not
// empty) move 1 000 000 items through a small ring; the consumers' sums prove that every
// item arrived exactly once.
TEST_F(CondTest, ProducerConsumerMovesAMillionItems) {
  constexpr int kProducers = 8, kConsumers = 8;
  constexpr std::uint64_t kItems = 1000000;
  constexpr std::uint64_t kPer = kItems / kProducers;
  constexpr size_t kCap = 256;
  struct Shared {
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t not_full = PTHREAD_COND_INITIALIZER;
    pthread_cond_t not_empty = PTHREAD_COND_INITIALIZER;
    std::uint64_t ring[kCap];
    size_t head = 0, count = 0;
    std::uint64_t taken = 0;
    std::uint64_t sum = 0, sum_sq = 0;
  } sh;
  std::vector<pthread_t> ts;
  for (std::uint64_t p = 0; p < kProducers; ++p) {
    ts.push_back(spawn([&sh, p]() -> void* {
      for (std::uint64_t i = 0; i < kPer; ++i) {
        ::pthread_mutex_lock(&sh.m);
        while (sh.count == kCap) ::pthread_cond_wait(&sh.not_full, &sh.m);
        sh.ring[(sh.head + sh.count) % kCap] = p * kPer + i;
        ++sh.count;
        ::pthread_cond_signal(&sh.not_empty);
        ::pthread_mutex_unlock(&sh.m);
      }
      return nullptr;
    }));
  }
  for (int c = 0; c < kConsumers; ++c) {
    ts.push_back(spawn([&sh]() -> void* {
      std::uint64_t got = 0, sum = 0, sum_sq = 0;
      ::pthread_mutex_lock(&sh.m);
      for (;;) {
        while (sh.count == 0 && sh.taken < kItems) ::pthread_cond_wait(&sh.not_empty, &sh.m);
        if (sh.count == 0) break;  // everything taken
        const std::uint64_t v = sh.ring[sh.head];
        sh.head = (sh.head + 1) % kCap;
        --sh.count;
        if (++sh.taken == kItems) ::pthread_cond_broadcast(&sh.not_empty);  // wake the others to leave
        ::pthread_cond_signal(&sh.not_full);
        ::pthread_mutex_unlock(&sh.m);
        ++got;
        sum += v;
        sum_sq += v * v;
        ::pthread_mutex_lock(&sh.m);
      }
      sh.sum += sum;
      sh.sum_sq += sum_sq;
      ::pthread_mutex_unlock(&sh.m);
      return as_ptr(got);
    }));
  }
  std::uint64_t consumed = 0;
  for (size_t i = 0; i < ts.size(); ++i) {
    const std::uint64_t r = as_int(join(ts[i]));
    if (i >= kProducers) consumed += r;
  }
  EXPECT_EQ(consumed, kItems);
  EXPECT_EQ(sh.taken, kItems);
  std::uint64_t want_sum = 0, want_sq = 0;  // sums of 0 … kItems-1, mod 2^64
  for (std::uint64_t v = 0; v < kItems; ++v) {
    want_sum += v;
    want_sq += v * v;
  }
  EXPECT_EQ(sh.sum, want_sum);
  EXPECT_EQ(sh.sum_sq, want_sq);
}

// --- mutexes the shim leaves to glibc -----------------------------------------------

// BUG (shim/cond.cpp, cond_wait): a mutex greenshim does not manage itself (robust,
// process-shared, priority-inheritance) makes every wait fail at once with EINVAL, so a
// `while (!ready) pthread_cond_wait(...)` loop spins instead of sleeping.
TEST_F(CondTest, TimedwaitWithARobustMutex) {
  pthread_mutexattr_t a;
  ::pthread_mutexattr_init(&a);
  ::pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_t m;
  ASSERT_EQ(::pthread_mutex_init(&m, &a), 0);
  ::pthread_mutexattr_destroy(&a);
  pthread_cond_t c = PTHREAD_COND_INITIALIZER;
  ASSERT_EQ(::pthread_mutex_lock(&m), 0);
  Stopwatch sw;
  timespec when = abs_in(CLOCK_REALTIME, 100);
  EXPECT_EQ(::pthread_cond_timedwait(&c, &m, &when), ETIMEDOUT);
  EXPECT_GE(sw.ms(), 95);
  EXPECT_EQ(::pthread_mutex_unlock(&m), 0);
  EXPECT_EQ(::pthread_mutex_destroy(&m), 0);
}

// --- the C++ standard library --------------------------------------------------------

TEST_F(CondTest, StdConditionVariable) {
  std::mutex m;
  std::condition_variable cv;
  int stage = 0;
  pthread_t t = spawn([&]() -> void* {
    std::unique_lock<std::mutex> lock(m);
    cv.wait(lock, [&] { return stage == 1; });
    stage = 2;
    cv.notify_all();
    return nullptr;
  });
  {
    std::unique_lock<std::mutex> lock(m);
    Stopwatch sw;
    // Nobody notifies: wait_for (pthread_cond_clockwait on CLOCK_MONOTONIC) times out.
    EXPECT_EQ(cv.wait_for(lock, 100ms), std::cv_status::timeout);
    EXPECT_GE(sw.ms(), 95);
    EXPECT_FALSE(cv.wait_until(lock, std::chrono::system_clock::now() + 50ms, [] { return false; }));
    stage = 1;
    cv.notify_one();
    EXPECT_TRUE(cv.wait_for(lock, 5s, [&] { return stage == 2; }));
  }
  join(t);
}

TEST_F(CondTest, StdConditionVariableAnyWithASharedMutex) {
  std::shared_mutex sm;
  std::condition_variable_any cv;
  int ready = 0;
  std::vector<pthread_t> ts;
  for (int i = 0; i < 10; ++i) {
    ts.push_back(spawn([&]() -> void* {
      std::shared_lock<std::shared_mutex> lock(sm);  // waiting on a shared (reader) lock
      const bool ok = cv.wait_for(lock, 5s, [&] { return ready == 1; });
      return as_ptr(ok);
    }));
  }
  sleep_ms(50);
  expect_threads_alive(10);
  {
    std::unique_lock<std::shared_mutex> lock(sm);
    ready = 1;
  }
  cv.notify_all();
  for (pthread_t t : ts) EXPECT_EQ(as_int(join(t)), 1u);
  std::unique_lock<std::shared_mutex> lock(sm);
  Stopwatch sw;
  EXPECT_EQ(cv.wait_for(lock, 80ms), std::cv_status::timeout);
  EXPECT_GE(sw.ms(), 75);
}

// --- a condition variable shared with real threads ------------------------------------
// (jemalloc's background threads in Redis: real threads waiting for a greenlet's signal.)

namespace {
struct Shared {
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t c = PTHREAD_COND_INITIALIZER;
  int turn = 0;
};
}  // namespace

TEST_F(CondTest, RealThreadWaitsForAThreadsSignal) {
  static Shared s;
  s.turn = 0;
  constexpr int kRounds = 200;
  // Ping-pong: the real thread waits for odd turns, the other thread for even ones.
  pthread_t real = spawn_real([]() -> void* {
    for (int i = 0; i < kRounds; ++i) {
      ::pthread_mutex_lock(&s.m);
      while (s.turn % 2 == 0) ::pthread_cond_wait(&s.c, &s.m);
      ++s.turn;
      ::pthread_cond_broadcast(&s.c);
      ::pthread_mutex_unlock(&s.m);
    }
    return as_ptr(1);
  });
  pthread_t mine = spawn([]() -> void* {
    for (int i = 0; i < kRounds; ++i) {
      ::pthread_mutex_lock(&s.m);
      while (s.turn % 2 == 1) ::pthread_cond_wait(&s.c, &s.m);
      ++s.turn;
      ::pthread_cond_broadcast(&s.c);
      ::pthread_mutex_unlock(&s.m);
    }
    return as_ptr(2);
  });
  Stopwatch sw;
  EXPECT_EQ(as_int(join(mine)), 2u);
  EXPECT_EQ(as_int(join(real)), 1u);
  EXPECT_EQ(s.turn, 2 * kRounds);
  EXPECT_LT(sw.ms(), 5000);
}

TEST_F(CondTest, ThreadWaitsForARealThreadsSignal) {
  static Shared s;
  s.turn = 0;
  pthread_t real = spawn_real([]() -> void* {
    sleep_ms(50);
    ::pthread_mutex_lock(&s.m);
    s.turn = 1;
    ::pthread_cond_signal(&s.c);
    ::pthread_mutex_unlock(&s.m);
    return nullptr;
  });
  Stopwatch sw;
  ::pthread_mutex_lock(&s.m);
  while (s.turn == 0) ::pthread_cond_wait(&s.c, &s.m);
  ::pthread_mutex_unlock(&s.m);
  EXPECT_LT(sw.ms(), 2000);
  join(real);
}

// A real thread's timed wait times out; a broadcast wakes waiters of either kind.
TEST_F(CondTest, RealThreadTimedwaitTimesOutAndBroadcastWakesEitherKind) {
  static Shared s;
  s.turn = 0;
  static std::atomic<int> woke{0};
  woke = 0;
  pthread_t timed = spawn_real([]() -> void* {
    ::pthread_mutex_lock(&s.m);
    const timespec at = abs_in(CLOCK_REALTIME, 30);
    const int rc = ::pthread_cond_timedwait(&s.c, &s.m, &at);
    ::pthread_mutex_unlock(&s.m);
    return as_ptr(static_cast<std::uintptr_t>(rc));
  });
  EXPECT_EQ(as_int(join(timed)), static_cast<std::uintptr_t>(ETIMEDOUT));
  auto waiter = [](int) -> Body {
    return []() -> void* {
      ::pthread_mutex_lock(&s.m);
      const int my_turn = s.turn;
      while (s.turn == my_turn) ::pthread_cond_wait(&s.c, &s.m);
      woke.fetch_add(1);
      ::pthread_mutex_unlock(&s.m);
      return nullptr;
    };
  };
  pthread_t a = spawn_real(waiter(0));
  pthread_t b = spawn(waiter(1));
  sleep_ms(50);
  ::pthread_mutex_lock(&s.m);
  ++s.turn;
  ::pthread_cond_broadcast(&s.c);
  ::pthread_mutex_unlock(&s.m);
  join(a);
  join(b);
  EXPECT_EQ(woke.load(), 2);
}

namespace {

// A process-shared mutex, condition variable and flag in memory that a fork() child shares.
struct SharedCond {
  pthread_mutex_t m;
  pthread_cond_t c;
  int flag;
  int seen;
};

SharedCond* make_shared_cond() {
  void* mem = ::mmap(nullptr, sizeof(SharedCond), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return nullptr;
  auto* s = static_cast<SharedCond*>(mem);
  pthread_mutexattr_t ma;
  ::pthread_mutexattr_init(&ma);
  ::pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
  ::pthread_mutex_init(&s->m, &ma);
  ::pthread_mutexattr_destroy(&ma);
  pthread_condattr_t ca;
  ::pthread_condattr_init(&ca);
  ::pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
  ::pthread_cond_init(&s->c, &ca);
  ::pthread_condattr_destroy(&ca);
  s->flag = 0;
  s->seen = 0;
  return s;
}

// Waits under the mutex until flag is set; the return is the wait's last result.
int wait_for_flag(SharedCond* s, int timeout_ms) {
  ::pthread_mutex_lock(&s->m);
  const timespec at = abs_in(CLOCK_REALTIME, timeout_ms);
  int rc = 0;
  while (s->flag == 0 && rc == 0) rc = ::pthread_cond_timedwait(&s->c, &s->m, &at);
  if (s->flag != 0) s->seen = 1;
  ::pthread_mutex_unlock(&s->m);
  return s->flag != 0 ? 0 : rc;
}

void set_flag(SharedCond* s, bool broadcast) {
  ::pthread_mutex_lock(&s->m);
  s->flag = 1;
  if (broadcast) {
    ::pthread_cond_broadcast(&s->c);
  } else {
    ::pthread_cond_signal(&s->c);
  }
  ::pthread_mutex_unlock(&s->m);
}

}  // namespace

// Another process signals: the waiter wakes (and the waiting process's other threads ran
// meanwhile); then the child waits and this process broadcasts.
TEST_F(CondTest, ProcessSharedConditionVariableWorksAcrossProcesses) {
  SharedCond* s = make_shared_cond();
  ASSERT_NE(s, nullptr);
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::usleep(100 * 1000);
    set_flag(s, false);
    ::_exit(0);
  }
  ASSERT_GT(pid, 0);
  Stopwatch sw;
  int rc = -1;
  const int ticks = ticks_during([&] { rc = wait_for_flag(s, 5000); });
  EXPECT_EQ(rc, 0) << "the other process's signal never arrived";
  EXPECT_LT(sw.ms(), 3000);
  EXPECT_GE(ticks, 5) << "the other threads did not run during the wait";
  ::waitpid(pid, nullptr, 0);

  s->flag = 0;
  s->seen = 0;
  pid = ::fork();
  if (pid == 0) ::_exit(wait_for_flag(s, 5000) == 0 ? 0 : 1);
  ASSERT_GT(pid, 0);
  sleep_ms(100);
  set_flag(s, true);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the child missed the broadcast";
  EXPECT_EQ(s->seen, 1);
  ::pthread_cond_destroy(&s->c);
  ::pthread_mutex_destroy(&s->m);
  ::munmap(s, sizeof(SharedCond));
}

TEST_F(CondTest, ProcessSharedTimedWaitTimesOut) {
  SharedCond* s = make_shared_cond();
  ASSERT_NE(s, nullptr);
  Stopwatch sw;
  EXPECT_EQ(wait_for_flag(s, 100), ETIMEDOUT);
  EXPECT_GE(sw.ms(), 90);
  EXPECT_LT(sw.ms(), 2000);
  ::pthread_cond_destroy(&s->c);
  ::pthread_mutex_destroy(&s->m);
  ::munmap(s, sizeof(SharedCond));
}
