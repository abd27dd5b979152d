// shim/socket.cpp, as a plain POSIX program: socket, socketpair, accept/accept4, connect,
// shutdown, setsockopt/getsockopt and the recv*/send* families behave as libc's for the
// blocking mode the program chose, for this process, its other threads and the programs
// it hands the socket to. Runs without the shim and under LD_PRELOAD; with
// GREEN_SHIM_EXPECTED=1 it also checks that the shim took over (a blocking call waited in
// an epoll instance the program never made). Peers are threads.
//
// Built with _FORTIFY_SOURCE, so that recv/recvfrom into buffers of known size go through
// __recv_chk/__recvfrom_chk, which the shim hooks too.
#ifndef _FORTIFY_SOURCE
#define _FORTIFY_SOURCE 2
#endif

#include <netinet/tcp.h>
#include <sys/uio.h>

#include "support.hpp"

using namespace shim_test;

namespace {

class SocketTest : public ShimTest {};

// An abstract AF_UNIX address unique to this process and `tag` (no file to clean up).
sockaddr_un abstract_addr(const char* tag, socklen_t* len) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  const int n = std::snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "greenshim-test-%d-%s",
                              static_cast<int>(::getpid()), tag);
  *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + n);
  return a;
}

// Sends one fd-carrying message: `bytes` of payload and `fds` as SCM_RIGHTS.
ssize_t send_fds(int sock, const void* bytes, size_t n, const std::vector<int>& fds) {
  iovec iov{const_cast<void*>(bytes), n};
  std::vector<char> control(CMSG_SPACE(sizeof(int) * fds.size()));
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
  std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  return ::sendmsg(sock, &msg, 0);
}

}  // namespace

// --- the shim's takeover -------------------------------------------------------------

// Under the shim a blocking call parks on the hub's loop: afterwards the process holds an
// epoll instance (the program made none) that watches the socket. Without the shim there
// is none. Either way the program sees the blocking socket it made.
TEST_F(SocketTest, BlockingCallsGoThroughTheShim) {
  auto [a, b] = socket_pair();
  EXPECT_FALSE(has_flag(a, O_NONBLOCK));
  set_rcvtimeo(a, 50);
  char c;
  const Outcome o = outcome([&] { return ::recv(a, &c, 1, 0); });  // a blocking call
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, EAGAIN);
  EXPECT_FALSE(has_flag(a, O_NONBLOCK));
  if (shim_expected()) {
    EXPECT_TRUE(has_eventpoll()) << "no hub loop after a blocking call";
    EXPECT_TRUE(watched_by_epoll(a)) << "the shim did not wait on the socket";
  } else {
    EXPECT_FALSE(has_eventpoll());
    EXPECT_EQ(kernel_flags(a) & O_NONBLOCK, 0);
  }
}

TEST_F(SocketTest, SockNonblockIsReportedAndHonoured) {
  Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
  EXPECT_TRUE(has_flag(s, O_NONBLOCK));
  EXPECT_NE(kernel_flags(s) & O_NONBLOCK, 0);
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  Fd a(sv[0]), b(sv[1]);
  EXPECT_TRUE(has_flag(a, O_NONBLOCK));
  set_rcvtimeo(a, 2000);  // a safety net: were the call to block, it would fail late
  char buf[8];
  msghdr msg{};
  iovec iov{buf, sizeof buf};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  Stopwatch sw;
  for (const Outcome o : {outcome([&] { return ::recv(a, buf, sizeof buf, 0); }),
                          outcome([&] { return ::read(a, buf, sizeof buf); }),
                          outcome([&] { return ::recvfrom(a, buf, sizeof buf, 0, nullptr, nullptr); }),
                          outcome([&] { return ::recvmsg(a, &msg, 0); })}) {
    EXPECT_EQ(o.r, -1);
    EXPECT_EQ(o.err, EAGAIN);
  }
  EXPECT_LT(sw.ms(), 1000) << "a non-blocking socket waited";
}

// --- accept ----------------------------------------------------------------------------

