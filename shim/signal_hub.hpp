// The signal state of one hub (signal_state.hpp describes it), shared by the files that
// route signals (signal_deliver.cpp) and that decide where a thread may be switched out
// (signal_preempt.cpp).
#pragma once

#include "signal_state.hpp"

namespace green::shim {

struct HubSignals {
  SigCtx main;  // the hub OS thread's own: the main greenlet's and the API greenlets'
  SigCtx* head = nullptr;
  int count = 0;
  std::uint16_t blocked[64] = {};  // how many of the contexts block each signal
  std::uint64_t some_block = 0;    // the signals with blocked[s-1] > 0
  std::uint64_t kernel_blocked = 0;  // what the shim has the kernel block: what all block
  std::atomic<std::uint64_t> process_pending{0};  // came when no thread could take it yet
  siginfo_t process_info[64]{};
  std::atomic<bool> dirty{false};  // a signal waits to be placed or its thread woken
};

// The hub's signal state, or nullptr if none was made yet (allocation-free: a signal
// handler asks).
HubSignals* find_signals(detail::Hub& hub) noexcept;
// Same, made on first use (the main thread's context from the OS thread's mask).
HubSignals& signals_of(detail::Hub& hub) noexcept;
// The context of greenlet `g` of that hub: a greenlet thread's own, else the main
// thread's; nullptr for a thread already detached.
SigCtx* ctx_of(detail::GreenletImpl* g, HubSignals& hs) noexcept;
// Whether the signal whose kernel context is `uctx` interrupted greenshim, libev or
// Boost.Context (whose state a handler that waits would find half-changed).
bool interrupted_runtime(const void* uctx) noexcept;
// A tick of the hub's preemption timer, in the signal handler.
void preempt_tick(detail::Hub& hub, HubSignals& hs, void* uctx) noexcept;

}  // namespace green::shim
