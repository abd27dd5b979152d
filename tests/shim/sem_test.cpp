// shim/sem.cpp, as a plain POSIX program: unnamed semaphores — sem_wait/sem_post across
// threads, sem_trywait (EAGAIN), sem_timedwait/sem_clockwait (ETIMEDOUT, EINVAL),
// sem_getvalue, EOVERFLOW, cancellation in sem_wait, and a semaphore bounding how many
// threads work at once; process-shared and named semaphores posted by another process
// while other threads run; EINTR when a handler interrupts a wait nothing else can end. Runs without the shim and under LD_PRELOAD, where every thread is
// a greenlet of the main OS thread.
#include <fcntl.h>
#include <limits.h>
#include <semaphore.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <atomic>
#include <vector>

#include "threads_util.hpp"

using namespace threads_test;

namespace {

class SemTest : public ThreadsTest {};

// A sem_t that is destroyed at scope exit.
class Sem {
 public:
  explicit Sem(unsigned value) { EXPECT_EQ(::sem_init(&s_, 0, value), 0); }
  ~Sem() { ::sem_destroy(&s_); }
  Sem(const Sem&) = delete;
  Sem& operator=(const Sem&) = delete;
  sem_t* get() { return &s_; }
  int value() {
    int v = -1;
    EXPECT_EQ(::sem_getvalue(&s_, &v), 0);
    return v;
  }

 private:
  sem_t s_;
};

}  // namespace

TEST_F(SemTest, WaitAndPostAcrossThreads) {
  constexpr int kN = 100;
  Sem s(0);
  std::atomic<int> passed{0};
  std::vector<pthread_t> ts;
  for (int i = 0; i < kN; ++i) {
    ts.push_back(spawn([&]() -> void* {
      if (::sem_wait(s.get()) != 0) return as_ptr(1);
      passed.fetch_add(1);
      return nullptr;
    }));
  }
  sleep_ms(50);
  EXPECT_EQ(passed.load(), 0);
  expect_threads_alive(kN);
  for (int i = 0; i < kN / 2; ++i) ASSERT_EQ(::sem_post(s.get()), 0);
  EXPECT_TRUE(wait_until([&] { return passed.load() == kN / 2; }));
  sleep_ms(30);
  EXPECT_EQ(passed.load(), kN / 2) << "more threads passed than posts were made";
  for (int i = kN / 2; i < kN; ++i) ASSERT_EQ(::sem_post(s.get()), 0);
  for (pthread_t t : ts) EXPECT_EQ(join(t), nullptr);
  EXPECT_EQ(s.value(), 0);
}

TEST_F(SemTest, TrywaitAndGetvalue) {
  Sem s(2);
  EXPECT_EQ(s.value(), 2);
  EXPECT_EQ(::sem_trywait(s.get()), 0);
  EXPECT_EQ(::sem_trywait(s.get()), 0);
  EXPECT_EQ(s.value(), 0);
  errno = 0;
  EXPECT_EQ(::sem_trywait(s.get()), -1);
  EXPECT_EQ(errno, EAGAIN);
  EXPECT_EQ(::sem_post(s.get()), 0);
  EXPECT_EQ(s.value(), 1);
  EXPECT_EQ(as_int(join(spawn([&s] { return as_ptr(::sem_trywait(s.get()) == 0); }))), 1u);
  EXPECT_EQ(s.value(), 0);
}

TEST_F(SemTest, TimedwaitAndClockwaitTimeOut) {
  Sem s(0);
  Stopwatch sw;
  timespec when = abs_in(CLOCK_REALTIME, 100);
  errno = 0;
  EXPECT_EQ(::sem_timedwait(s.get(), &when), -1);
  EXPECT_EQ(errno, ETIMEDOUT);
  EXPECT_GE(sw.ms(), 95);
  EXPECT_LT(sw.ms(), 1000);
  Stopwatch sw2;
  when = abs_in(CLOCK_MONOTONIC, 100);
  errno = 0;
  EXPECT_EQ(::sem_clockwait(s.get(), CLOCK_MONOTONIC, &when), -1);
  EXPECT_EQ(errno, ETIMEDOUT);
  EXPECT_GE(sw2.ms(), 95);
  EXPECT_LT(sw2.ms(), 1000);
  when = abs_in(CLOCK_REALTIME, -1000);  // past
  errno = 0;
  EXPECT_EQ(::sem_timedwait(s.get(), &when), -1);
  EXPECT_EQ(errno, ETIMEDOUT);
  // Available: no wait, whatever the deadline.
  ASSERT_EQ(::sem_post(s.get()), 0);
  EXPECT_EQ(::sem_timedwait(s.get(), &when), 0);
}

