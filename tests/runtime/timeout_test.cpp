// Timeout scopes and with_timeout: firing and not firing, nesting, cancel, and the races a
// firing can lose or win against other wake-ups (already woken, killed, another Timeout).
//
// Several tests need two timers to expire in the same poll of the hub. They get it by
// busy-waiting (never blocking) past both deadlines: the hub does not run meanwhile, and
// libev then runs the expired timers' callbacks in deadline order.
#include <unistd.h>

#include <functional>
#include <vector>

#include "support.hpp"

using namespace green;
using namespace green_test;

namespace {

// Records, as its scope ends (normally or by unwinding), whether a Timeout had fired.
struct FiredAtScopeEnd {
  const Timeout* t;
  bool* fired;
  ~FiredAtScopeEnd() { *fired = t->fired(); }
};

}  // namespace

TEST(Timeout, FiresAndThrowsFromItsScope) {
  const auto t0 = Clock::now();
  Timeout t(20ms);
  try {
    sleep(1s);
    ADD_FAILURE() << "sleep outlived its Timeout";
  } catch (const TimeoutError& e) {
    EXPECT_TRUE(t.is(e));
  }
  EXPECT_TRUE(t.fired());
  EXPECT_GE(ms(since(t0)), 20);
  EXPECT_LT(ms(since(t0)), 900);
}

TEST(Timeout, DoesNotFireWhenTheWorkEndsFirst) {
  {
    Timeout t(500ms);
    sleep(5ms);
    EXPECT_FALSE(t.fired());
  }
  Timeout t(forever);
  sleep(5ms);
  EXPECT_FALSE(t.fired());
}

TEST(Timeout, NeverFiresAfterItsScope) {
  {
    Timeout t(20ms);
    sleep(1ms);
  }
  EXPECT_NO_THROW(sleep(50ms));
}

TEST(Timeout, CancelStopsIt) {
  Timeout t(20ms);
  t.cancel();
  EXPECT_NO_THROW(sleep(50ms));
  EXPECT_FALSE(t.fired());
}

// Cooperative: code that never blocks cannot be interrupted; the next blocking call inside
// the scope is.
TEST(Timeout, DoesNotInterruptWorkThatNeverBlocks) {
  {
    Timeout t(10ms);
    busy_wait(30ms);
  }
  EXPECT_NO_THROW(sleep(20ms));
  const auto t0 = Clock::now();
  Timeout t(10ms);
  busy_wait(30ms);
  EXPECT_THROW(sleep(1s), TimeoutError);
  EXPECT_LT(ms(since(t0)), 900);
}

TEST(Timeout, WithTimeoutFiresOrReturnsTheValue) {
  const auto t0 = Clock::now();
  EXPECT_THROW(with_timeout(20ms, [] { sleep(1s); }), TimeoutError);
  EXPECT_GE(ms(since(t0)), 20);
  EXPECT_LT(ms(since(t0)), 900);
  EXPECT_EQ(with_timeout(1s, [](int x) { sleep(1ms); return 2 * x; }, 21), 42);
  EXPECT_NO_THROW(sleep(5ms));
}

