// The GREEN_* settings as a preloaded program meets them (shim/activation.cpp,
// runtime/config.cpp): every malformed or out-of-range value is named in one line on
// stderr, and the shim still takes over with the default in its place.
#include "support.hpp"

using namespace shim_test;

namespace {

class ActivationTest : public ShimTest {};

void* nap(void*) {
  sleep_ms(200);
  return nullptr;
}

// Four threads that sleep 200 ms: under the shim, greenlets of one OS thread, done together.
SHIM_TEST_CHILD(four_sleepers) {
  Stopwatch sw;
  pthread_t ts[4];
  for (auto& t : ts) ::pthread_create(&t, nullptr, nap, nullptr);
  const int threads = thread_count();
  for (auto& t : ts) ::pthread_join(t, nullptr);
  std::printf("threads=%d ms=%.0f\n", threads, sw.ms());
  return 0;
}

struct ChildRun {
  ChildResult child;
  int threads = -1;
  double ms = -1;
};

ChildRun run_with(const std::string& var) {
  ChildRun r;
  r.child = run_child("four_sleepers", {var});
  const auto at = r.child.output.find("threads=");
  if (at != std::string::npos) std::sscanf(r.child.output.c_str() + at, "threads=%d ms=%lf", &r.threads, &r.ms);
  return r;
}

size_t count_lines_with(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST_F(ActivationTest, EveryBadSettingWarnsOnceAndTheShimStaysActive) {
  if (!shim_expected()) GTEST_SKIP() << "the settings belong to the shim";
  for (const char* var : {"GREEN_STACK_SIZE=99999G", "GREEN_STACK_SIZE=junk", "GREEN_STACK_SIZE=4k",
                          "GREEN_STACK_POOL=-3", "GREEN_STACK_POOL=99999999999", "GREEN_THREADS=bogus",
                          "GREEN_OFFLOAD_THREADS=garbage", "GREEN_OFFLOAD_THREADS=0",
                          "GREEN_OFFLOAD_THREADS=100000", "GREEN_DISABLE=garbage", "GREEN_POLL_US=99999G",
                          "GREEN_POLL_US=0", "GREEN_QUIET=maybe"}) {
    const ChildRun r = run_with(var);
    EXPECT_TRUE(r.child.exited_ok()) << var << ": " << r.child.output;
    EXPECT_EQ(count_lines_with(r.child.output, std::string("greenshim: ignoring ") + var + " "), 1u)
        << r.child.output;
    EXPECT_EQ(r.threads, 1) << var << ": the shim did not take over: " << r.child.output;
    EXPECT_GE(r.ms, 190) << var;
    EXPECT_LT(r.ms, 600) << var << ": the sleeps did not overlap, or took too long";
  }
}

TEST_F(ActivationTest, GoodSettingsSayNothing) {
  if (!shim_expected()) GTEST_SKIP() << "the settings belong to the shim";
  for (const char* var : {"GREEN_STACK_SIZE=64k", "GREEN_THREADS=green", "GREEN_OFFLOAD_THREADS=2",
                          "GREEN_DISABLE=0", "GREEN_POLL_US=100", "GREEN_QUIET=1"}) {
    const ChildRun r = run_with(var);
    EXPECT_TRUE(r.child.exited_ok()) << var << ": " << r.child.output;
    EXPECT_EQ(r.child.output.find("greenshim:"), std::string::npos) << var << ": " << r.child.output;
    EXPECT_EQ(r.threads, 1) << var;
  }
}

TEST_F(ActivationTest, DisableAndRealThreadsAreHonoured) {
  if (!shim_expected()) GTEST_SKIP() << "the settings belong to the shim";
  for (const char* var : {"GREEN_DISABLE=1", "GREEN_THREADS=real"}) {
    const ChildRun r = run_with(var);
    EXPECT_TRUE(r.child.exited_ok()) << var << ": " << r.child.output;
    EXPECT_EQ(r.threads, 5) << var << ": " << r.child.output;
    EXPECT_EQ(r.child.output.find("greenshim:"), std::string::npos) << r.child.output;
  }
}

}  // namespace
