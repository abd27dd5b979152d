// shim/socket.cpp through greenlets: after green::patch_all(), greenlets that call the
// plain socket API (accept, connect, recv*, send*) run concurrently on one thread. A
// greenlet parked in recv lets the others run; closing an fd wakes the greenlet waiting
// on it with EBADF; 1 MiB crosses TCP loopback and a socketpair between a writer greenlet
// and a reader greenlet.
#include <green/green.hpp>

#include <memory>

#include "green_support.hpp"

using namespace shim_test;

namespace {

class SocketGreenTest : public ShimTest {};

}  // namespace

TEST_F(SocketGreenTest, ReaderParksWhileAWriterWritesLater) {
  auto [a, b] = socket_pair();
  Crew crew;
  Ticker ticker(crew);
  Outcome got{0, 0};
  double at_ms = 0;
  int ticks_meanwhile = -1;
  Stopwatch sw;
  auto reader = crew.spawn([&, fd = a.get()] {
    char buf[8];
    const int t0 = ticker.ticks();
    got = outcome([&] { return ::recv(fd, buf, sizeof buf, 0); });
    at_ms = sw.ms();
    ticks_meanwhile = ticker.ticks() - t0;
  });
  crew.spawn([fd = b.get()] {
    ::usleep(100000);
    ::send(fd, "late", 4, 0);
  });
  ASSERT_TRUE(reader.join(std::chrono::seconds(5)));
  EXPECT_EQ(got.r, 4);
  EXPECT_GE(at_ms, 90);
  EXPECT_GE(ticks_meanwhile, 5) << "the ticker did not run while recv waited";
}

TEST_F(SocketGreenTest, ManyClientsAndAnAcceptLoopRunTogether) {
  constexpr int kClients = 50;
  Fd l = tcp_listener(kClients);
  const sockaddr_in where = local_addr(l);
  Crew crew;
  int served = 0, ok = 0;
  crew.spawn([&, lfd = l.get()] {
    for (int i = 0; i < kClients; ++i) {
      const int c = ::accept(lfd, nullptr, nullptr);
      if (c < 0) return;
      ++served;
      crew.spawn([c] {  // echo handler
        char buf[1000];
        size_t got = 0;
        while (got < sizeof buf) {
          const ssize_t n = ::recv(c, buf + got, sizeof buf - got, 0);
          if (n <= 0) break;
          got += static_cast<size_t>(n);
        }
        ::send(c, buf, got, 0);
        ::close(c);
      });
    }
  });
  Stopwatch sw;
  for (int i = 0; i < kClients; ++i) {
    crew.spawn([&, i] {
      Fd c(::socket(AF_INET, SOCK_STREAM, 0));
      if (connect_to(c, where) != 0) return;
      ::usleep(100000);  // every client thinks for 100 ms; together, not one after another
      const std::vector<unsigned char> out = pattern(1000, static_cast<uint64_t>(i) * 1000);
      if (::send(c, out.data(), out.size(), 0) != 1000) return;
      std::vector<unsigned char> in(1000);
      if (::recv(c, in.data(), in.size(), MSG_WAITALL) != 1000) return;
      if (mismatch(in, static_cast<uint64_t>(i) * 1000) == -1) ++ok;
    });
  }
  ASSERT_TRUE(crew.join(std::chrono::seconds(10)));
  EXPECT_EQ(served, kClients);
  EXPECT_EQ(ok, kClients);
  EXPECT_LT(sw.ms(), 1800) << "the clients' 100 ms waits did not overlap";
}

namespace {

// A writer greenlet sends 1 MiB in one call (complete, as a blocking send), a reader
// greenlet gathers and checks it; then the same the other way with writev/readv.
void transfer_mib(int x, int y) {
  Crew crew;
  bool read_ok = false, vread_ok = false;
  ssize_t sent = -1, vsent = -1;
  crew.spawn([&] {
    const std::vector<unsigned char> out = pattern(kMiB);
    sent = ::send(x, out.data(), out.size(), 0);
  });
  crew.spawn([&] {
    std::vector<unsigned char> in(kMiB);
    size_t got = 0;
    while (got < kMiB) {
      const ssize_t n = ::recv(y, in.data() + got, kMiB - got, 0);
      if (n <= 0) return;
      got += static_cast<size_t>(n);
    }
    read_ok = mismatch(in) == -1;
  });
  crew.spawn([&] {
    const std::vector<unsigned char> out = pattern(kMiB, 99);
    unsigned char* p = const_cast<unsigned char*>(out.data());
    iovec iov[3] = {{p, 10}, {p + 10, 400000}, {p + 400010, kMiB - 400010}};
    vsent = ::writev(y, iov, 3);
  });
  crew.spawn([&] {
    std::vector<unsigned char> in(kMiB);
    size_t got = 0;
    while (got < kMiB) {
      const size_t half = (kMiB - got) / 2;
      iovec iov[2] = {{in.data() + got, half}, {in.data() + got + half, kMiB - got - half}};
      const ssize_t n = ::readv(x, iov, 2);
      if (n <= 0) return;
      got += static_cast<size_t>(n);
    }
    vread_ok = mismatch(in, 99) == -1;
  });
  ASSERT_TRUE(crew.join(std::chrono::seconds(10)));
  EXPECT_EQ(sent, static_cast<ssize_t>(kMiB));
  EXPECT_EQ(vsent, static_cast<ssize_t>(kMiB));
  EXPECT_TRUE(read_ok);
  EXPECT_TRUE(vread_ok);
}

}  // namespace

