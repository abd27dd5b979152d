// shim/poll.cpp, as a plain POSIX program: poll, ppoll, select, pselect, epoll_wait and
// epoll_pwait time out after (at least) their timeout, report ready fds at once, wake
// when an fd becomes ready, treat regular files, closed and negative fds as libc does,
// reject invalid timeouts, and are interrupted by signal handlers. Runs without the shim
// and under LD_PRELOAD; peers are threads.
//
// Built with _FORTIFY_SOURCE, so that poll on an array of known size can go through
// __poll_chk, which the shim hooks too.
#ifndef _FORTIFY_SOURCE
#define _FORTIFY_SOURCE 2
#endif

#include <sys/epoll.h>
#include <sys/select.h>

#include "support.hpp"

using namespace shim_test;

namespace {

class PollTest : public ShimTest {};

Fd epoll_for(std::initializer_list<int> fds, uint32_t events = EPOLLIN) {
  Fd ep(::epoll_create1(EPOLL_CLOEXEC));
  for (int fd : fds) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = 1000 + static_cast<uint64_t>(fd);
    if (::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) ADD_FAILURE() << "epoll_ctl: " << std::strerror(errno);
  }
  return ep;
}

// One blocking wait for `fd` to become readable through each multiplexer, with a timeout
// in ms (-1: none). Returns the call's result; errno is left as the call left it.
using Wait = std::function<long(int fd, int timeout_ms)>;

timespec ms_timespec(int ms) { return {ms / 1000, (ms % 1000) * 1000000L}; }

const std::vector<std::pair<const char*, Wait>>& waits() {
  static const std::vector<std::pair<const char*, Wait>> all = {
      {"poll", [](int fd, int ms) {
         pollfd p{fd, POLLIN, 0};
         return ::poll(&p, 1, ms);
       }},
      {"ppoll", [](int fd, int ms) {
         pollfd p{fd, POLLIN, 0};
         const timespec ts = ms_timespec(ms);
         return ::ppoll(&p, 1, ms < 0 ? nullptr : &ts, nullptr);
       }},
      {"select", [](int fd, int ms) {
         fd_set r;
         FD_ZERO(&r);
         FD_SET(fd, &r);
         timeval tv{ms / 1000, (ms % 1000) * 1000};
         return ::select(fd + 1, &r, nullptr, nullptr, ms < 0 ? nullptr : &tv);
       }},
      {"pselect", [](int fd, int ms) {
         fd_set r;
         FD_ZERO(&r);
         FD_SET(fd, &r);
         const timespec ts = ms_timespec(ms);
         return ::pselect(fd + 1, &r, nullptr, nullptr, ms < 0 ? nullptr : &ts, nullptr);
       }},
      {"epoll_wait", [](int fd, int ms) {
         Fd ep = epoll_for({fd});
         epoll_event ev[4];
         return ::epoll_wait(ep, ev, 4, ms);
       }},
      {"epoll_pwait", [](int fd, int ms) {
         Fd ep = epoll_for({fd});
         epoll_event ev[4];
         sigset_t none;
         sigemptyset(&none);
         return ::epoll_pwait(ep, ev, 4, ms, &none);
       }},
  };
  return all;
}

}  // namespace

TEST_F(PollTest, TimeoutsReturnZeroAfterTheTimeout) {
  auto [a, b] = socket_pair();
  for (const auto& [name, wait] : waits()) {
    Stopwatch sw;
    EXPECT_EQ(wait(a, 100), 0) << name;
    EXPECT_GE(sw.ms(), 99) << name;
    EXPECT_LT(sw.ms(), 2000) << name;
  }
  if (shim_expected()) {
    EXPECT_TRUE(has_eventpoll()) << "no hub loop after a poll";
  }
}

TEST_F(PollTest, ReadyFdsReturnAtOnce) {
  auto [a, b] = socket_pair();
  ASSERT_EQ(::write(b, "x", 1), 1);
  Stopwatch sw;
  for (const auto& [name, wait] : waits()) {
    EXPECT_EQ(wait(a, -1), 1) << name;
    EXPECT_EQ(wait(a, 5000), 1) << name;
  }
  EXPECT_LT(sw.ms(), 1000);
}

