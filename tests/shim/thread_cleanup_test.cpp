// Cleanup handlers and how a thread ends (shim/thread_exit.cpp), as a plain POSIX program:
// C handlers pushed by pthread_cleanup_push (thread_cleanup.c, compiled as C) run in
// reverse order at pthread_exit and cancellation, pthread_cleanup_pop(1) runs one at once,
// a handler may block, a cancel waits while disabled; pthread_exit from thread_local and
// key destructors ends only that destructor; a `catch (...)` that swallows pthread_exit
// aborts, as glibc does. Runs without the shim and under LD_PRELOAD.
#include <sys/wait.h>

#include <atomic>
#include <cstdio>

#include "thread_cleanup.h"
#include "threads_util.hpp"

using namespace threads_test;

namespace {

class ThreadCleanupTest : public ThreadsTest {};

// Runs `fn` as a thread with a fresh log; returns its value.
void* run_c_thread(void* (*fn)(void*), cleanup_log& log) {
  pthread_t t;
  EXPECT_EQ(::pthread_create(&t, nullptr, fn, &log), 0);
  return join(t);
}

// Starts `fn` as a thread on `log` and waits until it has pushed its handlers.
pthread_t start_c_thread(void* (*fn)(void*), cleanup_log& log) {
  pthread_t t{};
  EXPECT_EQ(::pthread_create(&t, nullptr, fn, &log), 0);
  EXPECT_TRUE(wait_until([&] { return log.started != 0; }));
  return t;
}

std::string self_exe() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

}  // namespace

TEST_F(ThreadCleanupTest, PthreadExitRunsNestedHandlersInnermostFirst) {
  cleanup_log log{};
  EXPECT_EQ(as_int(run_c_thread(cleanup_exit_nested, log)), 42u);
  EXPECT_STREQ(log.trail, "CBA");
}

TEST_F(ThreadCleanupTest, PopWithExecuteRunsTheHandlerOnce) {
  cleanup_log log{};
  EXPECT_EQ(as_int(run_c_thread(cleanup_pop_runs, log)), 7u);
  EXPECT_STREQ(log.trail, "B") << "a handler popped with 0 must not run at the thread's return";
}

TEST_F(ThreadCleanupTest, CancelInReadRunsHandlersThatMayBlock) {
  auto p = socket_pair();
  cleanup_log log{};
  log.fd = p.a.get();
  pthread_t t;
  ASSERT_EQ(::pthread_create(&t, nullptr, cleanup_cancel_in_read, &log), 0);
  ASSERT_TRUE(wait_until([&] { return log.started != 0; }));
  sleep_ms(30);  // inside read() by now
  expect_threads_alive(1);
  Stopwatch sw;
  EXPECT_EQ(::pthread_cancel(t), 0);
  EXPECT_EQ(join(t), PTHREAD_CANCELED);
  EXPECT_STREQ(log.trail, "SA") << "the sleeping handler must run to its end, then the outer one";
  EXPECT_GE(sw.ms(), 15) << "a handler's own sleep is no second cancellation point to act on";
}

TEST_F(ThreadCleanupTest, CancelWaitsWhileDisabledThenRunsTheHandler) {
  cleanup_log log{};
  const pthread_t t = start_c_thread(cleanup_cancel_when_enabled, log);
  EXPECT_EQ(::pthread_cancel(t), 0);
  EXPECT_EQ(join(t), PTHREAD_CANCELED);
  EXPECT_STREQ(log.trail, "WA");
}

// Asynchronous cancellation ends a thread that never reaches a cancellation point (under
// the shim, at a preemption tick), by glibc's forced unwind: its handler runs.
TEST_F(ThreadCleanupTest, AsynchronousCancelEndsAThreadThatOnlyComputes) {
  cleanup_log log{};
  const pthread_t t = start_c_thread(cleanup_cancel_async_spin, log);
  sleep_ms(20);
  expect_threads_alive(1);
  EXPECT_EQ(::pthread_cancel(t), 0);
  EXPECT_EQ(join(t), PTHREAD_CANCELED);
  EXPECT_STREQ(log.trail, "A");
  EXPECT_GT(log.spins, 0u);
}

TEST_F(ThreadCleanupTest, AsynchronousCancelEndsAThreadThatDeadlockedItself) {
  cleanup_log log{};
  const pthread_t t = start_c_thread(cleanup_cancel_async_deadlock, log);
  sleep_ms(20);  // stuck in its second pthread_mutex_lock by now
  EXPECT_EQ(::pthread_cancel(t), 0);
  EXPECT_EQ(join(t), PTHREAD_CANCELED);
  EXPECT_STREQ(log.trail, "A");
}

