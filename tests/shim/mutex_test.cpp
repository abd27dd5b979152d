// shim/mutex.cpp, as a plain POSIX program: normal, recursive and error-checking mutexes
// (static initializers and attributes), trylock, timedlock/clocklock and their errors,
// a mutex held across a blocking read(), the kinds the shim leaves to glibc (robust,
// process-shared, priority-inheritance), process-shared mutexes' owner (relocks) and
// across processes, and std::mutex & co. Runs without the shim and
// under LD_PRELOAD, where every thread is a greenlet of the main OS thread.
#include <sys/mman.h>
#include <sys/wait.h>

#include <atomic>
#include <mutex>
#include <vector>

#include "threads_util.hpp"

using namespace threads_test;

namespace {

class MutexTest : public ThreadsTest {};

// `threads` threads each take `m` `rounds` times; inside, a sleep of `hold_ms` or now and
// then a yield invites the others in (under the shim nothing else would: greenlets are
// not preempted). Yields are kept few: on a loaded machine each costs a time slice.
// Returns the most threads ever seen inside at once (1 if the mutex excludes).
struct Contention {
  int max_inside = 0;
  long counter = 0;
};
Contention contend(pthread_mutex_t* m, int threads, int rounds, int hold_ms = 0) {
  struct Shared {
    pthread_mutex_t* m;
    int rounds, hold_ms;
    std::atomic<int> inside{0}, max_inside{0};
    long counter = 0;
  } sh{m, rounds, hold_ms};
  std::vector<pthread_t> ts;
  for (int i = 0; i < threads; ++i) {
    ts.push_back(spawn([&sh]() -> void* {
      for (int r = 0; r < sh.rounds; ++r) {
        if (::pthread_mutex_lock(sh.m) != 0) return as_ptr(1);
        const int now = sh.inside.fetch_add(1) + 1;
        int seen = sh.max_inside.load();
        while (now > seen && !sh.max_inside.compare_exchange_weak(seen, now)) {
        }
        const long c = sh.counter;
        if (sh.hold_ms > 0) {
          sleep_ms(sh.hold_ms);
        } else if (r % 4 == 0) {
          ::sched_yield();
        }
        sh.counter = c + 1;
        sh.inside.fetch_sub(1);
        if (::pthread_mutex_unlock(sh.m) != 0) return as_ptr(2);
      }
      return nullptr;
    }));
  }
  for (pthread_t t : ts) EXPECT_EQ(join(t), nullptr);
  return {sh.max_inside.load(), sh.counter};
}

// Holds `m` on another thread until `release` is set; returns once it holds it.
class Holder {
 public:
  explicit Holder(pthread_mutex_t* m) : m_(m) {
    t_ = spawn([this]() -> void* {
      const int r = ::pthread_mutex_lock(m_);
      held_ = true;
      wait_until([this] { return release_.load(); }, 15000);
      if (r == 0) ::pthread_mutex_unlock(m_);
      return nullptr;
    });
    EXPECT_TRUE(wait_until([this] { return held_.load(); }));
  }
  ~Holder() { done(); }
  void done() {
    if (joined_) return;
    joined_ = true;
    release_ = true;
    join(t_);
  }

 private:
  pthread_mutex_t* m_;
  pthread_t t_{};
  std::atomic<bool> held_{false}, release_{false};
  bool joined_ = false;
};

void init_mutex(pthread_mutex_t* m, int type) {
  pthread_mutexattr_t a;
  ASSERT_EQ(::pthread_mutexattr_init(&a), 0);
  ASSERT_EQ(::pthread_mutexattr_settype(&a, type), 0);
  ASSERT_EQ(::pthread_mutex_init(m, &a), 0);
  ::pthread_mutexattr_destroy(&a);
}

}  // namespace

// --- normal --------------------------------------------------------------------------

TEST_F(MutexTest, NormalMutexExcludes) {
  static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  const Contention c = contend(&m, 16, 200);
  EXPECT_EQ(c.max_inside, 1);
  EXPECT_EQ(c.counter, 16 * 200);
}

