// Greenlet stacks: a guard page below each, pooled per hub and reused after a greenlet
// exits, so that spawning again maps nothing new; an overflow faults on the guard page; a
// refused mapping is an exception from spawn().
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <new>
#include <string>
#include <system_error>
#include <vector>

#include "hub.hpp"
#include "stack.hpp"
#include "support.hpp"

using namespace green;
using namespace green_test;
using green::detail::Hub;
using green::detail::StackArea;
using green::detail::StackPool;

namespace {

const std::size_t kPage = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));

// Spawns n greenlets that are all alive at once (each parked on one Event), then ends them.
void spawn_alive_and_join(int n) {
  Event go;
  std::vector<Greenlet<void>> gs;
  for (int i = 0; i < n; ++i) gs.push_back(spawn([&] { go.wait(); }));
  yield();
  go.set();
  ASSERT_TRUE(joinall(gs, 2s));
}

// Uses about `depth` KiB of stack.
int deep(int depth) {
  volatile char pad[1024];
  pad[0] = static_cast<char>(depth);
  if (depth == 0) return pad[0];
  return deep(depth - 1) + pad[0];
}

}  // namespace

TEST(Stack, SecondRoundOfGreenletsMapsNothingNew) {
  constexpr int kCount = 300;
  spawn_alive_and_join(kCount);
  const int after_first = maps_lines();
  spawn_alive_and_join(kCount);
  const int after_second = maps_lines();
  EXPECT_LE(after_second, after_first) << "stacks were mapped again instead of reused";
}

TEST(Stack, ExitedGreenletsReturnTheirStacksToThePool) {
  Hub& hub = Hub::current();
  spawn_alive_and_join(50);
  const std::size_t pooled = hub.stacks().pooled();
  EXPECT_GE(pooled, 50u);
  Event go;
  GreenletGuard guard;
  auto g = guard(spawn([&] { go.wait(); }));
  EXPECT_EQ(hub.stacks().pooled(), pooled - 1) << "spawn did not take a pooled stack";
  go.set();
  g.join();
  EXPECT_EQ(hub.stacks().pooled(), pooled);
}

TEST(Stack, PoolReusesTheLastReleasedStack) {
  StackPool pool(64 * 1024, 4);
  StackArea a = pool.acquire(0);
  ASSERT_NE(a.base, nullptr);
  EXPECT_GE(StackPool::usable(a), 64u * 1024);
  EXPECT_EQ(static_cast<char*>(StackPool::top(a)) - static_cast<char*>(a.base),
            static_cast<std::ptrdiff_t>(a.size));
  pool.release(a);
  EXPECT_EQ(pool.pooled(), 1u);
  StackArea b = pool.acquire(0);
  EXPECT_EQ(b.base, a.base);
  EXPECT_EQ(pool.pooled(), 0u);
  pool.release(b);
}

TEST(Stack, PoolKeepsNoMoreThanItsCapacity) {
  StackPool pool(64 * 1024, 2);
  std::vector<StackArea> areas;
  for (int i = 0; i < 4; ++i) areas.push_back(pool.acquire(0));
  const int before = maps_lines();
  for (const auto& a : areas) pool.release(a);
  EXPECT_EQ(pool.pooled(), 2u);
  EXPECT_LT(maps_lines(), before) << "stacks beyond the capacity must be unmapped";
}

TEST(Stack, OddSizesAreNotPooled) {
  StackPool pool(64 * 1024, 4);
  StackArea odd = pool.acquire(200 * 1024);
  ASSERT_NE(odd.base, nullptr);
  EXPECT_GE(StackPool::usable(odd), 200u * 1024);
  pool.release(odd);
  EXPECT_EQ(pool.pooled(), 0u);
}

