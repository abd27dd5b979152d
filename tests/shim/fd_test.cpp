// shim/fd.cpp, as a plain POSIX program: read/write/readv/writev on sockets, pipes,
// regular files and devices; close, dup/dup2/dup3, pipe/pipe2, fcntl (F_GETFL/F_SETFL,
// F_DUPFD) and ioctl(FIONBIO). Runs without the shim and under LD_PRELOAD; peers are
// threads.
//
// Built with _FORTIFY_SOURCE, so that reads into buffers of known size go through
// __read_chk, which the shim hooks too.
#ifndef _FORTIFY_SOURCE
#define _FORTIFY_SOURCE 2
#endif

#include <sys/eventfd.h>
#include <sys/sendfile.h>
#include <sys/uio.h>

#include <climits>

#include "support.hpp"

using namespace shim_test;

namespace {

class FdTest : public ShimTest {};

Fd temp_file() {
  char path[] = "/tmp/greenshim-fd-test-XXXXXX";
  Fd f(::mkstemp(path));
  ::unlink(path);
  return f;
}

// Sets or clears O_NONBLOCK through F_GETFL/F_SETFL, as a program does.
void set_nonblock(int fd, bool on) {
  const int flags = ::fcntl(fd, F_GETFL);
  ASSERT_GE(flags, 0);
  ASSERT_EQ(::fcntl(fd, F_SETFL, on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK)), 0);
}

}  // namespace

// --- blocking reads ---------------------------------------------------------------------

// read(fd, buf, 0) is answered at once, whatever the fd holds: 0 on an empty socket.
TEST_F(FdTest, AZeroLengthReadReturnsAtOnce) {
  auto [a, b] = socket_pair();
  char c;
  EXPECT_EQ(::read(a, &c, 0), 0);
  iovec none{&c, 0};
  EXPECT_EQ(::readv(a, &none, 1), 0);
  auto [r, w] = pipe_pair();
  EXPECT_EQ(::read(r, &c, 0), 0);
}

TEST_F(FdTest, PipeReadWaitsForAWrite) {
  auto [r, w] = pipe_pair();
  const int wfd = w;
  Peer peer([wfd] {
    sleep_ms(100);
    write_fully(wfd, "pipe", 4);
  });
  Stopwatch sw;
  char buf[16];
  EXPECT_EQ(::read(r, buf, sizeof buf), 4);
  EXPECT_GE(sw.ms(), 90);
  EXPECT_EQ(std::memcmp(buf, "pipe", 4), 0);
  // Pipes are shared with other processes: their real flag is left alone.
  EXPECT_EQ(kernel_flags(r) & O_NONBLOCK, 0);
  EXPECT_EQ(kernel_flags(w) & O_NONBLOCK, 0);
  if (shim_expected()) {
    EXPECT_TRUE(has_eventpoll()) << "no hub loop after a blocking read";
  }
}

TEST_F(FdTest, SocketReadAndReadvWaitForAWrite) {
  auto [a, b] = socket_pair();
  const int bfd = b;
  Peer peer([bfd] {
    sleep_ms(100);
    write_fully(bfd, "one", 3);
    sleep_ms(100);
    write_fully(bfd, "two!", 4);
  });
  Stopwatch sw;
  char buf[16];
  EXPECT_EQ(::read(a, buf, sizeof buf), 3);
  EXPECT_GE(sw.ms(), 90);
  char x[2], y[8];
  iovec iov[2] = {{x, sizeof x}, {y, sizeof y}};
  EXPECT_EQ(::readv(a, iov, 2), 4);
  EXPECT_GE(sw.ms(), 190);
  EXPECT_EQ(std::memcmp(x, "tw", 2), 0);
  EXPECT_EQ(std::memcmp(y, "o!", 2), 0);
}

