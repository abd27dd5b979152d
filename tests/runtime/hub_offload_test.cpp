// Hub::offload (runtime/hub_offload.cpp): work runs on a real helper thread while the
// calling greenlet parks and the others run; the caller always waits for its job, even
// under a Timeout that fires meanwhile; the helpers never take the program's signals.
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>

#include "../tasks.hpp"
#include "hub.hpp"
#include "support.hpp"

using namespace green;
using namespace green_test;
using green::detail::Hub;

namespace {

double cpu_ms() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

long tid() { return ::syscall(SYS_gettid); }

}  // namespace

TEST(HubOffload, RunsOnAnotherThreadWhileOtherGreenletsRun) {
  GreenletGuard guard;
  std::atomic<int> ticks{0};
  std::atomic<bool> stop{false};
  auto ticker = guard(spawn([&] {
    while (!stop) {
      sleep(1ms);
      ++ticks;
    }
  }));
  long worker = 0;
  Hub::current().offload([&] {
    worker = tid();
    ::usleep(100 * 1000);
  });
  stop = true;
  ticker.join();
  EXPECT_NE(worker, tid());
  EXPECT_GE(ticks.load(), 20) << "the hub did not run while the job was out";
}

// A Timeout that fires while the job is out: the job still finishes before offload()
// returns (it uses the caller's stack), without spinning, and the Timeout is raised at the
// next blocking call.
TEST(HubOffload, ATimeoutThatFiresMeanwhileWaitsForTheJobWithoutSpinning) {
  std::atomic<bool> finished{false};
  bool raised = false;
  const double cpu0 = cpu_ms();
  const auto t0 = Clock::now();
  try {
    Timeout t(30ms);
    Hub::current().offload([&] {
      ::usleep(300 * 1000);
      finished = true;
    });
    EXPECT_TRUE(finished.load());
    sleep(1s);  // the pending Timeout is thrown here
  } catch (const TimeoutError&) {
    raised = true;
  }
  EXPECT_TRUE(raised);
  EXPECT_GE(ms(since(t0)), 290);
  EXPECT_LT(ms(since(t0)), 900);
  EXPECT_LT(cpu_ms() - cpu0, 150) << "the wait for the job spun";
}

TEST(HubOffload, AKillThatArrivesMeanwhileWaitsForTheJob) {
  std::atomic<bool> finished{false};
  auto g = spawn([&] {
    Hub::current().offload([&] {
      ::usleep(100 * 1000);
      finished = true;
    });
    sleep(1s);
  });
  sleep(20ms);
  g.kill(true, 5s);
  EXPECT_TRUE(g.dead());
  EXPECT_TRUE(finished.load());
}

// SigBlk of every "green-offload" thread: all but SIGKILL, SIGSTOP and glibc's two.
TEST(HubOffload, HelperThreadsBlockEverySignal) {
  Hub::current().offload([] {});
  int helpers = 0;
  for (const auto& t : test_tasks::tasks_named("green-offload")) {
    ++helpers;
    EXPECT_TRUE(t.blocks_every_signal) << t.sig_blk;
  }
  EXPECT_GE(helpers, 1);
}