TEST_F(SocketTest, AcceptedSocketsHaveTheirOwnFlags) {
  Fd l = tcp_listener();
  Fd c1(::socket(AF_INET, SOCK_STREAM, 0)), c2(::socket(AF_INET, SOCK_STREAM, 0));
  ASSERT_EQ(connect_to(c1, local_addr(l)), 0);
  ASSERT_EQ(connect_to(c2, local_addr(l)), 0);
  sockaddr_in peer{};
  socklen_t len = sizeof peer;
  Fd s1(::accept(l, reinterpret_cast<sockaddr*>(&peer), &len));
  ASSERT_GE(s1, 0);
  EXPECT_EQ(len, sizeof peer);
  EXPECT_EQ(peer.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
  EXPECT_EQ(peer.sin_port, local_addr(c1).sin_port);
  EXPECT_FALSE(has_flag(s1, O_NONBLOCK));
  Fd s2(::accept4(l, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
  ASSERT_GE(s2, 0);
  EXPECT_TRUE(has_flag(s2, O_NONBLOCK));
  EXPECT_NE(::fcntl(s2, F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_EQ(::fcntl(s1, F_GETFD) & FD_CLOEXEC, 0);
  // The accepted sockets work in the mode they report.
  char c = 0;
  const Outcome o = outcome([&] { return ::recv(s2, &c, 1, 0); });
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, EAGAIN);
  ASSERT_EQ(::send(c1, "x", 1, 0), 1);
  EXPECT_EQ(::recv(s1, &c, 1, 0), 1);
  EXPECT_EQ(c, 'x');
}

TEST_F(SocketTest, AcceptWaitsForAConnection) {
  Fd l = tcp_listener();
  const sockaddr_in where = local_addr(l);
  Peer peer([where] {
    sleep_ms(100);
    Fd c(::socket(AF_INET, SOCK_STREAM, 0));
    if (connect_to(c, where) == 0) write_fully(c, "hi", 2);
  });
  Stopwatch sw;
  Fd s(::accept(l, nullptr, nullptr));
  ASSERT_GE(s, 0) << std::strerror(errno);
  EXPECT_GE(sw.ms(), 90);
  char buf[2];
  EXPECT_EQ(read_fully(s, buf, 2), 2u);
  EXPECT_EQ(std::memcmp(buf, "hi", 2), 0);
}

TEST_F(SocketTest, AcceptTimesOutWithRcvTimeo) {
  Fd l = tcp_listener();
  set_rcvtimeo(l, 100);
  Stopwatch sw;
  const Outcome o = outcome([&] { return ::accept(l, nullptr, nullptr); });
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, EAGAIN);
  EXPECT_GE(sw.ms(), 95);
  EXPECT_LT(sw.ms(), 3000);
}

TEST_F(SocketTest, AcceptErrors) {
  Fd l = tcp_listener(16, SOCK_NONBLOCK);
  set_rcvtimeo(l, 2000);
  Stopwatch sw;
  Outcome o = outcome([&] { return ::accept(l, nullptr, nullptr); });
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, EAGAIN);
  EXPECT_LT(sw.ms(), 1000);
  Fd unlistened(::socket(AF_INET, SOCK_STREAM, 0));
  o = outcome([&] { return ::accept(unlistened, nullptr, nullptr); });
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, EINVAL);
  const int closed = l.release();
  ::close(closed);
  o = outcome([&] { return ::accept(closed, nullptr, nullptr); });
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, EBADF);
}

// --- connect ---------------------------------------------------------------------------

TEST_F(SocketTest, ConnectToAClosedPortIsRefused) {
  sockaddr_in where{};
  Fd hold = refusing_port(&where);
  Fd c(::socket(AF_INET, SOCK_STREAM, 0));
  const Outcome o = outcome([&] { return connect_to(c, where); });
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, ECONNREFUSED);
  EXPECT_FALSE(has_flag(c, O_NONBLOCK));

  // Non-blocking: refused at once, or in progress and then SO_ERROR says why.
  Fd n(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
  const Outcome p = outcome([&] { return connect_to(n, where); });
  ASSERT_EQ(p.r, -1);
  if (p.err == EINPROGRESS) {
    pollfd pfd{n, POLLOUT, 0};
    ASSERT_EQ(::poll(&pfd, 1, 3000), 1);
    int err = 0;
    socklen_t len = sizeof err;
    ASSERT_EQ(::getsockopt(n, SOL_SOCKET, SO_ERROR, &err, &len), 0);
    EXPECT_EQ(err, ECONNREFUSED);
  } else {
    EXPECT_EQ(p.err, ECONNREFUSED);
  }
}

TEST_F(SocketTest, NonBlockingConnectCompletes) {
  Fd l = tcp_listener();
  Fd c(::socket(AF_INET, SOCK_STREAM, 0));
  ASSERT_EQ(::fcntl(c, F_SETFL, ::fcntl(c, F_GETFL) | O_NONBLOCK), 0);
  const Outcome o = outcome([&] { return connect_to(c, local_addr(l)); });
  if (o.r != 0) {
    ASSERT_EQ(o.err, EINPROGRESS);
    pollfd pfd{c, POLLOUT, 0};
    ASSERT_EQ(::poll(&pfd, 1, 3000), 1);
    int err = -1;
    socklen_t len = sizeof err;
    ASSERT_EQ(::getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &len), 0);
    EXPECT_EQ(err, 0);
  }
  Fd s(::accept(l, nullptr, nullptr));
  ASSERT_GE(s, 0);
  ASSERT_EQ(::send(s, "ok", 2, 0), 2);
  pollfd pfd{c, POLLIN, 0};
  ASSERT_EQ(::poll(&pfd, 1, 3000), 1);
  char buf[2];
  EXPECT_EQ(::recv(c, buf, 2, 0), 2);
}

TEST_F(SocketTest, ConnectErrors) {
  Fd l = tcp_listener();
  Fd c(::socket(AF_INET, SOCK_STREAM, 0));
  ASSERT_EQ(connect_to(c, local_addr(l)), 0);
  Outcome o = outcome([&] { return connect_to(c, local_addr(l)); });
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, EISCONN);
  const int closed = c.release();
  ::close(closed);
  o = outcome([&] { return connect_to(closed, local_addr(l)); });
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, EBADF);
}