TEST_F(FdTest, ReadReturnsZeroAtEof) {
  auto [r, w] = pipe_pair();
  Peer closer([fd = w.release()] {
    sleep_ms(50);
    ::close(fd);
  });
  char buf[4];
  EXPECT_EQ(::read(r, buf, sizeof buf), 0);
  iovec iov{buf, sizeof buf};
  EXPECT_EQ(::readv(r, &iov, 1), 0);
  auto [a, b] = socket_pair();
  b.reset();
  EXPECT_EQ(::read(a, buf, sizeof buf), 0);
  EXPECT_EQ(::readv(a, &iov, 1), 0);
}

// An eventfd is neither socket nor pipe, yet a read on it blocks like one: the peer must
// be able to run meanwhile. The rescue, a signal after 1.5 s, interrupts a read that
// blocked the whole process instead of waiting cooperatively (it cannot hang the test).
TEST_F(FdTest, EventfdReadWaitsForAWrite) {
  ScopedSignal handler(SIGUSR2, count_signal, 0);
  Fd e(::eventfd(0, 0));
  ASSERT_GE(e, 0);
  const int efd = e;
  Peer peer([efd] {
    sleep_ms(100);
    const uint64_t seven = 7;
    (void)!::write(efd, &seven, sizeof seven);
  });
  uint64_t v = 0;
  Stopwatch sw;
  Outcome o{0, 0};
  {
    SignalAfter rescue(SIGUSR2, 1500);
    o = outcome([&] { return ::read(e, &v, sizeof v); });
  }
  EXPECT_EQ(o.r, 8) << std::strerror(o.err) << " after " << sw.ms() << " ms: the peer never ran";
  EXPECT_EQ(v, 7u);
  EXPECT_GE(sw.ms(), 90);
  EXPECT_LT(sw.ms(), 1000);
}

TEST_F(FdTest, RegularFilesAndDevicesNeverWait) {
  Fd f = temp_file();
  const std::vector<unsigned char> data = pattern(100000);
  Stopwatch sw;
  ASSERT_EQ(::write(f, data.data(), 60000), 60000);
  iovec out[2] = {{const_cast<unsigned char*>(data.data()) + 60000, 10000},
                  {const_cast<unsigned char*>(data.data()) + 70000, 30000}};
  ASSERT_EQ(::writev(f, out, 2), 40000);
  ASSERT_EQ(::lseek(f, 0, SEEK_SET), 0);
  std::vector<unsigned char> in(100000);
  iovec iv[2] = {{in.data(), 12345}, {in.data() + 12345, in.size() - 12345}};
  EXPECT_EQ(::readv(f, iv, 2), 100000);
  EXPECT_EQ(mismatch(in), -1);
  char buf[16];
  EXPECT_EQ(::read(f, buf, sizeof buf), 0);  // end of file
  EXPECT_EQ(kernel_flags(f) & O_NONBLOCK, 0);

  Fd null(::open("/dev/null", O_RDWR)), zero(::open("/dev/zero", O_RDONLY));
  EXPECT_EQ(::read(null, buf, sizeof buf), 0);
  EXPECT_EQ(::write(null, buf, sizeof buf), static_cast<ssize_t>(sizeof buf));
  std::memset(buf, 1, sizeof buf);
  EXPECT_EQ(::read(zero, buf, sizeof buf), static_cast<ssize_t>(sizeof buf));
  EXPECT_EQ(buf[0] | buf[15], 0);
  EXPECT_LT(sw.ms(), 2000);
}

// With _FORTIFY_SOURCE, a read whose length the compiler cannot check calls __read_chk.
TEST_F(FdTest, FortifiedReadWaitsToo) {
  auto [a, b] = socket_pair();
  const int bfd = b;
  Peer peer([bfd] {
    sleep_ms(100);
    write_fully(bfd, "chk", 3);
  });
  volatile size_t n = 8;  // not a constant: read() becomes __read_chk(fd, buf, n, 16)
  char buf[16];
  Stopwatch sw;
  EXPECT_EQ(::read(a, buf, n), 3);
  EXPECT_GE(sw.ms(), 90);
}

// --- errors -------------------------------------------------------------------------

