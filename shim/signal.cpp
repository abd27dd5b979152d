// Signal hooks: sigaction/signal wrap the program's handlers; pause, sigsuspend and the
// sigwait family park the greenlet.
//
// EINTR: a handler runs on the hub's OS thread, which every greenlet shares. As the
// kernel would interrupt the blocked call of the thread that took the signal, we
// interrupt the main greenlet's wait (the thread a process-directed signal goes to), plus
// every greenlet waiting in pause()/sigsuspend(). Sleeps and polls always report EINTR;
// reads, writes, accept and connect only when the handler lacks SA_RESTART.
//
// Departures from POSIX: sigwait/sigwaitinfo/sigtimedwait poll the pending set every
// millisecond instead of sleeping in the kernel; sigsuspend applies its mask only while
// checking, not while parked.
#include "signal.hpp"

#include <signal.h>

#include <atomic>

#include "park.hpp"

using namespace green::shim;
namespace gd = green::detail;

namespace {

struct Handler {
  std::atomic<bool> wrapped{false};
  struct sigaction user {};
};
Handler handlers[NSIG];
std::atomic<std::uint64_t> epoch{0};
// Set by a handler that ran while the main greenlet was parked in a wait it interrupts;
// taken by the hub (on_kick). A handler that runs while the main greenlet is running
// interrupts nothing, as the kernel's would not interrupt a later call.
std::atomic<bool> interrupt_main{false};

void trampoline(int sig, siginfo_t* info, void* uctx) {
  const int saved = errno;
  const struct sigaction& a = handlers[sig].user;
  if (a.sa_flags & SA_SIGINFO) {
    a.sa_sigaction(sig, info, uctx);
  } else if (a.sa_handler != SIG_IGN && a.sa_handler != SIG_DFL) {
    a.sa_handler(sig);
  }
  if (gd::Hub* hub = gd::Hub::current_if_exists()) {
    const gd::GreenletImpl* main = hub->main_greenlet();
    const bool restart = (a.sa_flags & SA_RESTART) != 0;
    const gd::Eintr policy = main->eintr();
    if (policy == gd::Eintr::always || (policy == gd::Eintr::unless_restart && !restart)) {
      interrupt_main.store(true, std::memory_order_relaxed);
    }
  }
  epoch.fetch_add(1, std::memory_order_release);
  gd::Hub::kick_all();  // ev_async_send: async-signal-safe
  errno = saved;
}

// On the hub fiber after a kick: deliver EINTR for the handler runs since the last look.
void on_kick(gd::Hub& hub) {
  if (!interrupt_main.exchange(false, std::memory_order_acq_rel)) return;
  gd::GreenletImpl* main = hub.main_greenlet();
  if (main->eintr() != gd::Eintr::never) hub.wake(main, gd::Wake::signaled);
}

const bool hook_installed = (gd::Hub::set_kick_hook(&on_kick), true);

bool is_handler(const struct sigaction* act) {
  return act != nullptr && ((act->sa_flags & SA_SIGINFO) ||
                            (act->sa_handler != SIG_DFL && act->sa_handler != SIG_IGN));
}

int fail(int e) {
  errno = e;
  return -1;
}

}  // namespace

namespace green::shim {
std::uint64_t signal_epoch() noexcept { return epoch.load(std::memory_order_acquire); }
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
  if (is_handler(act)) {
    struct sigaction real = *act;
    real.sa_flags |= SA_SIGINFO;
    real.sa_sigaction = trampoline;
    h.user = *act;
    h.wrapped.store(true);
    r = REAL(sigaction)(sig, &real, old);
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

GREEN_HOOK(int, pause, ()) {
  GREEN_COOPERATE(pause);
  const std::uint64_t start = signal_epoch();
  while (signal_epoch() == start) {
    const gd::Wake w = hub->wait_kick(gd::kNoDeadline, {});
    if (w == gd::Wake::interrupted) gd::raise_for(w);
    if (w == gd::Wake::loop_exit) return REAL(pause)();
  }
  return fail(EINTR);
}

GREEN_HOOK(int, sigsuspend, (const sigset_t* mask)) {
  GREEN_COOPERATE(sigsuspend, mask);
  // Signals blocked by the thread but allowed by `mask` may be pending already: let
  // them in (the kernel runs their handlers on the way out of sigsuspend with a zero
  // wait), then park until a handler has run.
  const std::uint64_t start = signal_epoch();
  for (;;) {
    sigset_t old;
    pthread_sigmask(SIG_SETMASK, mask, &old);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (signal_epoch() != start) return fail(EINTR);
    const gd::Wake w = hub->wait_kick(gd::now_ns() + 1000000, {});
    if (w == gd::Wake::interrupted) gd::raise_for(w);
  }
}

GREEN_HOOK(int, sigtimedwait, (const sigset_t* set, siginfo_t* info, const struct timespec* ts)) {
  GREEN_COOPERATE(sigtimedwait, set, info, ts);
  if (ts != nullptr && !valid_timespec(*ts)) return fail(EINVAL);
  const gd::Deadline deadline = ts ? gd::now_ns() + timespec_ns(*ts) : gd::kNoDeadline;
  static const timespec zero{0, 0};
  for (;;) {
    const int r = REAL(sigtimedwait)(set, info, &zero);
    if (r > 0 || errno != EAGAIN) return r;
    if (deadline != gd::kNoDeadline && gd::now_ns() >= deadline) return fail(EAGAIN);
    gd::Deadline next = gd::now_ns() + 1000000;
    if (next > deadline) next = deadline;
    const gd::Wake w = hub->park(next);
    if (w == gd::Wake::interrupted) gd::raise_for(w);
  }
}

GREEN_HOOK(int, sigwaitinfo, (const sigset_t* set, siginfo_t* info)) { return sigtimedwait(set, info, nullptr); }

GREEN_HOOK(int, sigwait, (const sigset_t* set, int* sig)) {
  GREEN_COOPERATE(sigwait, set, sig);
  int r;
  do {
    r = sigtimedwait(set, nullptr, nullptr);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return errno;
  *sig = r;
  return 0;
}