TEST_F(MutexTest, MutexHeldAcrossSleepsSerializesTheHolders) {
  pthread_mutex_t m;
  ASSERT_EQ(::pthread_mutex_init(&m, nullptr), 0);
  Stopwatch sw;
  const Contention c = contend(&m, 10, 1, 40);
  EXPECT_EQ(c.max_inside, 1);
  EXPECT_EQ(c.counter, 10);
  EXPECT_GE(sw.ms(), 10 * 40 - 5);
  EXPECT_EQ(::pthread_mutex_destroy(&m), 0);
}

TEST_F(MutexTest, TrylockIsEbusyWhileHeld) {
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  {
    Holder h(&m);
    EXPECT_EQ(::pthread_mutex_trylock(&m), EBUSY);
    expect_threads_alive(1);
  }
  ASSERT_EQ(::pthread_mutex_trylock(&m), 0);
  EXPECT_EQ(::pthread_mutex_trylock(&m), EBUSY);  // a normal mutex: the owner too
  EXPECT_EQ(::pthread_mutex_destroy(&m), EBUSY);
  EXPECT_EQ(::pthread_mutex_unlock(&m), 0);
  EXPECT_EQ(::pthread_mutex_destroy(&m), 0);
}

TEST_F(MutexTest, WaitersAllGetTheMutexEventually) {
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  std::atomic<int> got{0};
  std::vector<pthread_t> ts;
  ASSERT_EQ(::pthread_mutex_lock(&m), 0);
  for (int i = 0; i < 50; ++i) {
    ts.push_back(spawn([&]() -> void* {
      ::pthread_mutex_lock(&m);
      got.fetch_add(1);
      ::pthread_mutex_unlock(&m);
      return nullptr;
    }));
  }
  sleep_ms(50);
  expect_threads_alive(50);
  EXPECT_EQ(got.load(), 0);
  EXPECT_EQ(::pthread_mutex_unlock(&m), 0);
  for (pthread_t t : ts) join(t);
  EXPECT_EQ(got.load(), 50);
}

// --- recursive -----------------------------------------------------------------------

TEST_F(MutexTest, RecursiveStaticInitializer) {
  static pthread_mutex_t m = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
  ASSERT_EQ(::pthread_mutex_lock(&m), 0);
  ASSERT_EQ(::pthread_mutex_lock(&m), 0);
  ASSERT_EQ(::pthread_mutex_trylock(&m), 0);  // the owner may always take it again
  auto other_trylock = [] { return as_int(join(spawn([] { return as_ptr(::pthread_mutex_trylock(&m)); }))); };
  EXPECT_EQ(other_trylock(), static_cast<std::uintptr_t>(EBUSY));
  EXPECT_EQ(::pthread_mutex_unlock(&m), 0);
  EXPECT_EQ(::pthread_mutex_unlock(&m), 0);
  EXPECT_EQ(other_trylock(), static_cast<std::uintptr_t>(EBUSY)) << "released after 2 of 3 unlocks";
  EXPECT_EQ(::pthread_mutex_unlock(&m), 0);
  // Free now: another thread locks (and must unlock) it.
  pthread_t t = spawn([]() -> void* {
    if (::pthread_mutex_trylock(&m) != 0) return as_ptr(1);
    return as_ptr(::pthread_mutex_unlock(&m) == 0 ? 100 : 2);
  });
  EXPECT_EQ(as_int(join(t)), 100u);
  EXPECT_EQ(::pthread_mutex_unlock(&m), EPERM) << "unlocking a recursive mutex nobody holds";
}

