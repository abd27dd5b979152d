// The registry of greenlet threads and their cancellation (shim/thread_registry.cpp), as
// a plain program sees them from a real thread: a pthread_t it is handed still names the
// thread, and a cancel it sends reaches the thread where it waits.
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
