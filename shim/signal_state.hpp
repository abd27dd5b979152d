// Signal state per greenlet thread, as POSIX gives each thread its own: a mask, a set of
// pending signals, and the handlers that run in it (GNU Pth's design).
//
// The hub's OS thread is the only thread the kernel knows. Its kernel mask blocks a signal
// only while every thread of the hub blocks it, so the kernel delivers what any of them
// admits. The shim then runs the handler in a thread that admits the signal: at once, in
// the running one, when the signal interrupted that thread's own code; else at that
// thread's next park or the end of the park it is in (Hub::set_signal_hook), which a
// signal may end (EINTR) as the kernel's would.
//
// Masks and pending sets are 64-bit words, bit s-1 for signal s (Linux has 64 signals):
// a signal handler reads them, so they are atomics.
#pragma once

#include <signal.h>

#include <atomic>
#include <cstdint>

#include "hook.hpp"

namespace green::shim {

// Non-zero while a handler of the program's runs in this thread: its own system calls are
// its own, never made to wait cooperatively (syscall_trap.cpp).
extern __thread int tls_program_handler __attribute__((tls_model("initial-exec")));

inline constexpr std::uint64_t sig_bit(int s) { return std::uint64_t{1} << (s - 1); }
// What no thread can block: SIGKILL, SIGSTOP, and glibc's own two (cancellation, setxid).
inline constexpr std::uint64_t kUnblockable = sig_bit(SIGKILL) | sig_bit(SIGSTOP) | sig_bit(32) | sig_bit(33);
// What greenshim never lets the kernel block on a hub's OS thread: SIGSYS, by which the
// system-call trap runs (syscall_trap.cpp). The kernel kills a process whose trap finds
// SIGSYS blocked; the threads' own masks still hold it, and greenshim honours them.
inline constexpr std::uint64_t kKernelNeverBlocks = kUnblockable | sig_bit(SIGSYS);
// `set` less kKernelNeverBlocks: a mask for the kernel.
void drop_kernel_never_blocked(sigset_t& set) noexcept;
// The handler mask greenshim's own handler runs with: everything the kernel may block.
void fill_handler_mask(sigset_t& set) noexcept;
std::uint64_t bits_of(const sigset_t& set) noexcept;
sigset_t set_of(std::uint64_t bits) noexcept;

// What a handler's siginfo_t says of a pending signal, kept small: a thread's context
// fits in the slot its thread lives in (thread_arena.cpp).
struct SigNote {
  int signo = 0;  // 0: a free note
  int code = 0;
  pid_t pid = 0;
  uid_t uid = 0;
  sigval value{};
};

struct SigCtx {
  std::atomic<std::uint64_t> mask{0};
  std::atomic<std::uint64_t> pending{0};  // directed at this thread, not yet delivered
  // The siginfo of up to four pending signals (a signal is pending once, not queued);
  // beyond that, a handler sees SI_USER with no sender.
  SigNote notes[4];
  std::uint64_t waiting = 0;              // the set its sigwait() takes, while in one
  detail::GreenletImpl* g = nullptr;
  detail::Hub* hub = nullptr;  // the hub whose threads it is one of
  SigCtx* prev = nullptr;
  SigCtx* next = nullptr;
  bool attached = false;
};

// The calling greenlet's context, or nullptr on a thread that is not a greenlet, on the
// hub fiber, or with the hooks off. The main greenlet, and greenlets of the C++ API, have
// the hub OS thread's own.
SigCtx* current_sig_ctx() noexcept;
// A new greenlet thread's context (mask from its creator) joins the creator's hub; the
// thread leaves at its end. Pending signals die with it.
void sig_ctx_attach(SigCtx& c, detail::GreenletImpl* g, std::uint64_t mask) noexcept;
void sig_ctx_detach(SigCtx& c) noexcept;
// Sets the calling thread's mask (kUnblockable bits are dropped) and delivers what it
// unblocked before returning, as pthread_sigmask must. Returns whether a handler ran that
// ends a wait of policy `eintr`.
bool set_thread_mask(SigCtx& c, std::uint64_t mask, detail::Eintr eintr = detail::Eintr::never) noexcept;
// Makes `hub`'s signal state, before any signal can need it (the hub's adoption; a
// handler's installation).
void hub_signals_init(detail::Hub& hub) noexcept;
// The hub OS thread's own context (the main thread's), or nullptr if it vanished (fork).
SigCtx* hub_main_ctx(detail::Hub& hub) noexcept;
// The calling thread's mask replaced by `mask` for one wait (sigsuspend, ppoll, pselect,
// epoll_pwait) and given back at the end of the scope; no-op for a null mask or a caller
// that is no greenlet thread. `handled`: a handler already ran as the mask was set (the
// wait reports EINTR at once).
class MaskDuring {
 public:
  explicit MaskDuring(const sigset_t* mask) noexcept : c_(mask != nullptr ? current_sig_ctx() : nullptr) {
    if (c_ == nullptr) return;
    before_ = c_->mask.load();
    handled = set_thread_mask(*c_, bits_of(*mask), detail::Eintr::always);
  }
  ~MaskDuring() {
    if (c_ != nullptr) set_thread_mask(*c_, before_);
  }
  MaskDuring(const MaskDuring&) = delete;
  MaskDuring& operator=(const MaskDuring&) = delete;
  // Whether the mask is the thread's now (the kernel calls then need none of their own).
  bool active() const noexcept { return c_ != nullptr; }
  bool handled = false;

