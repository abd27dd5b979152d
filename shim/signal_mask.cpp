// Signal masks and pending sets per greenlet thread: pthread_sigmask, sigprocmask and
// sigpending act on the calling thread's own (signal_state.hpp), as POSIX has them per
// thread; on a thread that is no greenlet, on the kernel's.
#include <signal.h>

#include "signal_state.hpp"

using namespace green::shim;

namespace {

// 0, or the error number.
int change_mask(SigCtx& c, int how, const sigset_t* set, sigset_t* old) {
  if (set != nullptr && how != SIG_BLOCK && how != SIG_UNBLOCK && how != SIG_SETMASK) return EINVAL;
  const std::uint64_t now = c.mask.load();
  if (old != nullptr) *old = set_of(now);
  if (set == nullptr) return 0;
  const std::uint64_t bits = bits_of(*set);
  set_thread_mask(c, how == SIG_BLOCK ? now | bits : how == SIG_UNBLOCK ? now & ~bits : bits);
  return 0;
}

}  // namespace

GREEN_HOOK(int, pthread_sigmask, (int how, const sigset_t* set, sigset_t* old)) {
  GREEN_BOOKKEEPING();
  SigCtx* c = current_sig_ctx();
  if (c == nullptr) return REAL(pthread_sigmask)(how, set, old);
  return change_mask(*c, how, set, old);
}

GREEN_HOOK(int, sigprocmask, (int how, const sigset_t* set, sigset_t* old)) {
  GREEN_BOOKKEEPING();
  SigCtx* c = current_sig_ctx();
  if (c == nullptr) return REAL(sigprocmask)(how, set, old);
  if (const int e = change_mask(*c, how, set, old)) {
    errno = e;
    return -1;
  }
  return 0;
}

GREEN_HOOK(int, sigpending, (sigset_t* set)) {
  GREEN_BOOKKEEPING();
  SigCtx* c = current_sig_ctx();
  if (c == nullptr) return REAL(sigpending)(set);
  // Also what the kernel holds: signals every thread blocks stay pending there.
  sigset_t kernel;
  if (REAL(sigpending)(&kernel) != 0) return -1;
  // What the kernel holds of the preemption signal is greenshim's tick, while every thread
  // blocks it.
  if (green::detail::Hub* hub = green::detail::Hub::current_if_exists(); hub != nullptr && hub->preempt_enabled()) {
    sigdelset(&kernel, green::detail::Hub::kPreemptSignal);
  }
  *set = set_of(bits_of(kernel) | pending_for(*c));
  return 0;
}