TEST_F(MutexTest, RecursiveViaAttrExcludesOtherThreads) {
  pthread_mutex_t m;
  init_mutex(&m, PTHREAD_MUTEX_RECURSIVE);
  struct Shared {
    pthread_mutex_t* m;
    std::atomic<int> inside{0}, max_inside{0};
    long counter = 0;
  } sh{&m};
  std::vector<pthread_t> ts;
  for (int i = 0; i < 8; ++i) {
    ts.push_back(spawn([&sh]() -> void* {
      for (int r = 0; r < 40; ++r) {
        ::pthread_mutex_lock(sh.m);
        ::pthread_mutex_lock(sh.m);  // nested
        const int now = sh.inside.fetch_add(1) + 1;
        if (now > sh.max_inside.load()) sh.max_inside = now;
        const long c = sh.counter;
        ::sched_yield();
        sh.counter = c + 1;
        sh.inside.fetch_sub(1);
        ::pthread_mutex_unlock(sh.m);
        ::sched_yield();  // still held once: nobody else may enter now
        ::pthread_mutex_unlock(sh.m);
      }
      return nullptr;
    }));
  }
  for (pthread_t t : ts) join(t);
  EXPECT_EQ(sh.max_inside.load(), 1);
  EXPECT_EQ(sh.counter, 8 * 40);
  EXPECT_EQ(::pthread_mutex_destroy(&m), 0);
}

TEST_F(MutexTest, RecursiveUnlockByNonOwnerIsEperm) {
  pthread_mutex_t m;
  init_mutex(&m, PTHREAD_MUTEX_RECURSIVE);
  ASSERT_EQ(::pthread_mutex_lock(&m), 0);
  EXPECT_EQ(as_int(join(spawn([&m] { return as_ptr(::pthread_mutex_unlock(&m)); }))),
            static_cast<std::uintptr_t>(EPERM));
  EXPECT_EQ(::pthread_mutex_unlock(&m), 0);
  EXPECT_EQ(::pthread_mutex_destroy(&m), 0);
}

// --- error-checking ------------------------------------------------------------------

TEST_F(MutexTest, ErrorcheckRelockIsEdeadlk) {
  static pthread_mutex_t s = PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP;
  pthread_mutex_t m;
  init_mutex(&m, PTHREAD_MUTEX_ERRORCHECK);
  for (pthread_mutex_t* p : {&s, &m}) {
    ASSERT_EQ(::pthread_mutex_lock(p), 0);
    EXPECT_EQ(::pthread_mutex_lock(p), EDEADLK);
    EXPECT_EQ(::pthread_mutex_trylock(p), EBUSY);
    timespec when = abs_in(CLOCK_REALTIME, 1000);
    EXPECT_EQ(::pthread_mutex_timedlock(p, &when), EDEADLK);
    EXPECT_EQ(::pthread_mutex_unlock(p), 0);
    EXPECT_EQ(::pthread_mutex_unlock(p), EPERM) << "unlocking an unlocked error-checking mutex";
  }
  EXPECT_EQ(::pthread_mutex_destroy(&m), 0);
}

TEST_F(MutexTest, ErrorcheckUnlockByNonOwnerIsEperm) {
  pthread_mutex_t m;
  init_mutex(&m, PTHREAD_MUTEX_ERRORCHECK);
  ASSERT_EQ(::pthread_mutex_lock(&m), 0);
  pthread_t t = spawn([&m]() -> void* { return as_ptr(::pthread_mutex_unlock(&m)); });
  EXPECT_EQ(as_int(join(t)), static_cast<std::uintptr_t>(EPERM));
  // Still ours: another thread cannot take it.
  EXPECT_EQ(as_int(join(spawn([&m] { return as_ptr(::pthread_mutex_trylock(&m)); }))),
            static_cast<std::uintptr_t>(EBUSY));
  EXPECT_EQ(::pthread_mutex_unlock(&m), 0);
  EXPECT_EQ(::pthread_mutex_destroy(&m), 0);
}

// --- timed ---------------------------------------------------------------------------

