// Preemption of a greenlet that runs without blocking (GREEN_PREEMPT_MS), as Go has done
// since 1.14: a per-hub timer signal; when a tick finds the same greenlet running as at the
// previous one, the signal handler rewrites the interrupted context so that, once the
// handler has returned, the greenlet "calls" green_preempt_stub, which saves every register
// (the vector state by XSAVE), yields, and resumes where it was. The greenlet yields in its
// own context, not inside the handler: the kernel's signal frame and mask are long gone.
//
// The stub is saving_stub.hpp's.
#include <cpuid.h>
#include <signal.h>
#include <time.h>
#include <ucontext.h>

#include <atomic>
#include <cerrno>

#include "hub.hpp"
#include "saving_stub.hpp"

extern "C" {
// Where the preempted greenlet resumes; set by the signal handler in the greenlet's own TLS
// (the one the stub then reads: the same thread pointer).
__attribute__((visibility("hidden"), tls_model("initial-exec"))) __thread std::uintptr_t green_preempt_pc = 0;
// Bytes XSAVE writes for the features the kernel enabled (CPUID 0xD), 64-byte multiple.
__attribute__((visibility("hidden"))) std::uintptr_t green_xsave_size = 4096;  // also the syscall trap's stub
// Not noexcept: an asynchronous cancellation unwinds from it (forced unwind), through the
// stub, whose unwind table leads to the interrupted instruction.
__attribute__((visibility("hidden"), used)) void green_preempt_point(long* regs);
void green_preempt_stub();
}

asm(GREEN_SAVING_STUB(green_preempt_stub, green_preempt_pc, green_preempt_point));

namespace green::detail {

namespace {

// The stub saves the vector state with XSAVE: without it (and the kernel's enabling of it,
// OSXSAVE), no preemption.
const bool xsave_usable = [] {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE)) return false;
  if (!__get_cpuid_count(0xD, 0, &a, &b, &c, &d) || b == 0) return false;
  // The legacy area and the header are zeroed where XRSTOR reads them: at least 576 bytes.
  green_xsave_size = ((b < 576 ? 576 : b) + 63) & ~std::uintptr_t{63};
  return true;
}();

std::atomic<Hub::PreemptHook> preempt_hook{nullptr};

timer_t timer_of(void* t) { return static_cast<timer_t>(t); }

void set_interval(void* timer, long ns) noexcept {
  itimerspec its{};
  its.it_interval = {ns / 1000000000, ns % 1000000000};
  its.it_value = its.it_interval;
  timer_settime(timer_of(timer), 0, &its, nullptr);
}

}  // namespace

void Hub::set_preempt_hook(PreemptHook hook) noexcept { preempt_hook.store(hook); }

bool Hub::stub_usable() noexcept { return xsave_usable; }

bool Hub::preempt_start(long interval_ns) noexcept {
  if (preempt_on_ || interval_ns <= 0 || !xsave_usable) return preempt_on_;
  sigevent sev{};
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = kPreemptSignal;
  sev._sigev_un._tid = os_tid_;
  sev.sigev_value.sival_ptr = this;  // how a tick is told from the program's own SIGURG
  timer_t t;
  if (timer_create(CLOCK_MONOTONIC, &sev, &t) != 0) return false;
  preempt_timer_ = t;
  preempt_on_ = true;
  preempt_interval_ns_ = interval_ns;
  same_as_last_tick();
  set_interval(preempt_timer_, interval_ns);
  return true;
}

bool Hub::is_preempt_tick(const siginfo_t* info) const noexcept {
  return info != nullptr && info->si_signo == kPreemptSignal && info->si_code == SI_TIMER &&
         info->si_value.sival_ptr == this && preempt_on_;
}

bool Hub::preempt_due() noexcept {
  if (in_hub_fiber()) {
    // Idle (or polling): two ticks in a row and the timer stops until the hub runs a
    // greenlet again, so that an idle process takes no wake-ups.
    if (++idle_ticks_ >= 2 && !preempt_idle_.load(std::memory_order_relaxed)) {
      preempt_idle_.store(true, std::memory_order_relaxed);
      set_interval(preempt_timer_, 0);
    }
    return false;
  }
  idle_ticks_ = 0;
  return same_as_last_tick();
}

bool Hub::same_as_last_tick() noexcept {
  const bool same = tick_budget_ == budget_ && tick_poll_ns_ == last_poll_ns_ && tick_current_ == current_;
  tick_budget_ = budget_;
  tick_poll_ns_ = last_poll_ns_;
  tick_current_ = current_;
  return same;
}

void Hub::preempt_rearm() noexcept {
  preempt_idle_.store(false, std::memory_order_relaxed);
  idle_ticks_ = 0;
  same_as_last_tick();
  set_interval(preempt_timer_, preempt_interval_ns_);
}

void Hub::preempt_after_fork() noexcept {
  // Timers are not inherited: the child makes its own on its next need.
  preempt_on_ = false;
  preempt_idle_.store(false, std::memory_order_relaxed);
}

void Hub::preempt_inject(void* uctx) noexcept {
  auto* uc = static_cast<ucontext_t*>(uctx);
  green_preempt_pc = static_cast<std::uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]);
  uc->uc_mcontext.gregs[REG_RIP] = reinterpret_cast<greg_t>(&green_preempt_stub);
}

}  // namespace green::detail

void green_preempt_point(long*) {
  using green::detail::Hub;
  const int saved = errno;
  if (Hub* hub = Hub::current_if_exists()) {
    const Hub::PreemptHook hook = green::detail::preempt_hook.load();
    if (hook != nullptr) hook(hub->running());
    hub->preempt_yield();
    if (hook != nullptr) hook(hub->running());
  }
  errno = saved;
}