// An AF_UNIX listener whose backlog is full: a blocking connect to it waits (the kernel
// says EAGAIN only to non-blocking callers) until it accepts or SO_SNDTIMEO passes.
struct FullUnixListener {
  sockaddr_un addr{};
  socklen_t len = 0;
  Fd listener;
  std::vector<Fd> queued;

  explicit FullUnixListener(const char* tag) {
    addr = abstract_addr(tag, &len);
    listener = Fd(::socket(AF_UNIX, SOCK_STREAM, 0));
    if (::bind(listener, reinterpret_cast<const sockaddr*>(&addr), len) != 0 || ::listen(listener, 0) != 0) {
      ADD_FAILURE() << "unix listener: " << std::strerror(errno);
    }
    for (int i = 0; i < 16; ++i) {
      Fd q(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0));
      if (::connect(q, reinterpret_cast<const sockaddr*>(&addr), len) != 0) {
        EXPECT_EQ(errno, EAGAIN);
        break;
      }
      queued.push_back(std::move(q));
    }
    EXPECT_FALSE(queued.empty());
  }
  int connect(int fd) const { return ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), len); }
  // Makes room for one more connection, `ms` from now, on another thread.
  Peer accept_after(int ms) const {
    return Peer([fd = listener.get(), ms] {
      sleep_ms(ms);
      ::close(::accept(fd, nullptr, nullptr));
    });
  }
};

// Runs in a child (below): a shim that never wakes the connect would hang the binary.
SHIM_TEST_CHILD(unix_connect_full_backlog) {
  FullUnixListener full("wait");
  Peer peer = full.accept_after(200);
  Fd c(::socket(AF_UNIX, SOCK_STREAM, 0));
  Stopwatch sw;
  const double cpu0 = cpu_ms();
  const int r = full.connect(c);
  const double waited = sw.ms(), cpu = cpu_ms() - cpu0;
  std::printf("connect %d (%s) after %.0f ms, %.0f ms of CPU\n", r, r == 0 ? "ok" : std::strerror(errno),
              waited, cpu);
  return r == 0 && waited >= 190 && cpu < waited / 4 ? 0 : 1;
}

TEST_F(SocketTest, UnixConnectWaitsWhileTheBacklogIsFull) {
  const ChildResult r = run_child("unix_connect_full_backlog", {}, {}, 3000);
  EXPECT_FALSE(r.hung) << "a blocking AF_UNIX connect never woke when the listener made room: " << r.output;
  EXPECT_TRUE(r.exited_ok()) << r.output;
}

TEST_F(SocketTest, UnixConnectWithSndTimeoGivesUpWhenTheBacklogStaysFull) {
  FullUnixListener full("timeo");
  Fd c(::socket(AF_UNIX, SOCK_STREAM, 0));
  set_sndtimeo(c, 100);
  Peer rescue = full.accept_after(1500);  // ends the wait, should the timeout never fire
  Stopwatch sw;
  const Outcome o = outcome([&] { return full.connect(c); });
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, EAGAIN);
  EXPECT_GE(sw.ms(), 95);
  EXPECT_LT(sw.ms(), 1000) << "SO_SNDTIMEO did not end a blocking AF_UNIX connect";
}

// --- recv / send -----------------------------------------------------------------------

TEST_F(SocketTest, RecvWaitsForData) {
  TcpPair p = tcp_pair();
  const int server = p.server;
  Peer peer([server] {
    sleep_ms(100);
    write_fully(server, "data", 4);
  });
  Stopwatch sw;
  char buf[16];
  EXPECT_EQ(::recv(p.client, buf, sizeof buf, 0), 4);
  EXPECT_GE(sw.ms(), 90);
  EXPECT_EQ(std::memcmp(buf, "data", 4), 0);
}

TEST_F(SocketTest, RecvReturnsZeroWhenThePeerCloses) {
  auto [a, b] = socket_pair();
  Peer peer([fd = b.release()] {
    sleep_ms(50);
    ::close(fd);
  });
  char buf[4];
  EXPECT_EQ(::recv(a, buf, sizeof buf, 0), 0);
  peer.join();
  EXPECT_EQ(::read(a, buf, sizeof buf), 0);  // and stays at EOF

  TcpPair t = tcp_pair();
  Peer tpeer([fd = t.server.release()] {
    sleep_ms(50);
    ::close(fd);
  });
  EXPECT_EQ(::recv(t.client, buf, sizeof buf, 0), 0);
}

TEST_F(SocketTest, SendToAClosedPeerIsEpipeWhenSigpipeIsIgnored) {
  ScopedSignal ignore(SIGPIPE, SIG_IGN);
  auto [a, b] = socket_pair();
  b.reset();
  Outcome o = outcome([&] { return ::send(a, "x", 1, 0); });
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, EPIPE);
  o = outcome([&] { return ::sendto(a, "x", 1, 0, nullptr, 0); });
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, EPIPE);
}

