// GREEN_* settings: parse_size() on its own, and GREEN_STACK_SIZE, GREEN_STACK_POOL and
// GREEN_POLL_US as a process really sees them (config() reads the environment once per
// process, hence child processes).
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "config.hpp"
#include "hub.hpp"
#include "support.hpp"

using namespace green;
using namespace green_test;
using green::detail::config;
using green::detail::parse_size;

namespace {
constexpr std::size_t kFallback = 12345;
constexpr std::size_t kDefaultStack = 256 * 1024;
}  // namespace

TEST(Config, ParseSizeReadsPlainNumbersAndSuffixes) {
  EXPECT_EQ(parse_size("262144", kFallback), 262144u);
  EXPECT_EQ(parse_size("0", kFallback), 0u);
  EXPECT_EQ(parse_size("256k", kFallback), 256u * 1024);
  EXPECT_EQ(parse_size("256K", kFallback), 256u * 1024);
  EXPECT_EQ(parse_size("1m", kFallback), 1024u * 1024);
  EXPECT_EQ(parse_size("1M", kFallback), 1024u * 1024);
  EXPECT_EQ(parse_size("2G", kFallback), 2ull << 30);
  EXPECT_EQ(parse_size("2g", kFallback), 2ull << 30);
}

TEST(Config, ParseSizeFallsBackOnMissingOrMalformedText) {
  EXPECT_EQ(parse_size(nullptr, kFallback), kFallback);
  EXPECT_EQ(parse_size("", kFallback), kFallback);
  EXPECT_EQ(parse_size("abc", kFallback), kFallback);
  EXPECT_EQ(parse_size("k", kFallback), kFallback);
  EXPECT_EQ(parse_size("12x", kFallback), kFallback);
  EXPECT_EQ(parse_size("1kb", kFallback), kFallback);
  EXPECT_EQ(parse_size("1k5", kFallback), kFallback);
  EXPECT_EQ(parse_size("1.5M", kFallback), kFallback);
  EXPECT_EQ(parse_size("0x10", kFallback), kFallback);
  EXPECT_EQ(parse_size("64 k", kFallback), kFallback);
  EXPECT_EQ(parse_size("99999999999999999999999", kFallback), kFallback);  // ERANGE
}

// strtoull() accepts a minus sign and negates in unsigned arithmetic: "-1" must not become
// SIZE_MAX.
TEST(Config, ParseSizeRejectsNegativeNumbers) {
  EXPECT_EQ(parse_size("-1", kFallback), kFallback);
  EXPECT_EQ(parse_size("-256k", kFallback), kFallback);
  EXPECT_EQ(parse_size(" -1", kFallback), kFallback);
}

// A suffix must not silently wrap around: 2^34 G is 2^64 bytes.
TEST(Config, ParseSizeRejectsValuesThatOverflowWithTheirSuffix) {
  EXPECT_EQ(parse_size("17179869184G", kFallback), kFallback);
  EXPECT_EQ(parse_size("17179869185G", kFallback), kFallback);
  EXPECT_EQ(parse_size("18014398509481984M", kFallback), kFallback);
  EXPECT_EQ(parse_size("18014398509481985k", kFallback), kFallback);
}

// --- the environment, in a child process ----------------------------------------------------

// Prints the settings, the usable size of a stack the hub hands out (after a greenlet and
// the hub's own fiber have run on such stacks), and how many stacks the pool keeps after
// ten greenlets that were alive at once have ended.
GREEN_TEST_CHILD(settings) {
  Event go;
  std::vector<Greenlet<int>> gs;
  for (int i = 0; i < 10; ++i) {
    gs.push_back(spawn([&] {
      go.wait();
      sleep(1ms);
      return 1;
    }));
  }
  yield();
  go.set();
  int ran = 0;
  for (auto& g : gs) ran += g.get();
  auto& pool = detail::Hub::current().stacks();
  const std::size_t pooled = pool.pooled();
  const auto area = pool.acquire(0);
  std::printf("stack_size=%zu usable=%zu ran=%d pool=%zu pooled=%zu poll_ns=%ld fsbase_syscall=%d\n",
              config().stack_size, area.base ? detail::StackPool::usable(area) : 0, ran,
              config().stack_pool, pooled, config().poll_interval_ns, config().fsbase_syscall ? 1 : 0);
  pool.release(area);
  return 0;
}

namespace {

struct Settings {
  bool ok = false;
  std::size_t stack_size = 0;
  std::size_t usable = 0;
  std::size_t pool = 0;
  std::size_t pooled = 0;
  long poll_ns = 0;
  int fsbase_syscall = -1;
  ChildResult child;
};

// `var` is "NAME=VALUE", or "NAME" to run with NAME unset.
Settings settings_with(const std::string& var) {
  Settings c;
  c.child = run_child("settings", {var});
  const auto at = c.child.output.find("stack_size=");
  int ran = 0;
  c.ok = c.child.exited_ok() && at != std::string::npos &&
         std::sscanf(c.child.output.c_str() + at,
                     "stack_size=%zu usable=%zu ran=%d pool=%zu pooled=%zu poll_ns=%ld fsbase_syscall=%d",
                     &c.stack_size, &c.usable, &ran, &c.pool, &c.pooled, &c.poll_ns, &c.fsbase_syscall) == 7 &&
         ran == 10;
  return c;
}

// The settings with no GREEN_* variable set.
const Settings& defaults() {
  static const Settings d = settings_with("GREEN_QUIET");
  return d;
}

bool warned(const Settings& c, const std::string& var) {
  return c.child.output.find("ignoring " + var) != std::string::npos;
}

}  // namespace

