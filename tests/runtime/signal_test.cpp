// green::signal: a delivered signal runs its handler in a new greenlet, which may block.
//
// Cancelling stops libev's watcher, which puts the signal back to SIG_DFL (libev 4's
// ev_signal_stop): a test must never raise a signal it no longer handles.
#include <csignal>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <cstdio>
#include <string>
#include <system_error>
#include <thread>

#include "support.hpp"

using namespace green;
using namespace green_test;

namespace {

// Cancels a handler however the test ends: a watcher left active would keep every later
// LoopExit test waiting forever.
struct CancelOnExit {
  SignalHandler& h;
  ~CancelOnExit() { h.cancel(); }
};

}  // namespace

TEST(Signal, HandlerRunsInANewGreenlet) {
  Event handled;
  AnyGreenlet handler_greenlet;
  const AnyGreenlet main_greenlet = getcurrent();
  SignalHandler h = green::signal(SIGUSR1, [&] {
    handler_greenlet = getcurrent();
    sleep(1ms);  // unlike a POSIX handler, it may block
    handled.set();
  });
  CancelOnExit cancel_h{h};
  EXPECT_TRUE(h.active());
  ASSERT_EQ(::raise(SIGUSR1), 0);
  EXPECT_FALSE(handled.is_set());  // it runs from the hub, not inside raise()
  EXPECT_TRUE(handled.wait(2s));
  ASSERT_TRUE(handler_greenlet);
  EXPECT_FALSE(handler_greenlet == main_greenlet);
  EXPECT_TRUE(handler_greenlet.join(1s));
  h.cancel();
  EXPECT_FALSE(h.active());
}

TEST(Signal, EachDeliveryRunsTheHandler) {
  int runs = 0;
  Event handled;
  SignalHandler h = green::signal(SIGUSR2, [&] {
    ++runs;
    handled.set();
  });
  CancelOnExit cancel_h{h};
  for (int i = 1; i <= 3; ++i) {
    handled.clear();
    ASSERT_EQ(::raise(SIGUSR2), 0);
    EXPECT_TRUE(handled.wait(2s));
    EXPECT_EQ(runs, i);
  }
  h.cancel();
}

TEST(Signal, HandlerMayTakeLocksAndTalkToOtherGreenlets) {
  Lock lock;
  Queue<int> q;
  SignalHandler h = green::signal(SIGUSR1, [&] {
    std::lock_guard<Lock> hold(lock);
    q.put(42);
  });
  CancelOnExit cancel_h{h};
  lock.acquire();
  ASSERT_EQ(::raise(SIGUSR1), 0);
  sleep(10ms);  // the handler runs and parks on the lock
  EXPECT_TRUE(q.empty());
  lock.release();
  EXPECT_EQ(q.get(2s), 42);
  h.cancel();
}

TEST(Signal, DroppingTheHandleDoesNotCancel) {
  Event handled;
  SignalHandler keep;
  {
    SignalHandler h = green::signal(SIGUSR1, [&] { handled.set(); });
    keep = h;
  }
  CancelOnExit cancel_keep{keep};
  ASSERT_EQ(::raise(SIGUSR1), 0);
  EXPECT_TRUE(handled.wait(2s));
  keep.cancel();
}

TEST(Signal, CancelledHandlerIsReplaced) {
  int old_runs = 0, new_runs = 0;
  Event handled;
  SignalHandler a = green::signal(SIGUSR1, [&] { ++old_runs; });
  CancelOnExit cancel_a{a};
  a.cancel();
  a.cancel();  // twice is harmless
  SignalHandler b = green::signal(SIGUSR1, [&] {
    ++new_runs;
    handled.set();
  });
  CancelOnExit cancel_b{b};
  ASSERT_EQ(::raise(SIGUSR1), 0);
  EXPECT_TRUE(handled.wait(2s));
  EXPECT_EQ(old_runs, 0);
  EXPECT_EQ(new_runs, 1);
  b.cancel();
}

TEST(Signal, RejectsBadArguments) {
  EXPECT_THROW(green::signal(0, [] {}), std::system_error);
  EXPECT_THROW(green::signal(-1, [] {}), std::system_error);
  EXPECT_THROW(green::signal(NSIG, [] {}), std::system_error);
  EXPECT_THROW(green::signal(SIGKILL, [] {}), std::system_error);
  EXPECT_THROW(green::signal(SIGSTOP, [] {}), std::system_error);
  EXPECT_THROW(green::signal(SIGUSR1, std::function<void()>()), std::invalid_argument);
}

// libev attaches a signal to one loop only, and asserts (aborting the process) when a
// second loop asks for it. Hubs are per thread, so that is a second thread calling
// green::signal() for a signal the first one handles: it must be an error, not an abort.
GREEN_TEST_CHILD(signal_in_two_hubs) {
  SignalHandler h = green::signal(SIGUSR1, [] {});
  CancelOnExit cancel_h{h};
  std::string outcome = "not run";
  std::thread t([&] {
    try {
      SignalHandler other = green::signal(SIGUSR1, [] {});
      outcome = "accepted";
      other.cancel();
    } catch (const std::exception& e) {
      outcome = std::string("threw ") + e.what();
    }
  });
  t.join();
  h.cancel();
  std::printf("outcome: %s\n", outcome.c_str());
  return 0;
}

TEST(Signal, SameSignalInTwoThreadsIsNotAnAbort) {
  const ChildResult r = run_child("signal_in_two_hubs", {});
  EXPECT_TRUE(r.exited_ok()) << r.describe();
  EXPECT_NE(r.output.find("outcome: "), std::string::npos) << r.output;
}

TEST(Signal, AHandlerThatThrowsDoesNotTakeTheProcessDown) {
  Event handled;
  SignalHandler h = green::signal(SIGUSR2, [&] {
    handled.set();
    throw std::runtime_error("handler failed");
  });
  CancelOnExit cancel_h{h};
  ASSERT_EQ(::raise(SIGUSR2), 0);
  EXPECT_TRUE(handled.wait(2s));
  sleep(5ms);
  h.cancel();
  SUCCEED();
}