TEST_F(SocketTest, SendToAClosedPeerRaisesSigpipeUnlessMsgNosignal) {
  ScopedSignal handler(SIGPIPE, count_signal);
  signals_caught = 0;
  auto [a, b] = socket_pair();
  b.reset();
  Outcome o = outcome([&] { return ::send(a, "x", 1, 0); });
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, EPIPE);
  EXPECT_EQ(signals_caught, 1);
  o = outcome([&] { return ::send(a, "x", 1, MSG_NOSIGNAL); });
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, EPIPE);
  EXPECT_EQ(signals_caught, 1) << "SIGPIPE despite MSG_NOSIGNAL";
  iovec iov{const_cast<char*>("x"), 1};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  o = outcome([&] { return ::sendmsg(a, &msg, 0); });
  EXPECT_EQ(o.err, EPIPE);
  EXPECT_EQ(signals_caught, 2);

  // TCP: the peer's RST comes back after the first write; then EPIPE and SIGPIPE.
  TcpPair t = tcp_pair();
  t.server.reset();
  signals_caught = 0;
  Outcome w{0, 0};
  for (int i = 0; i < 100 && w.r >= 0; ++i) {
    w = outcome([&] { return ::send(t.client, "y", 1, 0); });
    if (w.r >= 0) sleep_ms(10);
  }
  EXPECT_EQ(w.r, -1);
  EXPECT_TRUE(w.err == EPIPE || w.err == ECONNRESET) << std::strerror(w.err);
  if (w.err == EPIPE) {
    EXPECT_EQ(signals_caught, 1);
  }
}

TEST_F(SocketTest, RecvFamilyTimesOutWithRcvTimeo) {
  auto [a, b] = socket_pair();
  set_rcvtimeo(a, 150);
  char buf[8];
  iovec iov{buf, sizeof buf};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  const std::vector<std::pair<const char*, std::function<long()>>> calls = {
      {"recv", [&] { return ::recv(a, buf, sizeof buf, 0); }},
      {"read", [&] { return ::read(a, buf, sizeof buf); }},
      {"recvfrom", [&] { return ::recvfrom(a, buf, sizeof buf, 0, nullptr, nullptr); }},
      {"recvmsg", [&] { return ::recvmsg(a, &msg, 0); }},
      {"readv", [&] { return ::readv(a, &iov, 1); }},
  };
  for (const auto& [name, call] : calls) {
    Stopwatch sw;
    const Outcome o = outcome(call);
    EXPECT_EQ(o.r, -1) << name;
    EXPECT_EQ(o.err, EAGAIN) << name;
    EXPECT_GE(sw.ms(), 145) << name;
    EXPECT_LT(sw.ms(), 3000) << name;
  }
}

