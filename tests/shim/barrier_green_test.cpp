// A barrier that glibc initialised before green::patch_all() (shim/barrier.cpp): greenlet
// threads that wait on it afterwards meet there, exactly one of them serial, and the hub
// keeps running meanwhile.
#include <atomic>

#include "green_support.hpp"

using namespace shim_test;

namespace {

constexpr unsigned kParties = 3;

// Static initialisation runs before main, so before PatchAll: glibc's own barrier.
pthread_barrier_t early_barrier;
[[maybe_unused]] const int early_init = ::pthread_barrier_init(&early_barrier, nullptr, kParties);

class BarrierGreenTest : public ShimTest {};

std::atomic<int> serial{0}, passed{0}, bad{0};

void* meet(void*) {
  const int r = ::pthread_barrier_wait(&early_barrier);
  if (r == PTHREAD_BARRIER_SERIAL_THREAD) {
    ++serial;
  } else if (r != 0) {
    ++bad;
  }
  ++passed;
  return nullptr;
}

TEST_F(BarrierGreenTest, AGlibcInitialisedBarrierWorksAfterPatchAll) {
  ASSERT_EQ(early_init, 0);
  ASSERT_TRUE(green::patched());
  const int threads_before = thread_count();
  for (int round = 0; round < 3; ++round) {
    serial = passed = bad = 0;
    pthread_t ts[kParties];
    for (auto& t : ts) ASSERT_EQ(::pthread_create(&t, nullptr, meet, nullptr), 0);
    EXPECT_EQ(thread_count(), threads_before);  // greenlets, not OS threads
    for (auto& t : ts) ASSERT_EQ(::pthread_join(t, nullptr), 0);
    EXPECT_EQ(passed.load(), static_cast<int>(kParties));
    EXPECT_EQ(serial.load(), 1);
    EXPECT_EQ(bad.load(), 0);
  }
  EXPECT_EQ(::pthread_barrier_destroy(&early_barrier), 0);
}

}  // namespace
