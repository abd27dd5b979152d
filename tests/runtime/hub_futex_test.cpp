// Hub::futex_wait (runtime/hub_futex.cpp): a greenlet waits on the kernel's futex while the
// others run; a FUTEX_WAKE from a real thread, or from another process on shared memory,
// ends it; a word that no longer holds the expected value returns at once; the deadline and
// a kill end it, and the kernel's waiter is taken back (a later wake finds nobody).
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "hub.hpp"
#include "support.hpp"

using namespace green;
using namespace green_test;
using green::detail::Hub;
using green::detail::Wake;

namespace {

long futex_wake(std::uint32_t* word, bool shared) {
  return ::syscall(SYS_futex, word, shared ? FUTEX_WAKE : FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

// Skips where the kernel has no io_uring futex waits (the callers then poll).
#define REQUIRE_FUTEX_WAITS()                                                              \
  do {                                                                                     \
    std::uint32_t probe = 1;                                                               \
    if (Hub::current().futex_wait(&probe, 0, false, green::detail::kNoDeadline) == Wake::none) \
      GTEST_SKIP() << "no io_uring futex waits in this kernel (Linux 6.7+)";              \
  } while (0)

}  // namespace

TEST(HubFutex, AWordThatChangedReturnsAtOnce) {
  REQUIRE_FUTEX_WAITS();
  std::uint32_t word = 5;
  EXPECT_EQ(Hub::current().futex_wait(&word, 4, false, green::detail::kNoDeadline), Wake::notified);
}

TEST(HubFutex, ARealThreadsWakeEndsItWhileOtherGreenletsRun) {
  REQUIRE_FUTEX_WAITS();
  GreenletGuard guard;
  std::atomic<int> ticks{0};
  std::atomic<bool> stop{false};
  auto ticker = guard(spawn([&] {
    while (!stop) {
      sleep(1ms);
      ++ticks;
    }
  }));
  static std::uint32_t word;
  word = 0;
  std::thread waker([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(80));
    std::atomic_ref<std::uint32_t>(word).store(1);
    while (futex_wake(&word, false) == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  const auto t0 = Clock::now();
  EXPECT_EQ(Hub::current().futex_wait(&word, 0, false, green::detail::kNoDeadline), Wake::notified);
  EXPECT_LT(ms(since(t0)), 2000);
  waker.join();
  stop = true;
  ticker.join();
  EXPECT_GE(ticks.load(), 20) << "the other greenlets did not run during the wait";
}

TEST(HubFutex, TheDeadlineEndsItAndTakesTheKernelsWaiterBack) {
  REQUIRE_FUTEX_WAITS();
  std::uint32_t word = 0;
  const auto t0 = Clock::now();
  const Wake w = Hub::current().futex_wait(&word, 0, false, green::detail::now_ns() + 30'000'000);
  EXPECT_EQ(w, Wake::timed_out);
  EXPECT_GE(ms(since(t0)), 25);
  EXPECT_EQ(futex_wake(&word, false), 0) << "the kernel still had a waiter on the word";
}

TEST(HubFutex, AKillEndsIt) {
  REQUIRE_FUTEX_WAITS();
  static std::uint32_t word;
  word = 0;
  Wake seen = Wake::none;
  auto g = spawn([&] { seen = Hub::current().futex_wait(&word, 0, false, green::detail::kNoDeadline); });
  sleep(20ms);
  EXPECT_TRUE(g.kill(true, 1s));
  EXPECT_EQ(seen, Wake::interrupted);
  EXPECT_EQ(futex_wake(&word, false), 0) << "the kernel still had a waiter on the word";
}

// A word in shared memory, woken by a child process.
TEST(HubFutex, AnotherProcessWakesASharedWord) {
  REQUIRE_FUTEX_WAITS();
  void* mem = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  auto* word = static_cast<std::uint32_t*>(mem);
  *word = 0;
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::usleep(80 * 1000);
    std::atomic_ref<std::uint32_t>(*word).store(1);
    for (int i = 0; i < 1000 && futex_wake(word, true) == 0; ++i) ::usleep(1000);
    ::_exit(0);
  }
  const auto t0 = Clock::now();
  EXPECT_EQ(Hub::current().futex_wait(word, 0, true, green::detail::now_ns() + 5'000'000'000), Wake::notified);
  EXPECT_LT(ms(since(t0)), 2000);
  EXPECT_EQ(*word, 1u);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::munmap(mem, 4096);
}