TEST_F(PollTest, EachWakesWhenDataArrives) {
  for (const auto& [name, wait] : waits()) {
    auto [a, b] = socket_pair();
    const int bfd = b;
    Peer peer([bfd] {
      sleep_ms(100);
      write_fully(bfd, "w", 1);
    });
    Stopwatch sw;
    EXPECT_EQ(wait(a, -1), 1) << name;
    EXPECT_GE(sw.ms(), 90) << name;
    EXPECT_LT(sw.ms(), 2000) << name;
    peer.join();
    Stopwatch again;  // with a timeout too
    EXPECT_EQ(wait(a, 3000), 1) << name;
    EXPECT_LT(again.ms(), 1000) << name;
  }
}

TEST_F(PollTest, NoFdsIsASleep) {
  Stopwatch sw;
  EXPECT_EQ(::poll(nullptr, 0, 100), 0);
  EXPECT_GE(sw.ms(), 99);
  sw.reset();
  timeval tv{0, 100000};
  EXPECT_EQ(::select(0, nullptr, nullptr, nullptr, &tv), 0);
  EXPECT_GE(sw.ms(), 99);
  sw.reset();
  const timespec ts{0, 100000000};
  EXPECT_EQ(::ppoll(nullptr, 0, &ts, nullptr), 0);
  EXPECT_EQ(::pselect(0, nullptr, nullptr, nullptr, &ts, nullptr), 0);
  EXPECT_GE(sw.ms(), 199);
  EXPECT_LT(sw.ms(), 3000);
}

TEST_F(PollTest, PollOverSocketsAndPipesReportsTheOneThatIsReady) {
  auto [a, b] = socket_pair();
  auto [r, w] = pipe_pair();
  TcpPair t = tcp_pair();
  auto [r2, w2] = pipe_pair();
  const int wfd = w, tfd = t.server;
  Peer peer([wfd, tfd] {
    sleep_ms(50);
    write_fully(wfd, "p", 1);
    sleep_ms(50);
    write_fully(tfd, "t", 1);
  });
  pollfd fds[4] = {{a, POLLIN, 0}, {r, POLLIN, 0}, {t.client, POLLIN, 0}, {r2, POLLIN, 0}};
  Stopwatch sw;
  ASSERT_EQ(::poll(fds, 4, 3000), 1);
  EXPECT_GE(sw.ms(), 45);
  EXPECT_EQ(fds[0].revents, 0);
  EXPECT_EQ(fds[1].revents, POLLIN);
  EXPECT_EQ(fds[2].revents, 0);
  EXPECT_EQ(fds[3].revents, 0);
  fds[1].fd = -1;  // done with it
  ASSERT_EQ(::poll(fds, 4, 3000), 1);
  EXPECT_GE(sw.ms(), 95);
  EXPECT_EQ(fds[1].revents, 0);
  EXPECT_EQ(fds[2].revents, POLLIN);

  // Writable ends are ready at once.
  pollfd out[3] = {{w, POLLOUT, 0}, {b, POLLOUT, 0}, {t.server, POLLOUT, 0}};
  EXPECT_EQ(::poll(out, 3, -1), 3);
  fd_set ws;
  FD_ZERO(&ws);
  for (int fd : {w.get(), b.get(), t.server.get()}) FD_SET(fd, &ws);
  const int maxfd = std::max({w.get(), b.get(), t.server.get()});
  EXPECT_EQ(::select(maxfd + 1, nullptr, &ws, nullptr, nullptr), 3);
}

