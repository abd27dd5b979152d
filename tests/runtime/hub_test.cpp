// The hub: FIFO order of ready greenlets, timers in deadline order, polling that yielding
// greenlets cannot starve, LoopExit when the main greenlet waits for what nothing can set,
// one hub per thread, and ten thousand greenlets alive at once.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace green;
using namespace green_test;

TEST(Hub, SpawnOrderIsFirstRunOrder) {
  std::vector<int> order;
  std::vector<Greenlet<void>> gs;
  for (int i = 0; i < 8; ++i) gs.push_back(spawn([&order, i] { order.push_back(i); }));
  EXPECT_TRUE(order.empty());
  joinall(gs);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7}));
}

TEST(Hub, SleepZeroIsRoundRobin) {
  std::vector<int> order;
  std::vector<Greenlet<void>> gs;
  for (int i = 0; i < 3; ++i) {
    gs.push_back(spawn([&order, i] {
      for (int round = 0; round < 3; ++round) {
        order.push_back(i);
        sleep(0ms);
      }
    }));
  }
  joinall(gs);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 0, 1, 2, 0, 1, 2}));
}

TEST(Hub, YieldLetsEveryReadyGreenletRunOnce) {
  int counts[3] = {0, 0, 0};
  bool stop = false;
  std::vector<Greenlet<void>> gs;
  for (int i = 0; i < 3; ++i) {
    gs.push_back(spawn([&, i] {
      while (!stop) {
        ++counts[i];
        yield();
      }
    }));
  }
  for (int round = 1; round <= 3; ++round) {
    yield();
    EXPECT_EQ(counts[0], round);
    EXPECT_EQ(counts[1], round);
    EXPECT_EQ(counts[2], round);
  }
  stop = true;
  EXPECT_TRUE(joinall(gs, 1s));
}

TEST(Hub, YieldWithNobodyReadyReturns) {
  for (int i = 0; i < 1000; ++i) yield();
  SUCCEED();
}

TEST(Hub, TimersFireInDeadlineOrder) {
  std::vector<int> order;
  std::vector<Greenlet<void>> gs;
  for (int d : {30, 10, 20, 1}) {
    gs.push_back(spawn([&order, d] {
      sleep(std::chrono::milliseconds(d));
      order.push_back(d);
    }));
  }
  joinall(gs);
  EXPECT_EQ(order, (std::vector<int>{1, 10, 20, 30}));
}

TEST(Hub, SleepLastsAtLeastItsDuration) {
  for (auto d : {1ms, 20ms}) {
    const auto t0 = Clock::now();
    sleep(d);
    EXPECT_GE(since(t0), d);
  }
  const auto t0 = Clock::now();
  sleep(-5ms);  // a negative duration is a plain yield
  EXPECT_LT(ms(since(t0)), 500);
}

// Greenlets that only yield to each other must not starve timers or I/O: the hub polls
// anyway after a while.
TEST(Hub, YieldingGreenletsDoNotStarveTimers) {
  bool fired = false;
  auto sleeper = spawn([&] {
    sleep(5ms);
    fired = true;
  });
  auto spinner = spawn([&] {
    const auto give_up = Clock::now() + 2s;
    while (!fired && Clock::now() < give_up) yield();
  });
  const auto give_up = Clock::now() + 2s;
  while (!fired && Clock::now() < give_up) yield();
  EXPECT_TRUE(fired);
  joinall({sleeper, spinner});
}

TEST(Hub, YieldingGreenletsDoNotStarveIo) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  bool readable = false;
  auto reader = spawn([&] { readable = wait_read(fds[0], 2s); });
  auto spinner = spawn([&] {
    const auto give_up = Clock::now() + 2s;
    while (!readable && Clock::now() < give_up) yield();
  });
  yield();  // the reader now waits on the pipe
  ASSERT_EQ(::write(fds[1], "x", 1), 1);
  const auto give_up = Clock::now() + 2s;
  while (!readable && Clock::now() < give_up) yield();
  EXPECT_TRUE(readable);
  joinall({reader, spinner});
  ::close(fds[0]);
  ::close(fds[1]);
}

// --- LoopExit ------------------------------------------------------------------------------

TEST(Hub, LoopExitWhenMainWaitsOnAnEventNobodyCanSet) {
  Event never;
  EXPECT_THROW(never.wait(), LoopExit);
  Queue<int> q;
  EXPECT_THROW(q.get(), LoopExit);
  AsyncResult<int> r;
  EXPECT_THROW(r.get(), LoopExit);
  Semaphore s(0);
  EXPECT_THROW(s.acquire(), LoopExit);
  // The hub is still usable afterwards.
  auto g = spawn([] { return 1; });
  EXPECT_EQ(g.get(), 1);
}

