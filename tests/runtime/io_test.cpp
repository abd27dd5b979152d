// wait_read / wait_write on real pipes and socketpairs: readiness, EOF, a full socket,
// timeouts, a Timeout scope, a killed waiter (its watcher must go), and fd reuse.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>
#include <system_error>
#include <vector>

#include "support.hpp"

using namespace green;
using namespace green_test;

namespace {

struct Pipe {
  int r = -1, w = -1;
  Pipe() {
    int fds[2];
    if (::pipe(fds) == 0) {
      r = fds[0];
      w = fds[1];
    }
  }
  ~Pipe() {
    if (r >= 0) ::close(r);
    if (w >= 0) ::close(w);
  }
};

struct SocketPair {
  int a = -1, b = -1;
  SocketPair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0) {
      a = fds[0];
      b = fds[1];
    }
  }
  ~SocketPair() {
    if (a >= 0) ::close(a);
    if (b >= 0) ::close(b);
  }
};

// Writes into `fd` (made non-blocking) until the kernel refuses more.
std::size_t fill(int fd) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  std::vector<char> chunk(65536, 'x');
  std::size_t total = 0;
  for (;;) {
    const ssize_t n = ::write(fd, chunk.data(), chunk.size());
    if (n <= 0) break;
    total += static_cast<std::size_t>(n);
  }
  return total;
}

}  // namespace

TEST(Io, WaitReadTimesOutOnAnEmptyPipe) {
  Pipe p;
  ASSERT_GE(p.r, 0);
  const auto t0 = Clock::now();
  EXPECT_FALSE(wait_read(p.r, 20ms));
  EXPECT_GE(ms(since(t0)), 20);
  EXPECT_LT(ms(since(t0)), 900);
}

TEST(Io, WaitReadWakesWhenDataArrives) {
  Pipe p;
  ASSERT_GE(p.r, 0);
  auto reader = spawn([&] {
    if (!wait_read(p.r, 2s)) return -1;
    char c = 0;
    return ::read(p.r, &c, 1) == 1 ? static_cast<int>(c) : -2;
  });
  yield();
  EXPECT_FALSE(reader.dead());
  sleep(10ms);
  EXPECT_FALSE(reader.dead());
  ASSERT_EQ(::write(p.w, "A", 1), 1);
  EXPECT_EQ(reader.get(1s), 'A');
}

TEST(Io, WaitReadReturnsAtEof) {
  Pipe p;
  ASSERT_GE(p.r, 0);
  auto reader = spawn([&] { return wait_read(p.r, 2s); });
  yield();
  ::close(p.w);
  p.w = -1;
  EXPECT_TRUE(reader.get(1s));
  char c;
  EXPECT_EQ(::read(p.r, &c, 1), 0);
}

TEST(Io, WaitWriteIsReadyOnAFreshSocket) {
  SocketPair s;
  ASSERT_GE(s.a, 0);
  const auto t0 = Clock::now();
  EXPECT_TRUE(wait_write(s.a, 1s));
  EXPECT_LT(ms(since(t0)), 500);
}