TEST_F(SocketTest, RcvTimeoRoundTripsAndCanBeCleared) {
  auto [a, b] = socket_pair();
  timeval tv{0, 150000};
  ASSERT_EQ(::setsockopt(a, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  timeval got{};
  socklen_t len = sizeof got;
  ASSERT_EQ(::getsockopt(a, SOL_SOCKET, SO_RCVTIMEO, &got, &len), 0);
  EXPECT_EQ(got.tv_sec, 0);
  EXPECT_GE(got.tv_usec, 149000);  // the kernel keeps it in jiffies
  EXPECT_LE(got.tv_usec, 160000);
  int type = 0;
  len = sizeof type;
  ASSERT_EQ(::getsockopt(a, SOL_SOCKET, SO_TYPE, &type, &len), 0);
  EXPECT_EQ(type, SOCK_STREAM);

  // Cleared, the socket blocks until data comes again.
  tv = {0, 0};
  ASSERT_EQ(::setsockopt(a, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  const int bfd = b;
  Peer peer([bfd] {
    sleep_ms(300);
    write_fully(bfd, "z", 1);
  });
  Stopwatch sw;
  char c = 0;
  EXPECT_EQ(::recv(a, &c, 1, 0), 1);
  EXPECT_GE(sw.ms(), 290);
}

TEST_F(SocketTest, SendTimesOutOnAFullSocket) {
  auto [a, b] = socket_pair();
  ASSERT_GT(fill_socket(a), 0u);
  set_sndtimeo(a, 100);
  for (const auto& [name, call] : std::vector<std::pair<const char*, std::function<long()>>>{
           {"send", [&] { return ::send(a, "x", 1, 0); }},
           {"write", [&] { return ::write(a, "x", 1); }}}) {
    Stopwatch sw;
    const Outcome o = outcome(call);
    EXPECT_EQ(o.r, -1) << name;
    EXPECT_EQ(o.err, EAGAIN) << name;
    EXPECT_GE(sw.ms(), 95) << name;
    EXPECT_LT(sw.ms(), 3000) << name;
  }

  TcpPair t = tcp_pair();
  ASSERT_GT(fill_socket(t.client), 0u);
  set_sndtimeo(t.client, 100);
  Stopwatch sw;
  const Outcome o = outcome([&] { return ::send(t.client, "x", 1, 0); });
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, EAGAIN);
  EXPECT_GE(sw.ms(), 95);
}

// A blocking send that outlives SO_SNDTIMEO after sending something reports the count.
TEST_F(SocketTest, BlockingSendWithSndTimeoReturnsThePartialCount) {
  auto [a, b] = socket_pair();
  set_sndtimeo(a, 100);
  const std::vector<unsigned char> big = pattern(8 * kMiB);
  Stopwatch sw;
  const ssize_t r = ::send(a, big.data(), big.size(), 0);
  EXPECT_GT(r, 0);
  EXPECT_LT(r, static_cast<ssize_t>(big.size()));
  EXPECT_GE(sw.ms(), 95);
  EXPECT_LT(sw.ms(), 3000);
}

TEST_F(SocketTest, NonBlockingWritesStayPartial) {
  const std::vector<unsigned char> big = pattern(8 * kMiB);
  auto [a, b] = socket_pair();
  ASSERT_EQ(::fcntl(a, F_SETFL, ::fcntl(a, F_GETFL) | O_NONBLOCK), 0);
  Stopwatch sw;
  const ssize_t r = ::send(a, big.data(), big.size(), 0);
  EXPECT_GT(r, 0);
  EXPECT_LT(r, static_cast<ssize_t>(big.size()));
  Outcome o = outcome([&] { return ::send(a, big.data(), big.size(), 0); });
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, EAGAIN);
  o = outcome([&] { return ::write(a, big.data(), big.size()); });
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, EAGAIN);

  TcpPair t = tcp_pair();
  int on = 1;
  ASSERT_EQ(::ioctl(t.client, FIONBIO, &on), 0);
  const ssize_t w = ::write(t.client, big.data(), big.size());
  EXPECT_GT(w, 0);
  EXPECT_LT(w, static_cast<ssize_t>(big.size()));
  EXPECT_LT(sw.ms(), 2000);
  // What went out is the start of the stream.
  std::vector<unsigned char> got(static_cast<size_t>(w));
  EXPECT_EQ(read_fully(t.server, got.data(), got.size()), got.size());
  EXPECT_EQ(mismatch(got), -1);
}

// --- 1 MiB transfers ------------------------------------------------------------------

namespace {

// Main sends 1 MiB in one blocking send (a blocking stream send moves everything), the
// peer checks it and sends 1 MiB back, which main reads with recv.
void round_trip_mib(int mine, int theirs) {
  const std::vector<unsigned char> out = pattern(kMiB);
  std::vector<unsigned char> echoed(kMiB);
  bool peer_ok = false;
  {
    Peer peer([&] {
      std::vector<unsigned char> in(kMiB);
      if (read_fully(theirs, in.data(), in.size()) != kMiB || mismatch(in) != -1) return;
      const std::vector<unsigned char> back = pattern(kMiB, 12345);
      peer_ok = write_fully(theirs, back.data(), back.size());
    });
    EXPECT_EQ(::send(mine, out.data(), out.size(), 0), static_cast<ssize_t>(kMiB));
    size_t got = 0;
    while (got < kMiB) {
      const ssize_t r = ::recv(mine, echoed.data() + got, kMiB - got, 0);
      if (r <= 0) {
        ADD_FAILURE() << "recv: " << r << " " << std::strerror(errno);
        break;
      }
      got += static_cast<size_t>(r);
    }
  }
  EXPECT_TRUE(peer_ok) << "the peer did not get the pattern";
  EXPECT_EQ(mismatch(echoed, 12345), -1);
}

}  // namespace

TEST_F(SocketTest, OneMiBOverASocketpair) {
  auto [a, b] = socket_pair();
  round_trip_mib(a, b);
}

TEST_F(SocketTest, OneMiBOverTcpLoopback) {
  TcpPair t = tcp_pair();
  round_trip_mib(t.client, t.server);
}

TEST_F(SocketTest, OneMiBThroughSendmsgAndRecvmsg) {
  auto [a, b] = socket_pair();
  const std::vector<unsigned char> data = pattern(kMiB);
  const int bfd = b;
  bool peer_ok = false;
  Peer peer([&, bfd] {
    std::vector<unsigned char> in(kMiB);
    peer_ok = read_fully(bfd, in.data(), in.size()) == kMiB && mismatch(in) == -1 &&
              write_fully(bfd, in.data(), in.size());
  });
  // Three uneven pieces out, two back in.
  iovec out[3] = {{const_cast<unsigned char*>(data.data()), 1},
                  {const_cast<unsigned char*>(data.data()) + 1, 300001},
                  {const_cast<unsigned char*>(data.data()) + 300002, kMiB - 300002}};
  msghdr msg{};
  msg.msg_iov = out;
  msg.msg_iovlen = 3;
  EXPECT_EQ(::sendmsg(a, &msg, 0), static_cast<ssize_t>(kMiB));
  std::vector<unsigned char> back(kMiB);
  size_t got = 0;
  while (got < kMiB) {
    const size_t half = std::min<size_t>(kMiB - got, 77777);
    iovec in[2] = {{back.data() + got, half}, {back.data() + got + half, kMiB - got - half}};
    msghdr m{};
    m.msg_iov = in;
    m.msg_iovlen = 2;
    const ssize_t r = ::recvmsg(a, &m, 0);
    if (r <= 0) {
      ADD_FAILURE() << "recvmsg: " << r;
      break;
    }
    got += static_cast<size_t>(r);
  }
  peer.join();
  EXPECT_TRUE(peer_ok);
  EXPECT_EQ(mismatch(back), -1);
}

TEST_F(SocketTest, FortifiedRecvWaitsToo) {
  auto [a, b] = socket_pair();
  const int bfd = b;
  Peer peer([bfd] {
    sleep_ms(100);
    write_fully(bfd, "chk", 3);
    sleep_ms(100);
    write_fully(bfd, "chk", 3);
  });
  volatile size_t n = 8;  // not a constant: __recv_chk / __recvfrom_chk
  char buf[16];
  Stopwatch sw;
  EXPECT_EQ(::recv(a, buf, n, 0), 3);
  EXPECT_GE(sw.ms(), 90);
  EXPECT_EQ(::recvfrom(a, buf, n, 0, nullptr, nullptr), 3);
  EXPECT_GE(sw.ms(), 190);
}

// --- MSG_WAITALL, MSG_DONTWAIT -----------------------------------------------------------

TEST_F(SocketTest, MsgWaitallGathersEveryPiece) {
  auto [a, b] = socket_pair();
  const int bfd = b;
  Peer peer([bfd] {
    const std::vector<unsigned char> data = pattern(64 * 1024);
    for (size_t off = 0; off < data.size(); off += 4096) {
      write_fully(bfd, data.data() + off, 4096);
      sleep_ms(5);
    }
  });
  std::vector<unsigned char> in(64 * 1024);
  EXPECT_EQ(::recv(a, in.data(), in.size(), MSG_WAITALL), static_cast<ssize_t>(in.size()));
  EXPECT_EQ(mismatch(in), -1);
}

TEST_F(SocketTest, MsgWaitallStopsAtEof) {
  TcpPair t = tcp_pair();
  Peer peer([fd = t.server.release()] {
    const std::vector<unsigned char> data = pattern(1000);
    write_fully(fd, data.data(), 600);
    sleep_ms(30);
    write_fully(fd, data.data() + 600, 400);
    sleep_ms(30);
    ::close(fd);
  });
  std::vector<unsigned char> in(4096);
  EXPECT_EQ(::recv(t.client, in.data(), in.size(), MSG_WAITALL), 1000);
  EXPECT_EQ(mismatch(in.data(), 1000), -1);
}

// SO_RCVTIMEO bounds a whole MSG_WAITALL call, not each piece of it: once it passes,
// recv returns what it gathered (Linux unix_stream_read_generic / tcp_recvmsg count the
// timeout down across the waits).
TEST_F(SocketTest, MsgWaitallTimeoutBoundsTheWholeCall) {
  auto [a, b] = socket_pair();
  set_rcvtimeo(a, 200);
  const int bfd = b;
  Peer peer([bfd] {
    for (int i = 0; i < 30; ++i) {  // one byte every 40 ms for 1.2 s
      write_fully(bfd, "x", 1);
      sleep_ms(40);
    }
  });
  char buf[1000];
  Stopwatch sw;
  const ssize_t r = ::recv(a, buf, sizeof buf, MSG_WAITALL);
  const double took = sw.ms();
  EXPECT_GE(r, 1);
  EXPECT_LT(r, 30);
  EXPECT_GE(took, 195);
  EXPECT_LT(took, 900) << "SO_RCVTIMEO restarted for each piece of a MSG_WAITALL recv";
}

TEST_F(SocketTest, MsgDontwaitNeverWaits) {
  auto [a, b] = socket_pair();
  set_rcvtimeo(a, 2000);
  char buf[4];
  Stopwatch sw;
  Outcome o = outcome([&] { return ::recv(a, buf, sizeof buf, MSG_DONTWAIT); });
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, EAGAIN);
  o = outcome([&] { return ::recvfrom(a, buf, sizeof buf, MSG_DONTWAIT, nullptr, nullptr); });
  EXPECT_EQ(o.err, EAGAIN);
  ASSERT_GT(fill_socket(a), 0u);
  set_sndtimeo(a, 2000);
  o = outcome([&] { return ::send(a, "x", 1, MSG_DONTWAIT); });
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, EAGAIN);
  EXPECT_LT(sw.ms(), 1000);
  EXPECT_FALSE(has_flag(a, O_NONBLOCK));
}