TEST_F(PollTest, SelectLeavesOnlyTheReadyFdsInItsSets) {
  auto [a, b] = socket_pair();
  auto [r, w] = pipe_pair();
  const int wfd = w;
  Peer peer([wfd] {
    sleep_ms(50);
    write_fully(wfd, "p", 1);
  });
  fd_set rs, ws;
  FD_ZERO(&rs);
  FD_ZERO(&ws);
  FD_SET(a, &rs);
  FD_SET(r, &rs);
  timeval tv{2, 0};
  ASSERT_EQ(::select(std::max(a.get(), r.get()) + 1, &rs, &ws, nullptr, &tv), 1);
  EXPECT_FALSE(FD_ISSET(a, &rs));
  EXPECT_TRUE(FD_ISSET(r, &rs));
  // Linux writes the time left back (select(2), NOTES).
  const double left_ms = tv.tv_sec * 1e3 + tv.tv_usec / 1e3;
  EXPECT_GT(left_ms, 1000);
  EXPECT_LT(left_ms, 1960);
}

TEST_F(PollTest, SelectUpdatesItsTimeval) {
  auto [a, b] = socket_pair();
  fd_set rs;
  FD_ZERO(&rs);
  FD_SET(a, &rs);
  timeval tv{0, 100000};
  ASSERT_EQ(::select(a + 1, &rs, nullptr, nullptr, &tv), 0);
  EXPECT_EQ(tv.tv_sec, 0);
  EXPECT_EQ(tv.tv_usec, 0);
  EXPECT_FALSE(FD_ISSET(a, &rs));  // cleared on timeout

  ASSERT_EQ(::write(b, "x", 1), 1);
  FD_SET(a, &rs);
  tv = {1, 0};
  ASSERT_EQ(::select(a + 1, &rs, nullptr, nullptr, &tv), 1);
  const double left_ms = tv.tv_sec * 1e3 + tv.tv_usec / 1e3;
  EXPECT_GT(left_ms, 500);
  EXPECT_LE(left_ms, 1000);
}

TEST_F(PollTest, RegularFilesAreReadyAtOnce) {
  char path[] = "/tmp/greenshim-poll-test-XXXXXX";
  Fd f(::mkstemp(path));
  ::unlink(path);
  Stopwatch sw;
  pollfd p{f, POLLIN | POLLOUT, 0};
  EXPECT_EQ(::poll(&p, 1, -1), 1);
  EXPECT_EQ(p.revents, POLLIN | POLLOUT);
  fd_set rs, ws;
  FD_ZERO(&rs);
  FD_ZERO(&ws);
  FD_SET(f, &rs);
  FD_SET(f, &ws);
  EXPECT_EQ(::select(f + 1, &rs, &ws, nullptr, nullptr), 2);
  EXPECT_LT(sw.ms(), 1000);
  // epoll cannot watch a regular file at all.
  Fd ep(::epoll_create1(0));
  epoll_event ev{};
  ev.events = EPOLLIN;
  const Outcome o = outcome([&] { return ::epoll_ctl(ep, EPOLL_CTL_ADD, f, &ev); });
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, EPERM);
}

TEST_F(PollTest, NegativeFdsAreIgnored) {
  auto [a, b] = socket_pair();
  pollfd fds[3] = {{-1, POLLIN, 0}, {a, POLLIN, 0}, {-5, POLLOUT, 0}};
  Stopwatch sw;
  EXPECT_EQ(::poll(fds, 3, 100), 0);
  EXPECT_GE(sw.ms(), 99);
  const int bfd = b;
  Peer peer([bfd] {
    sleep_ms(50);
    write_fully(bfd, "n", 1);
  });
  EXPECT_EQ(::poll(fds, 3, 3000), 1);
  EXPECT_EQ(fds[0].revents, 0);
  EXPECT_EQ(fds[1].revents, POLLIN);
  EXPECT_EQ(fds[2].revents, 0);
}