 private:
  SigCtx* c_;
  std::uint64_t before_ = 0;
};

// Makes `info.si_signo` pending for `c`'s thread (pthread_kill, pthread_sigqueue, tgkill
// to its ID) and has it run the handler: at once if `c` is the caller's. From any thread.
void send_to_thread(SigCtx& c, const siginfo_t& info) noexcept;
// Takes one pending signal of `set` for `c`: its own, then the hub's process-directed
// ones. 0 if none.
int take_pending(SigCtx& c, std::uint64_t set, siginfo_t* info) noexcept;
// The signals pending for `c` (sigpending(), without the kernel's).
std::uint64_t pending_for(SigCtx& c) noexcept;
// Runs the handlers of what is pending and unblocked for the calling thread. Returns
// whether one ran that ends a wait of policy `eintr`.
bool deliver_now(SigCtx& c, detail::Eintr eintr) noexcept;
// The hub's process-directed signals that no thread admitted when they came go to one
// that admits them now, or to one in sigwait() for them (after a mask change).
void place_process_signals(detail::Hub& hub) noexcept;
// In a fork() child: only the forking greenlet's context is left.
void signals_after_fork(detail::GreenletImpl* survivor) noexcept;
// The program's disposition of `sig` (sigaction() as the program set it) (signal.cpp).
struct sigaction user_action(int sig) noexcept;
// SA_RESETHAND: the disposition goes back to SIG_DFL as the handler starts.
void reset_to_default(int sig) noexcept;
// What SIG_DFL does with a signal taken by a thread: nothing, stop, or end the process.
void default_action(int sig) noexcept;
// Runs the program's handler (or default action) for one signal in the calling thread,
// with the mask POSIX gives a handler; returns whether it ends a wait of policy `eintr`.
// `uctx`: the kernel's context when the kernel's signal interrupted this very thread.
bool run_handler(SigCtx& c, const siginfo_t& info, detail::Eintr eintr, void* uctx = nullptr) noexcept;
// Preemption of the hub's greenlet threads (GREEN_PREEMPT_MS), started with its first
// one: its tick signal keeps greenshim's handler whatever the program sets.
void start_preemption(detail::Hub& hub) noexcept;
// Has the kernel run greenshim's handler for `sig` from now on, whatever disposition the
// program gives it (which greenshim then applies itself) (signal.cpp).
void keep_trampoline(int sig) noexcept;
// From greenshim's handler of `sig`, on the hub's OS thread: true if the signal was routed
// (its handler ran, or it is pending for a thread), false if the caller runs the program's
// handler where it is (a fault, a thread that is no greenlet).
bool route_signal(int sig, siginfo_t* info, void* uctx) noexcept;

}  // namespace green::shim
