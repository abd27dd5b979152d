// Greenlets: results, stored exceptions, kill (blocked, not yet started, non-blocking), join
// and get timeouts, and what a switch must preserve per greenlet: errno and the C++
// exception state (caught exceptions, std::uncaught_exceptions()).
#include <cerrno>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace green;
using namespace green_test;

namespace {

struct Raii {
  int* count;
  ~Raii() { ++*count; }
};

std::string what_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "(not a std::exception)";
  }
}

struct Counted {
  static inline int alive = 0;
  Counted() { ++alive; }
  Counted(const Counted&) { ++alive; }
  ~Counted() { --alive; }
};

bool is_greenlet_exit(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const GreenletExit&) {
    return true;
  } catch (...) {
    return false;
  }
}

}  // namespace

// --- results -------------------------------------------------------------------------------

TEST(Greenlet, ReturnsItsValue) {
  auto g = spawn([](int a, int b) { return a + b; }, 2, 3);
  EXPECT_TRUE(g.started());
  EXPECT_FALSE(g.ready());
  EXPECT_EQ(g.get(), 5);
  EXPECT_TRUE(g.dead());
  EXPECT_TRUE(g.successful());
  EXPECT_FALSE(g.killed());
  EXPECT_FALSE(g.exception());
  ASSERT_TRUE(g.value().has_value());
  EXPECT_EQ(*g.value(), 5);
}

TEST(Greenlet, RunsOnlyOnceTheSpawnerBlocks) {
  bool ran = false;
  auto g = spawn([&] { ran = true; });
  EXPECT_FALSE(ran);
  yield();
  EXPECT_TRUE(ran);
  EXPECT_TRUE(g.dead());
}

TEST(Greenlet, CopiesOrMovesItsArguments) {
  std::string s = "before";
  auto p = std::make_unique<int>(7);
  auto g = spawn([](const std::string& str, std::unique_ptr<int> q) { return str + std::to_string(*q); },
                 s, std::move(p));
  s = "after";
  EXPECT_EQ(g.get(), "before7");
}

TEST(Greenlet, RunsAMemberFunction) {
  struct Counter {
    int n = 0;
    int add(int k) { return n += k; }
  } c;
  auto g = spawn(&Counter::add, &c, 4);
  EXPECT_EQ(g.get(), 4);
  EXPECT_EQ(c.n, 4);
}

TEST(Greenlet, RunsWhenItsHandleIsDropped) {
  int ran = 0;
  for (int i = 0; i < 3; ++i) spawn([&] { ++ran; });
  sleep(1ms);
  EXPECT_EQ(ran, 3);
}

TEST(Greenlet, IsFreedOnceDeadAndUnreferenced) {
  auto g = spawn([] { sleep(1ms); });
  std::weak_ptr<detail::GreenletImpl> w = g.impl();
  g.join();
  g = {};
  EXPECT_TRUE(w.expired());
}

TEST(Greenlet, GetcurrentNamesTheRunningGreenlet) {
  const AnyGreenlet main1 = getcurrent();
  EXPECT_TRUE(main1 == getcurrent());
  AnyGreenlet inside;
  auto g = spawn([&] { inside = getcurrent(); });
  g.join();
  EXPECT_TRUE(inside == g);
  EXPECT_FALSE(inside == main1);
  EXPECT_NE(g.id(), main1.id());
}

// --- exceptions escaping a greenlet ------------------------------------------------------

TEST(Greenlet, EscapingExceptionIsStored) {
  auto g = spawn([]() -> int { throw std::runtime_error("boom"); });
  EXPECT_TRUE(g.join(1s));
  EXPECT_TRUE(g.dead());
  EXPECT_FALSE(g.successful());
  EXPECT_FALSE(g.killed());
  ASSERT_TRUE(g.exception());
  EXPECT_EQ(what_of(g.exception()), "boom");
  EXPECT_FALSE(g.value().has_value());
  EXPECT_THROW(g.get(), std::runtime_error);
  EXPECT_THROW(g.get(), std::runtime_error);  // every get() rethrows
}

TEST(Greenlet, NonStandardExceptionIsStored) {
  auto g = spawn([] { throw 42; });
  g.join();
  EXPECT_FALSE(g.successful());
  EXPECT_THROW(g.get(), int);
}

