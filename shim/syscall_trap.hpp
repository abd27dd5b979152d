// System calls from outside glibc, trapped (syscall_trap.cpp).
#pragma once

#include <signal.h>

#include "hub.hpp"

namespace green::shim {

// Turns the trap on for `hub`'s OS thread (its first greenlet thread; GREEN_TRAP_SYSCALLS=0:
// never). Called on that OS thread.
void start_syscall_trap(detail::Hub& hub) noexcept;
// From greenshim's SIGSYS handler: true if the signal was a trapped system call, which is
// then made (or will be, by the stub, once the handler returns).
bool syscall_trapped(siginfo_t* info, void* uctx) noexcept;

}  // namespace green::shim
