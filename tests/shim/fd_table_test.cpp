// How greenshim classifies an fd it did not create (shim/fd_table.cpp): an inherited socket
// shares its file description with the parent, so its real O_NONBLOCK is not ours to set.
#include "support.hpp"

using namespace shim_test;

namespace {

class FdTableTest : public ShimTest {};

// Fd 3 is a socket inherited from the parent: read it, then report the flags seen.
SHIM_TEST_CHILD(read_inherited) {
  char c = 0;
  if (::read(3, &c, 1) != 1 || c != 'a') {
    std::printf("read: %s\n", std::strerror(errno));
    return 1;
  }
  const int user = ::fcntl(3, F_GETFL);
  const int kernel = kernel_flags(3);
  std::printf("user=%d kernel=%d\n", (user & O_NONBLOCK) != 0, (kernel & O_NONBLOCK) != 0);
  if (::write(3, "b", 1) != 1) return 2;
  return (user & O_NONBLOCK) || (kernel & O_NONBLOCK) ? 3 : 0;
}

TEST_F(FdTableTest, ReadingAnInheritedSocketLeavesItsFlagsAlone) {
  FdPair p = socket_pair();
  ASSERT_EQ(::write(p.a, "a", 1), 1);
  const ChildResult r = run_child("read_inherited", {}, {{3, p.b.get()}});
  EXPECT_TRUE(r.exited_ok()) << r.output;
  EXPECT_NE(r.output.find("user=0 kernel=0"), std::string::npos) << r.output;
  // The parent's end of the same file description.
  EXPECT_FALSE(has_flag(p.b, O_NONBLOCK));
  EXPECT_EQ(kernel_flags(p.b) & O_NONBLOCK, 0);
  char c = 0;
  EXPECT_EQ(::read(p.a, &c, 1), 1);
  EXPECT_EQ(c, 'b');
}

// The child waits in read() before anything arrives: the wait cooperates (the parent's
// write wakes it) and still leaves the description blocking.
SHIM_TEST_CHILD(wait_inherited) {
  char c = 0;
  const ssize_t r = ::read(3, &c, 1);
  const int kernel = kernel_flags(3);
  std::printf("r=%zd kernel=%d\n", r, (kernel & O_NONBLOCK) != 0);
  return r == 1 && !(kernel & O_NONBLOCK) ? 0 : 1;
}

TEST_F(FdTableTest, WaitingOnAnInheritedSocketLeavesItsFlagsAlone) {
  FdPair p = socket_pair();
  Peer later([&] {
    sleep_ms(100);
    EXPECT_EQ(::write(p.a, "z", 1), 1);
  });
  const ChildResult r = run_child("wait_inherited", {}, {{3, p.b.get()}});
  later.join();
  EXPECT_TRUE(r.exited_ok()) << r.output;
  EXPECT_EQ(kernel_flags(p.b) & O_NONBLOCK, 0);
}

// The program's own O_NONBLOCK on an inherited socket is kept, and EAGAIN is its answer.
SHIM_TEST_CHILD(nonblocking_inherited) {
  char c = 0;
  const ssize_t r = ::read(3, &c, 1);
  const int err = errno;
  std::printf("r=%zd errno=%d\n", r, err);
  return r == -1 && err == EAGAIN && (::fcntl(3, F_GETFL) & O_NONBLOCK) ? 0 : 1;
}

TEST_F(FdTableTest, AnInheritedNonBlockingSocketSaysEagain) {
  FdPair p = socket_pair();
  ASSERT_EQ(::fcntl(p.b, F_SETFL, ::fcntl(p.b, F_GETFL) | O_NONBLOCK), 0);
  const ChildResult r = run_child("nonblocking_inherited", {}, {{3, p.b.get()}});
  EXPECT_TRUE(r.exited_ok()) << r.output;
}

}  // namespace