// The one-line report goes to stderr, the process survives, and GREEN_QUIET=1 silences it.
GREEN_TEST_CHILD(escaping_exception) {
  auto bad = spawn([] { throw std::runtime_error("boom"); });
  bad.join();
  Event never;
  auto victim = spawn([&] { never.wait(); });
  yield();
  victim.kill();
  auto good = spawn([] { return 1; });
  std::printf("alive %d %d\n", good.get(), bad.successful() ? 1 : 0);
  return 0;
}

TEST(Greenlet, EscapingExceptionIsReportedAndNeverTerminates) {
  const ChildResult loud = run_child("escaping_exception", {"GREEN_QUIET"});
  EXPECT_TRUE(loud.exited_ok()) << loud.describe();
  EXPECT_NE(loud.output.find("failed with std::runtime_error: boom"), std::string::npos)
      << loud.output;
  EXPECT_EQ(loud.output.find("GreenletExit"), std::string::npos) << "a kill is not a failure";
  EXPECT_NE(loud.output.find("alive 1 0"), std::string::npos) << loud.output;

  const ChildResult quiet = run_child("escaping_exception", {"GREEN_QUIET=1"});
  EXPECT_TRUE(quiet.exited_ok()) << quiet.describe();
  EXPECT_EQ(quiet.output.find("failed with"), std::string::npos) << quiet.output;
}

// --- kill ----------------------------------------------------------------------------------

TEST(Greenlet, KillUnwindsABlockedGreenletAndWakesItsJoiners) {
  Event never;
  int destroyed = 0;
  bool after_wait = false;
  bool joined = false;
  GreenletGuard guard;
  auto victim = guard(spawn([&] {
    Raii r{&destroyed};
    never.wait();
    after_wait = true;
  }));
  auto joiner = guard(spawn([&] {
    victim.join();
    joined = true;
  }));
  yield();
  EXPECT_FALSE(joined);
  EXPECT_TRUE(victim.kill());
  EXPECT_EQ(destroyed, 1);
  EXPECT_FALSE(after_wait);
  EXPECT_TRUE(victim.dead());
  EXPECT_TRUE(victim.killed());
  EXPECT_FALSE(victim.successful());
  EXPECT_TRUE(is_greenlet_exit(victim.exception()));
  EXPECT_THROW(victim.get(), GreenletExit);
  EXPECT_TRUE(joiner.join(1s));
  EXPECT_TRUE(joined);
}

TEST(Greenlet, KillBeforeStartNeverRunsTheBody) {
  bool ran = false;
  auto captured = std::make_shared<int>(1);
  std::weak_ptr<int> w = captured;
  auto g = spawn([&ran, c = std::move(captured)] { ran = true; });
  EXPECT_TRUE(g.kill());
  EXPECT_FALSE(ran);
  EXPECT_TRUE(g.dead());
  EXPECT_TRUE(g.killed());
  EXPECT_TRUE(is_greenlet_exit(g.exception()));
  EXPECT_TRUE(w.expired()) << "the callable's captures outlive the greenlet";
}

TEST(Greenlet, KillWithoutBlockReturnsAtOnce) {
  Event never;
  int destroyed = 0;
  GreenletGuard guard;
  auto victim = guard(spawn([&] {
    Raii r{&destroyed};
    never.wait();
  }));
  yield();
  const auto t0 = Clock::now();
  EXPECT_FALSE(victim.kill(false));
  EXPECT_LT(ms(since(t0)), 500);
  EXPECT_FALSE(victim.dead());
  EXPECT_EQ(destroyed, 0);  // it unwinds when it next runs, not inside kill()
  EXPECT_TRUE(victim.join(1s));
  EXPECT_TRUE(victim.killed());
  EXPECT_EQ(destroyed, 1);
}

TEST(Greenlet, KillNotYetStartedWithoutBlock) {
  bool ran = false;
  auto g = spawn([&] { ran = true; });
  EXPECT_FALSE(g.kill(false));
  EXPECT_TRUE(g.join(1s));
  EXPECT_FALSE(ran);
  EXPECT_TRUE(g.killed());
}

TEST(Greenlet, KillOfAReadyGreenletTakesEffectAtItsNextSwitch) {
  int rounds = 0;
  auto g = spawn([&] {
    for (;;) {
      ++rounds;
      yield();
    }
  });
  yield();
  EXPECT_EQ(rounds, 1);
  EXPECT_TRUE(g.kill(true, 1s));
  EXPECT_TRUE(g.killed());
  EXPECT_EQ(rounds, 1);
}

