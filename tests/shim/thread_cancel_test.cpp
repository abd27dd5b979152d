// Cancellation in shim/thread.cpp, as a plain POSIX program: pthread_cancel of threads
// blocked in cancellation points (read, nanosleep, pthread_cond_wait, pthread_join),
// C++ destructors run by the unwinding, the mutex re-taken by a cancelled
// pthread_cond_wait, pthread_setcancelstate/setcanceltype and pthread_testcancel, and a
// pending request acted on by the next cancellation point. Runs without the shim and
// under LD_PRELOAD (asynchronous cancellation: thread_cleanup_test, whose threads are C).
#include <atomic>

#include "threads_util.hpp"

using namespace threads_test;

namespace {
class ThreadCancelTest : public ThreadsTest {};
}  // namespace

TEST_F(ThreadCancelTest, CancelThreadBlockedInRead) {
  auto p = socket_pair();
  std::atomic<bool> started{false}, returned{false};
  std::atomic<int> destroyed{0};
  pthread_t t = spawn([&, fd = p.a.get()]() -> void* {
    struct Guard {
      std::atomic<int>* n;
      ~Guard() { n->fetch_add(1); }
    } g{&destroyed};
    started = true;
    char c;
    (void)!::read(fd, &c, 1);
    returned = true;
    return nullptr;
  });
  ASSERT_TRUE(wait_until([&] { return started.load(); }));
  sleep_ms(50);  // well inside read() by now
  EXPECT_EQ(::pthread_cancel(t), 0);
  void* v = nullptr;
  EXPECT_EQ(::pthread_join(t, &v), 0);
  EXPECT_EQ(v, PTHREAD_CANCELED);
  EXPECT_FALSE(returned.load());
  EXPECT_EQ(destroyed.load(), 1) << "cancellation must run C++ destructors";
}

TEST_F(ThreadCancelTest, CancelThreadSleeping) {
  std::atomic<bool> started{false};
  pthread_t t = spawn([&]() -> void* {
    started = true;
    sleep_ms(10000);  // nanosleep is a cancellation point
    return nullptr;
  });
  ASSERT_TRUE(wait_until([&] { return started.load(); }));
  sleep_ms(20);
  Stopwatch sw;
  EXPECT_EQ(::pthread_cancel(t), 0);
  EXPECT_EQ(join(t), PTHREAD_CANCELED);
  EXPECT_LT(sw.ms(), 2000);
}

TEST_F(ThreadCancelTest, CancelThreadInCondWaitReacquiresTheMutex) {
  static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
  static bool waiting;
  static std::atomic<bool> guard_ran;
  static std::atomic<int> owned_at_unwind;
  waiting = false;
  guard_ran = false;
  owned_at_unwind = -1;
  pthread_t t = spawn([]() -> void* {
    ::pthread_mutex_lock(&m);
    struct Unlocker {
      ~Unlocker() {
        // POSIX: the mutex is held again when the cancelled wait unwinds, so this
        // thread may (and must) release it. trylock of a held NORMAL mutex is EBUSY.
        owned_at_unwind = ::pthread_mutex_trylock(&m);
        ::pthread_mutex_unlock(&m);
        guard_ran = true;
      }
    } unlocker;
    waiting = true;
    for (;;) ::pthread_cond_wait(&c, &m);
  });
  ASSERT_TRUE(wait_until([] {
    ::pthread_mutex_lock(&m);
    const bool w = waiting;  // set under the mutex: true means it is inside cond_wait
    ::pthread_mutex_unlock(&m);
    return w;
  }));
  EXPECT_EQ(::pthread_cancel(t), 0);
  EXPECT_EQ(join(t), PTHREAD_CANCELED);
  EXPECT_TRUE(guard_ran.load());
  EXPECT_EQ(owned_at_unwind.load(), EBUSY);
  EXPECT_EQ(::pthread_mutex_trylock(&m), 0) << "the cancelled thread left the mutex locked";
  ::pthread_mutex_unlock(&m);
}