// Every blocking primitive honours a Timeout scope.
TEST(Timeout, InterruptsEveryKindOfWait) {
  Event never_set;
  Queue<int> empty_q;
  Queue<int> full_q(1);
  full_q.put_nowait(0);
  Semaphore no_permit(0);
  Lock held;
  held.acquire();
  AsyncResult<int> unset;
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  GreenletGuard guard;
  auto blocked = guard(spawn([&] { never_set.wait(); }));

  const std::vector<std::pair<const char*, std::function<void()>>> waits = {
      {"Event::wait", [&] { never_set.wait(); }},
      {"Queue::get", [&] { empty_q.get(); }},
      {"Queue::put", [&] { full_q.put(1); }},
      {"Semaphore::acquire", [&] { no_permit.acquire(); }},
      {"Lock::acquire", [&] { held.acquire(); }},
      {"AsyncResult::get", [&] { unset.get(); }},
      {"Greenlet::join", [&] { blocked.join(); }},
      {"wait_read", [&] { wait_read(fds[0]); }},
      {"sleep", [&] { sleep(1s); }},
  };
  for (const auto& [name, wait] : waits) {
    const auto t0 = Clock::now();
    Timeout t(10ms);
    try {
      wait();
      ADD_FAILURE() << name << " returned";
    } catch (const TimeoutError& e) {
      EXPECT_TRUE(t.is(e)) << name;
    }
    EXPECT_GE(ms(since(t0)), 10) << name;
  }
  EXPECT_EQ(full_q.size(), 1u);
  EXPECT_EQ(no_permit.waiting(), 0u);
  held.release();
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(Timeout, BelongsToTheGreenletThatCreatedIt) {
  bool timed_out = false;
  auto g = spawn([&] {
    Timeout t(10ms);
    try {
      sleep(1s);
    } catch (const TimeoutError&) {
      timed_out = true;
    }
  });
  EXPECT_NO_THROW(sleep(40ms));  // the main greenlet blocks across g's firing
  EXPECT_TRUE(g.join(1s));
  EXPECT_TRUE(timed_out);
}

// --- nesting -------------------------------------------------------------------------------

TEST(Timeout, NestedInnerFires) {
  Timeout outer(1s);
  const void* inner_id = nullptr;
  bool inner_caught = false;
  try {
    Timeout inner(20ms);
    inner_id = &inner;
    sleep(900ms);
  } catch (const TimeoutError& e) {
    inner_caught = (e.source == inner_id);
  }
  EXPECT_TRUE(inner_caught);
  EXPECT_NO_THROW(sleep(5ms));  // still inside the outer scope, which has not fired
  EXPECT_FALSE(outer.fired());
}

TEST(Timeout, NestedOuterFires) {
  const void* outer_id = nullptr;
  bool inner_saw_outer = false;
  bool outer_caught = false;
  try {
    Timeout outer(20ms);
    outer_id = &outer;
    try {
      Timeout inner(1s);
      sleep(900ms);
    } catch (const TimeoutError& e) {
      inner_saw_outer = (e.source == outer_id);
      throw;
    }
  } catch (const TimeoutError& e) {
    outer_caught = (e.source == outer_id);
  }
  EXPECT_TRUE(inner_saw_outer);
  EXPECT_TRUE(outer_caught);
  EXPECT_NO_THROW(sleep(30ms));  // the inner one was cancelled with its scope
}

// Both scopes expire in the same poll: the inner one's TimeoutError is handled inside the
// outer scope, whose own firing must still be delivered at the next blocking call.
TEST(Timeout, OuterFiringIsNotLostWhenTheInnerFiresInTheSamePoll) {
  Event never;
  bool inner_caught = false;
  bool outer_caught = false;
  bool waited_out = false;
  auto g = spawn([&] {
    const void* outer_id = nullptr;
    try {
      Timeout outer(20ms);
      outer_id = &outer;
      const void* inner_id = nullptr;
      try {
        Timeout inner(25ms);
        inner_id = &inner;
        never.wait();
      } catch (const TimeoutError& e) {
        if (e.source != inner_id) throw;
        inner_caught = true;
      }
      never.wait(200ms);  // the outer Timeout has fired: this must throw at once
      waited_out = true;
    } catch (const TimeoutError& e) {
      outer_caught = (e.source == outer_id);
    }
  });
  yield();
  busy_wait(50ms);
  EXPECT_TRUE(g.join(1s));
  EXPECT_TRUE(outer_caught) << "inner caught: " << inner_caught
                            << ", waited the full 200 ms: " << waited_out;
}

// --- a firing that loses the race ---------------------------------------------------------

// The owner was already woken (its own wait timed out) when the Timeout fired: the firing
// is pending for it, and must be withdrawn when the scope ends rather than thrown later.
TEST(Timeout, FiringAfterTheOwnerWasWokenDoesNotThrowOutsideTheScope) {
  Event never;
  bool wait_result = true;
  bool fired = false;
  bool threw_inside = false;
  bool threw_outside = false;
  auto g = spawn([&] {
    {
      Timeout t(20ms);
      try {
        wait_result = never.wait(10ms);
      } catch (const TimeoutError&) {
        threw_inside = true;
      }
      fired = t.fired();
    }
    try {
      sleep(30ms);
    } catch (const TimeoutError&) {
      threw_outside = true;
    }
  });
  yield();
  busy_wait(40ms);  // both deadlines pass; the wait's own timer fires first
  EXPECT_TRUE(g.join(1s));
  EXPECT_TRUE(g.successful());
  EXPECT_FALSE(threw_outside);
  EXPECT_FALSE(threw_inside);
  EXPECT_FALSE(wait_result);
  EXPECT_TRUE(fired) << "the race under test did not happen";
}

// A kill is pending for a victim (it sits behind many ready greenlets) when its Timeout
// fires: the kill must not be replaced by the TimeoutError, or a victim that handles
// timeouts survives its kill.
//
// The race needs the hub to poll while the victim waits in the run queue: the hub does so
// after a run of direct switches that lasts longer than its poll interval, hence the 200
// ready greenlets ahead of the victim and the killer's busy wait. If a scheduling change
// stops the Timeout from firing before the victim runs, the test says so and skips.
TEST(Timeout, FiringDoesNotReplaceAPendingKill) {
  Event never;
  bool caught_timeout = false;
  bool survived = false;
  bool raced = false;
  GreenletGuard guard;
  auto victim = guard(spawn([&] {
    try {
      Timeout t(20ms);
      FiredAtScopeEnd observe{&t, &raced};
      never.wait();
    } catch (const TimeoutError&) {
      caught_timeout = true;
    }
    survived = true;
    never.wait(100ms);
  }));
  auto killer = guard(spawn([&] {
    sleep(5ms);
    for (int i = 0; i < 200; ++i) spawn([] {});
    victim.kill(false);
    busy_wait(40ms);
  }));
  EXPECT_TRUE(killer.join(1s));
  EXPECT_TRUE(victim.join(1s));
  if (!raced) GTEST_SKIP() << "the Timeout did not fire before the victim ran: no race";
  EXPECT_TRUE(victim.killed()) << "caught TimeoutError: " << caught_timeout;
  EXPECT_FALSE(survived);
}

// Same race, but the victim had also been woken normally (its Event was set) before the
// kill: the TimeoutError that replaced the kill is then withdrawn when the scope ends, and
// the victim carries on as if neither had happened, without catching anything. The kill
// must still end it at its next blocking call.
TEST(Timeout, ScopeEndDoesNotWithdrawAPendingKill) {
  Event ev;
  bool completed = false;
  bool raced = false;
  GreenletGuard guard;
  auto victim = guard(spawn([&] {
    {
      Timeout t(20ms);
      FiredAtScopeEnd observe{&t, &raced};
      ev.wait();
    }
    Event never;
    never.wait(100ms);
    completed = true;
  }));
  auto killer = guard(spawn([&] {
    sleep(5ms);
    for (int i = 0; i < 200; ++i) spawn([] {});
    ev.set();
    victim.kill(false);
    busy_wait(40ms);
  }));
  EXPECT_TRUE(killer.join(1s));
  EXPECT_TRUE(victim.join(1s));
  if (!raced) GTEST_SKIP() << "the Timeout did not fire before the victim ran: no race";
  EXPECT_TRUE(victim.killed());
  EXPECT_FALSE(completed);
}

// The other order: the Timeout fired first, then the kill came before the victim ran. The
// victim must die.
TEST(Timeout, KillAfterAFiringStillKills) {
  Event never;
  bool survived = false;
  GreenletGuard guard;
  auto victim = guard(spawn([&] {
    try {
      Timeout t(10ms);
      never.wait();
    } catch (const TimeoutError&) {
    }
    survived = true;
    never.wait(100ms);
  }));
  auto killer = guard(spawn([&] {
    sleep(5ms);  // expires before the victim's Timeout: runs first after the poll
    victim.kill(false);
  }));
  yield();
  busy_wait(20ms);
  EXPECT_TRUE(killer.join(1s));
  EXPECT_TRUE(victim.join(1s));
  EXPECT_TRUE(victim.killed());
  EXPECT_FALSE(survived);
}