TEST(Greenlet, KillWithTimeoutReportsAVictimThatIgnoresIt) {
  Event stop;
  auto g = spawn([&] {
    try {
      stop.wait();
    } catch (...) {
    }
    sleep(50ms);
  });
  yield();
  const auto t0 = Clock::now();
  EXPECT_FALSE(g.kill(true, 20ms));
  EXPECT_GE(ms(since(t0)), 20);
  EXPECT_TRUE(g.join(2s));
  EXPECT_FALSE(g.killed()) << "it swallowed the GreenletExit and returned";
  EXPECT_TRUE(g.successful());
}

TEST(Greenlet, KillItselfEndsIt) {
  bool after = false;
  auto g = spawn([&] {
    getcurrent().kill();
    after = true;
  });
  g.join();
  EXPECT_FALSE(after);
  EXPECT_TRUE(g.killed());
}

TEST(Greenlet, KillOfADeadGreenletIsHarmless) {
  auto g = spawn([] { return 3; });
  EXPECT_EQ(g.get(), 3);
  EXPECT_TRUE(g.kill());
  EXPECT_TRUE(g.successful());
  EXPECT_FALSE(g.killed());
}

// --- join and get timeouts ---------------------------------------------------------------

TEST(Greenlet, JoinTimesOut) {
  Event go;
  GreenletGuard guard;
  auto g = guard(spawn([&] { go.wait(); }));
  const auto t0 = Clock::now();
  EXPECT_FALSE(g.join(20ms));
  EXPECT_GE(ms(since(t0)), 20);
  EXPECT_FALSE(g.dead());
  go.set();
  EXPECT_TRUE(g.join(1s));
}

TEST(Greenlet, GetTimesOutWithTimeoutError) {
  Event go;
  GreenletGuard guard;
  auto g = guard(spawn([&] {
    go.wait();
    return 1;
  }));
  const auto t0 = Clock::now();
  try {
    g.get(20ms);
    ADD_FAILURE() << "get() returned before the greenlet finished";
  } catch (const TimeoutError& e) {
    EXPECT_EQ(e.source, nullptr);
  }
  EXPECT_GE(ms(since(t0)), 20);
  go.set();
  EXPECT_EQ(g.get(1s), 1);
}

TEST(Greenlet, JoinallWaitsForEveryOneOrTimesOut) {
  Event go;
  GreenletGuard guard;
  auto a = guard(spawn([] { sleep(1ms); }));
  auto b = guard(spawn([&] { go.wait(); }));
  const auto t0 = Clock::now();
  EXPECT_FALSE(joinall({a, b}, 20ms));
  EXPECT_GE(ms(since(t0)), 20);
  EXPECT_TRUE(a.dead());
  go.set();
  EXPECT_TRUE(joinall({a, b}, 1s));
  std::vector<Greenlet<int>> many;
  for (int i = 0; i < 5; ++i) many.push_back(spawn([i] { sleep(1ms); return i; }));
  EXPECT_TRUE(joinall(many));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(many[i].get(), i);
}

// --- per-greenlet errno and exception state ---------------------------------------------

TEST(Greenlet, ErrnoSurvivesSwitches) {
  auto body = [](int mine) {
    for (int i = 0; i < 5; ++i) {
      errno = mine;
      if (i % 2 == 0) yield(); else sleep(1ms);
      if (errno != mine) return false;
    }
    return true;
  };
  auto a = spawn(body, EINTR);
  auto b = spawn(body, EBADF);
  auto c = spawn(body, EAGAIN);
  errno = ENOENT;
  yield();
  EXPECT_EQ(errno, ENOENT);
  sleep(3ms);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_TRUE(a.get());
  errno = ENOENT;
  EXPECT_TRUE(b.get());
  EXPECT_EQ(errno, ENOENT);
  EXPECT_TRUE(c.get());
}

TEST(Greenlet, StartsWithErrnoZero) {
  errno = EPERM;
  auto g = spawn([] { return errno; });
  EXPECT_EQ(g.get(), 0);
  EXPECT_EQ(errno, EPERM);
}