TEST_F(ThreadCancelTest, DisabledCancelWaitsUntilEnabledAndTestcancel) {
  std::atomic<int> stage{0};
  pthread_t t = spawn([&]() -> void* {
    int old = -1;
    if (::pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old) != 0 || old != PTHREAD_CANCEL_ENABLE) {
      return as_ptr(1);
    }
    stage = 1;
    wait_until([&] { return stage.load() == 2; });  // sleeps: cancellation points
    sleep_ms(30);
    ::pthread_testcancel();
    stage = 3;  // survived every cancellation point while disabled
    if (::pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old) != 0 || old != PTHREAD_CANCEL_DISABLE) {
      return as_ptr(2);
    }
    stage = 4;  // deferred: enabling alone does not act on the pending request
    ::pthread_testcancel();
    stage = 5;
    return as_ptr(3);
  });
  ASSERT_TRUE(wait_until([&] { return stage.load() == 1; }));
  EXPECT_EQ(::pthread_cancel(t), 0);
  stage = 2;
  EXPECT_EQ(join(t), PTHREAD_CANCELED);
  EXPECT_EQ(stage.load(), 4);
}

// A request made while cancellation was disabled is acted on by the first cancellation
// point after it is enabled again — any of them, not only pthread_testcancel.
TEST_F(ThreadCancelTest, PendingCancelIsActedOnByTheNextBlockingCall) {
  auto p = socket_pair();
  std::atomic<int> stage{0};
  pthread_t t = spawn([&, fd = p.a.get()]() -> void* {
    ::pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, nullptr);
    stage = 1;
    wait_until([&] { return stage.load() == 2; });
    ::pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, nullptr);
    stage = 3;
    char c;
    (void)!::read(fd, &c, 1);  // a cancellation point; nothing is ever written
    stage = 4;
    return nullptr;
  });
  ASSERT_TRUE(wait_until([&] { return stage.load() == 1; }));
  EXPECT_EQ(::pthread_cancel(t), 0);
  stage = 2;
  // Bounded: were read() to block, the join could not end. Release it after 2 s.
  pthread_t rescuer = spawn([&, fd = p.b.get()]() -> void* {
    wait_until([&] { return stage.load() >= 3; });
    sleep_ms(2000);
    if (stage.load() == 3) release(fd);
    return nullptr;
  });
  Stopwatch sw;
  EXPECT_EQ(join(t), PTHREAD_CANCELED);
  EXPECT_EQ(stage.load(), 3) << "read() returned instead of acting on the pending cancel";
  EXPECT_LT(sw.ms(), 1000);
  join(rescuer);
}

TEST_F(ThreadCancelTest, SelfCancelIsActedOnByTheNextBlockingCall) {
  std::atomic<bool> survived{false};
  pthread_t t = spawn([&]() -> void* {
    if (::pthread_cancel(::pthread_self()) != 0) return nullptr;
    sleep_ms(1500);  // nanosleep: a cancellation point
    survived = true;
    return nullptr;
  });
  Stopwatch sw;
  EXPECT_EQ(join(t), PTHREAD_CANCELED);
  EXPECT_FALSE(survived.load());
  EXPECT_LT(sw.ms(), 1000);
}

TEST_F(ThreadCancelTest, CancelThreadBlockedInJoin) {
  auto p = socket_pair();
  pthread_t blocked = reader(p.a);
  pthread_t joiner = spawn([blocked]() -> void* {
    ::pthread_join(blocked, nullptr);  // a cancellation point
    return as_ptr(1);
  });
  sleep_ms(30);
  EXPECT_EQ(::pthread_cancel(joiner), 0);
  EXPECT_EQ(join(joiner), PTHREAD_CANCELED);
  // The cancelled join did not consume `blocked`: it is still joinable.
  release(p.b, 'j');
  EXPECT_EQ(as_int(join(blocked)), 'j' + 1u);
}

TEST_F(ThreadCancelTest, TestcancelWithoutRequestReturns) {
  pthread_t t = spawn([]() -> void* {
    ::pthread_testcancel();
    return as_ptr(9);
  });
  EXPECT_EQ(as_int(join(t)), 9u);
}

TEST_F(ThreadCancelTest, CancelStateAndTypeValidateTheirArguments) {
  pthread_t t = spawn([]() -> void* {
    int old = -1;
    if (::pthread_setcancelstate(12345, &old) != EINVAL) return as_ptr(1);
    if (::pthread_setcanceltype(12345, &old) != EINVAL) return as_ptr(2);
    if (::pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &old) != 0) return as_ptr(3);
    if (old != PTHREAD_CANCEL_DEFERRED) return as_ptr(4);
    if (::pthread_setcanceltype(PTHREAD_CANCEL_DEFERRED, &old) != 0) return as_ptr(5);
    if (old != PTHREAD_CANCEL_ASYNCHRONOUS) return as_ptr(6);
    if (::pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, nullptr) != 0) return as_ptr(7);
    return as_ptr(100);
  });
  EXPECT_EQ(as_int(join(t)), 100u);
}