TEST_F(SemTest, TimedWaitsRejectBadArguments) {
  Sem s(0);
  timespec bad{abs_in(CLOCK_REALTIME, 1000).tv_sec, 1000000000L};
  errno = 0;
  EXPECT_EQ(::sem_timedwait(s.get(), &bad), -1);
  EXPECT_EQ(errno, EINVAL);
  bad.tv_nsec = -1;
  errno = 0;
  EXPECT_EQ(::sem_clockwait(s.get(), CLOCK_MONOTONIC, &bad), -1);
  EXPECT_EQ(errno, EINVAL);
  timespec ok = abs_in(CLOCK_MONOTONIC, 1000);
  errno = 0;
  EXPECT_EQ(::sem_clockwait(s.get(), CLOCK_PROCESS_CPUTIME_ID, &ok), -1);
  EXPECT_EQ(errno, EINVAL);
}

TEST_F(SemTest, TimedwaitSucceedsWhenPostedBeforeTheDeadline) {
  Sem s(0);
  pthread_t poster = spawn([&s]() -> void* {
    sleep_ms(50);
    ::sem_post(s.get());
    return nullptr;
  });
  Stopwatch sw;
  timespec when = abs_in(CLOCK_MONOTONIC, 5000);
  EXPECT_EQ(::sem_clockwait(s.get(), CLOCK_MONOTONIC, &when), 0);
  EXPECT_GE(sw.ms(), 40);
  EXPECT_LT(sw.ms(), 2000);
  join(poster);
}

TEST_F(SemTest, PostBeyondSemValueMaxIsEoverflow) {
  Sem s(SEM_VALUE_MAX);
  EXPECT_EQ(s.value(), SEM_VALUE_MAX);
  errno = 0;
  EXPECT_EQ(::sem_post(s.get()), -1);
  EXPECT_EQ(errno, EOVERFLOW);
  EXPECT_EQ(s.value(), SEM_VALUE_MAX);
}

TEST_F(SemTest, PingPong) {
  Sem ping(0), pong(0);
  constexpr int kRounds = 10000;
  pthread_t t = spawn([&]() -> void* {
    for (int i = 0; i < kRounds; ++i) {
      if (::sem_wait(ping.get()) != 0) return as_ptr(1);
      ::sem_post(pong.get());
    }
    return nullptr;
  });
  for (int i = 0; i < kRounds; ++i) {
    ASSERT_EQ(::sem_post(ping.get()), 0);
    ASSERT_EQ(::sem_wait(pong.get()), 0);
  }
  EXPECT_EQ(join(t), nullptr);
}

TEST_F(SemTest, SemaphoreBoundsConcurrency) {
  Sem slots(3);
  std::atomic<int> inside{0}, max_inside{0};
  std::vector<pthread_t> ts;
  Stopwatch sw;
  for (int i = 0; i < 12; ++i) {
    ts.push_back(spawn([&]() -> void* {
      ::sem_wait(slots.get());
      const int now = inside.fetch_add(1) + 1;
      int seen = max_inside.load();
      while (now > seen && !max_inside.compare_exchange_weak(seen, now)) {
      }
      sleep_ms(40);
      inside.fetch_sub(1);
      ::sem_post(slots.get());
      return nullptr;
    }));
  }
  for (pthread_t t : ts) join(t);
  EXPECT_EQ(max_inside.load(), 3);
  EXPECT_GE(sw.ms(), 4 * 40 - 5);  // 12 sleepers, 3 at a time
  EXPECT_LT(sw.ms(), 2000);
  EXPECT_EQ(slots.value(), 3);
}