// Two greenlets (and the main one) park inside catch blocks while the others throw: each
// must find its own exception afterwards, and `throw;` must rethrow its own.
TEST(Greenlet, CaughtExceptionsArePerGreenlet) {
  auto body = [](std::string name) {
    std::string seen;
    try {
      try {
        throw std::runtime_error(name);
      } catch (const std::runtime_error&) {
        for (int i = 0; i < 3; ++i) {
          yield();
          seen += what_of(std::current_exception()) + ";";
          try {
            throw std::logic_error(name + "-nested");  // another throw while one is caught
          } catch (const std::logic_error&) {
            sleep(1ms);
          }
        }
        throw;
      }
    } catch (const std::runtime_error& e) {
      seen += std::string("rethrown:") + e.what();
    }
    return seen;
  };
  auto a = spawn(body, "A");
  auto b = spawn(body, "B");
  try {
    throw std::runtime_error("main");
  } catch (const std::runtime_error&) {
    yield();
    sleep(2ms);
    EXPECT_EQ(what_of(std::current_exception()), "main");
    a.join();
    b.join();
    EXPECT_EQ(what_of(std::current_exception()), "main");
  }
  EXPECT_FALSE(std::current_exception());
  EXPECT_EQ(a.get(), "A;A;A;rethrown:A");
  EXPECT_EQ(b.get(), "B;B;B;rethrown:B");
}

// A switch inside a destructor that runs during unwinding: the unwinding greenlet keeps
// its std::uncaught_exceptions() count; the others (and a greenlet spawned from there) see
// their own.
TEST(Greenlet, UncaughtExceptionsArePerGreenlet) {
  struct SwitchingDtor {
    int* before;
    int* after;
    ~SwitchingDtor() {
      *before = std::uncaught_exceptions();
      yield();
      sleep(1ms);
      *after = std::uncaught_exceptions();
    }
  };
  int a_before = -1, a_after = -1, c_before = -1, c_after = -1, b_seen = -1, fresh_seen = -1;
  auto a = spawn([&] {
    try {
      SwitchingDtor d{&a_before, &a_after};
      throw 1;
    } catch (int) {
    }
  });
  auto b = spawn([&] {
    yield();
    b_seen = std::uncaught_exceptions();
    try {
      throw 2;
    } catch (int) {
      yield();
    }
  });
  auto c = spawn([&] {
    struct Outer {
      int* before;
      int* after;
      int* fresh;
      ~Outer() {
        try {
          SwitchingDtor inner{before, after};
          auto g = spawn([fresh = fresh] { *fresh = std::uncaught_exceptions(); });
          throw 3;  // unwinding inside unwinding: two uncaught
        } catch (int) {
        }
      }
    };
    try {
      Outer o{&c_before, &c_after, &fresh_seen};
      throw 4;
    } catch (int) {
    }
  });
  yield();
  EXPECT_EQ(std::uncaught_exceptions(), 0);
  joinall({a, b, c}, 1s);
  EXPECT_EQ(std::uncaught_exceptions(), 0);
  EXPECT_TRUE(a.successful() && b.successful() && c.successful());
  EXPECT_EQ(a_before, 1);
  EXPECT_EQ(a_after, 1);
  EXPECT_EQ(b_seen, 0);
  EXPECT_EQ(c_before, 2);
  EXPECT_EQ(c_after, 2);
  EXPECT_EQ(fresh_seen, 0);
}

// A kill that lands while the victim is inside a catch block frees the caught exception.
TEST(Greenlet, KillInsideACatchBlockFreesTheCaughtException) {
  Event never;
  GreenletGuard guard;
  auto victim = guard(spawn([&] {
    try {
      throw Counted();
    } catch (const Counted&) {
      never.wait();
    }
  }));
  auto bystander = guard(spawn([&] {
    try {
      throw std::runtime_error("mine");
    } catch (const std::runtime_error&) {
      sleep(5ms);
      return what_of(std::current_exception());
    }
  }));
  yield();
  EXPECT_EQ(Counted::alive, 1);
  EXPECT_TRUE(victim.kill(true, 1s));
  EXPECT_TRUE(victim.killed());
  EXPECT_EQ(Counted::alive, 0);
  EXPECT_EQ(bystander.get(1s), "mine");
}

// kill() from another OS thread: handed to the greenlet's own hub, which applies it there
// (the killing thread gets no hub of its own).
TEST(Greenlet, KillFromAnotherThreadReachesTheGreenlet) {
  GreenletGuard guard;
  auto g = guard(spawn([] { sleep(10s); }));
  sleep(10ms);  // parked in its sleep
  const auto t0 = Clock::now();
  std::thread killer([g] { g.kill(false); });
  killer.join();
  EXPECT_TRUE(g.join(5s));
  EXPECT_TRUE(g.killed());
  EXPECT_LT(ms(since(t0)), 3000);
}