// The stack size and pool defaults are part of the contract (config.cpp); the poll
// interval's default is a tuning knob, so only its fallback is compared with it below.
TEST(Config, Defaults) {
  const Settings c = defaults();
  ASSERT_TRUE(c.ok) << c.child.describe();
  EXPECT_EQ(c.stack_size, kDefaultStack);
  EXPECT_EQ(c.usable, kDefaultStack);
  EXPECT_EQ(c.pool, 1024u);
  EXPECT_GE(c.pooled, 10u);
  EXPECT_GT(c.poll_ns, 0);
}

TEST(Config, StackSizeFromTheEnvironment) {
  for (const auto& [text, bytes] : {std::pair<const char*, std::size_t>{"65536", 65536},
                                    {"64k", 64 * 1024},
                                    {"1M", 1024 * 1024}}) {
    const Settings c = settings_with(std::string("GREEN_STACK_SIZE=") + text);
    ASSERT_TRUE(c.ok) << text << ": " << c.child.describe();
    EXPECT_EQ(c.stack_size, bytes) << text;
    EXPECT_EQ(c.usable, bytes) << text;
  }
}

TEST(Config, MalformedOrTooSmallStackSizeFallsBackWithAWarning) {
  for (const char* text : {"junk", "4k", "0", "12q"}) {
    const std::string var = std::string("GREEN_STACK_SIZE=") + text;
    const Settings c = settings_with(var);
    ASSERT_TRUE(c.ok) << var << ": " << c.child.describe();
    EXPECT_EQ(c.stack_size, kDefaultStack) << var;
    EXPECT_TRUE(warned(c, var)) << c.child.output;
  }
}

// strtoull() reads "-1" as SIZE_MAX; rounding that up to whole pages wraps around to a
// mapping that is all guard page, which leaves the hub's own fiber no stack (SIGSEGV).
TEST(Config, NegativeStackSizeFallsBack) {
  const Settings c = settings_with("GREEN_STACK_SIZE=-1");
  ASSERT_TRUE(c.ok) << c.child.describe();
  EXPECT_EQ(c.stack_size, kDefaultStack);
}

TEST(Config, StackPoolBoundsTheStacksKept) {
  const Settings two = settings_with("GREEN_STACK_POOL=2");
  ASSERT_TRUE(two.ok) << two.child.describe();
  EXPECT_EQ(two.pool, 2u);
  EXPECT_EQ(two.pooled, 2u);
  const Settings none = settings_with("GREEN_STACK_POOL=0");
  ASSERT_TRUE(none.ok) << none.child.describe();
  EXPECT_EQ(none.pooled, 0u);
}

// config.cpp: "a malformed value falls back to the default with a warning". For
// GREEN_STACK_POOL (minimum 0) a malformed value parses as 0 and is taken as such.
TEST(Config, MalformedStackPoolFallsBackWithAWarning) {
  const Settings c = settings_with("GREEN_STACK_POOL=junk");
  ASSERT_TRUE(c.ok) << c.child.describe();
  EXPECT_EQ(c.pool, 1024u);
  EXPECT_TRUE(warned(c, "GREEN_STACK_POOL=junk")) << c.child.output;
}

TEST(Config, FsbaseChoosesHowThreadPointersAreSet) {
  EXPECT_EQ(defaults().fsbase_syscall, 0);
  const Settings c = settings_with("GREEN_FSBASE=syscall");
  ASSERT_TRUE(c.ok) << c.child.describe();
  EXPECT_EQ(c.fsbase_syscall, 1);
  const Settings bad = settings_with("GREEN_FSBASE=fast");
  ASSERT_TRUE(bad.ok) << bad.child.describe();
  EXPECT_EQ(bad.fsbase_syscall, 0);
  EXPECT_TRUE(warned(bad, "GREEN_FSBASE=fast")) << bad.child.output;
}

TEST(Config, PollInterval) {
  const Settings c = settings_with("GREEN_POLL_US=77");
  ASSERT_TRUE(c.ok) << c.child.describe();
  EXPECT_EQ(c.poll_ns, 77000);
  const Settings bad = settings_with("GREEN_POLL_US=junk");
  ASSERT_TRUE(bad.ok) << bad.child.describe();
  EXPECT_EQ(bad.poll_ns, defaults().poll_ns);
  EXPECT_TRUE(warned(bad, "GREEN_POLL_US=junk")) << bad.child.output;
}
