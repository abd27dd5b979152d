// Signal dispositions: sigaction() and signal() keep the program's handlers, and the
// kernel runs greenshim's handler instead, which has the signal taken by the right greenlet
// thread (signal_deliver.cpp). Masks: signal_mask.cpp; waits for signals: signal_wait.cpp.
//
// The kernel's action: the program's flags with SA_SIGINFO, every signal blocked while
// greenshim's handler runs (it sets the mask the program's handler is due itself), and
// SA_RESETHAND and SA_NODEFER done by greenshim, since a handler may run later, elsewhere.
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>

#include "signal_state.hpp"
#include "syscall_trap.hpp"

using namespace green::shim;
namespace gd = green::detail;

namespace {

struct Handler {
  std::atomic<bool> wrapped{false};
  struct sigaction user {};
  bool kept = false;  // keep_trampoline(): greenshim's handler whatever the program sets
};
Handler handlers[NSIG];

// Runs the program's handler where the signal came (a fault; a thread that is no greenlet),
// with the mask the kernel would have given it.
void run_here(int sig, siginfo_t* info, void* uctx) {
  const struct sigaction a = handlers[sig].user;
  if (a.sa_flags & SA_RESETHAND) reset_to_default(sig);
  sigset_t during = static_cast<ucontext_t*>(uctx)->uc_sigmask;
  for (int s = 1; s < NSIG; ++s) {
    if (sigismember(&a.sa_mask, s) == 1) sigaddset(&during, s);
  }
  if (!(a.sa_flags & SA_NODEFER)) sigaddset(&during, sig);
  drop_kernel_never_blocked(during);
  REAL(pthread_sigmask)(SIG_SETMASK, &during, nullptr);
  ++tls_program_handler;
  if (a.sa_flags & SA_SIGINFO) {
    a.sa_sigaction(sig, info, uctx);
  } else if (a.sa_handler != SIG_IGN && a.sa_handler != SIG_DFL) {
    a.sa_handler(sig);
  } else if (a.sa_handler == SIG_DFL && sig == SIGSYS) {
    // A seccomp trap that the program does not handle ends it, as it would without
    // greenshim, whose handler the kernel keeps for SIGSYS (the syscall trap's).
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    REAL(sigaction)(SIGSYS, &dfl, nullptr);
    REAL(syscall)(SYS_tgkill, getpid(), REAL(syscall)(SYS_gettid), SIGSYS);
  }
  --tls_program_handler;
}

void trampoline(int sig, siginfo_t* info, void* uctx) {
  const int saved = errno;
  if (!(sig == SIGSYS && syscall_trapped(info, uctx)) && !route_signal(sig, info, uctx)) run_here(sig, info, uctx);
  errno = saved;
}

bool is_handler(const struct sigaction* act) {
  return act != nullptr && ((act->sa_flags & SA_SIGINFO) ||
                            (act->sa_handler != SIG_DFL && act->sa_handler != SIG_IGN));
}

}  // namespace

namespace green::shim {

__thread int tls_program_handler = 0;

struct sigaction user_action(int sig) noexcept {
  if (handlers[sig].wrapped.load()) return handlers[sig].user;
  struct sigaction a {};
  REAL(sigaction)(sig, nullptr, &a);  // one greenshim does not wrap: installed before it
  return a;
}

void reset_to_default(int sig) noexcept {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  if (handlers[sig].kept) {
    handlers[sig].user = dfl;  // the kernel keeps greenshim's handler
    return;
  }
  handlers[sig].wrapped.store(false);
  REAL(sigaction)(sig, &dfl, nullptr);
}

void keep_trampoline(int sig) noexcept {
  Handler& h = handlers[sig];
  if (h.kept) return;
  struct sigaction now {};
  if (!h.wrapped.load()) {
    REAL(sigaction)(sig, nullptr, &now);
    h.user = now;
  }
  h.kept = true;
  h.wrapped.store(true);
  struct sigaction real {};
  // SIGSYS's own (the trap's) may nest: a trapped call inside a handler traps again.
  real.sa_flags = SA_SIGINFO | SA_RESTART | (h.user.sa_flags & SA_ONSTACK) | (sig == SIGSYS ? SA_NODEFER : 0);
  real.sa_sigaction = trampoline;
  fill_handler_mask(real.sa_mask);
  REAL(sigaction)(sig, &real, nullptr);
}

void default_action(int sig) noexcept {
  switch (sig) {
    case SIGCHLD: case SIGCONT: case SIGURG: case SIGWINCH:
      return;  // ignored by default
    case SIGTSTP: case SIGTTIN: case SIGTTOU:
      REAL(syscall)(SYS_kill, getpid(), SIGSTOP);
      return;
    default:
      break;
  }
  // Ends the process as the kernel would: the same signal, with its default action.
  reset_to_default(sig);
  const sigset_t one = set_of(sig_bit(sig));
  REAL(pthread_sigmask)(SIG_UNBLOCK, &one, nullptr);
  REAL(syscall)(SYS_tgkill, getpid(), REAL(syscall)(SYS_gettid), sig);
}

}  // namespace green::shim

GREEN_HOOK(int, sigaction, (int sig, const struct sigaction* act, struct sigaction* old)) {
  GREEN_BOOKKEEPING();
  // libev's own handlers (installed with NoHooks) and calls before activation stay as is.
  if (!hooks_active || gd::tls_no_hooks != 0 || sig <= 0 || sig >= NSIG) {
    return REAL(sigaction)(sig, act, old);
  }
  Handler& h = handlers[sig];
  struct sigaction previous {};
  const bool was_wrapped = h.wrapped.load();
  if (was_wrapped) previous = h.user;
  int r;
  if (is_handler(act) || (act != nullptr && h.kept)) {
    if (gd::Hub* hub = gd::Hub::current_if_exists()) hub_signals_init(*hub);
    struct sigaction real = *act;
    real.sa_flags = (act->sa_flags | SA_SIGINFO | (h.kept ? SA_RESTART : 0)) & ~(SA_RESETHAND | SA_NODEFER);
    if (sig == SIGSYS && h.kept) real.sa_flags |= SA_NODEFER;
    real.sa_sigaction = trampoline;
    fill_handler_mask(real.sa_mask);
    h.user = *act;
    h.wrapped.store(true);
    r = REAL(sigaction)(sig, &real, old);
    if (r != 0) h.wrapped.store(was_wrapped);
  } else {
    r = REAL(sigaction)(sig, act, old);
    if (r == 0 && act != nullptr) h.wrapped.store(false);
  }
  if (r == 0 && old != nullptr && was_wrapped) *old = previous;  // the program's, not ours
  return r;
}

GREEN_HOOK(sighandler_t, signal, (int sig, sighandler_t handler)) {
  struct sigaction act {}, old {};
  act.sa_handler = handler;
  act.sa_flags = SA_RESTART;  // glibc's signal() has BSD semantics
  sigemptyset(&act.sa_mask);
  sigaddset(&act.sa_mask, sig);
  if (sigaction(sig, &act, &old) != 0) return SIG_ERR;
  if (old.sa_flags & SA_SIGINFO) return reinterpret_cast<sighandler_t>(reinterpret_cast<void*>(old.sa_sigaction));
  return old.sa_handler;
}
