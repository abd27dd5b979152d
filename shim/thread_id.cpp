// Thread IDs, and the signals sent to them: gettid() gives each greenlet thread an ID of its
// own, and tgkill(), tkill() and raise() reach the thread they name, as pthread_kill does.
//
// A greenlet thread's ID is above the kernel's PID_MAX_LIMIT, so it is never a real task's:
// the kernel answers ESRCH to calls that take it (sched_setaffinity, /proc/self/task/N).
// The main thread keeps the kernel's ID, which is also the hub OS thread's.
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>

#include "thread.hpp"

using namespace green::shim;
namespace gd = green::detail;

namespace {

constexpr int kPidMaxLimit = 4194304;  // PID_MAX_LIMIT on 64-bit Linux
std::atomic<int> next_tid{kPidMaxLimit + 1};

bool is_handler(const struct sigaction& a) {
  return (a.sa_flags & SA_SIGINFO) || (a.sa_handler != SIG_DFL && a.sa_handler != SIG_IGN);
}

}  // namespace

namespace green::shim {

int new_thread_tid() noexcept {
  int tid = next_tid.fetch_add(1, std::memory_order_relaxed);
  if (tid <= kPidMaxLimit || tid == INT32_MAX) {  // wrapped: start again above the kernel's
    next_tid.store(kPidMaxLimit + 2, std::memory_order_relaxed);
    tid = kPidMaxLimit + 1;
  }
  return tid;
}

siginfo_t tkill_info(int sig) {
  siginfo_t info{};
  info.si_signo = sig;
  info.si_code = SI_TKILL;
  info.si_pid = getpid();
  info.si_uid = getuid();
  return info;
}

int signal_context(SigCtx& c, const siginfo_t& info) {
  const int sig = info.si_signo;
  if (sig == SIGKILL || sig == SIGSTOP) return REAL(pthread_kill)(c.hub->os_thread(), sig);  // the process's
  if (!c.attached) return 0;  // it is ending
  const struct sigaction a = user_action(sig);
  const bool blocked = (c.mask.load() & sig_bit(sig)) != 0;
  // As the kernel: an ignored signal is dropped unless blocked (the disposition may change
  // before it is unblocked), and a default action happens now.
  if (!is_handler(a) && !blocked) {
    if (a.sa_handler == SIG_DFL) default_action(sig);
    return 0;
  }
  send_to_thread(c, info);
  return 0;
}

SigCtx* main_thread_ctx(pthread_t t) noexcept {
  if (current_sig_ctx() == nullptr) return nullptr;
  gd::Hub* hub = gd::Hub::current_if_exists();
  return pthread_equal(t, hub->os_thread()) ? hub_main_ctx(*hub) : nullptr;
}

}  // namespace green::shim

GREEN_HOOK(pid_t, gettid, ()) {
  GREEN_BOOKKEEPING();
  if (gd::tls_no_hooks == 0) {
    if (GreenThread* t = current_thread()) return t->tid;
  }
  return REAL(gettid)();
}

GREEN_HOOK(int, tgkill, (pid_t tgid, pid_t tid, int sig)) {
  GREEN_BOOKKEEPING();
  if (!hooks_active || tgid != getpid() || tid <= kPidMaxLimit) {
    // The main thread's ID is its hub's OS thread's: from another greenlet thread of that
    // hub, the kernel would hand the signal to whichever greenlet runs.
    gd::Hub* hub = gd::Hub::current_if_exists();
    if (!hooks_active || tgid != getpid() || hub == nullptr || tid != hub->os_tid() || current_thread() == nullptr ||
        sig <= 0 || sig >= NSIG) {
      return REAL(tgkill)(tgid, tid, sig);
    }
    SigCtx* main = hub_main_ctx(*hub);
    if (main == nullptr) return REAL(tgkill)(tgid, tid, sig);
    if (const int e = signal_context(*main, tkill_info(sig))) {
      errno = e;
      return -1;
    }
    return 0;
  }
  if (sig < 0 || sig >= NSIG) {
    errno = EINVAL;
    return -1;
  }
  auto t = find_thread_by_tid(tid);
  if (!t) {
    errno = ESRCH;
    return -1;
  }
  if (sig == 0) return 0;
  if (const int e = signal_context(t->sig, tkill_info(sig))) {
    errno = e;
    return -1;
  }
  return 0;
}

GREEN_HOOK(int, raise, (int sig)) {
  GREEN_BOOKKEEPING();
  SigCtx* self = current_sig_ctx();
  if (self == nullptr) return REAL(raise)(sig);
  if (sig <= 0 || sig >= NSIG) {
    errno = EINVAL;
    return -1;
  }
  if (const int e = signal_context(*self, tkill_info(sig))) {
    errno = e;
    return -1;
  }
  return 0;
}