TEST(Io, WaitWriteParksOnAFullSocketUntilItDrains) {
  SocketPair s;
  ASSERT_GE(s.a, 0);
  const std::size_t queued = fill(s.a);
  ASSERT_GT(queued, 0u);
  const auto t0 = Clock::now();
  EXPECT_FALSE(wait_write(s.a, 20ms));
  EXPECT_GE(ms(since(t0)), 20);

  auto drainer = spawn([&] {
    sleep(5ms);
    std::vector<char> buf(65536);
    std::size_t got = 0;
    while (got < queued) {
      const ssize_t n = ::read(s.b, buf.data(), buf.size());
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    return got;
  });
  EXPECT_TRUE(wait_write(s.a, 2s));
  EXPECT_EQ(drainer.get(1s), queued);
}

TEST(Io, TimeoutScopeInterruptsAWait) {
  Pipe p;
  ASSERT_GE(p.r, 0);
  Timeout t(20ms);
  const auto t0 = Clock::now();
  try {
    wait_read(p.r);
    ADD_FAILURE() << "wait_read returned on an empty pipe";
  } catch (const TimeoutError& e) {
    EXPECT_TRUE(t.is(e));
  }
  EXPECT_GE(ms(since(t0)), 20);
}

TEST(Io, TwoGreenletsWaitOnTheSameFd) {
  Pipe p;
  ASSERT_GE(p.r, 0);
  auto a = spawn([&] { return wait_read(p.r, 2s); });
  auto b = spawn([&] { return wait_read(p.r, 2s); });
  yield();
  ASSERT_EQ(::write(p.w, "x", 1), 1);
  EXPECT_TRUE(a.get(1s));
  EXPECT_TRUE(b.get(1s));
}

TEST(Io, ReadAndWriteWaitersOnOneSocket) {
  SocketPair s;
  ASSERT_GE(s.a, 0);
  auto reader = spawn([&] { return wait_read(s.a, 2s); });
  auto writer = spawn([&] { return wait_write(s.a, 2s); });
  EXPECT_TRUE(writer.get(1s));
  EXPECT_FALSE(reader.dead()) << "a write watcher woke the reader";
  ASSERT_EQ(::write(s.b, "x", 1), 1);
  EXPECT_TRUE(reader.get(1s));
}

// A killed waiter's watcher must be gone: readiness afterwards wakes nobody stale.
TEST(Io, KilledWaiterLeavesNoWatcherBehind) {
  Pipe p;
  ASSERT_GE(p.r, 0);
  auto victim = spawn([&] { wait_read(p.r); });
  yield();
  EXPECT_TRUE(victim.kill(true, 1s));
  EXPECT_TRUE(victim.killed());
  ASSERT_EQ(::write(p.w, "x", 1), 1);
  sleep(5ms);  // the hub polls the now-readable fd
  EXPECT_TRUE(wait_read(p.r, 1s));
  Event never;
  EXPECT_THROW(never.wait(), LoopExit) << "a watcher outlived its waiter";
}

// Each round closes its pipe, so the next one gets the same fd numbers back.
TEST(Io, ReusedFdNumbersAreWatchedAfresh) {
  for (int round = 0; round < 5; ++round) {
    Pipe p;
    ASSERT_GE(p.r, 0);
    auto reader = spawn([&] { return wait_read(p.r, 2s); });
    yield();
    ASSERT_EQ(::write(p.w, "x", 1), 1);
    EXPECT_TRUE(reader.get(1s)) << "round " << round;
  }
}

TEST(Io, BadFdThrows) {
  try {
    wait_read(-1, 10ms);
    ADD_FAILURE() << "no exception";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), EBADF);
  }
  EXPECT_THROW(wait_write(-5, 10ms), std::system_error);
}

// An fd that is not open: like a negative one, this is EBADF (a throw), or at worst "ready"
// (an error is readiness for poll(2)). libev asserts, aborting the process, when epoll_ctl
// rejects an fd it was asked to watch: in a child, such an abort fails this test only.
GREEN_TEST_CHILD(wait_on_closed_fd) {
  int fds[2];
  if (::pipe(fds) != 0) return 2;
  ::close(fds[0]);
  ::close(fds[1]);
  try {
    std::printf("returned %d\n", wait_read(fds[0], 50ms) ? 1 : 0);
  } catch (const std::system_error& e) {
    std::printf("threw %d\n", e.code().value());
  }
  return 0;
}

TEST(Io, WaitOnAClosedFdIsAnErrorNotACrash) {
  const ChildResult r = run_child("wait_on_closed_fd", {});
  ASSERT_TRUE(r.exited_ok()) << r.describe();
  const bool ebadf = r.output.find("threw " + std::to_string(EBADF)) != std::string::npos;
  const bool ready = r.output.find("returned 1") != std::string::npos;
  EXPECT_TRUE(ebadf || ready) << r.output;
}
