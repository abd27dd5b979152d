// Lock and RLock: mutual exclusion across switches, the std lock adaptors, timeouts, and
// the error paths (releasing an unlocked Lock; an RLock released by a non-owner).
#include <mutex>
#include <stdexcept>
#include <vector>

#include "support.hpp"

using namespace green;
using namespace green_test;

TEST(Lock, ExcludesAcrossSwitchesWithLockGuard) {
  Lock lock;
  int inside = 0;
  int most = 0;
  std::vector<Greenlet<void>> gs;
  for (int i = 0; i < 5; ++i) {
    gs.push_back(spawn([&] {
      for (int k = 0; k < 3; ++k) {
        std::lock_guard<Lock> hold(lock);
        ++inside;
        most = std::max(most, inside);
        sleep(1ms);
        --inside;
      }
    }));
  }
  EXPECT_TRUE(joinall(gs, 2s));
  EXPECT_EQ(most, 1);
  EXPECT_FALSE(lock.locked());
}

TEST(Lock, WorksWithUniqueLock) {
  Lock lock;
  {
    std::unique_lock<Lock> a(lock);
    EXPECT_TRUE(a.owns_lock());
    EXPECT_TRUE(lock.locked());
    auto g = spawn([&] {
      std::unique_lock<Lock> b(lock, std::try_to_lock);
      return b.owns_lock();
    });
    EXPECT_FALSE(g.get());
    a.unlock();
    EXPECT_FALSE(lock.locked());
    a.lock();
  }
  EXPECT_FALSE(lock.locked());
  std::unique_lock<Lock> c(lock, std::defer_lock);
  EXPECT_FALSE(c.owns_lock());
  EXPECT_TRUE(c.try_lock());
  EXPECT_TRUE(lock.locked());
}

TEST(Lock, ReleasingAnUnlockedLockThrows) {
  Lock lock;
  EXPECT_THROW(lock.release(), std::logic_error);
  lock.acquire();
  lock.release();
  EXPECT_THROW(lock.release(), std::logic_error);
  EXPECT_FALSE(lock.locked());
  EXPECT_TRUE(lock.try_acquire());  // the failed release did not add a permit
  EXPECT_FALSE(lock.try_acquire());
  lock.release();
}

TEST(Lock, AnyGreenletMayReleaseIt) {
  Lock lock;
  lock.acquire();
  auto g = spawn([&] { lock.release(); });
  g.join();
  EXPECT_TRUE(g.successful());
  EXPECT_FALSE(lock.locked());
}

TEST(Lock, AcquireTimesOut) {
  Lock lock;
  lock.acquire();
  auto g = spawn([&] {
    const auto t0 = Clock::now();
    const bool got = lock.acquire(20ms);
    return got ? -1 : ms(since(t0));
  });
  const long long waited = g.get(1s);
  EXPECT_GE(waited, 20);
  EXPECT_TRUE(lock.locked());
  lock.release();
  EXPECT_FALSE(lock.locked());
}

TEST(Lock, WaiterGetsItWhenReleased) {
  Lock lock;
  lock.acquire();
  auto g = spawn([&] { return lock.acquire(1s); });
  yield();
  lock.release();
  EXPECT_TRUE(g.get(1s));
  EXPECT_TRUE(lock.locked());  // now held by the (dead) waiter
  lock.release();
}

// --- RLock ---------------------------------------------------------------------------------

TEST(RLock, OwnerReentersAndReleasesAsOften) {
  RLock r;
  {
    std::lock_guard<RLock> a(r);
    {
      std::lock_guard<RLock> b(r);
      std::unique_lock<RLock> c(r);
      EXPECT_EQ(r.count(), 3u);
    }
    EXPECT_EQ(r.count(), 1u);
    EXPECT_TRUE(r.locked());
  }
  EXPECT_FALSE(r.locked());
  EXPECT_EQ(r.count(), 0u);
}

TEST(RLock, BlocksOtherGreenletsUntilFullyReleased) {
  RLock r;
  r.acquire();
  r.acquire();
  bool got = false;
  auto g = spawn([&] {
    EXPECT_FALSE(r.try_acquire());
    const auto t0 = Clock::now();
    EXPECT_FALSE(r.acquire(20ms));
    EXPECT_GE(ms(since(t0)), 20);
    got = r.acquire(1s);
    r.release();
  });
  sleep(30ms);
  r.release();
  yield();
  EXPECT_FALSE(got);  // still held once
  r.release();
  EXPECT_TRUE(g.join(1s));
  EXPECT_TRUE(got);
  EXPECT_FALSE(r.locked());
}

TEST(RLock, ReleaseByANonOwnerThrows) {
  RLock r;
  EXPECT_THROW(r.release(), std::logic_error);  // nobody owns it
  r.acquire();
  auto g = spawn([&] {
    try {
      r.release();
      return false;
    } catch (const std::logic_error&) {
      return true;
    }
  });
  EXPECT_TRUE(g.get(1s));
  EXPECT_TRUE(r.locked());
  EXPECT_EQ(r.count(), 1u);
  r.release();
  EXPECT_FALSE(r.locked());
}

TEST(RLock, OwnersTakeTurns) {
  RLock r;
  std::vector<int> order;
  std::vector<Greenlet<void>> gs;
  for (int i = 0; i < 3; ++i) {
    gs.push_back(spawn([&, i] {
      std::lock_guard<RLock> a(r);
      std::lock_guard<RLock> b(r);
      order.push_back(i);
      sleep(1ms);
      order.push_back(i);
    }));
  }
  EXPECT_TRUE(joinall(gs, 1s));
  EXPECT_EQ(order, (std::vector<int>{0, 0, 1, 1, 2, 2}));
}
