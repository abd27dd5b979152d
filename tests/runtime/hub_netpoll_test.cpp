// The netpoller (runtime/hub_netpoll.cpp) on its own: a socket registered once, waiters
// parked on its descriptor, edges that wake them, hang-ups that stay, and unregistering
// that ends every wait.
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>

#include "hub.hpp"
#include "netpoll.hpp"
#include "support.hpp"

using namespace green;
using namespace green_test;
using green::detail::Hub;
using green::detail::PollDesc;
using green::detail::Wake;

namespace {

constexpr int kRead = 1, kWrite = 2;

struct Pair {
  int a = -1, b = -1;
  Pair() {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    a = sv[0];
    b = sv[1];
  }
  ~Pair() {
    if (a >= 0) ::close(a);
    if (b >= 0) ::close(b);
  }
};

// Reads until EAGAIN: the edge-triggered registration raises a new edge only after that.
void drain(int fd) {
  char buf[256];
  while (::recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0) {
  }
}

// PollDescs outlive their registration in the shim's fd table; here, the test's lifetime.
PollDesc& fresh_desc() {
  static PollDesc descs[64];
  static int next = 0;
  return descs[next++ % 64];
}

// Each test has a registered socketpair: `a` in the netpoller, `b` its peer.
class HubNetpoll : public testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(hub.netpoll_register(p.a, pd)); }
  void TearDown() override {
    if (pd.hub != nullptr) hub.netpoll_unregister(p.a, pd);
  }
  // Reads one byte from `a`, waiting as the shim's retry loop does (a wake-up may be a
  // token left by an earlier edge).
  bool read_byte(char& c) {
    while (::recv(p.a, &c, 1, MSG_DONTWAIT) != 1) {
      if (hub.netpoll_wait(pd, kRead, detail::deadline_after(5s)) != Wake::notified) return false;
    }
    return true;
  }
  Hub& hub = Hub::current();
  Pair p;
  PollDesc& pd = fresh_desc();
};

}  // namespace

TEST_F(HubNetpoll, AWaiterWakesWhenDataArrives) {
  GreenletGuard guard;
  auto writer = guard(spawn([&] {
    sleep(20ms);
    ASSERT_EQ(::write(p.b, "x", 1), 1);
  }));
  const auto t0 = Clock::now();
  char c = 0;
  ASSERT_TRUE(read_byte(c));
  EXPECT_EQ(c, 'x');
  EXPECT_GE(ms(since(t0)), 15);
  writer.join();
}

TEST_F(HubNetpoll, TwoReadersOfOneFdBothGetTheirTurn) {
  drain(p.a);
  std::atomic<int> got{0};
  GreenletGuard guard;
  auto reader = [&] {
    char c = 0;
    if (!read_byte(c)) return;
    ++got;
    hub.netpoll_pass(pd, kRead);  // what the shim does after a call that succeeded
  };
  auto r1 = guard(spawn(reader));
  auto r2 = guard(spawn(reader));
  sleep(20ms);  // both parked on the same direction
  EXPECT_EQ(pd.readers.size(), 2u);
  ASSERT_EQ(::write(p.b, "ab", 2), 2);  // one edge, two readers' worth
  r1.join(5s);
  r2.join(5s);
  EXPECT_EQ(got.load(), 2);
}

TEST_F(HubNetpoll, AHangUpStaysSeenAfterTheEdgeIsConsumed) {
  GreenletGuard guard;
  auto closer = guard(spawn([&] {
    sleep(10ms);
    ASSERT_EQ(::write(p.b, "z", 1), 1);
    ::shutdown(p.b, SHUT_WR);
  }));
  char c = 0;
  ASSERT_TRUE(read_byte(c));
  closer.join();
  sleep(10ms);
  // The data's edge carried the FIN: no edge will come again, and none is needed. The
  // wait returns at once, and takes the hang-up with it (were the read to say EAGAIN
  // still, the next wait must park).
  EXPECT_TRUE(pd.rd_closed);
  const auto t0 = Clock::now();
  EXPECT_EQ(hub.netpoll_wait(pd, kRead, detail::deadline_after(2s)), Wake::notified);
  EXPECT_LT(ms(since(t0)), 500);
  EXPECT_FALSE(pd.rd_closed);
  EXPECT_EQ(::recv(p.a, &c, 1, MSG_DONTWAIT), 0);
  hub.netpoll_unregister(p.a, pd);
  EXPECT_FALSE(pd.rd_closed);
}

TEST_F(HubNetpoll, UnregisterWakesEveryWaiterClosed) {
  drain(p.a);
  std::atomic<int> closed{0};
  GreenletGuard guard;
  std::vector<Greenlet<void>> gs;
  for (int i = 0; i < 3; ++i) {
    gs.push_back(guard(spawn([&] {
      Wake w = Wake::notified;
      while (w == Wake::notified) w = hub.netpoll_wait(pd, kRead, detail::deadline_after(5s));
      if (w == Wake::closed) ++closed;
    })));
  }
  sleep(20ms);
  const std::uint32_t gen = pd.generation;
  hub.netpoll_unregister(p.a, pd);
  for (auto& g : gs) g.join(5s);
  EXPECT_EQ(closed.load(), 3);
  EXPECT_EQ(pd.generation, gen + 1);
  EXPECT_EQ(pd.hub, nullptr);
}

TEST_F(HubNetpoll, AWaitTimesOut) {
  drain(p.a);
  Wake w = Wake::notified;
  const auto t0 = Clock::now();
  while (w == Wake::notified) w = hub.netpoll_wait(pd, kRead, detail::deadline_after(30ms));
  EXPECT_EQ(w, Wake::timed_out);
  EXPECT_GE(ms(since(t0)), 25);
}

TEST_F(HubNetpoll, ARegularFileIsRefused) {
  char path[] = "/tmp/green-netpoll-XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::unlink(path);
  PollDesc& file_desc = fresh_desc();
  EXPECT_FALSE(hub.netpoll_register(fd, file_desc));
  EXPECT_EQ(file_desc.hub, nullptr);
  ::close(fd);
}

TEST_F(HubNetpoll, AWriterWaitsForRoom) {
  char chunk[4096] = {};
  while (::send(p.a, chunk, sizeof chunk, MSG_DONTWAIT) > 0) {
  }
  GreenletGuard guard;
  auto reader = guard(spawn([&] {
    sleep(20ms);
    drain(p.b);
  }));
  Wake w = Wake::notified;
  ssize_t sent = -1;
  while ((sent = ::send(p.a, chunk, sizeof chunk, MSG_DONTWAIT)) < 0 && w == Wake::notified) {
    w = hub.netpoll_wait(pd, kWrite, detail::deadline_after(5s));
  }
  EXPECT_GT(sent, 0);
  reader.join();
}
