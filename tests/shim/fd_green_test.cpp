// shim/fd.cpp through greenlets: after green::patch_all(), greenlets that call plain
// read/write/readv/writev on sockets, pipes and eventfds run concurrently on one thread.
// A reader parked on a pipe lets a writer greenlet run; close() wakes the greenlet that
// waits on the fd with EBADF; 1 MiB crosses a pipe and a socketpair between greenlets.
#include <green/green.hpp>
#include <sys/eventfd.h>

#include <memory>

#include "green_support.hpp"

using namespace shim_test;

namespace {

class FdGreenTest : public ShimTest {};

}  // namespace

TEST_F(FdGreenTest, PipeReaderParksWhileAWriterWritesLater) {
  auto [r, w] = pipe_pair();
  Crew crew;
  Ticker ticker(crew);
  Outcome got{0, 0};
  double at_ms = 0;
  int ticks_meanwhile = -1;
  Stopwatch sw;
  auto reader = crew.spawn([&, fd = r.get()] {
    char buf[8];
    const int t0 = ticker.ticks();
    got = outcome([&] { return ::read(fd, buf, sizeof buf); });
    at_ms = sw.ms();
    ticks_meanwhile = ticker.ticks() - t0;
  });
  crew.spawn([fd = w.get()] {
    ::usleep(100000);
    (void)!::write(fd, "pipe", 4);
  });
  ASSERT_TRUE(reader.join(std::chrono::seconds(5)));
  EXPECT_EQ(got.r, 4);
  EXPECT_GE(at_ms, 90);
  EXPECT_GE(ticks_meanwhile, 5) << "the ticker did not run while read waited";
  EXPECT_EQ(kernel_flags(r) & O_NONBLOCK, 0);  // pipes stay blocking underneath
}

TEST_F(FdGreenTest, OneMiBThroughAPipeBetweenGreenlets) {
  auto [r, w] = pipe_pair();
  Crew crew;
  ssize_t wrote = -1;
  bool ok = false;
  crew.spawn([&, fd = w.get()] {
    const std::vector<unsigned char> out = pattern(kMiB);
    wrote = ::write(fd, out.data(), out.size());  // one blocking write: complete
  });
  crew.spawn([&, fd = r.get()] {
    std::vector<unsigned char> in(kMiB);
    size_t got = 0;
    while (got < kMiB) {
      const ssize_t n = ::read(fd, in.data() + got, kMiB - got);
      if (n <= 0) return;
      got += static_cast<size_t>(n);
    }
    ok = mismatch(in) == -1;
  });
  ASSERT_TRUE(crew.join(std::chrono::seconds(10)));
  EXPECT_EQ(wrote, static_cast<ssize_t>(kMiB));
  EXPECT_TRUE(ok);
}

TEST_F(FdGreenTest, OneMiBWritevReadvBetweenGreenlets) {
  auto [a, b] = socket_pair();
  Crew crew;
  ssize_t wrote = -1;
  bool ok = false;
  crew.spawn([&, fd = a.get()] {
    const std::vector<unsigned char> out = pattern(kMiB, 5);
    unsigned char* p = const_cast<unsigned char*>(out.data());
    iovec iov[4] = {{p, 1}, {p + 1, 65535}, {p + 65536, 700000}, {p + 765536, kMiB - 765536}};
    wrote = ::writev(fd, iov, 4);
  });
  crew.spawn([&, fd = b.get()] {
    std::vector<unsigned char> in(kMiB);
    size_t got = 0;
    while (got < kMiB) {
      const size_t third = (kMiB - got) / 3;
      iovec iov[3] = {{in.data() + got, third},
                      {in.data() + got + third, third},
                      {in.data() + got + 2 * third, kMiB - got - 2 * third}};
      const ssize_t n = ::readv(fd, iov, 3);
      if (n <= 0) return;
      got += static_cast<size_t>(n);
    }
    ok = mismatch(in, 5) == -1;
  });
  ASSERT_TRUE(crew.join(std::chrono::seconds(10)));
  EXPECT_EQ(wrote, static_cast<ssize_t>(kMiB));
  EXPECT_TRUE(ok);
}

