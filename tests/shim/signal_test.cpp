// Signals as a program sees them under the shim (shim/signal.cpp): where a handler runs,
// what interrupts a wait, and that greenshim's own threads never take the program's
// signals.
#include <netdb.h>
#include <sys/syscall.h>

#include <atomic>

#include "../tasks.hpp"
#include "support.hpp"

using namespace shim_test;

namespace {

class SignalTest : public ShimTest {};

pid_t tid() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

std::atomic<pid_t> handler_tid{0};
void record_tid(int) { handler_tid.store(tid()); }

struct Target {
  std::atomic<pid_t> tid{0};
  std::atomic<int> pause_errno{0};
};

void* pause_until_signalled(void* arg) {
  auto* t = static_cast<Target*>(arg);
  t->tid.store(tid());
  while (handler_tid.load() == 0) {
    if (::pause() < 0) t->pause_errno.store(errno);
  }
  return nullptr;
}

// The target is made by pthread_create from this program (a greenlet thread under the
// shim); the sender is a std::thread, whose start routine lives in libstdc++ and so stays
// a real OS thread under GREEN_REAL_THREADS=libstdc++.
SHIM_TEST_CHILD(kill_from_real_thread) {
  struct sigaction sa {};
  sa.sa_handler = record_tid;
  ::sigaction(SIGUSR1, &sa, nullptr);
  Target target;
  pthread_t t;
  if (::pthread_create(&t, nullptr, pause_until_signalled, &target) != 0) return 10;
  pid_t sender_tid = 0;
  std::thread sender([&] {
    sender_tid = tid();
    while (target.tid.load() == 0) sleep_ms(1);
    sleep_ms(20);  // the target is in pause()
    ::pthread_kill(t, SIGUSR1);
  });
  sender.join();
  ::pthread_join(t, nullptr);
  std::printf("target=%d handler=%d sender=%d pause_errno=%d\n", target.tid.load(),
              handler_tid.load(), sender_tid, target.pause_errno.load());
  if (handler_tid.load() != target.tid.load()) return 1;
  return target.pause_errno.load() == EINTR ? 0 : 2;
}

TEST_F(SignalTest, PthreadKillFromARealThreadRunsTheHandlerOnTheTargetsThread) {
  const ChildResult r = run_child("kill_from_real_thread", {"GREEN_REAL_THREADS=libstdc++"});
  EXPECT_TRUE(r.exited_ok()) << r.output;
}

// Apache's event MPM: threads are made, signals are blocked everywhere, and one thread
// takes SIGTERM with sigwait(). A helper thread that greenshim started before the program
// blocked its signals (here the resolver's, for getaddrinfo) must not take SIGTERM, whose
// default action would end the process.
SHIM_TEST_CHILD(sigwait_with_blocked_signals) {
  addrinfo* res = nullptr;
  if (::getaddrinfo("localhost", "80", nullptr, &res) == 0) ::freeaddrinfo(res);
  sigset_t all;
  sigfillset(&all);
  ::pthread_sigmask(SIG_BLOCK, &all, nullptr);
  std::atomic<int> got{0};
  std::thread waiter([&] {
    sigset_t term;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    int sig = 0;
    if (::sigwait(&term, &sig) == 0) got.store(sig);
  });
  sleep_ms(50);
  ::kill(::getpid(), SIGTERM);
  waiter.join();
  std::printf("sigwait got %d\n", got.load());
  return got.load() == SIGTERM ? 0 : 1;
}

TEST_F(SignalTest, SigtermReachesSigwaitWhenEveryThreadBlocksSignals) {
  const ChildResult r = run_child("sigwait_with_blocked_signals", {});
  EXPECT_TRUE(r.exited_ok()) << "status " << r.status << ": " << r.output;
  EXPECT_NE(r.output.find("sigwait got 15"), std::string::npos) << r.output;
}

// Every thread greenshim starts blocks every signal (SigBlk in /proc/<pid>/task/*/status):
// the kernel then delivers the program's signals to the program's threads only.
SHIM_TEST_CHILD(helper_masks) {
  addrinfo* res = nullptr;
  if (::getaddrinfo("localhost", "80", nullptr, &res) == 0) ::freeaddrinfo(res);
  int helpers = 0, unblocked = 0;
  for (const auto& t : test_tasks::tasks_named("green-")) {
    ++helpers;
    if (!t.blocks_every_signal) {
      ++unblocked;
      std::printf("%s %s\n", t.name.c_str(), t.sig_blk.c_str());
    }
  }
  std::printf("helpers=%d unblocked=%d\n", helpers, unblocked);
  return unblocked == 0 ? 0 : 1;
}

TEST_F(SignalTest, HelperThreadsBlockEverySignal) {
  // A thread resolves names in itself where glibc's calls are rerouted into the hooks;
  // without that (GREEN_PATCH_LIBC=0) the lookup runs on a helper thread.
  const ChildResult r = run_child("helper_masks", {"GREEN_PATCH_LIBC=0"});
  EXPECT_TRUE(r.exited_ok()) << r.output;
  if (shim_expected()) {
    EXPECT_NE(r.output.find("helpers=1"), std::string::npos) << r.output;
  }
}

}  // namespace
