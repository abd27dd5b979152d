// Thread IDs (shim/thread_id.cpp): each thread has its own gettid(), also through
// syscall(SYS_gettid); tgkill to it and raise() in it run the handler in that thread.
// Runs without the shim and under LD_PRELOAD.
#include <set>

#include "signal_util.hpp"

using namespace threads_test;
using namespace signal_test;

namespace {
class ThreadIdTest : public ThreadsTest {};
pid_t sys_gettid() { return static_cast<pid_t>(::syscall(SYS_gettid)); }
}  // namespace

TEST_F(ThreadIdTest, EachThreadHasItsOwnThreadId) {
  constexpr int kN = 10;
  std::atomic<int> ids[kN];
  std::atomic<bool> go{false};
  std::vector<pthread_t> ts;
  for (int i = 0; i < kN; ++i) {
    ids[i] = 0;
    ts.push_back(spawn([&, i]() -> void* {
      const pid_t a = ::gettid();
      ids[i] = a == sys_gettid() ? a : -1;
      wait_until([&] { return go.load(); });
      return nullptr;
    }));
  }
  ASSERT_TRUE(wait_until([&] {
    for (auto& id : ids) {
      if (id.load() == 0) return false;
    }
    return true;
  }));
  expect_threads_alive(kN);
  std::set<int> distinct{::gettid()};
  for (auto& id : ids) {
    EXPECT_GT(id.load(), 0) << "gettid() and syscall(SYS_gettid) disagree";
    distinct.insert(id.load());
    EXPECT_EQ(::syscall(SYS_tgkill, ::getpid(), id.load(), 0), 0);
  }
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kN + 1)) << "threads share a thread ID";
  go = true;
  for (pthread_t t : ts) join(t);
}

TEST_F(ThreadIdTest, TgkillAndRaiseRunTheHandlerInTheThreadTheyName) {
  Handler h(SIGUSR1, record_thread);
  reset_record();
  std::atomic<pid_t> tid{0};
  std::atomic<bool> stop{false};
  pthread_t t = spawn([&]() -> void* {
    tid = ::gettid();
    while (!stop) sleep_ms(2);
    return nullptr;
  });
  ASSERT_TRUE(wait_until([&] { return tid.load() != 0; }));
  ASSERT_EQ(::syscall(SYS_tgkill, ::getpid(), tid.load(), SIGUSR1), 0);
  EXPECT_TRUE(wait_until([] { return handled.load() == 1; }));
  EXPECT_TRUE(pthread_equal(handled_in.load(), t)) << "tgkill's handler ran in another thread";
  EXPECT_EQ(handled_tid.load(), tid.load());
  stop = true;
  join(t);

  reset_record();
  pthread_t r = spawn([]() -> void* {
    ::raise(SIGUSR1);  // runs the handler before it returns
    return as_ptr(handled.load() == 1 && pthread_equal(handled_in.load(), ::pthread_self()) ? 1 : 2);
  });
  EXPECT_EQ(as_int(join(r)), 1u) << "raise() did not run the handler in the raising thread";
}

// An ID that names no thread: ESRCH, as the kernel answers.
TEST_F(ThreadIdTest, TgkillToAnEndedThreadsIdFails) {
  pthread_t t = spawn([]() -> void* { return as_ptr(static_cast<std::uintptr_t>(::gettid())); });
  const pid_t ended = static_cast<pid_t>(as_int(join(t)));
  sleep_ms(10);
  errno = 0;
  EXPECT_EQ(::syscall(SYS_tgkill, ::getpid(), ended, 0), -1);
  EXPECT_EQ(errno, ESRCH);
}