TEST_F(SocketGreenTest, OneMiBBetweenGreenletsOverTcpLoopback) {
  TcpPair t = tcp_pair();
  transfer_mib(t.client, t.server);
}

TEST_F(SocketGreenTest, OneMiBBetweenGreenletsOverASocketpair) {
  auto [a, b] = socket_pair();
  transfer_mib(a, b);
}

TEST_F(SocketGreenTest, ClosingAnFdWakesTheGreenletWaitingOnIt) {
  auto [a, b] = socket_pair();
  Fd l = tcp_listener();
  auto [f, g] = socket_pair();
  ASSERT_GT(fill_socket(f), 0u);
  Crew crew;
  Outcome in{0, 0}, acc{0, 0}, out{0, 0};
  crew.spawn([&, fd = a.get()] {
    char c;
    in = outcome([&] { return ::recv(fd, &c, 1, 0); });
  });
  crew.spawn([&, fd = l.get()] { acc = outcome([&] { return ::accept(fd, nullptr, nullptr); }); });
  crew.spawn([&, fd = f.get()] { out = outcome([&] { return ::send(fd, "x", 1, 0); }); });
  ::usleep(50000);  // all three are parked now
  ::close(a.release());
  ::close(l.release());
  ::close(f.release());
  ASSERT_TRUE(crew.join(std::chrono::seconds(3))) << "a waiter was not woken by close";
  EXPECT_EQ(in.r, -1);
  EXPECT_EQ(in.err, EBADF);
  EXPECT_EQ(acc.r, -1);
  EXPECT_EQ(acc.err, EBADF);
  EXPECT_EQ(out.r, -1);
  EXPECT_EQ(out.err, EBADF);
}

// The number of a closed fd comes back at once for a new socket: the greenlet that waited
// on the old one got EBADF, and a wait on the new one sees only the new socket.
TEST_F(SocketGreenTest, AReusedFdNumberGetsNoStaleWakeup) {
  auto [a, b] = socket_pair();
  const int number = a.get();
  Crew crew;
  Outcome old_wait{0, 0};
  crew.spawn([&] {
    char c;
    old_wait = outcome([&] { return ::read(number, &c, 1); });
  });
  ::usleep(20000);
  ::close(a.release());
  auto [x, y] = socket_pair();
  ASSERT_EQ(x.get(), number) << "the kernel did not reuse the number; the test proves less";
  Outcome new_wait{0, 0};
  double waited = 0;
  crew.spawn([&] {
    set_rcvtimeo(number, 150);
    char c;
    Stopwatch sw;
    new_wait = outcome([&] { return ::read(number, &c, 1); });
    waited = sw.ms();
  });
  ASSERT_TRUE(crew.join(std::chrono::seconds(3)));
  EXPECT_EQ(old_wait.r, -1);
  EXPECT_EQ(old_wait.err, EBADF);
  EXPECT_EQ(new_wait.r, -1);  // nothing woke the new wait early
  EXPECT_EQ(new_wait.err, EAGAIN);
  EXPECT_GE(waited, 145);
  ASSERT_EQ(::write(y, "n", 1), 1);
  char c = 0;
  EXPECT_EQ(::read(x, &c, 1), 1);
  EXPECT_EQ(c, 'n');
}

TEST_F(SocketGreenTest, RcvTimeoutsRunConcurrently) {
  constexpr int kN = 20;
  std::vector<FdPair> pairs;
  for (int i = 0; i < kN; ++i) pairs.push_back(socket_pair());
  Crew crew;
  Ticker ticker(crew);
  int timed_out = 0;
  Stopwatch sw;
  for (auto& p : pairs) {
    crew.spawn([&, fd = p.a.get()] {
      set_rcvtimeo(fd, 200);
      char c;
      const Outcome o = outcome([&] { return ::recv(fd, &c, 1, 0); });
      if (o.r == -1 && o.err == EAGAIN) ++timed_out;
    });
  }
  const int t0 = ticker.ticks();
  crew.spawn([] {});  // a no-op among them
  for (int i = 0; i < 100 && timed_out < kN; ++i) ::usleep(10000);
  EXPECT_EQ(timed_out, kN);
  EXPECT_GE(sw.ms(), 195);
  EXPECT_LT(sw.ms(), 1000) << "the timeouts ran one after another";
  EXPECT_GE(ticker.ticks() - t0, 5);
}