// --- ancillary data ---------------------------------------------------------------------

TEST_F(SocketTest, SendmsgAndRecvmsgPassFds) {
  auto [a, b] = socket_pair();
  auto [pr, pw] = pipe_pair();
  auto [s0, s1] = socket_pair();
  ASSERT_EQ(send_fds(a, "fds", 3, {pw, s1}), 3);

  char buf[8] = {};
  iovec iov{buf, sizeof buf};
  alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ASSERT_EQ(::recvmsg(b, &msg, 0), 3);
  EXPECT_EQ(msg.msg_flags & MSG_CTRUNC, 0);
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->cmsg_type, SCM_RIGHTS);
  ASSERT_EQ(c->cmsg_len, CMSG_LEN(2 * sizeof(int)));
  int got[2];
  std::memcpy(got, CMSG_DATA(c), sizeof got);
  Fd pipe_w(got[0]), sock(got[1]);

  // The received pipe end writes into our pipe.
  EXPECT_EQ(::write(pipe_w, "p", 1), 1);
  char ch = 0;
  EXPECT_EQ(::read(pr, &ch, 1), 1);
  EXPECT_EQ(ch, 'p');

  // The received socket blocks in the mode it reports, and a later write wakes it.
  EXPECT_FALSE(has_flag(sock, O_NONBLOCK));
  const int s0fd = s0;
  Peer peer([s0fd] {
    sleep_ms(50);
    write_fully(s0fd, "s", 1);
  });
  Stopwatch sw;
  EXPECT_EQ(::read(sock, &ch, 1), 1);
  EXPECT_EQ(ch, 's');
  EXPECT_GE(sw.ms(), 45);
}