TEST_F(ThreadCleanupTest, AsynchronousTypeActsOnAPendingRequestAtOnce) {
  cleanup_log log{};
  const pthread_t t = start_c_thread(cleanup_cancel_async_pending, log);
  EXPECT_EQ(::pthread_cancel(t), 0);
  log.go = 1;
  EXPECT_EQ(join(t), PTHREAD_CANCELED);
  EXPECT_STREQ(log.trail, "A") << "the thread went on past the call that made the request due";
}

// Many threads at once, each ended by pthread_exit through its handlers.
TEST_F(ThreadCleanupTest, ManyThreadsEachRunTheirOwnHandlers) {
  constexpr int kThreads = 64;
  std::vector<cleanup_log> logs(kThreads);
  std::vector<pthread_t> ts(kThreads);
  for (int i = 0; i < kThreads; ++i) ASSERT_EQ(::pthread_create(&ts[i], nullptr, cleanup_exit_nested, &logs[i]), 0);
  for (int i = 0; i < kThreads; ++i) {
    EXPECT_EQ(as_int(join(ts[i])), 42u);
    EXPECT_STREQ(logs[i].trail, "CBA") << "thread " << i;
  }
}

namespace {
std::atomic<int> tl_destroyed{0};
struct ExitsInDestructor {
  ~ExitsInDestructor() noexcept(false) {  // else the unwind would end in std::terminate
    tl_destroyed.fetch_add(1);
    ::pthread_exit(as_ptr(99));
  }
};
struct CountsDestructor {
  ~CountsDestructor() { tl_destroyed.fetch_add(10); }
};
thread_local ExitsInDestructor exits_in_dtor;
thread_local CountsDestructor counts_dtor;
}  // namespace

// glibc: a pthread_exit inside a thread_local destructor or a key destructor ends that
// destructor only; the others still run, and the thread's value is the last exit's.
TEST_F(ThreadCleanupTest, PthreadExitInsideDestructorsEndsOnlyThatDestructor) {
  static pthread_key_t key;
  static std::atomic<int> key_dtors{0};
  ASSERT_EQ(::pthread_key_create(&key, [](void*) {
              key_dtors.fetch_add(1);
              ::pthread_exit(as_ptr(77));
            }),
            0);
  tl_destroyed = 0;
  pthread_t t = spawn([]() -> void* {
    (void)&counts_dtor;   // constructed first, destroyed last
    (void)&exits_in_dtor;
    ::pthread_setspecific(key, as_ptr(1));
    return as_ptr(5);
  });
  EXPECT_EQ(as_int(join(t)), 77u);
  EXPECT_EQ(tl_destroyed.load(), 11) << "both thread_local destructors must run";
  EXPECT_EQ(key_dtors.load(), 1);
  ::pthread_key_delete(key);
}

// glibc aborts when a catch (...) swallows the forced unwind of pthread_exit ("exception
// not rethrown"): the program never goes on as if the thread had not exited.
// Run only by SwallowedPthreadExitAborts, in a child without gtest's own catch (...).
TEST(ThreadCleanupChild, DISABLED_SwallowPthreadExit) {
  pthread_t t = spawn([]() -> void* {
    try {
      ::pthread_exit(as_ptr(1));
    } catch (...) {
    }
    std::printf("went on\n");
    return nullptr;
  });
  join(t);
}

TEST_F(ThreadCleanupTest, SwallowedPthreadExitAborts) {
  const std::string cmd = self_exe() +
                          " --gtest_filter=ThreadCleanupChild.DISABLED_SwallowPthreadExit"
                          " --gtest_also_run_disabled_tests --gtest_catch_exceptions=0 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[256];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  const int status = ::pclose(p);
  // The shell either execs the program (killed by SIGABRT) or reports it as 128 + 6.
  const bool aborted = (WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT) ||
                       (WIFEXITED(status) && WEXITSTATUS(status) == 128 + SIGABRT);
  EXPECT_TRUE(aborted) << "status " << status << ": " << out;
  EXPECT_EQ(out.find("went on"), std::string::npos) << out;
}

// Where the CPU lacks wrfsbase, the same in a child forced onto arch_prctl.
TEST_F(ThreadCleanupTest, HandlersRunWithThreadPointersSetBySystemCall) {
  if (!shim_expected()) GTEST_SKIP() << "a setting of the shim";
  const std::string cmd = "GREEN_FSBASE=syscall " + self_exe() +
                          " --gtest_filter='ThreadCleanupTest.PthreadExit*:ThreadCleanupTest.Cancel*' 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  EXPECT_EQ(::pclose(p), 0) << out;
  EXPECT_NE(out.find("[  PASSED  ] 4 tests."), std::string::npos) << out;
}
