// Children (shim/process.cpp) as a plain program sees them: waitpid, wait and waitid
// return the child's status; under the shim the wait parks one thread while the others
// run; a handler without SA_RESTART interrupts it with EINTR; WNOHANG never waits. A
// child of fork() runs only the thread that forked, whichever it was.
#include <atomic>

#include "support.hpp"

using namespace shim_test;

namespace {

class ProcessTest : public ShimTest {};

// A child that sleeps `ms` and exits with `code`.
pid_t child_exiting(int code, int ms) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    timespec ts{ms / 1000, (ms % 1000) * 1000000L};
    ::nanosleep(&ts, nullptr);
    std::_Exit(code);
  }
  return pid;
}

TEST_F(ProcessTest, WaitpidReturnsTheStatus) {
  const pid_t pid = child_exiting(7, 20);
  ASSERT_GT(pid, 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 7);
}

TEST_F(ProcessTest, WaitAndWaitidReportAnyChild) {
  const pid_t a = child_exiting(3, 10);
  int status = 0;
  EXPECT_EQ(::wait(&status), a);
  EXPECT_EQ(WEXITSTATUS(status), 3);
  const pid_t b = child_exiting(4, 10);
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_ALL, 0, &info, WEXITED), 0);
  EXPECT_EQ(info.si_pid, b);
  EXPECT_EQ(info.si_status, 4);
}

TEST_F(ProcessTest, WnohangNeverWaits) {
  const pid_t pid = child_exiting(0, 200);
  int status = 0;
  Stopwatch sw;
  EXPECT_EQ(::waitpid(pid, &status, WNOHANG), 0);
  EXPECT_LT(sw.ms(), 100);
  EXPECT_EQ(::waitpid(pid, &status, 0), pid);
}

TEST_F(ProcessTest, NoChildIsEchild) {
  int status = 0;
  errno = 0;
  EXPECT_EQ(::waitpid(-1, &status, 0), -1);
  EXPECT_EQ(errno, ECHILD);
}

// Two threads wait for their own 200 ms child each: under the shim both waits park on one
// OS thread and overlap, and a third thread keeps ticking meanwhile.
TEST_F(ProcessTest, WaitsOverlapAndOtherThreadsRun) {
  const int threads_before = thread_count();
  std::atomic<int> ticks{0};
  std::atomic<bool> stop{false};
  Stopwatch sw;
  int seen_threads = 0;
  {
    Peer ticker([&] {
      while (!stop) {
        sleep_ms(5);
        ++ticks;
      }
    });
    Peer w1([] { ::waitpid(child_exiting(1, 200), nullptr, 0); });
    Peer w2([] { ::waitpid(child_exiting(2, 200), nullptr, 0); });
    sleep_ms(50);
    seen_threads = thread_count();
    w1.join();
    w2.join();
    stop = true;
  }
  EXPECT_LT(sw.ms(), 380);
  EXPECT_GE(ticks.load(), 10) << "the other thread did not run during the waits";
  if (shim_expected()) {
    EXPECT_EQ(seen_threads, threads_before);
  }
}

TEST_F(ProcessTest, AHandlerWithoutSaRestartInterruptsWaitpid) {
  ScopedSignal sig(SIGUSR1, count_signal, 0);
  const pid_t pid = child_exiting(0, 300);
  int status = 0;
  pid_t r;
  int err;
  {
    SignalAfter after(SIGUSR1, 50);
    r = ::waitpid(pid, &status, 0);
    err = errno;
  }
  EXPECT_EQ(r, -1);
  EXPECT_EQ(err, EINTR);
  EXPECT_EQ(::waitpid(pid, &status, 0), pid);
}

TEST_F(ProcessTest, AHandlerWithSaRestartLetsWaitpidGoOn) {
  ScopedSignal sig(SIGUSR1, count_signal, SA_RESTART);
  const pid_t pid = child_exiting(5, 200);
  int status = 0;
  {
    SignalAfter after(SIGUSR1, 50);
    EXPECT_EQ(::waitpid(pid, &status, 0), pid);
  }
  EXPECT_EQ(WEXITSTATUS(status), 5);
}

}  // namespace

namespace {

// Who ran where: each thread writes {its process, its tag} records into one pipe.
struct Record {
  pid_t pid;
  char tag;
};
int record_fd = -1;
void record(char tag) {
  const Record r{::getpid(), tag};
  (void)!::write(record_fd, &r, sizeof r);
}
int count(const std::vector<Record>& rs, pid_t pid, char tag) {
  int n = 0;
  for (const Record& r : rs) n += r.pid == pid && r.tag == tag;
  return n;
}
std::vector<Record> drain(int fd) {
  std::vector<Record> out;
  Record r;
  while (::read(fd, &r, sizeof r) == static_cast<ssize_t>(sizeof r)) out.push_back(r);
  return out;
}

// A thread that records 'T' every 5 ms until stopped.
struct Ticker {
  std::atomic<bool> stop{false};
  Peer peer{[this] {
    while (!stop) {
      record('T');
      sleep_ms(5);
    }
  }};
  ~Ticker() {
    stop = true;
    peer.join();
  }
};

}  // namespace