TEST_F(FdGreenTest, ClosingAnFdWakesAGreenletInReadOrWrite) {
  auto [a, b] = socket_pair();
  auto [r, w] = pipe_pair();
  auto [f, g] = socket_pair();
  ASSERT_GT(fill_socket(f), 0u);
  auto [pr, pw] = pipe_pair();
  std::vector<char> big(1 << 20, 'x');  // more than the pipe holds
  Crew crew;
  Outcome sock_read{0, 0}, pipe_read{0, 0}, sock_write{0, 0}, pipe_write{0, 0};
  crew.spawn([&, fd = a.get()] {
    char c;
    sock_read = outcome([&] { return ::read(fd, &c, 1); });
  });
  crew.spawn([&, fd = r.get()] {
    char c;
    pipe_read = outcome([&] { return ::read(fd, &c, 1); });
  });
  crew.spawn([&, fd = f.get()] { sock_write = outcome([&] { return ::write(fd, "x", 1); }); });
  crew.spawn([&, fd = pw.get()] { pipe_write = outcome([&] { return ::write(fd, big.data(), big.size()); }); });
  ::usleep(50000);
  ::close(a.release());
  ::close(r.release());
  ::close(f.release());
  ::close(pw.release());
  ASSERT_TRUE(crew.join(std::chrono::seconds(3))) << "a waiter was not woken by close";
  EXPECT_EQ(sock_read.r, -1);
  EXPECT_EQ(sock_read.err, EBADF);
  EXPECT_EQ(pipe_read.r, -1);
  EXPECT_EQ(pipe_read.err, EBADF);
  EXPECT_EQ(sock_write.r, -1);
  EXPECT_EQ(sock_write.err, EBADF);
  // The pipe write had moved some bytes before its fd went: it reports them.
  EXPECT_GT(pipe_write.r, 0);
  EXPECT_LT(pipe_write.r, static_cast<long>(big.size()));
}

TEST_F(FdGreenTest, FiftyReadersEachWakeForTheirOwnPipe) {
  constexpr int kN = 50;
  std::vector<FdPair> pipes;
  for (int i = 0; i < kN; ++i) pipes.push_back(pipe_pair());
  Crew crew;
  std::vector<int> order;
  for (int i = 0; i < kN; ++i) {
    crew.spawn([&, i, fd = pipes[i].a.get()] {
      char c = 0;
      if (::read(fd, &c, 1) == 1 && c == static_cast<char>('0' + i % 10)) order.push_back(i);
    });
  }
  ::usleep(10000);  // every reader is parked
  for (int i = kN - 1; i >= 0; --i) {
    const char c = static_cast<char>('0' + i % 10);
    ASSERT_EQ(::write(pipes[i].b, &c, 1), 1);
    ::usleep(1000);  // let the reader of this pipe, and only it, run
  }
  ASSERT_TRUE(crew.join(std::chrono::seconds(3)));
  ASSERT_EQ(order.size(), static_cast<size_t>(kN));
  for (int i = 0; i < kN; ++i) EXPECT_EQ(order[i], kN - 1 - i);
}

// An eventfd blocks like a pipe: a greenlet reading it must park, not stop the thread.
// The rescue, a signal after 1.5 s, interrupts a read that stopped the thread instead
// (so the bug shows as a failure, not a hang).
TEST_F(FdGreenTest, EventfdReadLetsOtherGreenletsRun) {
  ScopedSignal handler(SIGUSR2, count_signal, 0);
  Fd e(::eventfd(0, 0));
  SignalAfter rescue(SIGUSR2, 1500);
  Crew crew;
  Outcome got{0, 0};
  uint64_t v = 0;
  double at_ms = 0;
  Stopwatch sw;
  crew.spawn([&, fd = e.get()] {
    got = outcome([&] { return ::read(fd, &v, sizeof v); });
    at_ms = sw.ms();
  });
  crew.spawn([fd = e.get()] {
    ::usleep(100000);
    const uint64_t three = 3;
    (void)!::write(fd, &three, sizeof three);
  });
  ASSERT_TRUE(crew.join(std::chrono::seconds(5)));
  EXPECT_EQ(got.r, 8) << std::strerror(got.err) << " after " << at_ms << " ms";
  EXPECT_EQ(v, 3u);
  EXPECT_LT(at_ms, 1000) << "the eventfd read stopped every greenlet";
}

TEST_F(FdGreenTest, TheProgramsNonblockIsHonouredInGreenlets) {
  auto [a, b] = socket_pair();
  auto [r, w] = pipe_pair(O_NONBLOCK);
  int on = 1;
  ASSERT_EQ(::ioctl(a, FIONBIO, &on), 0);
  Crew crew;
  Outcome s{0, 0}, p{0, 0};
  double took = -1;
  crew.spawn([&] {
    Stopwatch sw;
    char c;
    s = outcome([&] { return ::read(a, &c, 1); });
    p = outcome([&] { return ::read(r, &c, 1); });
    took = sw.ms();
  });
  ASSERT_TRUE(crew.join());
  EXPECT_EQ(s.err, EAGAIN);
  EXPECT_EQ(p.err, EAGAIN);
  EXPECT_LT(took, 100);
}

TEST_F(FdGreenTest, ADupIsWaitedOnLikeTheOriginal) {
  auto [a, b] = socket_pair();
  Fd d(::dup(a));
  Crew crew;
  Outcome got{0, 0};
  crew.spawn([&, fd = d.get()] {
    char c;
    got = outcome([&] { return ::read(fd, &c, 1); });
  });
  crew.spawn([fd = b.get()] {
    ::usleep(50000);
    (void)!::write(fd, "d", 1);
  });
  ASSERT_TRUE(crew.join(std::chrono::seconds(3)));
  EXPECT_EQ(got.r, 1);
}