TEST_F(SemTest, CancelThreadBlockedInSemWait) {
  Sem s(0);
  std::atomic<bool> started{false};
  pthread_t t = spawn([&]() -> void* {
    started = true;
    ::sem_wait(s.get());  // a cancellation point
    return as_ptr(1);
  });
  ASSERT_TRUE(wait_until([&] { return started.load(); }));
  sleep_ms(30);
  EXPECT_EQ(::pthread_cancel(t), 0);
  EXPECT_EQ(join(t), PTHREAD_CANCELED);
  EXPECT_EQ(s.value(), 0);
  // The semaphore still works for others.
  ASSERT_EQ(::sem_post(s.get()), 0);
  EXPECT_EQ(as_int(join(spawn([&s] { return as_ptr(::sem_wait(s.get()) == 0); }))), 1u);
}

namespace {

// A child that posts `s` after 100 ms.
pid_t child_posting(sem_t* s) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::usleep(100 * 1000);
    ::sem_post(s);
    ::_exit(0);
  }
  return pid;
}

}  // namespace

TEST_F(SemTest, ProcessSharedSemaphorePostedByAnotherProcess) {
  void* mem = ::mmap(nullptr, sizeof(sem_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  auto* s = static_cast<sem_t*>(mem);
  ASSERT_EQ(::sem_init(s, 1, 0), 0);
  const pid_t pid = child_posting(s);
  ASSERT_GT(pid, 0);
  Stopwatch sw;
  int rc = -1;
  const int ticks = ticks_during([&] { rc = ::sem_wait(s); });
  EXPECT_EQ(rc, 0);
  EXPECT_LT(sw.ms(), 3000);
  EXPECT_GE(ticks, 5) << "the other thread did not run during the wait";
  ::waitpid(pid, nullptr, 0);
  ::sem_destroy(s);
  ::munmap(mem, sizeof(sem_t));
}

TEST_F(SemTest, NamedSemaphorePostedByAnotherProcess) {
  const std::string name = "/greenshim_sem_test_" + std::to_string(::getpid());
  sem_t* s = ::sem_open(name.c_str(), O_CREAT | O_EXCL, 0600, 0);
  ASSERT_NE(s, SEM_FAILED);
  ::sem_unlink(name.c_str());
  const pid_t pid = child_posting(s);
  ASSERT_GT(pid, 0);
  Stopwatch sw;
  int rc = -1;
  const int ticks = ticks_during([&] {
    const timespec at = abs_in(CLOCK_REALTIME, 5000);
    rc = ::sem_timedwait(s, &at);
  });
  EXPECT_EQ(rc, 0);
  EXPECT_LT(sw.ms(), 3000);
  EXPECT_GE(ticks, 5) << "the other thread did not run during the wait";
  ::waitpid(pid, nullptr, 0);
  ::sem_close(s);
}

namespace {
void on_alarm(int) {}
}  // namespace

// A handler without SA_RESTART ends sem_wait with EINTR (Linux restarts it with one).
// Here nothing in the process could ever post: the wait must sleep until the signal, not
// give up.
TEST_F(SemTest, HandledSignalInterruptsAWaitNothingElseCanEnd) {
  Sem s(0);
  struct sigaction act {}, old {};
  act.sa_handler = on_alarm;
  act.sa_flags = 0;
  sigemptyset(&act.sa_mask);
  ASSERT_EQ(::sigaction(SIGALRM, &act, &old), 0);
  itimerval it{};
  it.it_value.tv_usec = 50 * 1000;
  ASSERT_EQ(::setitimer(ITIMER_REAL, &it, nullptr), 0);
  Stopwatch sw;
  errno = 0;
  const int rc = ::sem_wait(s.get());
  const int e = errno;
  ::sigaction(SIGALRM, &old, nullptr);
  EXPECT_EQ(rc, -1);
  EXPECT_EQ(e, EINTR) << std::strerror(e);
  EXPECT_GE(sw.ms(), 40);
}