TEST_F(PollTest, ClosedFdsAreReportedAtOnce) {
  auto [a, b] = socket_pair();
  int closed = ::dup(a);
  ::close(closed);
  pollfd fds[2] = {{a, POLLIN, 0}, {closed, POLLIN, 0}};
  Stopwatch sw;
  EXPECT_EQ(::poll(fds, 2, -1), 1);
  EXPECT_EQ(fds[0].revents, 0);
  EXPECT_EQ(fds[1].revents, POLLNVAL);
  fd_set rs;
  FD_ZERO(&rs);
  FD_SET(closed, &rs);
  timeval tv{5, 0};
  Outcome o = outcome([&] { return ::select(closed + 1, &rs, nullptr, nullptr, &tv); });
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, EBADF);
  o = outcome([&] {
    fd_set s;
    FD_ZERO(&s);
    FD_SET(closed, &s);
    const timespec ts{5, 0};
    return ::pselect(closed + 1, &s, nullptr, nullptr, &ts, nullptr);
  });
  EXPECT_EQ(o.err, EBADF);
  epoll_event ev[2];
  o = outcome([&] { return ::epoll_wait(closed, ev, 2, 5000); });
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, EBADF);
  o = outcome([&] { return ::epoll_wait(a, ev, 2, 5000); });  // not an epoll fd
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, EINVAL);
  Fd ep = epoll_for({a.get()});
  o = outcome([&] { return ::epoll_wait(ep, ev, 0, 5000); });
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, EINVAL);
  volatile int minus_one = -1;  // hidden from _FORTIFY_SOURCE's compile-time check
  o = outcome([&] { return ::epoll_pwait(ep, ev, minus_one, 5000, nullptr); });
  EXPECT_EQ(o.err, EINVAL);
  EXPECT_LT(sw.ms(), 1000);
}

// POLLHUP is reported whether asked for or not (poll(2): "ignored in events").
TEST_F(PollTest, HangupWakesAPollThatAskedForNothing) {
  auto [a, b] = socket_pair();
  Peer closer([fd = b.release()] {
    sleep_ms(100);
    ::close(fd);
  });
  pollfd p{a, 0, 0};
  Stopwatch sw;
  EXPECT_EQ(::poll(&p, 1, 3000), 1);
  EXPECT_NE(p.revents & POLLHUP, 0);
  EXPECT_GE(sw.ms(), 90);
  EXPECT_LT(sw.ms(), 1500) << "POLLHUP was seen only when the timeout expired";
}

TEST_F(PollTest, HangupWakesPollin) {
  auto [a, b] = socket_pair();
  Peer closer([fd = b.release()] {
    sleep_ms(100);
    ::close(fd);
  });
  pollfd p{a, POLLIN, 0};
  Stopwatch sw;
  EXPECT_EQ(::poll(&p, 1, 3000), 1);
  EXPECT_NE(p.revents & (POLLIN | POLLHUP), 0);
  EXPECT_LT(sw.ms(), 1500);
}

// TCP urgent data raises POLLPRI (and select's exceptfds) without POLLIN.
TEST_F(PollTest, OutOfBandDataWakesPollpriAndExceptfds) {
  for (bool use_select : {false, true}) {
    TcpPair t = tcp_pair();
    const int sfd = t.server;
    Peer peer([sfd] {
      sleep_ms(100);
      ::send(sfd, "!", 1, MSG_OOB);
    });
    Stopwatch sw;
    if (use_select) {
      fd_set es;
      FD_ZERO(&es);
      FD_SET(t.client, &es);
      timeval tv{1, 500000};
      EXPECT_EQ(::select(t.client + 1, nullptr, nullptr, &es, &tv), 1);
      EXPECT_TRUE(FD_ISSET(t.client, &es));
    } else {
      pollfd p{t.client, POLLPRI, 0};
      EXPECT_EQ(::poll(&p, 1, 1500), 1);
      EXPECT_EQ(p.revents, POLLPRI);
    }
    EXPECT_GE(sw.ms(), 90);
    EXPECT_LT(sw.ms(), 1000) << (use_select ? "select" : "poll")
                             << ": urgent data was seen only when the timeout expired";
  }
}

