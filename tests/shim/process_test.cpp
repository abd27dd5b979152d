// Waiting for children (shim/process.cpp) as a plain program sees it: waitpid, wait and
// waitid return the child's status; under the shim the wait parks one thread while the
// others run; a handler without SA_RESTART interrupts it with EINTR; WNOHANG never waits.
#include <atomic>

#include "support.hpp"

using namespace shim_test;

namespace {

class ProcessTest : public ShimTest {};

// A child that sleeps `ms` and exits with `code`.
pid_t child_exiting(int code, int ms) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    timespec ts{ms / 1000, (ms % 1000) * 1000000L};
    ::nanosleep(&ts, nullptr);
    std::_Exit(code);
  }
  return pid;
}

TEST_F(ProcessTest, WaitpidReturnsTheStatus) {
  const pid_t pid = child_exiting(7, 20);
  ASSERT_GT(pid, 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 7);
}

TEST_F(ProcessTest, WaitAndWaitidReportAnyChild) {
  const pid_t a = child_exiting(3, 10);
  int status = 0;
  EXPECT_EQ(::wait(&status), a);
  EXPECT_EQ(WEXITSTATUS(status), 3);
  const pid_t b = child_exiting(4, 10);
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_ALL, 0, &info, WEXITED), 0);
  EXPECT_EQ(info.si_pid, b);
  EXPECT_EQ(info.si_status, 4);
}

TEST_F(ProcessTest, WnohangNeverWaits) {
  const pid_t pid = child_exiting(0, 200);
  int status = 0;
  Stopwatch sw;
  EXPECT_EQ(::waitpid(pid, &status, WNOHANG), 0);
  EXPECT_LT(sw.ms(), 100);
  EXPECT_EQ(::waitpid(pid, &status, 0), pid);
}

TEST_F(ProcessTest, NoChildIsEchild) {
  int status = 0;
  errno = 0;
  EXPECT_EQ(::waitpid(-1, &status, 0), -1);
  EXPECT_EQ(errno, ECHILD);
}

// Two threads wait for their own 200 ms child each: under the shim both waits park on one
// OS thread and overlap, and a third thread keeps ticking meanwhile.
TEST_F(ProcessTest, WaitsOverlapAndOtherThreadsRun) {
  const int threads_before = thread_count();
  std::atomic<int> ticks{0};
  std::atomic<bool> stop{false};
  Stopwatch sw;
  int seen_threads = 0;
  {
    Peer ticker([&] {
      while (!stop) {
        sleep_ms(5);
        ++ticks;
      }
    });
    Peer w1([] { ::waitpid(child_exiting(1, 200), nullptr, 0); });
    Peer w2([] { ::waitpid(child_exiting(2, 200), nullptr, 0); });
    sleep_ms(50);
    seen_threads = thread_count();
    w1.join();
    w2.join();
    stop = true;
  }
  EXPECT_LT(sw.ms(), 380);
  EXPECT_GE(ticks.load(), 10) << "the other thread did not run during the waits";
  if (shim_expected()) {
    EXPECT_EQ(seen_threads, threads_before);
  }
}

TEST_F(ProcessTest, AHandlerWithoutSaRestartInterruptsWaitpid) {
  ScopedSignal sig(SIGUSR1, count_signal, 0);
  const pid_t pid = child_exiting(0, 300);
  int status = 0;
  pid_t r;
  int err;
  {
    SignalAfter after(SIGUSR1, 50);
    r = ::waitpid(pid, &status, 0);
    err = errno;
  }
  EXPECT_EQ(r, -1);
  EXPECT_EQ(err, EINTR);
  EXPECT_EQ(::waitpid(pid, &status, 0), pid);
}

TEST_F(ProcessTest, AHandlerWithSaRestartLetsWaitpidGoOn) {
  ScopedSignal sig(SIGUSR1, count_signal, SA_RESTART);
  const pid_t pid = child_exiting(5, 200);
  int status = 0;
  {
    SignalAfter after(SIGUSR1, 50);
    EXPECT_EQ(::waitpid(pid, &status, 0), pid);
  }
  EXPECT_EQ(WEXITSTATUS(status), 5);
}

}  // namespace
