// The retry loop of every I/O hook (shim/io_wait.hpp) as a program sees it: a read after a
// short read must still see what arrived with the data, above all the peer's FIN.
#include <netinet/tcp.h>

#include <atomic>

#include "support.hpp"

using namespace shim_test;

namespace {

class IoWaitTest : public ShimTest {};

constexpr size_t kPayload = 100;

size_t socket_fds() {
  size_t n = 0;
  for (const auto& e : open_fds()) n += e.second.rfind("socket:", 0) == 0;
  return n;
}

// Reads until EOF in reads of up to 4 KiB; -1 if a read failed (its SO_RCVTIMEO passed).
long read_to_eof(int fd) {
  char buf[4096];
  long total = 0;
  for (;;) {
    const ssize_t r = ::read(fd, buf, sizeof buf);
    if (r == 0) return total;
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    total += r;
  }
}

// One segment carrying both the data and the FIN: cork, write, half-close.
void send_with_fin(int fd) {
  const int one = 1, zero = 0;
  ::setsockopt(fd, IPPROTO_TCP, TCP_CORK, &one, sizeof one);
  char data[kPayload];
  std::memset(data, 'x', sizeof data);
  EXPECT_TRUE(write_fully(fd, data, sizeof data));
  ::shutdown(fd, SHUT_WR);
  ::setsockopt(fd, IPPROTO_TCP, TCP_CORK, &zero, sizeof zero);
}

// Each reader is parked in read() before its peer sends data and FIN together: the wake-up
// for the data is the only readiness edge the connection ever raises.
TEST_F(IoWaitTest, DataAndFinInOneSegmentReachEofOnEveryConnection) {
  constexpr int kClients = 200;
  const size_t fds_before = socket_fds();
  Fd l = tcp_listener(kClients);
  const sockaddr_in where = local_addr(l);
  std::atomic<int> at_eof{0}, failed{0};
  {
    std::vector<std::unique_ptr<Peer>> readers, writers;
    std::vector<Fd> clients(kClients);
    for (int i = 0; i < kClients; ++i) {
      clients[i] = Fd(::socket(AF_INET, SOCK_STREAM, 0));
      ASSERT_EQ(connect_to(clients[i], where), 0) << std::strerror(errno);
      const int s = ::accept(l, nullptr, nullptr);
      ASSERT_GE(s, 0) << std::strerror(errno);
      set_rcvtimeo(s, 5000);  // a lost EOF fails the read instead of hanging the test
      readers.push_back(std::make_unique<Peer>([s, &at_eof, &failed] {
        const long n = read_to_eof(s);
        (n == static_cast<long>(kPayload) ? at_eof : failed)++;
        ::close(s);
      }));
    }
    sleep_ms(100);  // every reader parks first
    for (int i = 0; i < kClients; ++i) {
      writers.push_back(std::make_unique<Peer>([fd = clients[i].get()] { send_with_fin(fd); }));
    }
    writers.clear();
    readers.clear();
  }
  EXPECT_EQ(at_eof.load(), kClients);
  EXPECT_EQ(failed.load(), 0);
  l.reset();
  EXPECT_EQ(socket_fds(), fds_before);
}

// The same with a plain write and shutdown(SHUT_WR), reading in small pieces: every short
// read is followed by another read that must not wait for an edge already seen.
TEST_F(IoWaitTest, ShortReadsThenEofAfterShutdown) {
  TcpPair p = tcp_pair();
  set_rcvtimeo(p.server, 5000);
  long got = -2;
  Peer reader([&] { got = read_to_eof(p.server); });
  sleep_ms(50);
  char data[3000];
  std::memset(data, 'y', sizeof data);
  ASSERT_TRUE(write_fully(p.client, data, sizeof data));
  ::shutdown(p.client, SHUT_WR);
  reader.join();
  EXPECT_EQ(got, static_cast<long>(sizeof data));
}

// A connection reset while its reader is parked: the read reports the error, it does not
// wait for another edge.
TEST_F(IoWaitTest, ResetAfterDataIsReported) {
  TcpPair p = tcp_pair();
  set_rcvtimeo(p.server, 5000);
  long first = -2;
  ssize_t second = -2;
  int second_err = 0;
  Peer reader([&] {
    char buf[4096];
    first = ::read(p.server, buf, sizeof buf);
    second = ::read(p.server, buf, sizeof buf);
    second_err = errno;
  });
  sleep_ms(50);
  const linger lg{1, 0};  // close() sends RST
  ::setsockopt(p.client, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  ASSERT_EQ(::write(p.client, "abc", 3), 3);
  sleep_ms(20);
  p.client.reset();
  reader.join();
  EXPECT_EQ(first, 3);
  EXPECT_EQ(second, -1);
  EXPECT_EQ(second_err, ECONNRESET);
}

// An unconnected TCP socket reports a hang-up: if the hub looks at it then (here, during a
// sleep between socket() and listen()), that must not make every later wait on it return
// at once (a spin that would starve the other threads).
TEST_F(IoWaitTest, AHangUpSeenBeforeListenDoesNotMakeAcceptSpin) {
  Fd l(::socket(AF_INET, SOCK_STREAM, 0));
  sleep_ms(5);
  sockaddr_in a = loopback();
  ASSERT_EQ(::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(l, 8), 0);
  const sockaddr_in where = local_addr(l);
  std::atomic<int> ticks{0};
  std::atomic<bool> stop{false};
  Peer ticker([&] {
    while (!stop) {
      sleep_ms(2);
      ++ticks;
    }
  });
  Peer client([&] {
    sleep_ms(150);
    Fd c(::socket(AF_INET, SOCK_STREAM, 0));
    EXPECT_EQ(connect_to(c, where), 0) << std::strerror(errno);
  });
  const double cpu0 = cpu_ms();
  Stopwatch sw;
  Fd s(::accept(l, nullptr, nullptr));
  EXPECT_GE(s.get(), 0) << std::strerror(errno);
  EXPECT_GE(sw.ms(), 100);
  EXPECT_LT(cpu_ms() - cpu0, 80) << "accept spun";
  client.join();
  stop = true;
  ticker.join();
  EXPECT_GE(ticks.load(), 20) << "the other threads did not run during accept";
}

// The same for a socket that pauses before connect(): the connect and the read after it
// wait for the server, which answers late.
TEST_F(IoWaitTest, AHangUpSeenBeforeConnectDoesNotMakeReadSpin) {
  Fd l = tcp_listener();
  const sockaddr_in where = local_addr(l);
  Peer server([&] {
    Fd s(::accept(l, nullptr, nullptr));
    sleep_ms(150);
    EXPECT_TRUE(write_fully(s, "late", 4));
  });
  Fd c(::socket(AF_INET, SOCK_STREAM, 0));
  sleep_ms(5);
  ASSERT_EQ(connect_to(c, where), 0) << std::strerror(errno);
  const double cpu0 = cpu_ms();
  char buf[8] = {};
  EXPECT_EQ(::read(c, buf, sizeof buf), 4);
  EXPECT_EQ(std::string(buf, 4), "late");
  EXPECT_LT(cpu_ms() - cpu0, 80) << "read spun";
  server.join();
}

// A non-blocking connect's progress as the program sees it, after a pause before connect:
// a connect that returns 0 has really connected (getpeername works).
TEST_F(IoWaitTest, ConnectReturnsOnlyOnceConnected) {
  Fd l = tcp_listener();
  const sockaddr_in where = local_addr(l);
  for (int i = 0; i < 20; ++i) {
    Fd c(::socket(AF_INET, SOCK_STREAM, 0));
    sleep_ms(1);
    ASSERT_EQ(connect_to(c, where), 0) << std::strerror(errno);
    sockaddr_in peer{};
    socklen_t len = sizeof peer;
    EXPECT_EQ(::getpeername(c, reinterpret_cast<sockaddr*>(&peer), &len), 0) << std::strerror(errno);
    Fd s(::accept(l, nullptr, nullptr));
    EXPECT_GE(s.get(), 0);
  }
}

}  // namespace
