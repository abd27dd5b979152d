// shim/barrier.cpp, as a plain POSIX program: pthread_barrier_wait holds every thread
// until the count is reached, returns PTHREAD_BARRIER_SERIAL_THREAD to exactly one of
// them per round (also across processes, process-shared), and pthread_barrier_init
// rejects a count of 0. Runs without the shim
// and under LD_PRELOAD, where every thread is a greenlet of the main OS thread.
// (std::barrier and std::latch are futex-based: futex_test.cpp.)
#include <sys/mman.h>
#include <sys/wait.h>

#include <atomic>
#include <vector>

#include "threads_util.hpp"

using namespace threads_test;

namespace {
class BarrierTest : public ThreadsTest {};
}  // namespace

TEST_F(BarrierTest, SerialThreadIsReturnedToExactlyOneThreadPerRound) {
  constexpr int kThreads = 8, kRounds = 50;
  pthread_barrier_t b;
  ASSERT_EQ(::pthread_barrier_init(&b, nullptr, kThreads), 0);
  std::atomic<int> arrived[kRounds] = {};
  std::atomic<int> serial[kRounds] = {};
  std::atomic<int> bad_return{0}, early{0};
  std::vector<pthread_t> ts;
  for (int i = 0; i < kThreads; ++i) {
    ts.push_back(spawn([&, i]() -> void* {
      for (int r = 0; r < kRounds; ++r) {
        arrived[r].fetch_add(1);
        if ((i + r) % 3 == 0) sleep_ms(1);  // arrive in a different order each round
        const int ret = ::pthread_barrier_wait(&b);
        if (ret == PTHREAD_BARRIER_SERIAL_THREAD) {
          serial[r].fetch_add(1);
        } else if (ret != 0) {
          bad_return.fetch_add(1);
        }
        if (arrived[r].load() != kThreads) early.fetch_add(1);  // left before all came
      }
      return nullptr;
    }));
  }
  for (pthread_t t : ts) join(t);
  EXPECT_EQ(bad_return.load(), 0);
  EXPECT_EQ(early.load(), 0);
  for (int r = 0; r < kRounds; ++r) EXPECT_EQ(serial[r].load(), 1) << "round " << r;
  EXPECT_EQ(::pthread_barrier_destroy(&b), 0);
}

TEST_F(BarrierTest, WaitersAreHeldUntilTheLastArrives) {
  constexpr int kThreads = 100;
  pthread_barrier_t b;
  ASSERT_EQ(::pthread_barrier_init(&b, nullptr, kThreads + 1), 0);
  std::atomic<int> passed{0};
  std::vector<pthread_t> ts;
  for (int i = 0; i < kThreads; ++i) {
    ts.push_back(spawn([&]() -> void* {
      const int r = ::pthread_barrier_wait(&b);
      passed.fetch_add(1);
      return as_ptr(r == PTHREAD_BARRIER_SERIAL_THREAD ? 1 : 0);
    }));
  }
  sleep_ms(100);
  EXPECT_EQ(passed.load(), 0);
  expect_threads_alive(kThreads);
  const int mine = ::pthread_barrier_wait(&b);
  int serials = mine == PTHREAD_BARRIER_SERIAL_THREAD ? 1 : 0;
  for (pthread_t t : ts) serials += static_cast<int>(as_int(join(t)));
  EXPECT_EQ(passed.load(), kThreads);
  EXPECT_EQ(serials, 1);
  EXPECT_EQ(::pthread_barrier_destroy(&b), 0);
}

TEST_F(BarrierTest, CountOfOneNeverWaits) {
  pthread_barrier_t b;
  ASSERT_EQ(::pthread_barrier_init(&b, nullptr, 1), 0);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(::pthread_barrier_wait(&b), PTHREAD_BARRIER_SERIAL_THREAD);
  EXPECT_EQ(::pthread_barrier_destroy(&b), 0);
}

TEST_F(BarrierTest, CountOfZeroIsEinval) {
  pthread_barrier_t b;
  EXPECT_EQ(::pthread_barrier_init(&b, nullptr, 0), EINVAL);
}

TEST_F(BarrierTest, ReinitialisedBarrierWorksAgain) {
  pthread_barrier_t b;
  for (unsigned n : {2u, 5u}) {
    ASSERT_EQ(::pthread_barrier_init(&b, nullptr, n), 0);
    std::vector<pthread_t> ts;
    for (unsigned i = 1; i < n; ++i) ts.push_back(spawn([&b] { return as_ptr(::pthread_barrier_wait(&b)); }));
    int serials = ::pthread_barrier_wait(&b) == PTHREAD_BARRIER_SERIAL_THREAD;
    for (pthread_t t : ts) {
      serials += static_cast<int>(static_cast<int>(as_int(join(t))) == PTHREAD_BARRIER_SERIAL_THREAD);
    }
    EXPECT_EQ(serials, 1);
    EXPECT_EQ(::pthread_barrier_destroy(&b), 0);
  }
}