// --- datagrams --------------------------------------------------------------------------

TEST_F(SocketTest, UdpSendtoAndRecvfrom) {
  Fd r(::socket(AF_INET, SOCK_DGRAM, 0)), s(::socket(AF_INET, SOCK_DGRAM, 0));
  sockaddr_in any = loopback();
  ASSERT_EQ(::bind(r, reinterpret_cast<sockaddr*>(&any), sizeof any), 0);
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&any), sizeof any), 0);
  const sockaddr_in to = local_addr(r), from_expected = local_addr(s);
  const int sfd = s;
  Peer peer([sfd, to] {
    sleep_ms(50);
    ::sendto(sfd, "datagram", 8, 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
    ::sendto(sfd, "", 0, 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
    ::sendto(sfd, "0123456789", 10, 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
  });
  char buf[64];
  sockaddr_in from{};
  socklen_t flen = sizeof from;
  Stopwatch sw;
  EXPECT_EQ(::recvfrom(r, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &flen), 8);
  EXPECT_GE(sw.ms(), 45);
  EXPECT_EQ(std::memcmp(buf, "datagram", 8), 0);
  EXPECT_EQ(from.sin_port, from_expected.sin_port);
  EXPECT_EQ(from.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
  EXPECT_EQ(::recvfrom(r, buf, sizeof buf, 0, nullptr, nullptr), 0);  // the empty datagram
  EXPECT_EQ(::recv(r, buf, 4, MSG_TRUNC), 10);  // truncated, real length reported
  peer.join();

  set_rcvtimeo(r, 100);
  sw.reset();
  const Outcome o = outcome([&] { return ::recvfrom(r, buf, sizeof buf, 0, nullptr, nullptr); });
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, EAGAIN);
  EXPECT_GE(sw.ms(), 95);

  // A datagram too big for UDP fails whole.
  std::vector<char> huge(70000);
  const Outcome e = outcome([&] {
    return ::sendto(s, huge.data(), huge.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
  });
  EXPECT_EQ(e.r, -1);
  EXPECT_EQ(e.err, EMSGSIZE);
}

// --- shutdown, bad fds ------------------------------------------------------------------

TEST_F(SocketTest, ShutdownWriteGivesThePeerEof) {
  auto [a, b] = socket_pair();
  ASSERT_EQ(::shutdown(a, SHUT_WR), 0);
  char c = 0;
  EXPECT_EQ(::read(b, &c, 1), 0);
  EXPECT_EQ(::write(b, "r", 1), 1);  // the other direction still works
  EXPECT_EQ(::read(a, &c, 1), 1);
  Fd u(::socket(AF_INET, SOCK_STREAM, 0));
  const Outcome o = outcome([&] { return ::shutdown(u, SHUT_RDWR); });
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, ENOTCONN);
}

TEST_F(SocketTest, CallsOnAClosedFdFailWithEbadf) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  ::close(fd);
  char buf[4];
  iovec iov{buf, sizeof buf};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  int v = 1;
  socklen_t len = sizeof v;
  const sockaddr_in a = loopback(htons(9));
  const std::vector<std::pair<const char*, std::function<long()>>> calls = {
      {"recv", [&] { return ::recv(fd, buf, sizeof buf, 0); }},
      {"recvfrom", [&] { return ::recvfrom(fd, buf, sizeof buf, 0, nullptr, nullptr); }},
      {"recvmsg", [&] { return ::recvmsg(fd, &msg, 0); }},
      {"send", [&] { return ::send(fd, buf, sizeof buf, 0); }},
      {"sendto", [&] { return ::sendto(fd, buf, sizeof buf, 0, nullptr, 0); }},
      {"sendmsg", [&] { return ::sendmsg(fd, &msg, 0); }},
      {"accept", [&] { return ::accept(fd, nullptr, nullptr); }},
      {"connect", [&] { return connect_to(fd, a); }},
      {"shutdown", [&] { return ::shutdown(fd, SHUT_RDWR); }},
      {"setsockopt", [&] { return ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof v); }},
      {"getsockopt", [&] { return ::getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &v, &len); }},
  };
  for (const auto& [name, call] : calls) {
    const Outcome o = outcome(call);
    EXPECT_EQ(o.r, -1) << name;
    EXPECT_EQ(o.err, EBADF) << name;
  }
}