TEST_F(MutexTest, TimedlockAndClocklockTimeOutWhileAnotherThreadHolds) {
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  {
    Holder h(&m);
    Stopwatch sw;
    timespec when = abs_in(CLOCK_REALTIME, 100);
    EXPECT_EQ(::pthread_mutex_timedlock(&m, &when), ETIMEDOUT);
    EXPECT_GE(sw.ms(), 95);
    EXPECT_LT(sw.ms(), 1000);
    Stopwatch sw2;
    when = abs_in(CLOCK_MONOTONIC, 100);
    EXPECT_EQ(::pthread_mutex_clocklock(&m, CLOCK_MONOTONIC, &when), ETIMEDOUT);
    EXPECT_GE(sw2.ms(), 95);
    EXPECT_LT(sw2.ms(), 1000);
    when = abs_in(CLOCK_MONOTONIC, -500);  // already past
    EXPECT_EQ(::pthread_mutex_clocklock(&m, CLOCK_MONOTONIC, &when), ETIMEDOUT);
  }
  // Free: a past deadline does not matter.
  timespec past = abs_in(CLOCK_REALTIME, -500);
  EXPECT_EQ(::pthread_mutex_timedlock(&m, &past), 0);
  EXPECT_EQ(::pthread_mutex_unlock(&m), 0);
}

TEST_F(MutexTest, TimedlockGetsTheMutexWhenReleasedBeforeTheDeadline) {
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  ASSERT_EQ(::pthread_mutex_lock(&m), 0);
  pthread_t t = spawn([&m]() -> void* {
    timespec when = abs_in(CLOCK_MONOTONIC, 5000);
    Stopwatch sw;
    const int r = ::pthread_mutex_clocklock(&m, CLOCK_MONOTONIC, &when);
    if (r != 0) return as_ptr(r);
    ::pthread_mutex_unlock(&m);
    return as_ptr(sw.ms() < 2000 ? 100 : 1);
  });
  sleep_ms(50);
  EXPECT_EQ(::pthread_mutex_unlock(&m), 0);
  EXPECT_EQ(as_int(join(t)), 100u);
}

TEST_F(MutexTest, TimedlockByTheOwnerOfANormalMutexTimesOut) {
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  ASSERT_EQ(::pthread_mutex_lock(&m), 0);
  Stopwatch sw;
  timespec when = abs_in(CLOCK_MONOTONIC, 100);
  EXPECT_EQ(::pthread_mutex_clocklock(&m, CLOCK_MONOTONIC, &when), ETIMEDOUT);
  EXPECT_GE(sw.ms(), 95);
  EXPECT_EQ(::pthread_mutex_unlock(&m), 0);
}

TEST_F(MutexTest, TimedlockRejectsABadTimespecOrClock) {
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  Holder h(&m);
  timespec bad{abs_in(CLOCK_REALTIME, 1000).tv_sec, 1000000000L};
  EXPECT_EQ(::pthread_mutex_timedlock(&m, &bad), EINVAL);
  bad.tv_nsec = -1;
  EXPECT_EQ(::pthread_mutex_timedlock(&m, &bad), EINVAL);
  timespec ok = abs_in(CLOCK_MONOTONIC, 1000);
  EXPECT_EQ(::pthread_mutex_clocklock(&m, CLOCK_PROCESS_CPUTIME_ID, &ok), EINVAL);
  EXPECT_EQ(::pthread_mutex_clocklock(&m, static_cast<clockid_t>(12345), &ok), EINVAL);
}

// --- across blocking I/O -------------------------------------------------------------