TEST_F(SocketGreenTest, ConnectsRunConcurrently) {
  Fd l = tcp_listener(64);
  sockaddr_in refused{};
  Fd hold = refusing_port(&refused);
  Crew crew;
  int connected = 0, was_refused = 0;
  for (int i = 0; i < 20; ++i) {
    crew.spawn([&, i] {
      Fd c(::socket(AF_INET, SOCK_STREAM, 0));
      const Outcome o = outcome([&] { return connect_to(c, i % 2 ? refused : local_addr(l)); });
      if (o.r == 0) ++connected;
      if (o.r == -1 && o.err == ECONNREFUSED) ++was_refused;
    });
  }
  ASSERT_TRUE(crew.join(std::chrono::seconds(5)));
  EXPECT_EQ(connected, 10);
  EXPECT_EQ(was_refused, 10);
  for (int i = 0; i < 10; ++i) ::close(::accept(l, nullptr, nullptr));
}

TEST_F(SocketGreenTest, MsgWaitallGathersPiecesFromAnotherGreenlet) {
  auto [a, b] = socket_pair();
  Crew crew;
  crew.spawn([fd = b.get()] {
    const std::vector<unsigned char> data = pattern(64 * 1024);
    for (size_t off = 0; off < data.size(); off += 8192) {
      ::send(fd, data.data() + off, 8192, 0);
      ::usleep(5000);
    }
  });
  std::vector<unsigned char> in(64 * 1024);
  EXPECT_EQ(::recv(a, in.data(), in.size(), MSG_WAITALL), static_cast<ssize_t>(in.size()));
  EXPECT_EQ(mismatch(in), -1);
}

TEST_F(SocketGreenTest, FdsPassedBetweenGreenlets) {
  auto [a, b] = socket_pair();
  auto [s0, s1] = socket_pair();
  Crew crew;
  std::string seen;
  Outcome passed_read{0, 0};
  crew.spawn([&, fd = b.get()] {
    char byte;
    iovec iov{&byte, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    if (::recvmsg(fd, &msg, 0) != 1) return;  // parks until the fd arrives
    int passed = -1;
    std::memcpy(&passed, CMSG_DATA(CMSG_FIRSTHDR(&msg)), sizeof passed);
    char buf[8] = {};
    passed_read = outcome([&] { return ::read(passed, buf, sizeof buf); });  // parks until s0 is written
    seen.assign(buf, passed_read.r > 0 ? static_cast<size_t>(passed_read.r) : 0);
    ::close(passed);
  });
  ::usleep(20000);
  int give = s1;
  char byte = 'f';
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &give, sizeof give);
  ASSERT_EQ(::sendmsg(a, &msg, 0), 1);
  ::usleep(20000);
  ASSERT_EQ(::write(s0, "passed", 6), 6);
  ASSERT_TRUE(crew.join(std::chrono::seconds(3)));
  EXPECT_EQ(seen, "passed") << "read on the passed socket: " << passed_read.r << " " << std::strerror(passed_read.err);
}

TEST_F(SocketGreenTest, UdpBetweenGreenlets) {
  Fd r(::socket(AF_INET, SOCK_DGRAM, 0)), s(::socket(AF_INET, SOCK_DGRAM, 0));
  sockaddr_in any = loopback();
  ASSERT_EQ(::bind(r, reinterpret_cast<sockaddr*>(&any), sizeof any), 0);
  const sockaddr_in to = local_addr(r);
  Crew crew;
  int received = 0;
  crew.spawn([&, fd = r.get()] {
    char buf[64];
    for (int i = 0; i < 5; ++i) {
      if (::recvfrom(fd, buf, sizeof buf, 0, nullptr, nullptr) == 3) ++received;
    }
  });
  crew.spawn([&, fd = s.get()] {
    for (int i = 0; i < 5; ++i) {
      ::usleep(10000);
      ::sendto(fd, "dgm", 3, 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
    }
  });
  ASSERT_TRUE(crew.join(std::chrono::seconds(3)));
  EXPECT_EQ(received, 5);
}

TEST_F(SocketGreenTest, SigpipeReachesTheHandlerFromAGreenlet) {
  ScopedSignal handler(SIGPIPE, count_signal);
  signals_caught = 0;
  auto [a, b] = socket_pair();
  b.reset();
  Crew crew;
  Outcome o{0, 0}, quiet{0, 0};
  crew.spawn([&, fd = a.get()] {
    o = outcome([&] { return ::send(fd, "x", 1, 0); });
    quiet = outcome([&] { return ::send(fd, "x", 1, MSG_NOSIGNAL); });
  });
  ASSERT_TRUE(crew.join());
  EXPECT_EQ(o.err, EPIPE);
  EXPECT_EQ(quiet.err, EPIPE);
  EXPECT_EQ(signals_caught, 1);
}

TEST_F(SocketGreenTest, NonBlockingSocketsNeverPark) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  Fd a(sv[0]), b(sv[1]);
  Crew crew;
  Outcome o{0, 0};
  double took = -1;
  crew.spawn([&] {
    Stopwatch sw;
    char c;
    o = outcome([&] { return ::recv(a, &c, 1, 0); });
    took = sw.ms();
  });
  ASSERT_TRUE(crew.join());
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, EAGAIN);
  EXPECT_LT(took, 100);
}
