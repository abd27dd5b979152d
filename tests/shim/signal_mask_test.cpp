// Signal masks and pending sets are per thread (shim/signal_mask.cpp): what one thread
// blocks, or has pending, another does not see; a signal the process is sent goes to a
// thread that admits it; unblocking a pending signal runs its handler before
// pthread_sigmask returns. Runs without the shim and under LD_PRELOAD.
#include "signal_util.hpp"

using namespace threads_test;
using namespace signal_test;

namespace {
class SignalMaskTest : public ThreadsTest {};
}  // namespace

TEST_F(SignalMaskTest, EachThreadHasItsOwnMaskAndANewThreadInheritsItsCreators) {
  KeepMask keep;
  const sigset_t usr1 = only(SIGUSR1);
  ::pthread_sigmask(SIG_UNBLOCK, &usr1, nullptr);
  std::atomic<bool> blocked_in_t{false}, child_inherits{false}, go{false};
  pthread_t t = spawn([&]() -> void* {
    const sigset_t usr1 = only(SIGUSR1);
    ::pthread_sigmask(SIG_BLOCK, &usr1, nullptr);
    blocked_in_t = blocks(SIGUSR1);
    pthread_t child = spawn([&]() -> void* {
      child_inherits = blocks(SIGUSR1);
      return nullptr;
    });
    join(child);
    wait_until([&] { return go.load(); });
    return nullptr;
  });
  ASSERT_TRUE(wait_until([&] { return blocked_in_t.load(); }));
  EXPECT_FALSE(blocks(SIGUSR1)) << "another thread's pthread_sigmask changed this thread's mask";
  pthread_t mine = spawn([]() -> void* { return as_ptr(blocks(SIGUSR1) ? 2 : 1); });
  EXPECT_EQ(as_int(join(mine)), 1u) << "a thread made by main inherited another thread's mask";
  expect_threads_alive(1);
  go = true;
  join(t);
  EXPECT_TRUE(child_inherits.load()) << "a new thread must start with its creator's mask";
}

// A mask set by main after it made its threads: the process's signal goes to a thread
// that admits it, and its handler runs there.
TEST_F(SignalMaskTest, ASignalToTheProcessRunsInAThreadThatAdmitsIt) {
  Handler h(SIGUSR1, record_thread);
  reset_record();
  KeepMask keep;
  std::atomic<bool> stop{false};
  pthread_t t = spawn([&]() -> void* {
    while (!stop) sleep_ms(2);
    return nullptr;
  });
  const sigset_t usr1 = only(SIGUSR1);
  ::pthread_sigmask(SIG_BLOCK, &usr1, nullptr);
  ::kill(::getpid(), SIGUSR1);
  EXPECT_TRUE(wait_until([] { return handled.load() == 1; })) << "the handler never ran";
  EXPECT_TRUE(pthread_equal(handled_in.load(), t)) << "the handler ran in a thread that blocks the signal";
  EXPECT_FALSE(is_pending(SIGUSR1));
  stop = true;
  join(t);
}

// A signal sent to a thread that blocks it stays pending for that thread alone, and runs
// as soon as that thread unblocks it: before pthread_sigmask returns.
TEST_F(SignalMaskTest, APendingSignalIsTheThreadsAndRunsWhenItUnblocksIt) {
  Handler h(SIGUSR2, record_thread);
  reset_record();
  KeepMask keep;
  const sigset_t usr2 = only(SIGUSR2);
  ::pthread_sigmask(SIG_BLOCK, &usr2, nullptr);
  ASSERT_EQ(::pthread_kill(::pthread_self(), SIGUSR2), 0);
  EXPECT_TRUE(is_pending(SIGUSR2));
  EXPECT_EQ(handled.load(), 0);
  pthread_t other = spawn([]() -> void* { return as_ptr(is_pending(SIGUSR2) ? 2 : 1); });
  EXPECT_EQ(as_int(join(other)), 1u) << "a new thread sees another thread's pending signal";
  ::pthread_sigmask(SIG_UNBLOCK, &usr2, nullptr);
  EXPECT_EQ(handled.load(), 1) << "unblocking must deliver the pending signal before returning";
  EXPECT_TRUE(pthread_equal(handled_in.load(), ::pthread_self()));
  EXPECT_FALSE(is_pending(SIGUSR2));
}

TEST_F(SignalMaskTest, BadArgumentsAreRejected) {
  KeepMask keep;
  const sigset_t usr1 = only(SIGUSR1);
  EXPECT_EQ(::pthread_sigmask(12345, &usr1, nullptr), EINVAL);
  errno = 0;
  EXPECT_EQ(::sigprocmask(12345, &usr1, nullptr), -1);
  EXPECT_EQ(errno, EINVAL);
  // With no new set, `how` is not looked at.
  sigset_t now;
  EXPECT_EQ(::pthread_sigmask(12345, nullptr, &now), 0);
  // SIGKILL and SIGSTOP cannot be blocked: asked to, the call succeeds without it.
  sigset_t kill_stop;
  sigemptyset(&kill_stop);
  sigaddset(&kill_stop, SIGKILL);
  sigaddset(&kill_stop, SIGSTOP);
  EXPECT_EQ(::pthread_sigmask(SIG_BLOCK, &kill_stop, nullptr), 0);
  EXPECT_FALSE(blocks(SIGKILL));
  EXPECT_FALSE(blocks(SIGSTOP));
}
