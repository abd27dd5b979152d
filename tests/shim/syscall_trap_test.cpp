// shim/syscall_trap.cpp, as a plain program: system calls made with a `syscall`
// instruction outside glibc (inline assembly, liburing's io_uring_enter) return what the
// kernel returns, and while one waits the program's other threads run. Natively every
// thread is an OS thread; under the shim they share one, which such a call used to put to
// sleep whole.
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <liburing.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <atomic>

#include "support.hpp"

using namespace shim_test;

namespace {

class SyscallTrapTest : public ShimTest {};

// The kernel's convention: the result, or -errno; errno untouched.
long raw_syscall3(long nr, long a, long b, long c) {
  long r;
  register long rdi asm("rdi") = a;
  register long rsi asm("rsi") = b;
  register long rdx asm("rdx") = c;
  asm volatile("syscall" : "=a"(r) : "a"(nr), "r"(rdi), "r"(rsi), "r"(rdx) : "rcx", "r11", "memory");
  return r;
}

}  // namespace

namespace {

// `read_4` reads 4 bytes from a socket that another thread writes 200 ms later, while a
// ticker must keep ticking; it returns what the kernel returned.
template <class Read>
void reads_while_a_ticker_ticks(Read read_4) {
  auto [r, w] = socket_pair();
  const int wfd = w;
  const int threads_before = thread_count();
  ThreadTicker ticker;
  Peer writer([wfd] {
    sleep_ms(200);
    write_fully(wfd, "raw!", 4);
  });
  char buf[8] = "";
  const int before = ticker.ticks();
  errno = 0;
  EXPECT_EQ(read_4(r, buf), 4);
  EXPECT_EQ(errno, 0);
  EXPECT_GE(ticker.ticks() - before, 10) << "the ticker stopped during the read";
  EXPECT_EQ(std::string(buf, 4), "raw!");
  if (shim_expected()) {
    EXPECT_EQ(thread_count(), threads_before);
  }
}

}  // namespace

TEST_F(SyscallTrapTest, AnInlineSyscallReadWaitsWhileOthersRun) {
  reads_while_a_ticker_ticks([](int fd, char* buf) { return raw_syscall3(SYS_read, fd, reinterpret_cast<long>(buf), 4); });
}

TEST_F(SyscallTrapTest, ASyscallFunctionReadWaitsWhileOthersRun) {
  reads_while_a_ticker_ticks([](int fd, char* buf) { return ::syscall(SYS_read, fd, buf, 4); });
}

TEST_F(SyscallTrapTest, RawCallsReturnWhatTheKernelReturns) {
  Peer other([] {});  // under the shim: the hub has a thread, so the trap is on
  char c;
  errno = 0;
  EXPECT_EQ(raw_syscall3(SYS_read, 987654, reinterpret_cast<long>(&c), 1), -EBADF);
  EXPECT_EQ(raw_syscall3(SYS_write, 987654, reinterpret_cast<long>(&c), 1), -EBADF);
  EXPECT_EQ(errno, 0);
  EXPECT_EQ(raw_syscall3(SYS_getpid, 0, 0, 0), ::getpid());
  auto [r, w] = pipe_pair();
  EXPECT_EQ(raw_syscall3(SYS_write, w, reinterpret_cast<long>("ab"), 2), 2);
  char buf[2];
  EXPECT_EQ(raw_syscall3(SYS_read, r, reinterpret_cast<long>(buf), 2), 2);
  EXPECT_EQ(std::memcmp(buf, "ab", 2), 0);
}

// A handler's own raw call is made as it is, in the handler.
TEST_F(SyscallTrapTest, ARawCallInASignalHandler) {
  static int pipe_w = -1;
  auto [r, w] = pipe_pair();
  pipe_w = w;
  ScopedSignal sig(SIGUSR1, [](int) { raw_syscall3(SYS_write, pipe_w, reinterpret_cast<long>("h"), 1); }, 0);
  Peer other([] { sleep_ms(10); });
  ::raise(SIGUSR1);
  char c = 0;
  EXPECT_EQ(::read(r, &c, 1), 1);
  EXPECT_EQ(c, 'h');
}