TEST(Stack, GuardPageBelowEachStack) {
  StackPool pool(64 * 1024, 1);
  StackArea a = pool.acquire(0);
  ASSERT_NE(a.base, nullptr);
  EXPECT_EQ(maps_perms(a.base).substr(0, 3), "---");
  EXPECT_EQ(maps_perms(static_cast<char*>(a.base) + kPage).substr(0, 2), "rw");
  EXPECT_EQ(maps_perms(static_cast<char*>(StackPool::top(a)) - 1).substr(0, 2), "rw");
  pool.release(a);
}

TEST(Stack, GreenletCanUseMostOfADefaultStack) {
  // The default stack is 256 KiB unless GREEN_STACK_SIZE says otherwise.
  auto g = spawn([] { return deep(150); });
  EXPECT_TRUE(g.join(1s));
  EXPECT_TRUE(g.successful());
}

TEST(Stack, GreenletRunsOnItsOwnMappedStack) {
  int on_main = 0;
  const void* inside = nullptr;
  std::string perms;
  auto g = spawn([&] {
    int local = 0;
    inside = &local;
    perms = maps_perms(&local);
  });
  g.join();
  EXPECT_EQ(perms.substr(0, 2), "rw");
  const auto distance = static_cast<const char*>(inside) - reinterpret_cast<const char*>(&on_main);
  EXPECT_GT(distance < 0 ? -distance : distance, 1 << 20) << "greenlet ran on the thread's stack";
}

// --- in child processes ---------------------------------------------------------------------

// Running off the end of a stack must hit the guard page (SIGSEGV), not another mapping.
GREEN_TEST_CHILD(stack_overflow) {
  auto g = spawn([] { return deep(100000); });  // ~100 MB of frames
  g.join();
  std::printf("survived %d\n", g.successful() ? 1 : 0);
  return 0;
}

TEST(Stack, OverflowHitsTheGuardPage) {
  const ChildResult r = run_child("stack_overflow", {});
  EXPECT_TRUE(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGSEGV) << r.describe();
}

// When the kernel refuses a stack, spawn() throws; the hub and the greenlets already
// spawned carry on.
GREEN_TEST_CHILD(stack_exhaustion) {
  Event go;
  std::vector<Greenlet<int>> gs;
  rlimit lim{};
  ::getrlimit(RLIMIT_AS, &lim);
  // Room for a few more stacks past what is mapped now.
  long mapped_kb = 0;
  {
    std::ifstream st("/proc/self/status");
    std::string line;
    while (std::getline(st, line)) {
      if (line.rfind("VmSize:", 0) == 0) mapped_kb = std::atol(line.c_str() + 7);
    }
  }
  lim.rlim_cur = static_cast<rlim_t>(mapped_kb + 4 * 1024) * 1024;
  if (::setrlimit(RLIMIT_AS, &lim) != 0) return 2;
  const char* failure = "none";
  try {
    for (int i = 0; i < 1000; ++i) gs.push_back(spawn([&] { go.wait(); return 1; }));
  } catch (const std::system_error&) {
    failure = "system_error";
  } catch (const std::bad_alloc&) {
    failure = "bad_alloc";
  }
  go.set();
  int sum = 0;
  for (auto& g : gs) sum += g.get();
  std::printf("failure=%s spawned=%zu sum=%d\n", failure, gs.size(), sum);
  return 0;
}

TEST(Stack, SpawnThrowsWhenNoStackCanBeMapped) {
  const ChildResult r = run_child("stack_exhaustion", {});
  ASSERT_TRUE(r.exited_ok()) << r.describe();
  unsigned long spawned = 0;
  int sum = -1;
  char failure[32] = {};
  const auto at = r.output.find("failure=");
  ASSERT_NE(at, std::string::npos) << r.output;
  ASSERT_EQ(std::sscanf(r.output.c_str() + at, "failure=%31s spawned=%lu sum=%d", failure,
                        &spawned, &sum), 3)
      << r.output;
  EXPECT_STRNE(failure, "none") << "1000 stacks fitted in 4 MiB?";
  EXPECT_GT(spawned, 0u);
  EXPECT_EQ(static_cast<unsigned long>(sum), spawned);
}