TEST_F(FdTest, CallsOnAClosedFdFailWithEbadf) {
  auto [a, b] = socket_pair();
  auto [r, w] = pipe_pair();
  for (int fd : {a.release(), r.release(), ::open("/dev/null", O_RDONLY)}) {
    ASSERT_EQ(::close(fd), 0);
    char buf[4];
    iovec iov{buf, sizeof buf};
    int on = 1;
    const std::vector<std::pair<const char*, std::function<long()>>> calls = {
        {"read", [&] { return ::read(fd, buf, sizeof buf); }},
        {"write", [&] { return ::write(fd, buf, sizeof buf); }},
        {"readv", [&] { return ::readv(fd, &iov, 1); }},
        {"writev", [&] { return ::writev(fd, &iov, 1); }},
        {"close", [&] { return ::close(fd); }},
        {"dup", [&] { return ::dup(fd); }},
        {"dup2", [&] { return ::dup2(fd, 1000); }},
        {"dup3", [&] { return ::dup3(fd, 1000, O_CLOEXEC); }},
        {"fcntl F_GETFL", [&] { return ::fcntl(fd, F_GETFL); }},
        {"fcntl F_SETFL", [&] { return ::fcntl(fd, F_SETFL, O_NONBLOCK); }},
        {"fcntl F_DUPFD", [&] { return ::fcntl(fd, F_DUPFD, 0); }},
        {"ioctl FIONBIO", [&] { return ::ioctl(fd, FIONBIO, &on); }},
    };
    for (const auto& [name, call] : calls) {
      const Outcome o = outcome(call);
      EXPECT_EQ(o.r, -1) << name << " on fd " << fd;
      EXPECT_EQ(o.err, EBADF) << name << " on fd " << fd;
    }
  }
  const Outcome o = outcome([] { return ::close(-1); });
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, EBADF);
}

// A pipe end used the wrong way round fails with EBADF at once. The rescue makes the fd
// "ready" after 1.5 s (by closing the other end), so that a call which waits for
// readiness first ends late instead of hanging the test.
TEST_F(FdTest, WrongPipeEndFailsAtOnce) {
  {
    auto [r, w] = pipe_pair();
    Peer rescue([fd = r.release()] {
      sleep_ms(1500);
      ::close(fd);
    });
    char c;
    Stopwatch sw;
    const Outcome o = outcome([&] { return ::read(w, &c, 1); });
    EXPECT_EQ(o.r, -1);
    EXPECT_EQ(o.err, EBADF);
    EXPECT_LT(sw.ms(), 1000) << "read on a pipe's write end waited before failing";
  }
  {
    auto [r, w] = pipe_pair();
    Peer rescue([fd = w.release()] {
      sleep_ms(1500);
      ::close(fd);
    });
    Stopwatch sw;
    const Outcome o = outcome([&] { return ::write(r, "x", 1); });
    EXPECT_EQ(o.r, -1);
    EXPECT_EQ(o.err, EBADF);
    EXPECT_LT(sw.ms(), 1000) << "write on a pipe's read end waited before failing";
  }
}

TEST_F(FdTest, WriteToAPipeWithoutReaderRaisesSigpipe) {
  ScopedSignal handler(SIGPIPE, count_signal);
  signals_caught = 0;
  auto [r, w] = pipe_pair();
  r.reset();
  Outcome o = outcome([&] { return ::write(w, "x", 1); });
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, EPIPE);
  EXPECT_EQ(signals_caught, 1);
  iovec iov{const_cast<char*>("xy"), 2};
  o = outcome([&] { return ::writev(w, &iov, 1); });
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, EPIPE);
  EXPECT_EQ(signals_caught, 2);
  {
    ScopedSignal ignore(SIGPIPE, SIG_IGN);
    o = outcome([&] { return ::write(w, "x", 1); });
    EXPECT_EQ(o.err, EPIPE);
    EXPECT_EQ(signals_caught, 2);
  }
  // A socket whose peer is gone: write() has no MSG_NOSIGNAL, so SIGPIPE comes too.
  auto [a, b] = socket_pair();
  b.reset();
  o = outcome([&] { return ::write(a, "x", 1); });
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, EPIPE);
  EXPECT_EQ(signals_caught, 3);
}

