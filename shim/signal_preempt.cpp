// Where a greenlet thread may be switched out, or have a handler run at once: only where a
// signal interrupted the program's own code. Code whose state a switch would leave
// half-changed (greenshim's, libev's, Boost.Context's) is never such a place, nor, for
// preemption, code that holds locks no hook sees (glibc's, the C++ runtime's, the
// unwinder's, the loader's): another greenlet of the hub waiting on one of those would put
// the whole OS thread to sleep.
#include <dlfcn.h>
#include <ucontext.h>

#include <exception>

#include "config.hpp"
#include "libc_entry.hpp"
#include "signal_hub.hpp"
#include "thread.hpp"

extern "C" int ev_run(struct ev_loop*, int);
extern "C" int _Unwind_RaiseException(void*);

namespace gd = green::detail;

namespace green::shim {

namespace {

struct TextRange {
  std::uintptr_t lo = 0, hi = 0;
};
// runtime_text: greenshim (the runtime is in the same object), libev, Boost.Context.
// locking_text: glibc, libstdc++, libgcc_s (the unwinder), the loader.
TextRange runtime_text[3], locking_text[4];

void find_text(const void* addr, TextRange& out) { code_segment(addr, out.lo, out.hi); }

const bool text_found = [] {
  find_text(reinterpret_cast<const void*>(&find_text), runtime_text[0]);
  find_text(reinterpret_cast<const void*>(&ev_run), runtime_text[1]);
  find_text(reinterpret_cast<const void*>(&boost::context::detail::jump_fcontext), runtime_text[2]);
  find_text(libc_code(), locking_text[0]);
  find_text(reinterpret_cast<const void*>(&std::terminate), locking_text[1]);
  find_text(reinterpret_cast<const void*>(&_Unwind_RaiseException), locking_text[2]);
  if (void* ld = dlsym(RTLD_DEFAULT, "_dl_find_object")) find_text(ld, locking_text[3]);
  return true;
}();

bool pc_in(const void* uctx, const TextRange* ranges, std::size_t n) noexcept {
  const auto* uc = static_cast<const ucontext_t*>(uctx);
  const auto pc = static_cast<std::uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]);
  for (std::size_t i = 0; i < n; ++i) {
    if (pc >= ranges[i].lo && pc < ranges[i].hi) return true;
  }
  return false;
}

}  // namespace

bool interrupted_runtime(const void* uctx) noexcept { return pc_in(uctx, runtime_text, 3); }

// A tick: the running greenlet thread yields if it has run a whole interval and was
// interrupted where a switch is safe (its own code, signals not blocked by the program).
// An asynchronous cancellation armed for it is acted on at the same points, whatever the
// thread's mask (signals do not block cancellation).
void preempt_tick(gd::Hub& hub, HubSignals& hs, void* uctx) noexcept {
  const bool due = hub.preempt_due();
  gd::GreenletImpl* cur = hub.running();
  const bool cancel = !hub.in_hub_fiber() && async_cancel_due(cur);
  if (!due && !cancel) return;
  SigCtx* c = ctx_of(cur, hs);
  if (c == nullptr || c->g != cur) return;
  if (!cancel && (c->mask.load() & sig_bit(gd::Hub::kPreemptSignal))) return;
  if (gd::tls_no_hooks != 0 || interrupted_runtime(uctx) || pc_in(uctx, locking_text, 4)) return;
  if (in_libc_stubs(static_cast<std::uintptr_t>(static_cast<const ucontext_t*>(uctx)->uc_mcontext.gregs[REG_RIP]))) return;
  gd::Hub::preempt_inject(uctx);
}

void start_preemption(gd::Hub& hub) noexcept {
  const long interval = gd::config().preempt_ns;
  if (interval <= 0 || hub.preempt_enabled()) return;
  signals_of(hub);
  keep_trampoline(gd::Hub::kPreemptSignal);
  gd::NoHooks off;
  hub.preempt_start(interval);
}

}  // namespace green::shim
