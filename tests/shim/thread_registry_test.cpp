// The registry of greenlet threads and their cancellation (shim/thread_registry.cpp,
// shim/thread_arena.cpp), as a plain program sees them: a pthread_t handed to a real
// thread still names the thread, and a cancel it sends reaches the thread where it waits;
// an ended thread's ID is no thread any more (ESRCH), and never taken for a real one.
#include "support.hpp"

using namespace shim_test;

namespace {
class ThreadRegistryTest : public ShimTest {};
}  // namespace

namespace {
void* sleep_long(void*) {
  for (int i = 0; i < 100; ++i) ::usleep(100 * 1000);  // 10 s unless cancelled
  return nullptr;
}
}  // namespace

// pthread_cancel sent from a real thread (a std::thread stays real under
// GREEN_REAL_THREADS=libstdc++) to a thread parked in usleep.
SHIM_TEST_CHILD(cancel_from_real_thread) {
  pthread_t t;
  if (::pthread_create(&t, nullptr, sleep_long, nullptr) != 0) return 10;
  std::thread canceller([t] {
    sleep_ms(50);
    ::pthread_cancel(t);
  });
  canceller.join();
  void* ret = nullptr;
  const int rc = ::pthread_join(t, &ret);
  std::printf("join=%d canceled=%d\n", rc, ret == PTHREAD_CANCELED);
  return rc == 0 && ret == PTHREAD_CANCELED ? 0 : 1;
}

TEST_F(ThreadRegistryTest, CancelFromARealThread) {
  Stopwatch sw;
  const ChildResult r = run_child("cancel_from_real_thread", {"GREEN_REAL_THREADS=libstdc++"});
  EXPECT_TRUE(r.exited_ok()) << r.output;
  EXPECT_LT(sw.ms(), 4000);
}

namespace {
void* returns_arg(void* a) { return a; }
}  // namespace

// glibc's answers for the ID of a thread that was joined: join and detach find no thread,
// tryjoin says busy; a signal or cancel to it is no error and reaches nobody.
TEST_F(ThreadRegistryTest, JoinedThreadsIdIsNoThread) {
  for (int i = 0; i < 200; ++i) {  // every ID, not only the last one made
    pthread_t t;
    ASSERT_EQ(::pthread_create(&t, nullptr, returns_arg, nullptr), 0);
    ASSERT_EQ(::pthread_join(t, nullptr), 0);
    EXPECT_EQ(::pthread_join(t, nullptr), ESRCH);
    EXPECT_EQ(::pthread_tryjoin_np(t, nullptr), EBUSY);
    EXPECT_EQ(::pthread_detach(t), ESRCH);
    EXPECT_EQ(::pthread_kill(t, 0), 0);
    EXPECT_EQ(::pthread_cancel(t), 0);
    int policy;
    sched_param sp{};
    EXPECT_EQ(::pthread_getschedparam(t, &policy, &sp), ESRCH);
  }
}

// A detached thread's ID once it has ended: joining it is an error, never a crash.
TEST_F(ThreadRegistryTest, EndedDetachedThreadsIdCannotBeJoined) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t t;
  ASSERT_EQ(::pthread_create(&t, &attr, returns_arg, nullptr), 0);
  pthread_attr_destroy(&attr);
  sleep_ms(50);
  const int rc = ::pthread_join(t, nullptr);
  EXPECT_TRUE(rc == ESRCH || rc == EINVAL) << rc;  // glibc: EINVAL, its descriptor says detached
  EXPECT_EQ(::pthread_kill(t, 0), 0);
}

namespace {
std::atomic<int> queued_value{0};
void note_queued(int, siginfo_t* info, void*) { queued_value = info->si_value.sival_int; }
}  // namespace

// pthread_sigqueue to a thread runs the handler with the value sent.
TEST_F(ThreadRegistryTest, SigqueueToAThreadDeliversItsValue) {
  struct sigaction act {}, old {};
  act.sa_sigaction = note_queued;
  act.sa_flags = SA_SIGINFO;
  sigemptyset(&act.sa_mask);
  ASSERT_EQ(::sigaction(SIGUSR2, &act, &old), 0);
  queued_value = 0;
  pthread_t t;
  ASSERT_EQ(::pthread_create(&t, nullptr, [](void*) -> void* {
              for (int i = 0; i < 200 && queued_value == 0; ++i) ::usleep(5000);
              return nullptr;
            }, nullptr), 0);
  sleep_ms(20);
  EXPECT_EQ(::pthread_sigqueue(t, SIGUSR2, sigval{.sival_int = 42}), 0);
  EXPECT_EQ(::pthread_join(t, nullptr), 0);
  EXPECT_EQ(queued_value.load(), 42);
  EXPECT_EQ(::pthread_sigqueue(t, SIGUSR2, sigval{.sival_int = 7}), ESRCH) << "an ended thread takes none";
  ::sigaction(SIGUSR2, &old, nullptr);
}
