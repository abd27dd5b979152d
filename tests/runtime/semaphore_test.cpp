// Semaphore and BoundedSemaphore: counting, FIFO hand-off (no barging), timeouts,
// over-release, and no permit lost to a waiter that is killed or times out.
#include <mutex>
#include <stdexcept>
#include <vector>

#include "support.hpp"

using namespace green;
using namespace green_test;

TEST(Semaphore, CountsPermits) {
  Semaphore s(2);
  EXPECT_EQ(s.value(), 2u);
  EXPECT_TRUE(s.acquire());
  EXPECT_TRUE(s.try_acquire());
  EXPECT_TRUE(s.locked());
  EXPECT_FALSE(s.try_acquire());
  s.release();
  s.release();
  EXPECT_EQ(s.value(), 2u);
  s.release();  // a plain Semaphore may go above its initial value
  EXPECT_EQ(s.value(), 3u);
}

TEST(Semaphore, WaitersAreServedInFifoOrder) {
  Semaphore s(0);
  std::vector<int> order;
  std::vector<Greenlet<void>> gs;
  for (int i = 0; i < 5; ++i) {
    gs.push_back(spawn([&, i] {
      s.acquire();
      order.push_back(i);
      sleep(1ms);
      s.release();
    }));
  }
  yield();
  EXPECT_EQ(s.waiting(), 5u);
  s.release();
  EXPECT_TRUE(joinall(gs, 1s));
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(s.value(), 1u);
}

TEST(Semaphore, ReleaseHandsThePermitToTheOldestWaiter) {
  Semaphore s(0);
  auto waiter = spawn([&] { return s.acquire(1s); });
  yield();
  s.release();
  // The permit is promised to the waiter, which has not run yet: no barging.
  EXPECT_EQ(s.value(), 0u);
  EXPECT_FALSE(s.try_acquire());
  EXPECT_TRUE(waiter.get(1s));
  EXPECT_EQ(s.value(), 0u);
}

TEST(Semaphore, AcquireTimesOut) {
  Semaphore s(0);
  const auto t0 = Clock::now();
  EXPECT_FALSE(s.acquire(20ms));
  EXPECT_GE(ms(since(t0)), 20);
  EXPECT_EQ(s.waiting(), 0u);
  EXPECT_FALSE(s.acquire(0ms));
  s.release();
  EXPECT_TRUE(s.acquire(0ms));
}

TEST(Semaphore, WorksWithLockGuard) {
  Semaphore s(2);
  int inside = 0, most = 0;
  std::vector<Greenlet<void>> gs;
  for (int i = 0; i < 6; ++i) {
    gs.push_back(spawn([&] {
      std::lock_guard<Semaphore> hold(s);
      most = std::max(most, ++inside);
      sleep(1ms);
      --inside;
    }));
  }
  EXPECT_TRUE(joinall(gs, 1s));
  EXPECT_EQ(most, 2);
  EXPECT_EQ(s.value(), 2u);
}

TEST(Semaphore, KilledWaiterDoesNotSwallowAPermit) {
  Semaphore s(0);
  GreenletGuard guard;
  auto a = guard(spawn([&] { return s.acquire(); }));
  auto b = guard(spawn([&] { return s.acquire(); }));
  yield();
  a.kill(false);
  s.release();
  EXPECT_TRUE(b.get(1s));
  EXPECT_TRUE(a.join(1s));
  EXPECT_TRUE(a.killed());
  EXPECT_EQ(s.value(), 0u);

  auto c = guard(spawn([&] { return s.acquire(); }));
  yield();
  c.kill(false);
  s.release();
  EXPECT_TRUE(c.join(1s));
  EXPECT_EQ(s.value(), 1u) << "the permit went to a dying waiter";
}

// The waiter's deadline and a release fall in the same poll: the permit must end up
// exactly once (with the waiter, if acquire() said so, or back in the semaphore).
TEST(Semaphore, NoPermitLostWhenAWaiterTimesOutAsItIsReleased) {
  Semaphore s(0);
  GreenletGuard guard;
  auto releaser = guard(spawn([&] {
    sleep(5ms);
    s.release();
  }));
  auto waiter = guard(spawn([&] { return s.acquire(10ms); }));
  yield();
  busy_wait(30ms);
  EXPECT_TRUE(releaser.join(1s));
  const bool got = waiter.get(1s);
  EXPECT_EQ(static_cast<std::size_t>(got) + s.value(), 1u) << "acquired: " << got;
}

// --- BoundedSemaphore --------------------------------------------------------------------

TEST(BoundedSemaphore, OverReleaseThrows) {
  BoundedSemaphore b(2);
  EXPECT_THROW(b.release(), std::logic_error);
  EXPECT_EQ(b.value(), 2u);
  b.acquire();
  b.release();
  EXPECT_THROW(b.release(), std::logic_error);
  EXPECT_THROW(b.unlock(), std::logic_error);
  EXPECT_EQ(b.value(), 2u);
}

TEST(BoundedSemaphore, WorksWithLockGuard) {
  BoundedSemaphore b(1);
  {
    std::lock_guard<BoundedSemaphore> hold(b);
    EXPECT_TRUE(b.locked());
  }
  EXPECT_EQ(b.value(), 1u);
}

TEST(BoundedSemaphore, ReleaseToAWaiterIsNotAnOverRelease) {
  BoundedSemaphore b(1);
  b.acquire();
  auto g = spawn([&] {
    b.acquire();
    b.release();
  });
  yield();
  EXPECT_NO_THROW(b.release());
  EXPECT_TRUE(g.join(1s));
  EXPECT_TRUE(g.successful());
  EXPECT_EQ(b.value(), 1u);
}