// fork() in a thread other than main: the child is that thread alone. Main, parked in
// pthread_join in the parent's image, never runs there; when the thread returns, the
// child ends with status 0, as a process does when its last thread ends.
TEST_F(ProcessTest, ForkFromAThreadLeavesOnlyThatThreadInTheChild) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_NONBLOCK), 0);
  record_fd = fds[1];
  const pid_t parent = ::getpid();
  pid_t child = -1;
  {
    Ticker ticker;
    sleep_ms(20);
    std::fflush(nullptr);
    pthread_t forker;
    ASSERT_EQ(::pthread_create(&forker, nullptr, [](void*) -> void* {
                const pid_t pid = ::fork();
                if (pid != 0) return reinterpret_cast<void*>(static_cast<intptr_t>(pid));
                sleep_ms(100);  // the ticker would record meanwhile, had it survived
                record('F');
                return nullptr;  // the child's last thread ends
              }, nullptr), 0);
    void* v = nullptr;
    ASSERT_EQ(::pthread_join(forker, &v), 0);
    if (::getpid() != parent) {  // main must not run in the child
      record('M');
      ::_exit(3);
    }
    child = static_cast<pid_t>(reinterpret_cast<intptr_t>(v));
    ASSERT_GT(child, 0);
    int status = -1;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  }
  const std::vector<Record> rs = drain(fds[0]);
  ::close(fds[0]);
  ::close(fds[1]);
  EXPECT_GT(count(rs, parent, 'T'), 5) << "the parent's ticker ran";
  EXPECT_EQ(count(rs, child, 'T'), 0) << "the ticker thread must not exist in the child";
  EXPECT_EQ(count(rs, child, 'F'), 1);
  EXPECT_EQ(count(rs, child, 'M'), 0) << "main must not exist in the child";
}

// fork() in main while another thread runs: the child has main alone, which can still make
// and join threads of its own.
TEST_F(ProcessTest, ForkFromMainLeavesTheOtherThreadsBehind) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_NONBLOCK), 0);
  record_fd = fds[1];
  pid_t child = -1;
  {
    Ticker ticker;
    sleep_ms(20);
    std::fflush(nullptr);
    child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      sleep_ms(100);
      pthread_t t;
      int ok = ::pthread_create(&t, nullptr, [](void*) -> void* {
        record('N');
        return nullptr;
      }, nullptr) == 0;
      ok = ok && ::pthread_join(t, nullptr) == 0;
      ::_exit(ok ? 0 : 4);  // not the Ticker's destructor: its thread is not here
    }
    int status = -1;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  }
  const std::vector<Record> rs = drain(fds[0]);
  ::close(fds[0]);
  ::close(fds[1]);
  EXPECT_EQ(count(rs, child, 'T'), 0) << "the ticker thread must not exist in the child";
  EXPECT_EQ(count(rs, child, 'N'), 1);
}

// _Fork (async-signal-safe, runs no atfork handler) gives the child one thread too.
TEST_F(ProcessTest, UnderscoreForkLeavesTheOtherThreadsBehind) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_NONBLOCK), 0);
  record_fd = fds[1];
  pid_t child = -1;
  {
    Ticker ticker;
    sleep_ms(20);
    std::fflush(nullptr);
    child = ::_Fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      sleep_ms(100);
      record('C');
      ::_exit(0);
    }
    int status = -1;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  }
  const std::vector<Record> rs = drain(fds[0]);
  ::close(fds[0]);
  ::close(fds[1]);
  EXPECT_EQ(count(rs, child, 'T'), 0) << "the ticker thread must not exist in the child";
  EXPECT_EQ(count(rs, child, 'C'), 1);
}

namespace {
std::atomic<int> vfork_handled{0};
void count_vfork_signal(int) { vfork_handled.fetch_add(1); }

// The calling thread's kernel mask, SigBlk in /proc/self/status (what the kernel delivers by).
std::string kernel_sigblk() {
  FILE* f = std::fopen("/proc/thread-self/status", "r");
  char line[256];
  std::string found;
  while (f != nullptr && std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, "SigBlk:", 7) == 0) found = line + 7;
  }
  if (f != nullptr) std::fclose(f);
  return found;
}
}  // namespace

// A vfork child shares the parent's memory until it execs or exits: what it does to its
// own signal mask, handlers and fds (as Python's subprocess does before exec) must not
// become the parent's.
TEST_F(ProcessTest, AVforkChildsMaskHandlersAndFdsStayItsOwn) {
  struct sigaction sa {}, old {};
  sa.sa_handler = count_vfork_signal;
  ASSERT_EQ(::sigaction(SIGUSR1, &sa, &old), 0);
  vfork_handled = 0;
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const std::string mask_before = kernel_sigblk();
  const pid_t pid = ::vfork();
  if (pid == 0) {
    sigset_t all;
    sigfillset(&all);
    ::pthread_sigmask(SIG_BLOCK, &all, nullptr);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    ::sigaction(SIGUSR1, &dfl, nullptr);
    ::close(fds[0]);
    ::_exit(5);
  }
  ASSERT_GT(pid, 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_EQ(WEXITSTATUS(status), 5);
  EXPECT_EQ(kernel_sigblk(), mask_before) << "the child's mask became the parent's";
  sigset_t now;
  ::pthread_sigmask(SIG_BLOCK, nullptr, &now);
  EXPECT_EQ(sigismember(&now, SIGUSR1), 0);
  ::kill(::getpid(), SIGUSR1);
  for (int i = 0; i < 100 && vfork_handled.load() == 0; ++i) sleep_ms(5);
  EXPECT_EQ(vfork_handled.load(), 1) << "the parent's handler is gone";
  ASSERT_EQ(::write(fds[1], "v", 1), 1);
  char c = 0;
  EXPECT_EQ(::read(fds[0], &c, 1), 1) << "the child's close() closed the parent's fd";
  EXPECT_EQ(c, 'v');
  ::close(fds[0]);
  ::close(fds[1]);
  ::sigaction(SIGUSR1, &old, nullptr);
}
