// Waits for signals are per thread (shim/signal_wait.cpp): a thread's sigwait takes the
// signals sent to it or to the process, never another thread's; sigsuspend runs the
// handler in the calling thread and gives its mask back. Runs without the shim and under
// LD_PRELOAD.
#include "signal_util.hpp"

using namespace threads_test;
using namespace signal_test;

namespace {
class SignalWaitTest : public ThreadsTest {};

// A thread that waits for `sig` (blocked in every thread) with sigwait, returning it + 100.
pthread_t sigwaiter(int sig, std::atomic<bool>* started) {
  return spawn([sig, started]() -> void* {
    const sigset_t set = only(sig);
    *started = true;
    int got = 0;
    if (::sigwait(&set, &got) != 0) return nullptr;
    return as_ptr(static_cast<std::uintptr_t>(got) + 100);
  });
}
}  // namespace

TEST_F(SignalWaitTest, EachThreadsSigwaitTakesTheSignalSentToIt) {
  KeepMask keep;
  sigset_t both = only(SIGUSR1);
  sigaddset(&both, SIGUSR2);
  ::pthread_sigmask(SIG_BLOCK, &both, nullptr);
  std::atomic<bool> s1{false}, s2{false};
  pthread_t t1 = sigwaiter(SIGUSR1, &s1);
  pthread_t t2 = sigwaiter(SIGUSR2, &s2);
  ASSERT_TRUE(wait_until([&] { return s1.load() && s2.load(); }));
  sleep_ms(20);
  expect_threads_alive(2);
  ASSERT_EQ(::pthread_kill(t2, SIGUSR2), 0);
  EXPECT_EQ(as_int(join(t2)), 100u + SIGUSR2);
  // Sent to the process, SIGUSR1 goes to the one thread that waits for it.
  ASSERT_EQ(::kill(::getpid(), SIGUSR1), 0);
  EXPECT_EQ(as_int(join(t1)), 100u + SIGUSR1);
  EXPECT_FALSE(is_pending(SIGUSR1));
  EXPECT_FALSE(is_pending(SIGUSR2));
}

// A signal sent to one thread is not another's to take: the other's sigtimedwait times
// out, and the signal stays pending for its own thread.
TEST_F(SignalWaitTest, ASigwaitDoesNotTakeAnotherThreadsSignal) {
  KeepMask keep;
  const sigset_t usr1 = only(SIGUSR1);
  ::pthread_sigmask(SIG_BLOCK, &usr1, nullptr);
  std::atomic<bool> sent{false}, go{false};
  pthread_t holder = spawn([&]() -> void* {
    wait_until([&] { return sent.load(); });
    const bool pending_here = is_pending(SIGUSR1);
    wait_until([&] { return go.load(); });
    const timespec zero{0, 0};
    const int got = ::sigtimedwait(&usr1, nullptr, &zero);
    return as_ptr(pending_here && got == SIGUSR1 ? 1 : 2);
  });
  pthread_t other = spawn([&]() -> void* {
    const timespec wait{0, 200 * 1000000};
    const int got = ::sigtimedwait(&usr1, nullptr, &wait);
    return as_ptr(got == -1 && errno == EAGAIN ? 1 : 2);
  });
  sleep_ms(20);
  ASSERT_EQ(::pthread_kill(holder, SIGUSR1), 0);
  sent = true;
  EXPECT_EQ(as_int(join(other)), 1u) << "another thread's sigtimedwait took the signal";
  EXPECT_FALSE(is_pending(SIGUSR1)) << "the signal is pending in the wrong thread";
  go = true;
  EXPECT_EQ(as_int(join(holder)), 1u) << "the signal was not pending for the thread it was sent to";
}

TEST_F(SignalWaitTest, SigsuspendRunsTheHandlerInItsThreadAndRestoresTheMask) {
  Handler h(SIGUSR1, record_thread);
  reset_record();
  KeepMask keep;
  const sigset_t usr1 = only(SIGUSR1);
  ::pthread_sigmask(SIG_BLOCK, &usr1, nullptr);
  std::atomic<bool> started{false};
  pthread_t t = spawn([&]() -> void* {
    sigset_t none;
    sigemptyset(&none);
    started = true;
    const int r = ::sigsuspend(&none);
    const int e = errno;
    return as_ptr(r == -1 && e == EINTR && blocks(SIGUSR1) ? 1 : 2);
  });
  ASSERT_TRUE(wait_until([&] { return started.load(); }));
  sleep_ms(30);
  ASSERT_EQ(::pthread_kill(t, SIGUSR1), 0);
  EXPECT_EQ(as_int(join(t)), 1u) << "sigsuspend: EINTR with the mask given back";
  EXPECT_EQ(handled.load(), 1);
  EXPECT_TRUE(pthread_equal(handled_in.load(), t));
}