// Socket calls on a pipe fail with ENOTSOCK at once, readable or not. Each case has a
// rescue that makes the pipe ready after 1.5 s, so that a call which waits for readiness
// first ends (late) instead of hanging the test.
TEST_F(SocketTest, SocketCallsOnAPipeFailAtOnce) {
  char buf[4];
  const std::vector<std::pair<const char*, std::function<long(int)>>> calls = {
      {"recv", [&](int fd) { return ::recv(fd, buf, sizeof buf, 0); }},
      {"recvfrom", [&](int fd) { return ::recvfrom(fd, buf, sizeof buf, 0, nullptr, nullptr); }},
      {"accept", [&](int fd) { return ::accept(fd, nullptr, nullptr); }},
      {"recv MSG_DONTWAIT", [&](int fd) { return ::recv(fd, buf, sizeof buf, MSG_DONTWAIT); }},
  };
  for (const auto& [name, call] : calls) {
    auto [r, w] = pipe_pair();
    Peer rescue([wfd = w.get()] {
      sleep_ms(1500);
      (void)!::write(wfd, "r", 1);
    });
    Stopwatch sw;
    const Outcome o = outcome([&] { return call(r); });
    EXPECT_EQ(o.r, -1) << name;
    EXPECT_EQ(o.err, ENOTSOCK) << name;
    EXPECT_LT(sw.ms(), 1000) << name << " on an empty pipe waited for data before failing";
  }
  auto [r, w] = pipe_pair();
  const Outcome o = outcome([&] { return ::send(w, "x", 1, 0); });
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, ENOTSOCK);
}

// --- signals ------------------------------------------------------------------------------

// signal(7): a socket call with a timeout (SO_RCVTIMEO) that a handler interrupts fails
// with EINTR even when the handler was installed with SA_RESTART.
TEST_F(SocketTest, RecvWithRcvTimeoIsInterruptedEvenWithSaRestart) {
  ScopedSignal handler(SIGUSR1, count_signal, SA_RESTART);
  signals_caught = 0;
  auto [a, b] = socket_pair();
  set_rcvtimeo(a, 1500);
  char c;
  Stopwatch sw;
  Outcome o{0, 0};
  {
    SignalAfter alarm(SIGUSR1, 100);
    o = outcome([&] { return ::recv(a, &c, 1, 0); });
  }
  EXPECT_EQ(signals_caught, 1);
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, EINTR) << "got " << std::strerror(o.err) << " after " << sw.ms() << " ms";
  EXPECT_LT(sw.ms(), 1000);
}

// --- other holders of the file description -------------------------------------------

// Run as a program without the shim, with a socket as fd 3: says whether the socket looks
// blocking, then reads 5 bytes from it with one blocking read.
SHIM_TEST_CHILD(read_inherited_socket) {
  const int flags = ::fcntl(3, F_GETFL);
  char buf[5] = {};
  const ssize_t n = ::read(3, buf, sizeof buf);
  std::printf("%s %zd %.5s %s", (flags & O_NONBLOCK) ? "nonblocking" : "blocking", n, n > 0 ? buf : "",
              n < 0 ? std::strerror(errno) : "");
  return 0;
}

// The socket's file description belongs to every process that holds it: a program that
// inherits a blocking socket must find it blocking (the shim may not keep its own
// O_NONBLOCK to itself otherwise).
TEST_F(SocketTest, AnInheritedBlockingSocketIsBlockingInTheChild) {
  auto [a, b] = socket_pair();
  const int afd = a;
  Peer writer([afd] {
    sleep_ms(200);
    write_fully(afd, "hello", 5);
  });
  const ChildResult r = run_child("read_inherited_socket", kWithoutShim, {{3, b.get()}});
  EXPECT_TRUE(r.exited_ok()) << r.output;
  EXPECT_EQ(r.output, "blocking 5 hello ");
}

// --- threads ------------------------------------------------------------------------------

// A blocking socket is blocking for every thread of the process, not only the one that
// made it: here another thread reads it before anything was written.
TEST_F(SocketTest, BlockingSocketSharedWithAThreadBlocksThere) {
  auto [a, b] = socket_pair();
  const int bfd = b;
  Outcome seen{0, 0};
  double waited = 0;
  Peer reader([&, bfd] {
    Stopwatch sw;
    char c = 0;
    seen = outcome([&] { return ::read(bfd, &c, 1); });
    waited = sw.ms();
  });
  sleep_ms(100);
  ASSERT_EQ(::write(a, "t", 1), 1);
  reader.join();
  EXPECT_EQ(seen.r, 1) << "the thread's blocking read failed: " << std::strerror(seen.err);
  EXPECT_GE(waited, 90);
}
