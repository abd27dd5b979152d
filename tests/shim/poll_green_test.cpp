// shim/poll.cpp through greenlets: after green::patch_all(), plain poll, ppoll, select,
// pselect, epoll_wait and epoll_pwait park only the calling greenlet: a poll over sockets
// and pipes lets a ticker run, wakes when another greenlet writes, and sixty timeouts
// overlap.
#include <green/green.hpp>
#include <sys/epoll.h>
#include <sys/select.h>

#include <memory>

#include "green_support.hpp"

using namespace shim_test;

namespace {

class PollGreenTest : public ShimTest {};

Fd epoll_for(std::initializer_list<int> fds) {
  Fd ep(::epoll_create1(EPOLL_CLOEXEC));
  for (int fd : fds) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }
  return ep;
}

// Waits for `fd` to become readable through multiplexer `kind` (0..5) with a timeout.
long wait_readable(int kind, int fd, int ms) {
  switch (kind) {
    case 0: {
      pollfd p{fd, POLLIN, 0};
      return ::poll(&p, 1, ms);
    }
    case 1: {
      pollfd p{fd, POLLIN, 0};
      const timespec ts{ms / 1000, (ms % 1000) * 1000000L};
      return ::ppoll(&p, 1, &ts, nullptr);
    }
    case 2: {
      fd_set r;
      FD_ZERO(&r);
      FD_SET(fd, &r);
      timeval tv{ms / 1000, (ms % 1000) * 1000};
      return ::select(fd + 1, &r, nullptr, nullptr, &tv);
    }
    case 3: {
      fd_set r;
      FD_ZERO(&r);
      FD_SET(fd, &r);
      const timespec ts{ms / 1000, (ms % 1000) * 1000000L};
      return ::pselect(fd + 1, &r, nullptr, nullptr, &ts, nullptr);
    }
    case 4: {
      Fd ep = epoll_for({fd});
      epoll_event ev[2];
      return ::epoll_wait(ep, ev, 2, ms);
    }
    default: {
      Fd ep = epoll_for({fd});
      epoll_event ev[2];
      return ::epoll_pwait(ep, ev, 2, ms, nullptr);
    }
  }
}

constexpr const char* kNames[] = {"poll", "ppoll", "select", "pselect", "epoll_wait", "epoll_pwait"};

}  // namespace

TEST_F(PollGreenTest, PollOverSocketsAndPipesWhileOthersRun) {
  auto [a, b] = socket_pair();
  auto [r, w] = pipe_pair();
  TcpPair t = tcp_pair();
  auto [r2, w2] = pipe_pair();
  Crew crew;
  Ticker ticker(crew);
  std::vector<short> revents;
  int rc = -2, ticks_meanwhile = -1;
  double at_ms = 0;
  Stopwatch sw;
  auto poller = crew.spawn([&] {
    pollfd fds[4] = {{a, POLLIN, 0}, {r, POLLIN, 0}, {t.client, POLLIN, 0}, {r2, POLLIN, 0}};
    const int t0 = ticker.ticks();
    rc = ::poll(fds, 4, 3000);
    at_ms = sw.ms();
    ticks_meanwhile = ticker.ticks() - t0;
    for (const pollfd& p : fds) revents.push_back(p.revents);
  });
  crew.spawn([fd = t.server.get()] {
    ::usleep(100000);
    ::send(fd, "t", 1, 0);
  });
  ASSERT_TRUE(poller.join(std::chrono::seconds(5)));
  EXPECT_EQ(rc, 1);
  EXPECT_EQ(revents, (std::vector<short>{0, 0, POLLIN, 0}));
  EXPECT_GE(at_ms, 90);
  EXPECT_GE(ticks_meanwhile, 5) << "the ticker did not run while poll waited";
}

TEST_F(PollGreenTest, EveryMultiplexerWakesWhenAnotherGreenletWrites) {
  for (int kind = 0; kind < 6; ++kind) {
    auto [a, b] = socket_pair();
    Crew crew;
    long rc = -2;
    double at_ms = 0;
    Stopwatch sw;
    crew.spawn([&, fd = a.get()] {
      rc = wait_readable(kind, fd, 3000);
      at_ms = sw.ms();
    });
    crew.spawn([fd = b.get()] {
      ::usleep(50000);
      (void)!::write(fd, "w", 1);
    });
    ASSERT_TRUE(crew.join(std::chrono::seconds(5))) << kNames[kind];
    EXPECT_EQ(rc, 1) << kNames[kind];
    EXPECT_GE(at_ms, 45) << kNames[kind];
    EXPECT_LT(at_ms, 2000) << kNames[kind];
  }
}