// liburing's wait for a completion (io_uring_enter with IORING_ENTER_GETEVENTS): a read of a
// pipe that another thread writes 200 ms later.
TEST_F(SyscallTrapTest, AnIoUringWaitLetsOthersRun) {
  io_uring ring;
  ASSERT_EQ(::io_uring_queue_init(8, &ring, 0), 0);
  auto [r, w] = pipe_pair();
  const int wfd = w;
  const int threads_before = thread_count();
  {
    ThreadTicker ticker;
    Peer writer([wfd] {
      sleep_ms(200);
      write_fully(wfd, "uring", 5);
    });
    char buf[8] = "";
    io_uring_sqe* sqe = ::io_uring_get_sqe(&ring);
    ::io_uring_prep_read(sqe, r, buf, 5, 0);
    const int before = ticker.ticks();
    ASSERT_EQ(::io_uring_submit(&ring), 1);
    io_uring_cqe* cqe = nullptr;
    ASSERT_EQ(::io_uring_wait_cqe(&ring, &cqe), 0);
    EXPECT_EQ(cqe->res, 5);
    ::io_uring_cqe_seen(&ring, cqe);
    EXPECT_EQ(std::string(buf, 5), "uring");
    EXPECT_GE(ticker.ticks() - before, 10) << "the ticker stopped during the io_uring wait";
    if (shim_expected()) {
      EXPECT_EQ(thread_count(), threads_before);
    }
  }
  ::io_uring_queue_exit(&ring);
}

// A wait with a timeout that nothing completes: -ETIME after the timeout, others running.
TEST_F(SyscallTrapTest, AnIoUringWaitTimesOut) {
  io_uring ring;
  ASSERT_EQ(::io_uring_queue_init(8, &ring, 0), 0);
  {
    ThreadTicker ticker;
    __kernel_timespec ts{0, 150 * 1000 * 1000};
    io_uring_cqe* cqe = nullptr;
    Stopwatch sw;
    const int before = ticker.ticks();
    EXPECT_EQ(::io_uring_wait_cqe_timeout(&ring, &cqe, &ts), -ETIME);
    EXPECT_GE(sw.ms(), 140);
    EXPECT_LT(sw.ms(), 1000);
    EXPECT_GE(ticker.ticks() - before, 8);
  }
  ::io_uring_queue_exit(&ring);
}

// A program's own seccomp filter that traps (SECCOMP_RET_TRAP) still reaches the program:
// its SIGSYS handler sees SYS_SECCOMP, and without a handler SIGSYS ends the process.
namespace {

void trap_getppid_by_seccomp() {
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog prog{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
    std::printf("seccomp: %s\n", std::strerror(errno));
    std::exit(2);
  }
}

volatile sig_atomic_t seccomp_code = 0;

}  // namespace

SHIM_TEST_CHILD(seccomp_handled) {
  Peer other([] { sleep_ms(10); });
  struct sigaction sa {};
  sa.sa_flags = SA_SIGINFO;
  sa.sa_sigaction = [](int, siginfo_t* info, void*) { seccomp_code = info->si_code; };
  ::sigaction(SIGSYS, &sa, nullptr);
  trap_getppid_by_seccomp();
  ::getppid();
  std::printf("code=%d\n", static_cast<int>(seccomp_code));
  return seccomp_code == 1 ? 0 : 1;  // SYS_SECCOMP
}

SHIM_TEST_CHILD(seccomp_unhandled) {
  Peer other([] { sleep_ms(10); });
  trap_getppid_by_seccomp();
  ::getppid();
  std::printf("still alive\n");
  return 0;
}

TEST_F(SyscallTrapTest, TheProgramsSeccompTrapsStayItsOwn) {
  const ChildResult handled = run_child("seccomp_handled", {});
  EXPECT_TRUE(handled.exited_ok()) << handled.output;
  const ChildResult unhandled = run_child("seccomp_unhandled", {});
  EXPECT_TRUE(WIFSIGNALED(unhandled.status) && WTERMSIG(unhandled.status) == SIGSYS) << unhandled.output;
}

// Every thread blocks every signal, as a program may around a critical section: a raw
// system call then still returns (the kernel would kill a process whose trapped call found
// SIGSYS blocked), and the threads' masks are what they set.
SHIM_TEST_CHILD(raw_call_with_every_signal_blocked) {
  sigset_t all;
  sigfillset(&all);
  ::pthread_sigmask(SIG_BLOCK, &all, nullptr);
  Peer other([&all] {
    ::pthread_sigmask(SIG_BLOCK, &all, nullptr);
    sleep_ms(50);
  });
  sleep_ms(10);
  const long pid = raw_syscall3(SYS_getpid, 0, 0, 0);
  sigset_t now;
  ::pthread_sigmask(SIG_BLOCK, nullptr, &now);
  std::printf("pid %s, SIGSYS %s\n", pid == ::getpid() ? "right" : "wrong",
              sigismember(&now, SIGSYS) == 1 ? "blocked" : "not blocked");
  return pid == ::getpid() && sigismember(&now, SIGSYS) == 1 ? 0 : 1;
}

TEST_F(SyscallTrapTest, ARawCallWithEverySignalBlocked) {
  const ChildResult r = run_child("raw_call_with_every_signal_blocked", {});
  EXPECT_TRUE(r.exited_ok()) << r.output << " status " << r.status;
}