// The holder blocks in read() with the mutex held while another thread waits for the
// mutex: the reader must still get its data, and the contender the mutex afterwards.
TEST_F(MutexTest, MutexHeldAcrossABlockingRead) {
  auto p = socket_pair();
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  std::atomic<int> order{0};
  std::atomic<int> reader_done_at{0}, contender_got_at{0};
  std::atomic<bool> reading{false}, contending{false};
  pthread_t rd = spawn([&, fd = p.a.get()]() -> void* {
    ::pthread_mutex_lock(&m);
    reading = true;
    char buf[6] = {};
    const ssize_t n = ::read(fd, buf, 5);
    reader_done_at = order.fetch_add(1) + 1;
    ::pthread_mutex_unlock(&m);
    return as_ptr(n == 5 && std::strcmp(buf, "hello") == 0);
  });
  ASSERT_TRUE(wait_until([&] { return reading.load(); }));
  pthread_t ct = spawn([&]() -> void* {
    contending = true;
    ::pthread_mutex_lock(&m);
    contender_got_at = order.fetch_add(1) + 1;
    ::pthread_mutex_unlock(&m);
    return nullptr;
  });
  ASSERT_TRUE(wait_until([&] { return contending.load(); }));
  sleep_ms(100);
  EXPECT_EQ(order.load(), 0);
  expect_threads_alive(2);
  ASSERT_EQ(::write(p.b, "hello", 5), 5);
  EXPECT_EQ(as_int(join(rd)), 1u) << "the reader did not get its data";
  join(ct);
  EXPECT_EQ(reader_done_at.load(), 1);
  EXPECT_EQ(contender_got_at.load(), 2);
}

// --- the kinds the shim leaves to glibc ---------------------------------------------

namespace {
void init_with(pthread_mutex_t* m, void (*configure)(pthread_mutexattr_t*)) {
  pthread_mutexattr_t a;
  ASSERT_EQ(::pthread_mutexattr_init(&a), 0);
  configure(&a);
  ASSERT_EQ(::pthread_mutex_init(m, &a), 0);
  ::pthread_mutexattr_destroy(&a);
}
}  // namespace

// BUG (shim/mutex.cpp, green_mutex): robust, process-shared and priority-inheritance
// mutexes go to glibc, which records the owner as the OS thread's TID and sleeps in the
// kernel; a second greenlet locking one that a parked greenlet holds puts the whole OS
// thread to sleep for good. Guarded so that the rest of the binary runs.
TEST_F(MutexTest, RobustMutexExcludes) {
  pthread_mutex_t m;
  init_with(&m, [](pthread_mutexattr_t* a) { ::pthread_mutexattr_setrobust(a, PTHREAD_MUTEX_ROBUST); });
  const Contention c = contend(&m, 4, 5, 5);
  EXPECT_EQ(c.max_inside, 1);
  EXPECT_EQ(c.counter, 20);
  EXPECT_EQ(::pthread_mutex_destroy(&m), 0);
}

TEST_F(MutexTest, ProcessSharedMutexExcludes) {
  pthread_mutex_t m;
  init_with(&m, [](pthread_mutexattr_t* a) { ::pthread_mutexattr_setpshared(a, PTHREAD_PROCESS_SHARED); });
  const Contention c = contend(&m, 4, 5, 5);
  EXPECT_EQ(c.max_inside, 1);
  EXPECT_EQ(c.counter, 20);
  EXPECT_EQ(::pthread_mutex_destroy(&m), 0);
}

TEST_F(MutexTest, PriorityInheritanceMutexExcludes) {
  pthread_mutex_t m;
  init_with(&m, [](pthread_mutexattr_t* a) { ::pthread_mutexattr_setprotocol(a, PTHREAD_PRIO_INHERIT); });
  const Contention c = contend(&m, 4, 5, 5);
  EXPECT_EQ(c.max_inside, 1);
  EXPECT_EQ(c.counter, 20);
  EXPECT_EQ(::pthread_mutex_destroy(&m), 0);
}

// Same cause, no hang: glibc takes the second greenlet for the owner (same TID) and
// lets it in as a recursive re-lock.
TEST_F(MutexTest, RobustRecursiveMutexExcludes) {
  pthread_mutex_t m;
  init_with(&m, [](pthread_mutexattr_t* a) {
    ::pthread_mutexattr_setrobust(a, PTHREAD_MUTEX_ROBUST);
    ::pthread_mutexattr_settype(a, PTHREAD_MUTEX_RECURSIVE);
  });
  const Contention c = contend(&m, 4, 5, 5);
  EXPECT_EQ(c.max_inside, 1);
  EXPECT_EQ(c.counter, 20);
  EXPECT_EQ(::pthread_mutex_destroy(&m), 0);
}

