// shim/rwlock.cpp, as a plain POSIX program: many readers hold an rwlock at once, a
// writer holds it alone, the try/timed/clock forms fail as POSIX says (EBUSY, ETIMEDOUT,
// EDEADLK, EINVAL), std::shared_mutex / std::shared_timed_mutex work on top, and an
// rwlock shared with real threads (made past interposition) excludes across both kinds. Runs
// without the shim and under LD_PRELOAD, where every thread is a greenlet of the main
// OS thread.
#include <atomic>
#include <shared_mutex>
#include <vector>

#include "threads_util.hpp"

using namespace threads_test;

namespace {

class RwlockTest : public ThreadsTest {};

// Holds `l` on another thread (for writing, or reading) until released.
class Holder {
 public:
  Holder(pthread_rwlock_t* l, bool write) : l_(l) {
    t_ = spawn([this, write]() -> void* {
      const int r = write ? ::pthread_rwlock_wrlock(l_) : ::pthread_rwlock_rdlock(l_);
      held_ = true;
      wait_until([this] { return release_.load(); }, 15000);
      if (r == 0) ::pthread_rwlock_unlock(l_);
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
  pthread_rwlock_t* l_;
  pthread_t t_{};
  std::atomic<bool> held_{false}, release_{false};
  bool joined_ = false;
};

void bump_max(std::atomic<int>& max, int now) {
  int seen = max.load();
  while (now > seen && !max.compare_exchange_weak(seen, now)) {
  }
}

}  // namespace

TEST_F(RwlockTest, ManyReadersHoldItAtOnce) {
  static pthread_rwlock_t l = PTHREAD_RWLOCK_INITIALIZER;
  constexpr int kN = 20;
  std::atomic<int> inside{0};
  std::atomic<bool> go{false};
  std::vector<pthread_t> ts;
  for (int i = 0; i < kN; ++i) {
    ts.push_back(spawn([&]() -> void* {
      if (::pthread_rwlock_rdlock(&l) != 0) return as_ptr(1);
      inside.fetch_add(1);
      // Every reader holds it until all of them do: impossible unless shared.
      const bool all = wait_until([&] { return inside.load() == kN; }, 5000);
      wait_until([&] { return go.load(); });
      ::pthread_rwlock_unlock(&l);
      return as_ptr(all ? 100 : 2);
    }));
  }
  ASSERT_TRUE(wait_until([&] { return inside.load() == kN; }));
  expect_threads_alive(kN);
  EXPECT_EQ(::pthread_rwlock_trywrlock(&l), EBUSY);
  go = true;
  for (pthread_t t : ts) EXPECT_EQ(as_int(join(t)), 100u);
}

TEST_F(RwlockTest, WriterExcludesReadersAndWriters) {
  pthread_rwlock_t l;
  ASSERT_EQ(::pthread_rwlock_init(&l, nullptr), 0);
  struct Shared {
    pthread_rwlock_t* l;
    long a = 0, b = 0;  // writers keep a == b; a reader must never see them differ
    std::atomic<int> writers_inside{0}, readers_inside{0}, max_writers{0};
    std::atomic<bool> overlap{false}, torn{false};
  } sh{&l};
  std::vector<pthread_t> ts;
  for (int i = 0; i < 4; ++i) {
    ts.push_back(spawn([&sh]() -> void* {
      for (int r = 0; r < 50; ++r) {
        ::pthread_rwlock_wrlock(sh.l);
        bump_max(sh.max_writers, sh.writers_inside.fetch_add(1) + 1);
        if (sh.readers_inside.load() != 0) sh.overlap = true;
        ++sh.a;
        ::sched_yield();
        ++sh.b;
        sh.writers_inside.fetch_sub(1);
        ::pthread_rwlock_unlock(sh.l);
      }
      return nullptr;
    }));
  }
  for (int i = 0; i < 6; ++i) {
    ts.push_back(spawn([&sh]() -> void* {
      for (int r = 0; r < 60; ++r) {
        ::pthread_rwlock_rdlock(sh.l);
        sh.readers_inside.fetch_add(1);
        if (sh.writers_inside.load() != 0) sh.overlap = true;
        const long a = sh.a;
        ::sched_yield();
        if (sh.b != a) sh.torn = true;
        sh.readers_inside.fetch_sub(1);
        ::pthread_rwlock_unlock(sh.l);
      }
      return nullptr;
    }));
  }
  for (pthread_t t : ts) join(t);
  EXPECT_EQ(sh.max_writers.load(), 1);
  EXPECT_FALSE(sh.overlap.load()) << "a reader and a writer held the lock at once";
  EXPECT_FALSE(sh.torn.load());
  EXPECT_EQ(sh.a, 4 * 50);
  EXPECT_EQ(sh.b, 4 * 50);
  EXPECT_EQ(::pthread_rwlock_destroy(&l), 0);
}

TEST_F(RwlockTest, RelockingForWritingIsEdeadlk) {
  pthread_rwlock_t l = PTHREAD_RWLOCK_INITIALIZER;
  ASSERT_EQ(::pthread_rwlock_wrlock(&l), 0);
  EXPECT_EQ(::pthread_rwlock_wrlock(&l), EDEADLK);
  EXPECT_EQ(::pthread_rwlock_rdlock(&l), EDEADLK);
  timespec when = abs_in(CLOCK_REALTIME, 1000);
  EXPECT_EQ(::pthread_rwlock_timedwrlock(&l, &when), EDEADLK);
  EXPECT_EQ(::pthread_rwlock_unlock(&l), 0);
  // Free again for everyone.
  EXPECT_EQ(as_int(join(spawn([&l]() -> void* {
              if (::pthread_rwlock_trywrlock(&l) != 0) return as_ptr(1);
              return as_ptr(::pthread_rwlock_unlock(&l) == 0 ? 100 : 2);
            }))),
            100u);
}

TEST_F(RwlockTest, TryFormsAreEbusy) {
  pthread_rwlock_t l = PTHREAD_RWLOCK_INITIALIZER;
  {
    Holder w(&l, true);
    EXPECT_EQ(::pthread_rwlock_tryrdlock(&l), EBUSY);
    EXPECT_EQ(::pthread_rwlock_trywrlock(&l), EBUSY);
  }
  {
    Holder r(&l, false);
    EXPECT_EQ(::pthread_rwlock_trywrlock(&l), EBUSY);
    EXPECT_EQ(::pthread_rwlock_tryrdlock(&l), 0);  // readers share
    EXPECT_EQ(::pthread_rwlock_unlock(&l), 0);
  }
  EXPECT_EQ(::pthread_rwlock_trywrlock(&l), 0);
  EXPECT_EQ(::pthread_rwlock_unlock(&l), 0);
}

TEST_F(RwlockTest, TimedFormsTimeOut) {
  pthread_rwlock_t l = PTHREAD_RWLOCK_INITIALIZER;
  {
    Holder w(&l, true);
    Stopwatch sw;
    timespec when = abs_in(CLOCK_REALTIME, 80);
    EXPECT_EQ(::pthread_rwlock_timedrdlock(&l, &when), ETIMEDOUT);
    EXPECT_GE(sw.ms(), 75);
    Stopwatch sw2;
    when = abs_in(CLOCK_MONOTONIC, 80);
    EXPECT_EQ(::pthread_rwlock_clockrdlock(&l, CLOCK_MONOTONIC, &when), ETIMEDOUT);
    EXPECT_GE(sw2.ms(), 75);
    EXPECT_LT(sw2.ms(), 1000);
  }
  {
    Holder r(&l, false);
    Stopwatch sw;
    timespec when = abs_in(CLOCK_REALTIME, 80);
    EXPECT_EQ(::pthread_rwlock_timedwrlock(&l, &when), ETIMEDOUT);
    EXPECT_GE(sw.ms(), 75);
    Stopwatch sw2;
    when = abs_in(CLOCK_MONOTONIC, 80);
    EXPECT_EQ(::pthread_rwlock_clockwrlock(&l, CLOCK_MONOTONIC, &when), ETIMEDOUT);
    EXPECT_GE(sw2.ms(), 75);
    EXPECT_LT(sw2.ms(), 1000);
    // A reader that timed out waiting for the writer lock leaves readers free to enter.
    when = abs_in(CLOCK_MONOTONIC, 1000);
    EXPECT_EQ(::pthread_rwlock_clockrdlock(&l, CLOCK_MONOTONIC, &when), 0);
    EXPECT_EQ(::pthread_rwlock_unlock(&l), 0);
  }
  // Free: no wait at all, whatever the deadline.
  timespec past = abs_in(CLOCK_MONOTONIC, -1000);
  EXPECT_EQ(::pthread_rwlock_clockwrlock(&l, CLOCK_MONOTONIC, &past), 0);
  EXPECT_EQ(::pthread_rwlock_unlock(&l), 0);
}

TEST_F(RwlockTest, TimedFormsRejectBadArguments) {
  pthread_rwlock_t l = PTHREAD_RWLOCK_INITIALIZER;
  Holder w(&l, true);
  timespec bad{abs_in(CLOCK_REALTIME, 1000).tv_sec, 1000000000L};
  EXPECT_EQ(::pthread_rwlock_timedrdlock(&l, &bad), EINVAL);
  EXPECT_EQ(::pthread_rwlock_timedwrlock(&l, &bad), EINVAL);
  timespec ok = abs_in(CLOCK_MONOTONIC, 1000);
  EXPECT_EQ(::pthread_rwlock_clockrdlock(&l, CLOCK_PROCESS_CPUTIME_ID, &ok), EINVAL);
  EXPECT_EQ(::pthread_rwlock_clockwrlock(&l, CLOCK_PROCESS_CPUTIME_ID, &ok), EINVAL);
}

TEST_F(RwlockTest, WaitingWriterGetsItWhenReadersLeave) {
  pthread_rwlock_t l = PTHREAD_RWLOCK_INITIALIZER;
  std::atomic<int> readers{0};
  std::atomic<bool> writer_in{false}, release{false};
  std::vector<pthread_t> rs;
  for (int i = 0; i < 5; ++i) {
    rs.push_back(spawn([&]() -> void* {
      ::pthread_rwlock_rdlock(&l);
      readers.fetch_add(1);
      wait_until([&] { return release.load(); });
      readers.fetch_sub(1);
      ::pthread_rwlock_unlock(&l);
      return nullptr;
    }));
  }
  ASSERT_TRUE(wait_until([&] { return readers.load() == 5; }));
  std::atomic<int> readers_seen{-1};
  pthread_t w = spawn([&]() -> void* {
    ::pthread_rwlock_wrlock(&l);
    readers_seen = readers.load();
    writer_in = true;
    ::pthread_rwlock_unlock(&l);
    return nullptr;
  });
  sleep_ms(50);
  EXPECT_FALSE(writer_in.load());
  release = true;
  join(w);
  for (pthread_t t : rs) join(t);
  EXPECT_TRUE(writer_in.load());
  EXPECT_EQ(readers_seen.load(), 0);
}

// With writers preferred (a glibc extension), a waiting writer holds new readers back,
// and gets the lock before them; when it gives up (timeout) they may go.
TEST_F(RwlockTest, WriterPreferenceHoldsNewReadersBack) {
  pthread_rwlockattr_t a;
  ASSERT_EQ(::pthread_rwlockattr_init(&a), 0);
  ASSERT_EQ(::pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP), 0);
  pthread_rwlock_t l;
  ASSERT_EQ(::pthread_rwlock_init(&l, &a), 0);
  ::pthread_rwlockattr_destroy(&a);
  std::atomic<int> order{0}, writer_at{0}, reader_at{0};
  {
    Holder r(&l, false);
    pthread_t w = spawn([&]() -> void* {
      ::pthread_rwlock_wrlock(&l);
      writer_at = order.fetch_add(1) + 1;
      sleep_ms(20);
      ::pthread_rwlock_unlock(&l);
      return nullptr;
    });
    sleep_ms(30);  // the writer now waits for the reader
    EXPECT_EQ(::pthread_rwlock_tryrdlock(&l), EBUSY);
    pthread_t late = spawn([&]() -> void* {
      ::pthread_rwlock_rdlock(&l);
      reader_at = order.fetch_add(1) + 1;
      ::pthread_rwlock_unlock(&l);
      return nullptr;
    });
    sleep_ms(30);
    EXPECT_EQ(order.load(), 0);
    r.done();  // the first reader leaves
    join(w);
    join(late);
  }
  EXPECT_EQ(writer_at.load(), 1) << "the waiting writer must get the lock first";
  EXPECT_EQ(reader_at.load(), 2);
  {
    Holder r(&l, false);
    timespec when = abs_in(CLOCK_MONOTONIC, 50);
    EXPECT_EQ(::pthread_rwlock_clockwrlock(&l, CLOCK_MONOTONIC, &when), ETIMEDOUT);
    EXPECT_EQ(::pthread_rwlock_tryrdlock(&l), 0) << "no writer waits any more";
    EXPECT_EQ(::pthread_rwlock_unlock(&l), 0);
  }
  EXPECT_EQ(::pthread_rwlock_destroy(&l), 0);
}

// --- the C++ standard library --------------------------------------------------------

TEST_F(RwlockTest, StdSharedMutex) {
  std::shared_mutex m;
  std::atomic<int> shared_inside{0};
  std::vector<pthread_t> ts;
  for (int i = 0; i < 8; ++i) {
    ts.push_back(spawn([&]() -> void* {
      std::shared_lock<std::shared_mutex> lock(m);
      shared_inside.fetch_add(1);
      return as_ptr(wait_until([&] { return shared_inside.load() == 8; }, 5000));
    }));
  }
  for (pthread_t t : ts) EXPECT_EQ(as_int(join(t)), 1u);
  std::unique_lock<std::shared_mutex> excl(m);
  EXPECT_FALSE(as_int(join(spawn([&m] { return as_ptr(m.try_lock_shared()); }))));
  EXPECT_FALSE(as_int(join(spawn([&m] { return as_ptr(m.try_lock()); }))));
}

TEST_F(RwlockTest, StdSharedTimedMutexTimesOut) {
  std::shared_timed_mutex m;
  std::atomic<bool> held{false}, release{false};
  pthread_t t = spawn([&]() -> void* {
    std::shared_lock<std::shared_timed_mutex> lock(m);
    held = true;
    wait_until([&] { return release.load(); });
    return nullptr;
  });
  ASSERT_TRUE(wait_until([&] { return held.load(); }));
  Stopwatch sw;
  EXPECT_FALSE(m.try_lock_for(100ms));
  EXPECT_GE(sw.ms(), 95);
  EXPECT_TRUE(m.try_lock_shared_for(100ms));
  m.unlock_shared();
  release = true;
  EXPECT_TRUE(m.try_lock_for(5s));
  m.unlock();
  join(t);
}

// Writers of both kinds bump a plain counter under the write lock, readers of both kinds
// check that it never moves while they read.
TEST_F(RwlockTest, SharedWithRealThreadsItExcludesAcrossBoth) {
  static pthread_rwlock_t l = PTHREAD_RWLOCK_INITIALIZER;
  static long counter;
  static std::atomic<int> torn;
  counter = 0;
  torn = 0;
  constexpr int kRounds = 200;
  auto writer = []() -> void* {
    for (int i = 0; i < kRounds; ++i) {
      if (::pthread_rwlock_wrlock(&l) != 0) return as_ptr(1);
      const long before = counter;
      if (i % 16 == 0) sleep_ms(1);  // invites the others in, were exclusion broken
      counter = before + 1;
      ::pthread_rwlock_unlock(&l);
    }
    return nullptr;
  };
  auto reader = []() -> void* {
    for (int i = 0; i < kRounds; ++i) {
      if (::pthread_rwlock_rdlock(&l) != 0) return as_ptr(1);
      const long seen = counter;
      if (i % 16 == 0) sleep_ms(1);
      if (counter != seen) torn.fetch_add(1);
      ::pthread_rwlock_unlock(&l);
    }
    return nullptr;
  };
  std::vector<pthread_t> ts = {spawn_real(writer), spawn(writer), spawn_real(reader), spawn(reader)};
  for (pthread_t t : ts) EXPECT_EQ(join(t), nullptr);
  EXPECT_EQ(counter, 2L * kRounds) << "two writers were inside at once";
  EXPECT_EQ(torn.load(), 0) << "a writer got in while a reader read";
}

// A real thread's write lock holds a thread's read lock back until released.
TEST_F(RwlockTest, RealThreadsWriteLockHoldsReadersBack) {
  static pthread_rwlock_t l = PTHREAD_RWLOCK_INITIALIZER;
  static std::atomic<bool> held{false};
  held = false;
  pthread_t real = spawn_real([]() -> void* {
    ::pthread_rwlock_wrlock(&l);
    held = true;
    sleep_ms(100);
    ::pthread_rwlock_unlock(&l);
    return nullptr;
  });
  ASSERT_TRUE(wait_until([] { return held.load(); }));
  Stopwatch sw;
  EXPECT_EQ(::pthread_rwlock_rdlock(&l), 0);
  EXPECT_GE(sw.ms(), 50) << "the read lock did not wait for the real thread's write lock";
  EXPECT_EQ(::pthread_rwlock_unlock(&l), 0);
  join(real);
}