TEST_F(FdTest, WritevRejectsBadCounts) {
  auto [a, b] = socket_pair();
  iovec iov{const_cast<char*>("x"), 1};
  volatile int minus_one = -1;  // hidden from _FORTIFY_SOURCE's compile-time check
  Outcome o = outcome([&] { return ::writev(a, &iov, minus_one); });
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, EINVAL);
  std::vector<iovec> many(IOV_MAX + 1, iov);
  o = outcome([&] { return ::writev(a, many.data(), IOV_MAX + 1); });
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, EINVAL);
  o = outcome([&] { return ::readv(a, many.data(), IOV_MAX + 1); });
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, EINVAL);
  EXPECT_EQ(::writev(a, &iov, 0), 0);
  EXPECT_EQ(::write(a, "", 0), 0);
}

// --- 1 MiB transfers ------------------------------------------------------------------

namespace {

// Main writes 1 MiB with one blocking writev of uneven pieces (blocking writes are
// complete), the peer checks it and writes 1 MiB back, which main gathers with readv.
void vector_round_trip(int mine, int theirs) {
  const std::vector<unsigned char> out = pattern(kMiB);
  bool peer_ok = false;
  std::vector<unsigned char> back(kMiB);
  {
    Peer peer([&] {
      std::vector<unsigned char> in(kMiB);
      if (read_fully(theirs, in.data(), in.size()) != kMiB || mismatch(in) != -1) return;
      const std::vector<unsigned char> reply = pattern(kMiB, 777);
      peer_ok = write_fully(theirs, reply.data(), reply.size());
    });
    unsigned char* p = const_cast<unsigned char*>(out.data());
    iovec iov[3] = {{p, 3}, {p + 3, 500000}, {p + 500003, kMiB - 500003}};
    EXPECT_EQ(::writev(mine, iov, 3), static_cast<ssize_t>(kMiB));
    size_t got = 0;
    while (got < kMiB) {
      const size_t left = kMiB - got, q = left / 4;
      iovec in[4] = {{back.data() + got, q},
                     {back.data() + got + q, q},
                     {back.data() + got + 2 * q, q},
                     {back.data() + got + 3 * q, left - 3 * q}};
      const ssize_t r = ::readv(mine, in, 4);
      if (r <= 0) {
        ADD_FAILURE() << "readv: " << r << " " << std::strerror(errno);
        break;
      }
      got += static_cast<size_t>(r);
    }
  }
  EXPECT_TRUE(peer_ok) << "the peer did not get the pattern";
  EXPECT_EQ(mismatch(back, 777), -1);
}

}  // namespace

TEST_F(FdTest, OneMiBWritevReadvOverASocketpair) {
  auto [a, b] = socket_pair();
  vector_round_trip(a, b);
}

TEST_F(FdTest, OneMiBWritevReadvOverTcpLoopback) {
  TcpPair t = tcp_pair();
  vector_round_trip(t.server, t.client);
}

TEST_F(FdTest, OneMiBThroughAPipe) {
  auto [r, w] = pipe_pair();
  auto [r2, w2] = pipe_pair();
  const std::vector<unsigned char> out = pattern(kMiB);
  bool peer_ok = false;
  const int rfd = r, w2fd = w2;
  Peer peer([&, rfd, w2fd] {
    std::vector<unsigned char> in(kMiB);
    if (read_fully(rfd, in.data(), in.size()) != kMiB || mismatch(in) != -1) return;
    peer_ok = write_fully(w2fd, in.data(), in.size());
  });
  EXPECT_EQ(::write(w, out.data(), out.size()), static_cast<ssize_t>(kMiB));
  std::vector<unsigned char> back(kMiB);
  size_t got = 0;
  while (got < kMiB) {
    const ssize_t n = ::read(r2, back.data() + got, kMiB - got);
    if (n <= 0) {
      ADD_FAILURE() << "read: " << n;
      break;
    }
    got += static_cast<size_t>(n);
  }
  peer.join();
  EXPECT_TRUE(peer_ok);
  EXPECT_EQ(mismatch(back), -1);
}