TEST_F(PollTest, InvalidTimeoutsAreEinval) {
  auto [a, b] = socket_pair();
  for (const timespec bad : {timespec{0, 1000000000}, timespec{0, -1}, timespec{-1, 0}}) {
    pollfd p{a, POLLIN, 0};
    Outcome o = outcome([&] { return ::ppoll(&p, 1, &bad, nullptr); });
    EXPECT_EQ(o.r, -1);
    EXPECT_EQ(o.err, EINVAL);
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(a, &rs);
    o = outcome([&] { return ::pselect(a + 1, &rs, nullptr, nullptr, &bad, nullptr); });
    EXPECT_EQ(o.r, -1);
    EXPECT_EQ(o.err, EINVAL);
  }
  for (const timeval bad : {timeval{0, -1}, timeval{-1, 0}}) {
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(a, &rs);
    timeval tv = bad;
    const Outcome o = outcome([&] { return ::select(a + 1, &rs, nullptr, nullptr, &tv); });
    EXPECT_EQ(o.r, -1);
    EXPECT_EQ(o.err, EINVAL);
  }
}

// glibc (and the kernel's select) normalize tv_usec >= 1000000 into seconds instead of
// failing (glibc misc/select.c: "Normalize the timeout, as legacy Linux __NR_select").
TEST_F(PollTest, SelectAcceptsMicrosecondsOverOneSecond) {
  auto [a, b] = socket_pair();
  ASSERT_EQ(::write(b, "x", 1), 1);
  fd_set rs;
  FD_ZERO(&rs);
  FD_SET(a, &rs);
  timeval tv{0, 1500000};
  const Outcome o = outcome([&] { return ::select(a + 1, &rs, nullptr, nullptr, &tv); });
  EXPECT_EQ(o.r, 1) << std::strerror(o.err);
}

TEST_F(PollTest, EpollReportsWhichFdIsReady) {
  auto [a, b] = socket_pair();
  auto [r, w] = pipe_pair();
  Fd ep = epoll_for({a.get(), r.get()});
  const int wfd = w;
  Peer peer([wfd] {
    sleep_ms(50);
    write_fully(wfd, "e", 1);
  });
  epoll_event ev[4];
  Stopwatch sw;
  ASSERT_EQ(::epoll_wait(ep, ev, 4, 3000), 1);
  EXPECT_GE(sw.ms(), 45);
  EXPECT_EQ(ev[0].data.u64, 1000u + static_cast<uint64_t>(r.get()));
  EXPECT_EQ(ev[0].events, static_cast<uint32_t>(EPOLLIN));
  ASSERT_EQ(::write(b, "s", 1), 1);
  ASSERT_EQ(::epoll_wait(ep, ev, 4, 3000), 2);
  // Edge-triggered: reported once, then quiet until the next change.
  Fd et = epoll_for({a.get()}, EPOLLIN | EPOLLET);
  EXPECT_EQ(::epoll_wait(et, ev, 4, 1000), 1);
  sw.reset();
  EXPECT_EQ(::epoll_wait(et, ev, 4, 100), 0);
  EXPECT_GE(sw.ms(), 99);
}

// poll, select and epoll_wait are never restarted after a handler, SA_RESTART or not
// (signal(7)): they fail with EINTR.
TEST_F(PollTest, SignalsInterruptEveryWait) {
  ScopedSignal handler(SIGUSR1, count_signal, SA_RESTART);
  for (const auto& [name, wait] : waits()) {
    auto [a, b] = socket_pair();
    signals_caught = 0;
    Stopwatch sw;
    Outcome o{0, 0};
    {
      SignalAfter interrupt(SIGUSR1, 100);
      o = outcome([&, &wait = wait] { return wait(a, 700); });
    }
    EXPECT_EQ(signals_caught, 1) << name;
    EXPECT_EQ(o.r, -1) << name;
    EXPECT_EQ(o.err, EINTR) << name;
    EXPECT_LT(sw.ms(), 500) << name << " was not interrupted";
  }
}

// With _FORTIFY_SOURCE, a poll whose count the compiler cannot check is __poll_chk.
TEST_F(PollTest, FortifiedPollWaitsToo) {
  auto [a, b] = socket_pair();
  volatile nfds_t n = 1;
  pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
  Stopwatch sw;
  EXPECT_EQ(::poll(fds, n, 100), 0);
  EXPECT_GE(sw.ms(), 99);
  const int bfd = b;
  Peer peer([bfd] {
    sleep_ms(50);
    write_fully(bfd, "f", 1);
  });
  EXPECT_EQ(::poll(fds, n, 3000), 1);
}
