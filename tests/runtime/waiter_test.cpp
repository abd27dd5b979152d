// WaitQueue and wait_on, the one parking path under every primitive: FIFO wake-ups, a
// turn passed over waiters that were already woken, timeouts, and removal on every exit.
#include <vector>

#include "support.hpp"

using namespace green;
using namespace green_test;
using green::detail::Deadline;
using green::detail::deadline_after;
using green::detail::kNoDeadline;
using green::detail::Wake;
using green::detail::WaitQueue;
using green::detail::wait_on;

TEST(WaitQueue, NotifyOnEmptyQueueReportsNobody) {
  WaitQueue q;
  EXPECT_TRUE(q.empty());
  EXPECT_FALSE(q.notify_one());
  q.notify_all();
  EXPECT_EQ(q.size(), 0u);
}

TEST(WaitQueue, NotifyOneWakesTheOldest) {
  WaitQueue q;
  std::vector<int> order;
  std::vector<Greenlet<void>> gs;
  for (int i = 0; i < 3; ++i) {
    gs.push_back(spawn([&, i] {
      EXPECT_EQ(wait_on(q, kNoDeadline), Wake::notified);
      order.push_back(i);
    }));
  }
  yield();
  EXPECT_EQ(q.size(), 3u);
  EXPECT_TRUE(q.notify_one());
  EXPECT_EQ(q.size(), 2u);
  yield();
  EXPECT_EQ(order, (std::vector<int>{0}));
  q.notify_all();
  EXPECT_TRUE(q.empty());
  EXPECT_TRUE(joinall(gs, 1s));
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
}

TEST(WaitQueue, TurnSkipsAWaiterThatWasAlreadyWoken) {
  WaitQueue q;
  GreenletGuard guard;
  auto dying = guard(spawn([&] { wait_on(q, kNoDeadline); }));
  auto live = guard(spawn([&] { return wait_on(q, kNoDeadline); }));
  yield();
  dying.kill(false);
  EXPECT_TRUE(q.notify_one()) << "the turn was given to a greenlet that will not take it";
  EXPECT_EQ(live.get(1s), Wake::notified);
  EXPECT_TRUE(dying.join(1s));
  EXPECT_TRUE(q.empty());
}

TEST(WaitQueue, DeadlineReturnsTimedOutAndLeavesTheQueue) {
  WaitQueue q;
  const auto t0 = Clock::now();
  EXPECT_EQ(wait_on(q, deadline_after(20ms)), Wake::timed_out);
  EXPECT_GE(ms(since(t0)), 20);
  EXPECT_TRUE(q.empty());
  const Deadline past = detail::now_ns() - 1;
  EXPECT_EQ(wait_on(q, past), Wake::timed_out);
  EXPECT_TRUE(q.empty());
}

TEST(WaitQueue, InterruptionLeavesTheQueue) {
  WaitQueue q;
  GreenletGuard guard;
  auto g = guard(spawn([&] { wait_on(q, kNoDeadline); }));
  yield();
  EXPECT_EQ(q.size(), 1u);
  EXPECT_TRUE(g.kill(true, 1s));
  EXPECT_TRUE(q.empty());
  EXPECT_THROW(wait_on(q, kNoDeadline), LoopExit);
  EXPECT_TRUE(q.empty());
}