// --- the program's own O_NONBLOCK ---------------------------------------------------------

TEST_F(FdTest, FcntlNonblockOnASocket) {
  auto [a, b] = socket_pair();
  const int before = ::fcntl(a, F_GETFL);
  ASSERT_GE(before, 0);
  EXPECT_EQ(before & O_NONBLOCK, 0);
  ASSERT_EQ(::fcntl(a, F_SETFL, before | O_NONBLOCK), 0);
  EXPECT_EQ(::fcntl(a, F_GETFL), before | O_NONBLOCK);  // exactly what was set
  EXPECT_EQ(::fcntl64(a, F_GETFL), before | O_NONBLOCK);
  set_rcvtimeo(a, 2000);  // the safety net, were the read to block
  char c;
  Stopwatch sw;
  Outcome o = outcome([&] { return ::read(a, &c, 1); });
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, EAGAIN);
  EXPECT_LT(sw.ms(), 1000);

  ASSERT_EQ(::fcntl(a, F_SETFL, before), 0);
  EXPECT_EQ(::fcntl(a, F_GETFL), before);
  EXPECT_EQ(::fcntl64(a, F_GETFL), before);
  set_rcvtimeo(a, 100);  // blocking again: the read waits for the timeout
  sw.reset();
  o = outcome([&] { return ::read(a, &c, 1); });
  EXPECT_EQ(o.err, EAGAIN);
  EXPECT_GE(sw.ms(), 95);

  ASSERT_EQ(::fcntl64(a, F_SETFL, before | O_NONBLOCK), 0);
  EXPECT_EQ(::fcntl(a, F_GETFL), before | O_NONBLOCK);
}

TEST_F(FdTest, IoctlFionbioOnASocket) {
  auto [a, b] = socket_pair();
  const int before = ::fcntl(a, F_GETFL);
  int on = 1;
  ASSERT_EQ(::ioctl(a, FIONBIO, &on), 0);
  EXPECT_EQ(::fcntl(a, F_GETFL), before | O_NONBLOCK);
  set_rcvtimeo(a, 2000);
  char c;
  Stopwatch sw;
  const Outcome o = outcome([&] { return ::read(a, &c, 1); });
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, EAGAIN);
  EXPECT_LT(sw.ms(), 1000);
  int off = 0;
  ASSERT_EQ(::ioctl(a, FIONBIO, &off), 0);
  EXPECT_EQ(::fcntl(a, F_GETFL), before);
  // Other ioctls pass through.
  ASSERT_EQ(::write(b, "12345", 5), 5);
  int avail = 0;
  ASSERT_EQ(::ioctl(a, FIONREAD, &avail), 0);
  EXPECT_EQ(avail, 5);
}

TEST_F(FdTest, NonblockOnAPipe) {
  auto [r, w] = pipe_pair(O_NONBLOCK);
  EXPECT_EQ(::fcntl(r, F_GETFL), O_RDONLY | O_NONBLOCK);
  EXPECT_EQ(::fcntl(w, F_GETFL), O_WRONLY | O_NONBLOCK);
  char buf[4096];
  Stopwatch sw;
  Outcome o = outcome([&] { return ::read(r, buf, sizeof buf); });
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, EAGAIN);
  // Writes stay partial, then EAGAIN, once the pipe is full.
  std::vector<char> big(1 << 20, 'p');
  const ssize_t n = ::write(w, big.data(), big.size());
  EXPECT_GT(n, 0);
  EXPECT_LT(n, static_cast<ssize_t>(big.size()));
  o = outcome([&] { return ::write(w, big.data(), big.size()); });
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, EAGAIN);
  EXPECT_LT(sw.ms(), 1000);

  set_nonblock(r, false);
  EXPECT_EQ(::fcntl(r, F_GETFL), O_RDONLY);
  EXPECT_EQ(kernel_flags(r) & O_NONBLOCK, 0);  // a pipe's real flag is the program's
  int on = 1;
  ASSERT_EQ(::ioctl(r, FIONBIO, &on), 0);
  EXPECT_EQ(::fcntl(r, F_GETFL), O_RDONLY | O_NONBLOCK);
  size_t drained = 0;
  while ((o = outcome([&] { return ::read(r, buf, sizeof buf); })).r > 0) drained += static_cast<size_t>(o.r);
  EXPECT_EQ(drained, static_cast<size_t>(n));
  EXPECT_EQ(o.err, EAGAIN);
}

