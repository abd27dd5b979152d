// Where a handler runs (shim/signal_deliver.cpp): pthread_kill runs it in the target
// thread, whose blocked call the handler interrupts as the kernel's would (EINTR, or the
// call goes on with SA_RESTART); a handler that sleeps holds up its own thread only.
// Runs without the shim and under LD_PRELOAD.
#include "signal_util.hpp"

using namespace threads_test;
using namespace signal_test;

namespace {
class SignalDeliverTest : public ThreadsTest {};

struct ReadResult {
  ssize_t r = 0;
  int err = 0;
  char byte = 0;
};

// A thread blocked in read() on `fd` (its result lands in *out), sent SIGUSR1 once it
// is well inside the read.
pthread_t signalled_reader(int fd, ReadResult* out) {
  std::atomic<bool> started{false};
  pthread_t t = spawn([=, &started]() -> void* {
    started = true;
    out->r = ::read(fd, &out->byte, 1);
    out->err = errno;
    return nullptr;
  });
  EXPECT_TRUE(wait_until([&] { return started.load(); }));
  sleep_ms(30);
  EXPECT_EQ(::pthread_kill(t, SIGUSR1), 0);
  return t;
}
}  // namespace

TEST_F(SignalDeliverTest, PthreadKillInterruptsTheTargetsReadAndRunsTheHandlerThere) {
  Handler h(SIGUSR1, record_thread);  // no SA_RESTART
  reset_record();
  auto p = socket_pair();
  ReadResult res;
  pthread_t t = signalled_reader(p.a.get(), &res);
  join(t);
  EXPECT_EQ(handled.load(), 1);
  EXPECT_TRUE(pthread_equal(handled_in.load(), t)) << "the handler ran in another thread";
  EXPECT_EQ(res.r, -1);
  EXPECT_EQ(res.err, EINTR);
}

TEST_F(SignalDeliverTest, WithSaRestartTheTargetsReadGoesOn) {
  Handler h(SIGUSR1, record_thread, SA_RESTART);
  reset_record();
  auto p = socket_pair();
  ReadResult res;
  pthread_t t = signalled_reader(p.a.get(), &res);
  EXPECT_TRUE(wait_until([] { return handled.load() == 1; }));
  EXPECT_TRUE(pthread_equal(handled_in.load(), t));
  sleep_ms(20);
  ASSERT_EQ(::write(p.b.get(), "k", 1), 1);
  join(t);
  EXPECT_EQ(res.r, 1) << "errno " << res.err;
  EXPECT_EQ(res.byte, 'k');
}

// The main thread waits in pthread_join, which no handler interrupts: the handler runs
// in main and the join goes on.
TEST_F(SignalDeliverTest, AHandlerInAnUninterruptibleWaitLetsTheWaitGoOn) {
  Handler h(SIGUSR2, record_thread);
  reset_record();
  const pthread_t main_thread = ::pthread_self();
  pthread_t t = spawn([main_thread]() -> void* {
    sleep_ms(30);
    ::pthread_kill(main_thread, SIGUSR2);
    sleep_ms(30);
    return as_ptr(7);
  });
  EXPECT_EQ(as_int(join(t)), 7u);
  EXPECT_EQ(handled.load(), 1);
  EXPECT_TRUE(pthread_equal(handled_in.load(), main_thread));
}

namespace {
std::atomic<int> sleepy_done{0};
void sleepy_handler(int) {
  ::usleep(200 * 1000);
  sleepy_done.fetch_add(1);
}
}  // namespace

// Four threads each take a signal whose handler sleeps 200 ms: the handlers sleep at the
// same time, and a fifth thread goes on ticking meanwhile.
TEST_F(SignalDeliverTest, HandlersThatSleepHoldUpOnlyTheirOwnThread) {
  Handler h(SIGUSR1, sleepy_handler);
  sleepy_done = 0;
  constexpr int kN = 4;
  std::atomic<bool> stop{false};
  std::vector<pthread_t> ts;
  for (int i = 0; i < kN; ++i) {
    ts.push_back(spawn([&]() -> void* {
      while (!stop) sleep_ms(5);
      return nullptr;
    }));
  }
  sleep_ms(20);
  Stopwatch sw;
  const int ticks = ticks_during([&] {
    for (pthread_t t : ts) ::pthread_kill(t, SIGUSR1);
    wait_until([] { return sleepy_done.load() == kN; }, 3000);
  });
  const double ms = sw.ms();
  expect_threads_alive(kN);
  stop = true;
  for (pthread_t t : ts) join(t);
  EXPECT_EQ(sleepy_done.load(), kN);
  EXPECT_LT(ms, 2.5 * 200) << "the handlers' sleeps ran one after another";
  EXPECT_GT(ticks, 5) << "another thread stood still while handlers slept";
}