TEST_F(PollGreenTest, SixtyTimeoutsRunTogether) {
  constexpr int kN = 60;
  std::vector<FdPair> pairs;
  for (int i = 0; i < kN; ++i) pairs.push_back(socket_pair());
  Crew crew;
  int zeros = 0;
  Stopwatch sw;
  for (int i = 0; i < kN; ++i) {
    crew.spawn([&, i, fd = pairs[i].a.get()] {
      Stopwatch mine;
      if (wait_readable(i % 6, fd, 200) == 0 && mine.ms() >= 199) ++zeros;
    });
  }
  ASSERT_TRUE(crew.join(std::chrono::seconds(5)));
  EXPECT_EQ(zeros, kN);
  EXPECT_LT(sw.ms(), 1000) << "the timeouts did not overlap";
}

TEST_F(PollGreenTest, RegularFilesAndReadyFdsNeverPark) {
  char path[] = "/tmp/greenshim-poll-green-XXXXXX";
  Fd f(::mkstemp(path));
  ::unlink(path);
  auto [a, b] = socket_pair();
  ASSERT_EQ(::write(b, "x", 1), 1);
  Crew crew;
  int file_rc = -2, ready_rc = -2;
  double took = -1;
  crew.spawn([&] {
    Stopwatch sw;
    pollfd p{f, POLLIN | POLLOUT, 0};
    file_rc = ::poll(&p, 1, -1);
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(a, &rs);
    ready_rc = ::select(a + 1, &rs, nullptr, nullptr, nullptr);
    took = sw.ms();
  });
  ASSERT_TRUE(crew.join());
  EXPECT_EQ(file_rc, 1);
  EXPECT_EQ(ready_rc, 1);
  EXPECT_LT(took, 100);
}

TEST_F(PollGreenTest, EpollWaitReportsAnotherGreenletsPipe) {
  auto [r, w] = pipe_pair();
  auto [a, b] = socket_pair();
  Fd ep = epoll_for({r.get(), a.get()});
  Crew crew;
  std::vector<int> ready;
  crew.spawn([&] {
    for (int round = 0; round < 2; ++round) {
      epoll_event ev[4];
      const int n = ::epoll_wait(ep, ev, 4, 3000);
      for (int i = 0; i < n; ++i) {
        ready.push_back(ev[i].data.fd);
        char c;
        (void)!::read(ev[i].data.fd, &c, 1);
      }
    }
  });
  crew.spawn([&] {
    ::usleep(30000);
    (void)!::write(w, "p", 1);
    ::usleep(30000);
    (void)!::write(b, "s", 1);
  });
  ASSERT_TRUE(crew.join(std::chrono::seconds(5)));
  EXPECT_EQ(ready, (std::vector<int>{r.get(), a.get()}));
}

TEST_F(PollGreenTest, SelectWakesForTheFirstOfManyWriters) {
  constexpr int kN = 10;
  std::vector<FdPair> pairs;
  for (int i = 0; i < kN; ++i) pairs.push_back(socket_pair());
  Crew crew;
  std::vector<int> got;
  crew.spawn([&] {
    for (int round = 0; round < kN; ++round) {
      fd_set rs;
      FD_ZERO(&rs);
      int maxfd = 0;
      for (auto& p : pairs) {
        FD_SET(p.a, &rs);
        maxfd = std::max(maxfd, p.a.get());
      }
      if (::select(maxfd + 1, &rs, nullptr, nullptr, nullptr) != 1) return;
      for (int i = 0; i < kN; ++i) {
        if (FD_ISSET(pairs[i].a, &rs)) {
          char c;
          (void)!::read(pairs[i].a, &c, 1);
          got.push_back(i);
        }
      }
    }
  });
  for (int i = 0; i < kN; ++i) {
    const int which = (i * 7) % kN;
    crew.spawn([&, which, ms = 10 * (i + 1)] {
      ::usleep(static_cast<useconds_t>(ms) * 1000);
      (void)!::write(pairs[which].b, "s", 1);
    });
  }
  ASSERT_TRUE(crew.join(std::chrono::seconds(5)));
  std::vector<int> expected;
  for (int i = 0; i < kN; ++i) expected.push_back((i * 7) % kN);
  EXPECT_EQ(got, expected);
}