TEST_F(FdTest, PipeAndPipe2Flags) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  Fd r(p[0]), w(p[1]);
  EXPECT_EQ(::fcntl(r, F_GETFL), O_RDONLY);
  EXPECT_EQ(::fcntl(w, F_GETFL), O_WRONLY);
  EXPECT_EQ(::fcntl(r, F_GETFD), 0);
  auto [cr, cw] = pipe_pair(O_CLOEXEC);
  EXPECT_EQ(::fcntl(cr, F_GETFD), FD_CLOEXEC);
  EXPECT_EQ(::fcntl(cw, F_GETFD), FD_CLOEXEC);
  EXPECT_EQ(::fcntl(cr, F_GETFL), O_RDONLY);
  auto [nr, nw] = pipe_pair(O_CLOEXEC | O_NONBLOCK);
  EXPECT_EQ(::fcntl(nr, F_GETFD), FD_CLOEXEC);
  EXPECT_EQ(::fcntl(nr, F_GETFL), O_RDONLY | O_NONBLOCK);
  EXPECT_EQ(kernel_flags(nr) & O_NONBLOCK, O_NONBLOCK);
  int bad[2];
  const Outcome o = outcome([&] { return ::pipe2(bad, 0x7fff0000); });
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, EINVAL);
}

// --- dup ----------------------------------------------------------------------------

TEST_F(FdTest, DupsKeepWorking) {
  auto [a, b] = socket_pair();
  Fd d(::dup(a));
  ASSERT_GE(d, 0);
  EXPECT_FALSE(has_flag(d, O_NONBLOCK));
  EXPECT_EQ(::write(d, "d", 1), 1);
  char c = 0;
  EXPECT_EQ(::read(b, &c, 1), 1);

  // The original goes; the dup still blocks and wakes.
  a.reset();
  const int bfd = b;
  Peer peer([bfd] {
    sleep_ms(100);
    write_fully(bfd, "e", 1);
  });
  Stopwatch sw;
  EXPECT_EQ(::read(d, &c, 1), 1);
  EXPECT_EQ(c, 'e');
  EXPECT_GE(sw.ms(), 90);
  peer.join();

  // dup2 onto an open pipe end replaces it; dup3 can set close-on-exec.
  auto [pr, pw] = pipe_pair();
  ASSERT_EQ(::dup2(d, pr), pr.get());
  EXPECT_FALSE(has_flag(pr, O_NONBLOCK));
  EXPECT_EQ(::write(b, "f", 1), 1);
  EXPECT_EQ(::read(pr, &c, 1), 1);  // the socket now, not the pipe
  EXPECT_EQ(c, 'f');
  EXPECT_EQ(::dup2(d, d), d.get());
  ASSERT_EQ(::dup3(d, pw, O_CLOEXEC), pw.get());
  EXPECT_EQ(::fcntl(pw, F_GETFD), FD_CLOEXEC);
  EXPECT_EQ(::write(pw, "g", 1), 1);
  EXPECT_EQ(::read(b, &c, 1), 1);
  EXPECT_EQ(c, 'g');
  const Outcome o = outcome([&] { return ::dup3(d, d, 0); });
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, EINVAL);

  Fd f(::fcntl(d, F_DUPFD, 100)), fc(::fcntl(d, F_DUPFD_CLOEXEC, 100));
  EXPECT_GE(f, 100);
  EXPECT_GE(fc, 100);
  EXPECT_EQ(::fcntl(fc, F_GETFD), FD_CLOEXEC);
  EXPECT_FALSE(has_flag(f, O_NONBLOCK));
  EXPECT_EQ(::write(f, "h", 1), 1);
  EXPECT_EQ(::read(b, &c, 1), 1);
  set_rcvtimeo(f, 100);
  sw.reset();
  const Outcome t = outcome([&] { return ::read(f, &c, 1); });
  EXPECT_EQ(t.err, EAGAIN);
  EXPECT_GE(sw.ms(), 95);
}