TEST(Hub, LoopExitWhenMainJoinsAGreenletBlockedForever) {
  Event never;
  bool reached = false;
  auto g = spawn([&] {
    never.wait();
    reached = true;
  });
  EXPECT_THROW(g.join(), LoopExit);
  EXPECT_FALSE(g.dead());
  EXPECT_TRUE(g.kill(true, 1s));  // a kill can still wake it
  EXPECT_FALSE(reached);
}

TEST(Hub, NoLoopExitWhileATimerCanStillWakeSomebody) {
  Event later;
  auto g = spawn([&] {
    sleep(20ms);
    later.set();
  });
  EXPECT_TRUE(later.wait());
  g.join();
  Event never;
  EXPECT_FALSE(never.wait(20ms));  // its own timeout is a watcher: false, not LoopExit
}

TEST(Hub, LoopExitInAnotherThreadStaysThere) {
  bool thrown = false;
  std::thread t([&] {
    Event never;
    try {
      never.wait();
    } catch (const LoopExit&) {
      thrown = true;
    }
  });
  t.join();
  EXPECT_TRUE(thrown);
}

// --- hubs are per thread -----------------------------------------------------------------

// Timers that one poll finds expired together wake their greenlets in deadline order.
TEST(Hub, TimersExpiredTogetherWakeInDeadlineOrder) {
  std::vector<int> order;
  std::vector<Greenlet<void>> gs;
  for (int i = 0; i < 5; ++i) {
    gs.push_back(spawn([&order, i] {
      sleep(std::chrono::milliseconds(1 + i));
      order.push_back(i);
    }));
  }
  yield();  // each starts its sleep
  const auto until = std::chrono::steady_clock::now() + 20ms;
  while (std::chrono::steady_clock::now() < until) {
  }  // the hub does not poll meanwhile: every timer expires before its next poll
  joinall(gs);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST(Hub, HubsArePerThread) {
  bool main_side_ran = false;
  auto pending = spawn([&] { main_side_ran = true; });  // ready on this thread's hub

  std::uint64_t thread_main_id = 0;
  std::vector<int> order;
  bool thread_ok = false;
  std::thread t([&] {
    thread_main_id = getcurrent().id();
    std::vector<Greenlet<void>> gs;
    for (int i = 0; i < 100; ++i) {
      gs.push_back(spawn([&order, i] {
        sleep(1ms);
        if (i < 3) order.push_back(i);
      }));
    }
    thread_ok = joinall(gs, 2s);
  });
  t.join();
  EXPECT_TRUE(thread_ok);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
  EXPECT_NE(thread_main_id, getcurrent().id());
  EXPECT_FALSE(main_side_ran) << "another thread's hub ran this thread's greenlet";
  pending.join();
  EXPECT_TRUE(main_side_ran);
}

TEST(Hub, ThreadsRunTheirHubsConcurrently) {
  std::atomic<int> done{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < 4; ++i) {
    ts.emplace_back([&] {
      Queue<int> q(1);
      auto producer = spawn([&] {
        for (int k = 0; k < 100; ++k) q.put(k);
      });
      int sum = 0;
      for (int k = 0; k < 100; ++k) sum += q.get();
      producer.join();
      if (sum == 4950) ++done;
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(done.load(), 4);
}

// A thread may end while its greenlets are still blocked or not yet started: its hub goes
// away without touching them.
TEST(Hub, ThreadMayExitWithGreenletsStillBlocked) {
  bool ended = false;
  std::thread t([&] {
    Event never;
    for (int i = 0; i < 3; ++i) spawn([&] { never.wait(); });
    yield();
    spawn([] {});  // never runs
    auto sleeper = spawn([] { sleep(1s); });
    yield();
    ended = true;
  });
  t.join();
  EXPECT_TRUE(ended);
}

// --- scale -----------------------------------------------------------------------------------

TEST(Hub, TenThousandGreenletsAliveAtOnce) {
  constexpr int kCount = 10000;
  Event go;
  int parked = 0;
  int finished = 0;
  std::vector<Greenlet<void>> gs;
  gs.reserve(kCount);
  for (int i = 0; i < kCount; ++i) {
    gs.push_back(spawn([&] {
      ++parked;
      go.wait();
      ++finished;
    }));
  }
  yield();
  EXPECT_EQ(parked, kCount);
  EXPECT_EQ(finished, 0);
  int alive = 0;
  for (const auto& g : gs) alive += g.dead() ? 0 : 1;
  EXPECT_EQ(alive, kCount);
  go.set();
  EXPECT_TRUE(joinall(gs, 5s));
  EXPECT_EQ(finished, kCount);
}