// A process-shared barrier among the threads of one process.
TEST_F(BarrierTest, AProcessSharedBarrierHoldsThreadsToo) {
  pthread_barrierattr_t a;
  ASSERT_EQ(::pthread_barrierattr_init(&a), 0);
  ASSERT_EQ(::pthread_barrierattr_setpshared(&a, PTHREAD_PROCESS_SHARED), 0);
  pthread_barrier_t b;
  ASSERT_EQ(::pthread_barrier_init(&b, &a, 3), 0);
  ::pthread_barrierattr_destroy(&a);
  std::atomic<int> serials{0};
  std::vector<pthread_t> ts;
  for (int i = 0; i < 2; ++i) {
    ts.push_back(spawn([&]() -> void* {
      if (::pthread_barrier_wait(&b) == PTHREAD_BARRIER_SERIAL_THREAD) ++serials;
      return nullptr;
    }));
  }
  if (::pthread_barrier_wait(&b) == PTHREAD_BARRIER_SERIAL_THREAD) ++serials;
  for (pthread_t t : ts) join(t);
  EXPECT_EQ(serials.load(), 1);
  EXPECT_EQ(::pthread_barrier_destroy(&b), 0);
}

// glibc allows destroying (and freeing) a barrier as soon as the serial thread returns,
// while the others it released are still on their way out.
TEST_F(BarrierTest, TheSerialThreadMayDestroyAndFreeTheBarrierAtOnce) {
  for (int round = 0; round < 20; ++round) {
    auto* b = new pthread_barrier_t;
    ASSERT_EQ(::pthread_barrier_init(b, nullptr, 4), 0);
    std::atomic<int> destroyed{0};
    std::vector<pthread_t> ts;
    for (int i = 0; i < 4; ++i) {
      ts.push_back(spawn([&destroyed, b]() -> void* {
        if (::pthread_barrier_wait(b) == PTHREAD_BARRIER_SERIAL_THREAD) {
          if (::pthread_barrier_destroy(b) == 0) ++destroyed;
          std::memset(b, 0xa5, sizeof *b);  // what a reuse of the memory would leave
          delete b;
        }
        return nullptr;
      }));
    }
    for (pthread_t t : ts) join(t);
    EXPECT_EQ(destroyed.load(), 1);
  }
}

// Two threads and two real threads (made past interposition) meet at one barrier, round
// after round: nobody leaves a round before all four arrived, one of them is the serial one.
TEST_F(BarrierTest, SharedWithRealThreadsEveryRoundWaitsForAll) {
  static pthread_barrier_t b;
  ASSERT_EQ(::pthread_barrier_init(&b, nullptr, 4), 0);
  static std::atomic<int> arrived{0}, serial{0}, early{0};
  arrived = serial = early = 0;
  constexpr int kRounds = 100;
  auto party = []() -> void* {
    for (int r = 0; r < kRounds; ++r) {
      arrived.fetch_add(1);
      const int rc = ::pthread_barrier_wait(&b);
      if (rc == PTHREAD_BARRIER_SERIAL_THREAD) {
        serial.fetch_add(1);
      } else if (rc != 0) {
        return as_ptr(1);
      }
      if (arrived.load() < 4 * (r + 1)) early.fetch_add(1);
    }
    return nullptr;
  };
  std::vector<pthread_t> ts = {spawn_real(party), spawn(party), spawn_real(party), spawn(party)};
  for (pthread_t t : ts) EXPECT_EQ(join(t), nullptr);
  EXPECT_EQ(serial.load(), kRounds);
  EXPECT_EQ(early.load(), 0) << "a party left a round before all had arrived";
  EXPECT_EQ(::pthread_barrier_destroy(&b), 0);
}

// A process-shared barrier between this process and a fork() child, for a few rounds:
// neither passes before the other arrives, and each round has one serial thread.
TEST_F(BarrierTest, ProcessSharedBarrierWorksAcrossProcesses) {
  struct Shared {
    pthread_barrier_t b;
    int serial[3];
    int child_round;
  };
  void* mem = ::mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  auto* s = static_cast<Shared*>(mem);
  std::memset(s, 0, sizeof *s);
  pthread_barrierattr_t a;
  ::pthread_barrierattr_init(&a);
  ::pthread_barrierattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
  ASSERT_EQ(::pthread_barrier_init(&s->b, &a, 2), 0);
  ::pthread_barrierattr_destroy(&a);
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    for (int round = 0; round < 3; ++round) {
      ::usleep(30 * 1000);  // the parent waits meanwhile
      s->child_round = round + 1;
      if (::pthread_barrier_wait(&s->b) == PTHREAD_BARRIER_SERIAL_THREAD) __atomic_add_fetch(&s->serial[round], 1, __ATOMIC_SEQ_CST);
    }
    ::_exit(0);
  }
  ASSERT_GT(pid, 0);
  for (int round = 0; round < 3; ++round) {
    int ticks = 0;
    int rc = 0;
    ticks = ticks_during([&] { rc = ::pthread_barrier_wait(&s->b); });
    if (rc == PTHREAD_BARRIER_SERIAL_THREAD) __atomic_add_fetch(&s->serial[round], 1, __ATOMIC_SEQ_CST);
    EXPECT_TRUE(rc == 0 || rc == PTHREAD_BARRIER_SERIAL_THREAD) << rc;
    EXPECT_EQ(__atomic_load_n(&s->child_round, __ATOMIC_SEQ_CST), round + 1) << "passed before the child arrived";
    EXPECT_GE(ticks, 2) << "the other threads did not run during the wait";
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  for (int round = 0; round < 3; ++round) EXPECT_EQ(s->serial[round], 1) << "round " << round;
  EXPECT_EQ(::pthread_barrier_destroy(&s->b), 0);
  ::munmap(mem, sizeof(Shared));
}