// O_NONBLOCK is a file status flag: every fd that shares the file description sees it
// (fcntl(2), "File status flags").
TEST_F(FdTest, DupsShareTheNonblockFlag) {
  auto [a, b] = socket_pair();
  set_rcvtimeo(a, 1000);  // the safety net, copied to the dups
  Fd d(::dup(a)), d2(::fcntl(a, F_DUPFD, 0)), d3(::dup(a));
  set_nonblock(a, true);
  for (int fd : {d.get(), d2.get(), d3.get()}) {
    EXPECT_TRUE(has_flag(fd, O_NONBLOCK)) << "fd " << fd;
    char c;
    Stopwatch sw;
    const Outcome o = outcome([&] { return ::read(fd, &c, 1); });
    EXPECT_EQ(o.r, -1);
    EXPECT_EQ(o.err, EAGAIN);
    EXPECT_LT(sw.ms(), 500) << "a read on fd " << fd << " (non-blocking through a dup) waited";
  }
  int off = 0;
  ASSERT_EQ(::ioctl(d3, FIONBIO, &off), 0);
  EXPECT_FALSE(has_flag(a, O_NONBLOCK));
}

// Socket options belong to the socket, whichever fd set them.
TEST_F(FdTest, DupsShareSocketTimeouts) {
  auto [a, b] = socket_pair();
  Fd d(::dup(a));
  set_rcvtimeo(a, 100);
  const int bfd = b;
  Peer rescue([bfd] {  // ends the read late, should the timeout not apply
    sleep_ms(1500);
    write_fully(bfd, "r", 1);
  });
  char c;
  Stopwatch sw;
  const Outcome o = outcome([&] { return ::read(d, &c, 1); });
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, EAGAIN);
  EXPECT_GE(sw.ms(), 95);
  EXPECT_LT(sw.ms(), 1000) << "SO_RCVTIMEO set through one fd was ignored through its dup";
}

// --- close and reuse ----------------------------------------------------------------------

// An fd number closed while still registered (its file kept open by a dup) and reused at
// once for a new socket: readiness of the old file must not wake the new one, and
// waiting must not spin.
TEST_F(FdTest, ReusedFdNumberGetsNoStaleWakeup) {
  auto [a, b] = socket_pair();
  set_rcvtimeo(a, 30);
  char c;
  EXPECT_EQ(::read(a, &c, 1), -1);  // a wait on `a` came and went
  Fd keep(::dup(a));
  const int old_number = a.release();
  ::close(old_number);
  auto [x, y] = socket_pair();
  EXPECT_EQ(x.get(), old_number) << "the kernel did not reuse the number; the test proves less";
  ASSERT_EQ(::write(b, "old", 3), 3);  // the old file is readable from now on
  set_rcvtimeo(x, 200);
  Stopwatch sw;
  const double cpu0 = cpu_ms();
  const Outcome o = outcome([&] { return ::read(x, &c, 1); });
  const double waited = sw.ms(), cpu = cpu_ms() - cpu0;
  EXPECT_EQ(o.r, -1);
  EXPECT_EQ(o.err, EAGAIN);
  EXPECT_GE(waited, 195);
  EXPECT_LT(cpu, waited / 4) << "spun for " << cpu << " ms of " << waited;
  ASSERT_EQ(::write(y, "new", 3), 3);
  char buf[8];
  EXPECT_EQ(::read(x, buf, sizeof buf), 3);
  EXPECT_EQ(std::memcmp(buf, "new", 3), 0);
  EXPECT_EQ(::read(keep, buf, sizeof buf), 3);
  EXPECT_EQ(std::memcmp(buf, "old", 3), 0);
}