TEST_F(MutexTest, RobustMutexOfAnEndedOwnerIsEownerdead) {
  if (shim_expected()) GTEST_SKIP() << "greenshim limit (docs/interposed.md): a robust mutex whose greenlet owner ended reports no EOWNERDEAD";
  pthread_mutex_t m;
  init_with(&m, [](pthread_mutexattr_t* a) { ::pthread_mutexattr_setrobust(a, PTHREAD_MUTEX_ROBUST); });
  join(spawn([&m]() -> void* {
    ::pthread_mutex_lock(&m);
    return nullptr;  // ends holding it
  }));
  EXPECT_EQ(::pthread_mutex_lock(&m), EOWNERDEAD);
  EXPECT_EQ(::pthread_mutex_consistent(&m), 0);
  EXPECT_EQ(::pthread_mutex_unlock(&m), 0);
  EXPECT_EQ(::pthread_mutex_destroy(&m), 0);
}

// --- the C++ standard library --------------------------------------------------------

namespace {
// 8 threads take both mutexes with std::scoped_lock; with `opposite_orders` half of them
// name the two in the other order, and std::lock's lock-one-try-the-rest must still make
// progress.
long scoped_lock_rounds(bool opposite_orders) {
  std::mutex a, b;
  long counter = 0;
  std::vector<pthread_t> ts;
  for (int i = 0; i < 8; ++i) {
    ts.push_back(spawn([&, i]() -> void* {
      for (int r = 0; r < 40; ++r) {
        if (opposite_orders && i % 2 == 1) {
          std::scoped_lock lock(b, a);
          const long c = counter;
          ::sched_yield();
          counter = c + 1;
        } else {
          std::scoped_lock lock(a, b);
          const long c = counter;
          ::sched_yield();
          counter = c + 1;
        }
      }
      return nullptr;
    }));
  }
  for (pthread_t t : ts) join(t);
  return counter;
}
}  // namespace

TEST_F(MutexTest, StdMutexAndScopedLock) {
  EXPECT_EQ(scoped_lock_rounds(false), 8 * 40);
  std::mutex a;
  std::unique_lock<std::mutex> held(a);
  EXPECT_FALSE(as_int(join(spawn([&a] { return as_ptr(a.try_lock()); }))));
}

// BUG (shim/mutex.cpp, mutex_unlock's hand-off): an unlock with waiters hands the mutex
// to the first waiter, and until that greenlet runs the mutex stays locked, so every
// try_lock fails. std::lock's try-the-rest then fails every time, each failure hands the
// mutex on again, and three or more greenlets cycle forever (a livelock).
TEST_F(MutexTest, StdScopedLockInOppositeOrders) {
  EXPECT_EQ(scoped_lock_rounds(true), 8 * 40);
}

TEST_F(MutexTest, StdRecursiveMutex) {
  std::recursive_mutex m;
  m.lock();
  EXPECT_TRUE(m.try_lock());
  EXPECT_FALSE(as_int(join(spawn([&m] { return as_ptr(m.try_lock()); }))));
  m.unlock();
  m.unlock();
  pthread_t t = spawn([&m]() -> void* {
    std::lock_guard<std::recursive_mutex> g(m);
    std::lock_guard<std::recursive_mutex> g2(m);
    return as_ptr(1);
  });
  EXPECT_EQ(as_int(join(t)), 1u);
}

