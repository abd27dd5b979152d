// Where a signal goes among a hub's threads, and how its handler runs there (the state
// signal_state.hpp describes).
//
// The kernel runs greenshim's handler (signal.cpp) on the hub's OS thread, on the stack of
// whatever runs. It routes the signal:
// - a thread-directed one (SIGPIPE, raise() through the kernel) to the running thread;
// - a process-directed one to the main thread if it admits it and has nothing pending, as
//   Linux does, else to the running thread, else to any that admits it.
// When the target is the running thread and the signal interrupted the program's own code
// (not the hub, not greenshim, libev or Boost.Context, whose state a handler that waits
// would find half-changed), the handler runs at once. Anything else is made pending and
// the hub kicked; on its fiber (on_kick) the signal is placed and its thread woken, to run
// the handler at the end of its park.
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <cstring>
#include <utility>

#include "signal_hub.hpp"
#include "thread.hpp"

namespace gd = green::detail;

namespace green::shim {

namespace {

void resync(HubSignals& hs) noexcept {
  std::uint64_t all = 0;
  for (std::uint64_t left = hs.count > 0 ? hs.some_block : 0; left != 0; left &= left - 1) {
    const int s = __builtin_ctzll(left) + 1;
    if (hs.blocked[s - 1] == hs.count) all |= sig_bit(s);
  }
  all &= ~kKernelNeverBlocks;
  const std::uint64_t add = all & ~hs.kernel_blocked, del = hs.kernel_blocked & ~all;
  hs.kernel_blocked = all;
  // Relative changes: bits that libev or glibc block for themselves stay as they are.
  if (add != 0) {
    const sigset_t set = set_of(add);
    REAL(pthread_sigmask)(SIG_BLOCK, &set, nullptr);
  }
  if (del != 0) {
    const sigset_t set = set_of(del);
    REAL(pthread_sigmask)(SIG_UNBLOCK, &set, nullptr);
  }
}

void count(HubSignals& hs, std::uint64_t mask, int delta) noexcept {
  for (; mask != 0; mask &= mask - 1) {
    const int s = __builtin_ctzll(mask) + 1;
    hs.blocked[s - 1] = static_cast<std::uint16_t>(hs.blocked[s - 1] + delta);
    if (hs.blocked[s - 1] == 0) hs.some_block &= ~sig_bit(s); else hs.some_block |= sig_bit(s);
  }
}

void link(HubSignals& hs, SigCtx& c) noexcept {
  c.prev = nullptr;
  c.next = hs.head;
  if (hs.head != nullptr) hs.head->prev = &c;
  hs.head = &c;
  c.attached = true;
  ++hs.count;
  count(hs, c.mask.load(), +1);
}

void unlink(HubSignals& hs, SigCtx& c) noexcept {
  if (!c.attached) return;
  if (c.prev != nullptr) c.prev->next = c.next; else hs.head = c.next;
  if (c.next != nullptr) c.next->prev = c.prev;
  c.prev = c.next = nullptr;
  c.attached = false;
  --hs.count;
  count(hs, c.mask.load(), -1);
}

}  // namespace

HubSignals* find_signals(gd::Hub& hub) noexcept {
  return static_cast<HubSignals*>(hub.signal_state.load(std::memory_order_acquire));
}

HubSignals& signals_of(gd::Hub& hub) noexcept {
  if (HubSignals* hs = find_signals(hub)) return *hs;
  auto* hs = new HubSignals;  // lives as long as the hub's OS thread can take a signal
  sigset_t now;
  REAL(pthread_sigmask)(SIG_BLOCK, nullptr, &now);
  hs->main.g = hub.main_greenlet();
  hs->main.hub = &hub;
  hs->main.mask = bits_of(now) & ~kUnblockable;
  hs->kernel_blocked = hs->main.mask;
  link(*hs, hs->main);
  hub.signal_state.store(hs, std::memory_order_release);
  return *hs;
}

SigCtx* ctx_of(gd::GreenletImpl* g, HubSignals& hs) noexcept {
  if (g->origin == gd::GreenletImpl::Origin::pthread) {
    SigCtx& c = static_cast<GreenThread*>(g)->sig;
    return c.attached ? &c : nullptr;
  }
  return hs.main.attached ? &hs.main : nullptr;
}

namespace {

bool admits(const SigCtx& c, std::uint64_t bit) noexcept { return (c.mask.load() & bit) == 0; }

// Has `c`'s thread take what is pending for it: woken if it is parked (its park's end
// delivers), else at its next park.
void nudge(SigCtx& c) noexcept {
  c.g->note_signal();
  if (c.g->parked()) gd::Hub::wake(c.g, gd::Wake::signaled);
}

void keep_note(SigCtx& c, const siginfo_t& info) noexcept {
  SigNote* slot = nullptr;
  for (SigNote& n : c.notes) {
    if (n.signo == info.si_signo) slot = &n;
    if (slot == nullptr && n.signo == 0) slot = &n;
  }
  if (slot != nullptr) *slot = {info.si_signo, info.si_code, info.si_pid, info.si_uid, info.si_value};
}

siginfo_t take_note(SigCtx& c, int s) noexcept {
  siginfo_t info{};
  info.si_signo = s;
  info.si_code = SI_USER;
  for (SigNote& n : c.notes) {
    if (n.signo != s) continue;
    info.si_code = n.code;
    info.si_pid = n.pid;
    info.si_uid = n.uid;
    info.si_value = n.value;
    n.signo = 0;
  }
  return info;
}

void make_pending(SigCtx& c, const siginfo_t& info) noexcept {
  const int s = info.si_signo;
  keep_note(c, info);
  c.pending.fetch_or(sig_bit(s));
  c.g->note_signal();
}

void on_kick(gd::Hub& hub) {
  HubSignals* hs = find_signals(hub);
  if (hs == nullptr || !hs->dirty.exchange(false)) return;
  place_process_signals(hub);
  for (SigCtx* c = hs->head; c != nullptr; c = c->next) {
    if (c->pending.load() & (~c->mask.load() | c->waiting)) nudge(*c);
  }
}

bool on_park(gd::GreenletImpl* g, gd::Eintr eintr) {
  gd::Hub* hub = g->hub();
  HubSignals* hs = hub ? find_signals(*hub) : nullptr;
  SigCtx* c = hs ? ctx_of(g, *hs) : nullptr;
  return c != nullptr && deliver_now(*c, eintr);
}

const bool hooks_set = (gd::Hub::set_kick_hook(&on_kick), gd::Hub::set_signal_hook(&on_park), true);

bool synchronous(int sig, const siginfo_t* info) noexcept {
  // A fault belongs to the instruction that made it: its handler runs right there.
  return (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE || sig == SIGTRAP || sig == SIGSYS) &&
         info != nullptr && info->si_code > 0;
}

}  // namespace

void drop_kernel_never_blocked(sigset_t& set) noexcept { sigdelset(&set, SIGSYS); }

void fill_handler_mask(sigset_t& set) noexcept {
  sigfillset(&set);
  drop_kernel_never_blocked(set);
}

std::uint64_t bits_of(const sigset_t& set) noexcept {
  std::uint64_t bits = 0;
  std::memcpy(&bits, &set, sizeof bits);  // glibc: signal s is bit s-1 of the first word
  return bits;
}

sigset_t set_of(std::uint64_t bits) noexcept {
  sigset_t set;
  sigemptyset(&set);
  std::memcpy(&set, &bits, sizeof bits);
  return set;
}

SigCtx* current_sig_ctx() noexcept {
  if (!hooks_active || gd::tls_no_hooks != 0) return nullptr;
  gd::Hub* hub = gd::Hub::current_if_exists();
  if (hub == nullptr || hub->in_hub_fiber()) return nullptr;
  return ctx_of(hub->running(), signals_of(*hub));
}

void hub_signals_init(gd::Hub& hub) noexcept { signals_of(hub); }

SigCtx* hub_main_ctx(gd::Hub& hub) noexcept {
  HubSignals& hs = signals_of(hub);
  return hs.main.attached ? &hs.main : nullptr;
}

void sig_ctx_attach(SigCtx& c, gd::GreenletImpl* g, std::uint64_t mask) noexcept {
  HubSignals& hs = signals_of(gd::Hub::current());
  c.g = g;
  c.hub = &gd::Hub::current();
  c.mask = mask & ~kUnblockable;
  c.pending = 0;
  link(hs, c);
  resync(hs);
}

void sig_ctx_detach(SigCtx& c) noexcept {
  gd::Hub* hub = c.hub;
  HubSignals* hs = hub ? find_signals(*hub) : nullptr;
  if (hs == nullptr || !c.attached) return;
  // A signal the process was sent may have been placed here as the thread ended: its
  // handler runs now, as it would have before the thread's last instructions.
  deliver_now(c, gd::Eintr::never);
  unlink(*hs, c);
  resync(*hs);
  // What was directed at it dies with it; what the process was sent finds another thread.
  c.pending = 0;
  if (hs->process_pending.load() != 0) place_process_signals(*hub);
}

namespace {
void apply_mask(SigCtx& c, std::uint64_t mask) noexcept {
  mask &= ~kUnblockable;
  const std::uint64_t old = c.mask.exchange(mask);
  if (old == mask || !c.attached) return;
  HubSignals& hs = *find_signals(*c.hub);
  count(hs, old, -1);
  count(hs, mask, +1);
  resync(hs);
}
}  // namespace

bool set_thread_mask(SigCtx& c, std::uint64_t mask, gd::Eintr eintr) noexcept {
  apply_mask(c, mask);
  if (find_signals(*c.hub)->process_pending.load() != 0) place_process_signals(*c.hub);
  return deliver_now(c, eintr);
}

void send_to_thread(SigCtx& c, const siginfo_t& info) noexcept {
  make_pending(c, info);
  gd::Hub* home = c.hub;
  if (home == gd::tls_hub && !home->in_hub_fiber()) {
    if (home->running() == c.g) {
      deliver_now(c, gd::Eintr::never);  // before pthread_kill returns, as raise() does
    } else if (c.pending.load() & (~c.mask.load() | c.waiting)) {
      nudge(c);
    }
    return;
  }
  find_signals(*home)->dirty.store(true);
  home->kick();
}

int take_pending(SigCtx& c, std::uint64_t set, siginfo_t* info) noexcept {
  HubSignals& hs = *find_signals(*c.hub);
  for (std::atomic<std::uint64_t>* from : {&c.pending, &hs.process_pending}) {
    const std::uint64_t have = from->load() & set;
    if (have == 0) continue;
    const int s = __builtin_ctzll(have) + 1;
    if (!(from->fetch_and(~sig_bit(s)) & sig_bit(s))) continue;
    const siginfo_t got = from == &c.pending ? take_note(c, s) : hs.process_info[s - 1];
    if (info != nullptr) *info = got;
    return s;
  }
  return 0;
}

std::uint64_t pending_for(SigCtx& c) noexcept {
  return c.pending.load() | find_signals(*c.hub)->process_pending.load();
}

bool deliver_now(SigCtx& c, gd::Eintr eintr) noexcept {
  bool ended = false;
  for (;;) {
    const std::uint64_t ready = c.pending.load() & ~c.mask.load();
    if (ready == 0) return ended;
    const int s = __builtin_ctzll(ready) + 1;
    if (!(c.pending.fetch_and(~sig_bit(s)) & sig_bit(s))) continue;
    const siginfo_t info = take_note(c, s);
    ended |= run_handler(c, info, eintr);
  }
}

bool run_handler(SigCtx& c, const siginfo_t& info, gd::Eintr eintr, void* uctx) noexcept {
  const int s = info.si_signo;
  const struct sigaction a = user_action(s);
  const bool siginfo = (a.sa_flags & SA_SIGINFO) != 0;
  if (!siginfo && (a.sa_handler == SIG_IGN || a.sa_handler == SIG_DFL)) {
    if (a.sa_handler == SIG_DFL) default_action(s);
    return false;
  }
  if (a.sa_flags & SA_RESETHAND) reset_to_default(s);
  const std::uint64_t before = c.mask.load();
  std::uint64_t during = before | bits_of(a.sa_mask);
  if (!(a.sa_flags & SA_NODEFER)) during |= sig_bit(s);
  apply_mask(c, during);
  // Run at the end of a park (no kernel context), it runs inside greenshim's frames, which no
  // exception may cross: a kill or a cancellation waits for the thread's next blocking call.
  const bool in_park = uctx == nullptr;
  GreenThread* thread = c.g->origin == gd::GreenletImpl::Origin::pthread ? static_cast<GreenThread*>(c.g) : nullptr;
  bool cancel_was = false;
  if (in_park) {
    c.g->hold_interrupts(true);
    if (thread != nullptr) cancel_was = std::exchange(thread->cancel_enabled, false);
  }
  ucontext_t here{};
  if (in_park) {
    here.uc_sigmask = set_of(before);
    uctx = &here;
  }
  siginfo_t copy = info;
  const int saved = errno;
  ++tls_program_handler;
  if (siginfo) {
    a.sa_sigaction(s, &copy, uctx);
  } else {
    a.sa_handler(s);
  }
  --tls_program_handler;
  errno = saved;
  if (in_park) {
    c.g->hold_interrupts(false);
    if (thread != nullptr) {
      thread->cancel_enabled = cancel_was;
      if (cancel_was && thread->cancel_requested && !thread->unwinding) arm_cancel(thread);
    }
  }
  apply_mask(c, before);
  if (eintr == gd::Eintr::always) return true;
  return eintr == gd::Eintr::unless_restart && !(a.sa_flags & SA_RESTART);
}

void place_process_signals(gd::Hub& hub) noexcept {
  HubSignals& hs = signals_of(hub);
  std::uint64_t left = hs.process_pending.load();
  while (left != 0) {
    const int s = __builtin_ctzll(left) + 1;
    const std::uint64_t bit = sig_bit(s);
    left &= ~bit;
    SigCtx* target = nullptr;
    for (SigCtx* c = hs.head; c != nullptr && target == nullptr; c = c->next) {
      if (c->waiting & bit) target = c;  // a sigwait() for it takes it first
    }
    if (target == nullptr && hs.main.attached && admits(hs.main, bit) && hs.main.pending.load() == 0) {
      target = &hs.main;
    }
    for (SigCtx* c = hs.head; c != nullptr && target == nullptr; c = c->next) {
      if (admits(*c, bit)) target = c;
    }
    if (target == nullptr) continue;  // everyone blocks it: it waits, as in the kernel
    if (!(hs.process_pending.fetch_and(~bit) & bit)) continue;
    make_pending(*target, hs.process_info[s - 1]);
    nudge(*target);
  }
}

void signals_after_fork(gd::GreenletImpl* survivor) noexcept {
  gd::Hub* hub = survivor->hub();
  HubSignals* hs = hub ? find_signals(*hub) : nullptr;
  if (hs == nullptr) return;
  SigCtx* keep = ctx_of(survivor, *hs);
  while (hs->head != nullptr) unlink(*hs, *hs->head);
  // A child starts with no signal pending (fork(2)).
  hs->process_pending = 0;
  if (keep != nullptr) {
    keep->pending = 0;
    for (SigNote& n : keep->notes) n.signo = 0;
    link(*hs, *keep);
  }
  resync(*hs);
}

// From greenshim's handler of `sig` (signal.cpp), on the hub's OS thread: true if the
// signal was routed (its handler ran, or it is pending for a thread), false if the caller
// should run the program's handler where it is (a fault, a thread that is no greenlet).
bool route_signal(int sig, siginfo_t* info, void* uctx) noexcept {
  gd::Hub* hub = gd::Hub::current_if_exists();
  HubSignals* hs = hub ? find_signals(*hub) : nullptr;
  if (hs == nullptr || synchronous(sig, info)) return false;
  if (hub->is_preempt_tick(info)) {
    preempt_tick(*hub, *hs, uctx);
    return true;
  }
  const std::uint64_t bit = sig_bit(sig);
  const bool in_runtime = hub->in_hub_fiber() || gd::tls_no_hooks != 0 || interrupted_runtime(uctx);
  SigCtx* here = in_runtime ? nullptr : ctx_of(hub->running(), *hs);
  const bool directed = sig == SIGPIPE || (info->si_code == SI_TKILL && info->si_pid == getpid());
  SigCtx* target = nullptr;
  if (directed) {
    if (!hub->in_hub_fiber()) target = ctx_of(hub->running(), *hs);
  } else if (!in_runtime) {
    // The contexts' list is changed only by greenshim's code, which the signal did not
    // interrupt: it can be walked.
    if (hs->main.attached && admits(hs->main, bit) && hs->main.pending.load() == 0) target = &hs->main;
    else if (here != nullptr && admits(*here, bit)) target = here;
    for (SigCtx* c = hs->head; c != nullptr && target == nullptr; c = c->next) {
      if (admits(*c, bit)) target = c;
    }
  }
  if (target != nullptr && target == here && admits(*here, bit)) {
    auto* uc = static_cast<ucontext_t*>(uctx);
    // The kernel blocked everything for greenshim's handler: back to the mask the signal
    // interrupted, which the program's handler then adds its own mask to.
    sigset_t interrupted = uc->uc_sigmask;
    drop_kernel_never_blocked(interrupted);
    REAL(pthread_sigmask)(SIG_SETMASK, &interrupted, nullptr);
    run_handler(*here, *info, gd::Eintr::never, uctx);
    deliver_now(*here, gd::Eintr::never);
    // sigreturn restores the mask saved at the signal: make that the one in force now.
    REAL(pthread_sigmask)(SIG_BLOCK, nullptr, &uc->uc_sigmask);
    return true;
  }
  if (target != nullptr) {
    make_pending(*target, *info);
  } else {
    hs->process_info[sig - 1] = *info;
    hs->process_pending.fetch_or(bit);
  }
  hs->dirty.store(true);
  hub->kick();  // ev_async_send: async-signal-safe
  return true;
}

}  // namespace green::shim