// --- signals ------------------------------------------------------------------------------

// A handler installed without SA_RESTART interrupts a blocking read: -1/EINTR
// (signal(7), "Interruption of system calls and library functions by signal handlers").
TEST_F(FdTest, ReadInterruptedByASignalFailsWithEintr) {
  ScopedSignal handler(SIGUSR1, count_signal, 0);
  signals_caught = 0;
  auto [a, b] = socket_pair();
  auto [r, w] = pipe_pair();
  for (int fd : {a.get(), r.get()}) {
    const int wake = fd == a.get() ? b.get() : w.get();
    Peer rescue([wake] {  // ends the read late, should the signal not interrupt it
      sleep_ms(1200);
      write_fully(wake, "r", 1);
    });
    char c;
    Stopwatch sw;
    Outcome o{0, 0};
    {
      SignalAfter interrupt(SIGUSR1, 100);
      o = outcome([&] { return ::read(fd, &c, 1); });
    }
    EXPECT_EQ(o.r, -1) << "fd " << fd;
    EXPECT_EQ(o.err, EINTR) << "fd " << fd;
    EXPECT_LT(sw.ms(), 900) << "fd " << fd;
    rescue.join();
    if (o.r != 1) {
      EXPECT_EQ(::read(fd, &c, 1), 1);  // the rescue's byte
    }
  }
  EXPECT_EQ(signals_caught, 2);
}

TEST_F(FdTest, ReadRestartsAfterAnSaRestartHandler) {
  ScopedSignal handler(SIGUSR1, count_signal, SA_RESTART);
  signals_caught = 0;
  auto [a, b] = socket_pair();
  const int bfd = b;
  Peer writer([bfd] {
    sleep_ms(300);
    write_fully(bfd, "s", 1);
  });
  char c = 0;
  Stopwatch sw;
  SignalAfter interrupt(SIGUSR1, 100);
  EXPECT_EQ(::read(a, &c, 1), 1);
  EXPECT_EQ(c, 's');
  EXPECT_GE(sw.ms(), 290);
  EXPECT_EQ(signals_caught, 1);
}

// sendfile() of a file larger than a socket's buffer to a peer that reads slowly: the
// sender waits for room (other threads run meanwhile) and every byte arrives in order.
TEST_F(FdTest, SendfileToASocketWaitsForRoom) {
  char path[] = "/tmp/greenshim_sendfile_XXXXXX";
  const int file = ::mkstemp(path);
  ASSERT_GE(file, 0);
  ::unlink(path);
  constexpr size_t kSize = 4 << 20;
  std::vector<unsigned char> data(kSize);
  for (size_t i = 0; i < kSize; ++i) data[i] = static_cast<unsigned char>(i * 7 + i / 4096);
  ASSERT_TRUE(write_fully(file, data.data(), kSize));
  auto [a, b] = socket_pair();
  const int bfd = b;
  std::vector<unsigned char> got;
  Peer reader([bfd, &got] {
    unsigned char buf[16384];
    for (;;) {
      sleep_ms(1);
      const ssize_t n = ::read(bfd, buf, sizeof buf);
      if (n <= 0) break;
      got.insert(got.end(), buf, buf + n);
    }
  });
  off_t off = 0;
  size_t sent = 0;
  int calls = 0;
  while (sent < kSize) {
    const ssize_t n = ::sendfile(a, file, &off, kSize - sent);
    ASSERT_GT(n, 0) << std::strerror(errno);
    sent += static_cast<size_t>(n);
    ++calls;
  }
  EXPECT_EQ(static_cast<size_t>(off), kSize);
  a.reset();  // EOF for the reader
  reader.join();
  ASSERT_EQ(got.size(), kSize);
  EXPECT_TRUE(got == data) << "the bytes arrived changed or out of order";
  ::close(file);
}
