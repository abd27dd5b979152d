// shim/spin.cpp, as a plain POSIX program: pthread_spin_lock excludes, trylock is EBUSY
// while the lock is held, and a thread spinning for a lock held by a sleeping thread
// gets it when that thread wakes and lets go. Runs without the shim and under
// LD_PRELOAD, where the spinners are greenlets that must yield instead of spinning.
#include <atomic>
#include <vector>

#include "threads_util.hpp"

using namespace threads_test;

namespace {
class SpinTest : public ThreadsTest {};

// On x86-64 glibc's pthread_spin_init (an alias of pthread_spin_unlock) stores 1 for free
// and a holder stores 0: these tests would hang under a shim that assumed 0 meant free.
}  // namespace

TEST_F(SpinTest, SpinlockExcludes) {
  pthread_spinlock_t l;
  ASSERT_EQ(::pthread_spin_init(&l, PTHREAD_PROCESS_PRIVATE), 0);
  struct Shared {
    pthread_spinlock_t* l;
    std::atomic<int> inside{0}, max_inside{0};
    long counter = 0;
  } sh{&l};
  std::vector<pthread_t> ts;
  for (int i = 0; i < 4; ++i) {
    ts.push_back(spawn([&sh]() -> void* {
      for (int r = 0; r < 200; ++r) {
        if (::pthread_spin_lock(sh.l) != 0) return as_ptr(1);
        const int now = sh.inside.fetch_add(1) + 1;
        if (now > sh.max_inside.load()) sh.max_inside = now;
        const long c = sh.counter;
        if (r % 20 == 0) ::sched_yield();  // invite the others in now and then
        sh.counter = c + 1;
        sh.inside.fetch_sub(1);
        if (::pthread_spin_unlock(sh.l) != 0) return as_ptr(2);
      }
      return nullptr;
    }));
  }
  for (pthread_t t : ts) EXPECT_EQ(join(t), nullptr);
  EXPECT_EQ(sh.max_inside.load(), 1);
  EXPECT_EQ(sh.counter, 4 * 200);
  EXPECT_EQ(::pthread_spin_destroy(&l), 0);
}

TEST_F(SpinTest, TrylockIsEbusyWhileHeld) {
  pthread_spinlock_t l;
  ASSERT_EQ(::pthread_spin_init(&l, PTHREAD_PROCESS_SHARED), 0);
  ASSERT_EQ(::pthread_spin_trylock(&l), 0);
  EXPECT_EQ(::pthread_spin_trylock(&l), EBUSY);  // the holder too: not recursive
  EXPECT_EQ(as_int(join(spawn([&l] { return as_ptr(::pthread_spin_trylock(&l)); }))),
            static_cast<std::uintptr_t>(EBUSY));
  EXPECT_EQ(::pthread_spin_unlock(&l), 0);
  EXPECT_EQ(as_int(join(spawn([&l]() -> void* {
              if (::pthread_spin_trylock(&l) != 0) return as_ptr(1);
              return as_ptr(::pthread_spin_unlock(&l) == 0 ? 100 : 2);
            }))),
            100u);
  EXPECT_EQ(::pthread_spin_destroy(&l), 0);
}

// The holder sleeps with the lock held; the spinners must neither get it early nor keep
// the holder from waking up (under the shim: they must let the hub run its timers).
TEST_F(SpinTest, SpinnersWaitForASleepingHolder) {
  pthread_spinlock_t l;
  ASSERT_EQ(::pthread_spin_init(&l, PTHREAD_PROCESS_PRIVATE), 0);
  std::atomic<bool> held{false}, released{false};
  pthread_t holder = spawn([&]() -> void* {
    ::pthread_spin_lock(&l);
    held = true;
    sleep_ms(100);
    released = true;
    ::pthread_spin_unlock(&l);
    return nullptr;
  });
  ASSERT_TRUE(wait_until([&] { return held.load(); }));
  Stopwatch sw;
  std::vector<pthread_t> spinners;
  for (int i = 0; i < 4; ++i) {
    spinners.push_back(spawn([&]() -> void* {
      ::pthread_spin_lock(&l);
      const bool after = released.load();
      ::pthread_spin_unlock(&l);
      return as_ptr(after);
    }));
  }
  for (pthread_t t : spinners) EXPECT_EQ(as_int(join(t)), 1u) << "a spinner got the lock while it was held";
  join(holder);
  EXPECT_GE(sw.ms(), 80);
  EXPECT_LT(sw.ms(), 2000);
  EXPECT_EQ(::pthread_spin_destroy(&l), 0);
}
