// Event: every waiter wakes on set(); wait() on a set Event returns at once; a timeout
// returns false; a killed waiter does not hold the others back.
#include <atomic>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace green;
using namespace green_test;

TEST(Event, SetWakesEveryWaiter) {
  Event ev;
  int woken = 0;
  std::vector<Greenlet<bool>> gs;
  for (int i = 0; i < 5; ++i) {
    gs.push_back(spawn([&] {
      const bool r = ev.wait();
      ++woken;
      return r;
    }));
  }
  yield();
  EXPECT_EQ(woken, 0);
  EXPECT_FALSE(ev.is_set());
  ev.set();
  EXPECT_TRUE(ev.is_set());
  EXPECT_EQ(woken, 0);  // set() does not switch
  EXPECT_TRUE(joinall(gs, 1s));
  EXPECT_EQ(woken, 5);
  for (auto& g : gs) EXPECT_TRUE(g.get());
}

TEST(Event, WaitOnASetEventReturnsAtOnce) {
  Event ev;
  ev.set();
  const auto t0 = Clock::now();
  EXPECT_TRUE(ev.wait());
  EXPECT_TRUE(ev.wait(0ms));
  EXPECT_TRUE(ev.wait(1s));
  EXPECT_LT(ms(since(t0)), 500);
}

TEST(Event, ClearMakesWaitersWaitAgain) {
  Event ev;
  ev.set();
  ev.clear();
  EXPECT_FALSE(ev.is_set());
  EXPECT_FALSE(ev.wait(10ms));
}

TEST(Event, WaitTimesOut) {
  Event ev;
  const auto t0 = Clock::now();
  EXPECT_FALSE(ev.wait(20ms));
  EXPECT_GE(ms(since(t0)), 20);
  EXPECT_LT(ms(since(t0)), 900);
  EXPECT_FALSE(ev.wait(0ms));
}

TEST(Event, SetBeforeTheTimeoutWins) {
  Event ev;
  auto setter = spawn([&] {
    sleep(10ms);
    ev.set();
  });
  const auto t0 = Clock::now();
  EXPECT_TRUE(ev.wait(2s));
  EXPECT_GE(ms(since(t0)), 10);
  EXPECT_LT(ms(since(t0)), 1500);
  setter.join();
}

TEST(Event, TimedOutWaiterDoesNotMissALaterSet) {
  Event ev;
  int timeouts = 0;
  auto waiter = spawn([&] {
    while (!ev.wait(5ms)) ++timeouts;
    return true;
  });
  sleep(20ms);
  ev.set();
  EXPECT_TRUE(waiter.get(1s));
  EXPECT_GE(timeouts, 1);
}

TEST(Event, KilledWaiterDoesNotHoldTheOthersBack) {
  Event ev;
  GreenletGuard guard;
  auto a = guard(spawn([&] { return ev.wait(); }));
  auto b = guard(spawn([&] { return ev.wait(); }));
  auto c = guard(spawn([&] { return ev.wait(); }));
  yield();
  b.kill(false);  // b is woken to die, but still queued on the Event
  ev.set();
  EXPECT_TRUE(a.get(1s));
  EXPECT_TRUE(c.get(1s));
  EXPECT_TRUE(b.join(1s));
  EXPECT_TRUE(b.killed());
}

TEST(Event, ReusableAfterClear) {
  Event ev;
  for (int round = 0; round < 3; ++round) {
    auto g = spawn([&] { return ev.wait(1s); });
    yield();
    ev.set();
    EXPECT_TRUE(g.get());
    ev.clear();
  }
}

// --- set() from another OS thread ---------------------------------------------------------
// The wake goes through the waiter's hub (its remote list and a kick), not the setter's.

TEST(Event, SetFromAnotherThreadWakesAWaiterWithATimeout) {
  Event ev;
  const auto t0 = Clock::now();
  std::thread setter([&] {
    std::this_thread::sleep_for(50ms);
    ev.set();
  });
  EXPECT_TRUE(ev.wait(5s));
  setter.join();
  EXPECT_LT(ms(since(t0)), 2000);
}

TEST(Event, SetFromAnotherThreadWakesEveryGreenletWaiting) {
  GreenletGuard guard;
  Event ev;
  std::atomic<int> woken{0};
  std::vector<Greenlet<void>> gs;
  for (int i = 0; i < 10; ++i) {
    gs.push_back(guard(spawn([&] {
      if (ev.wait(5s)) ++woken;
    })));
  }
  sleep(10ms);  // all wait
  std::thread setter([&] { ev.set(); });
  for (auto& g : gs) g.join();
  setter.join();
  EXPECT_EQ(woken.load(), 10);
}

// Many rounds of a wait that times out just as the other thread sets: a late remote wake
// must never end a later wait of the same greenlet.
TEST(Event, RacingSetsAndTimeoutsNeverWakeALaterWait) {
  for (int round = 0; round < 200; ++round) {
    Event ev, never;
    std::thread setter([&] { ev.set(); });
    ev.wait(1ms);
    setter.join();
    EXPECT_FALSE(never.wait(1ms));
  }
}