TEST_F(MutexTest, StdTimedMutexTryLockForTimesOut) {
  std::timed_mutex m;
  std::recursive_timed_mutex rm;
  std::atomic<bool> held{false}, release{false};
  pthread_t t = spawn([&]() -> void* {
    std::lock_guard<std::timed_mutex> g(m);
    std::lock_guard<std::recursive_timed_mutex> g2(rm);
    held = true;
    wait_until([&] { return release.load(); });
    return nullptr;
  });
  ASSERT_TRUE(wait_until([&] { return held.load(); }));
  Stopwatch sw;
  EXPECT_FALSE(m.try_lock_for(100ms));
  EXPECT_GE(sw.ms(), 95);
  Stopwatch sw2;
  EXPECT_FALSE(rm.try_lock_until(std::chrono::system_clock::now() + 100ms));
  EXPECT_GE(sw2.ms(), 95);
  release = true;
  EXPECT_TRUE(m.try_lock_for(5s));
  m.unlock();
  join(t);
}

// A process-shared mutex knows its owner as any other: a recursive one relocks, an
// error-checking one reports the relock and an unlock by another thread.
TEST_F(MutexTest, ProcessSharedMutexKnowsItsOwner) {
  pthread_mutex_t rec, chk;
  init_with(&rec, [](pthread_mutexattr_t* a) {
    ::pthread_mutexattr_setpshared(a, PTHREAD_PROCESS_SHARED);
    ::pthread_mutexattr_settype(a, PTHREAD_MUTEX_RECURSIVE);
  });
  init_with(&chk, [](pthread_mutexattr_t* a) {
    ::pthread_mutexattr_setpshared(a, PTHREAD_PROCESS_SHARED);
    ::pthread_mutexattr_settype(a, PTHREAD_MUTEX_ERRORCHECK);
  });
  ASSERT_EQ(::pthread_mutex_lock(&rec), 0);
  EXPECT_EQ(::pthread_mutex_lock(&rec), 0);
  EXPECT_EQ(::pthread_mutex_trylock(&rec), 0);
  ASSERT_EQ(::pthread_mutex_lock(&chk), 0);
  EXPECT_EQ(::pthread_mutex_lock(&chk), EDEADLK);
  pthread_t other = spawn([&]() -> void* {
    const int busy = ::pthread_mutex_trylock(&rec);
    const int perm = ::pthread_mutex_unlock(&chk);
    return as_ptr(busy == EBUSY && perm == EPERM ? 1 : 0);
  });
  EXPECT_EQ(as_int(join(other)), 1u) << "another thread must find both held, and not its own";
  for (int i = 0; i < 3; ++i) EXPECT_EQ(::pthread_mutex_unlock(&rec), 0);
  EXPECT_EQ(::pthread_mutex_unlock(&rec), EPERM);
  EXPECT_EQ(::pthread_mutex_unlock(&chk), 0);
  EXPECT_EQ(::pthread_mutex_destroy(&rec), 0);
  EXPECT_EQ(::pthread_mutex_destroy(&chk), 0);
}

// A process-shared mutex in shared memory, held by a child process for 150 ms: the lock
// waits for the child's unlock while the other threads run.
TEST_F(MutexTest, ProcessSharedMutexHeldByAnotherProcess) {
  void* mem = ::mmap(nullptr, sizeof(pthread_mutex_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  auto* m = static_cast<pthread_mutex_t*>(mem);
  init_with(m, [](pthread_mutexattr_t* a) { ::pthread_mutexattr_setpshared(a, PTHREAD_PROCESS_SHARED); });
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::pthread_mutex_lock(m);
    (void)!::write(ready[1], "x", 1);
    ::usleep(150 * 1000);
    ::pthread_mutex_unlock(m);
    ::_exit(0);
  }
  char c;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  Stopwatch sw;
  const int ticks = ticks_during([&] {
    EXPECT_EQ(::pthread_mutex_lock(m), 0);
    EXPECT_GE(sw.ms(), 80) << "the lock did not wait for the other process";
    EXPECT_LT(sw.ms(), 3000);
    EXPECT_EQ(::pthread_mutex_unlock(m), 0);
  });
  EXPECT_GE(ticks, 5) << "the other thread did not run during the wait";
  ::waitpid(pid, nullptr, 0);
  ::close(ready[0]);
  ::close(ready[1]);
  ::pthread_mutex_destroy(m);
  ::munmap(mem, sizeof(pthread_mutex_t));
}
