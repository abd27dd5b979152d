// System calls from outside glibc, trapped (syscall_trap.cpp).
#pragma once

#include <signal.h>

#include "hub.hpp"

namespace green::shim {

// Turns the trap on for `hub`'s OS thread (its first greenlet thread; GREEN_TRAP_SYSCALLS=0:
// never). Called on that OS thread.
void start_syscall_trap(detail::Hub& hub) noexcept;
// Whether `nr` can wait, and so is made through its hook by cooperative_call().
bool cooperative_syscall(long nr) noexcept;
// Makes system call `nr` through its hook (in a greenlet: parking it) and returns what
// the kernel would: the result or -errno, errno untouched.
long cooperative_call(long nr, const long* a);
// From greenshim's SIGSYS handler: true if the signal was a trapped system call, which is
// then made (or will be, by the stub, once the handler returns).
bool syscall_trapped(siginfo_t* info, void* uctx) noexcept;

}  // namespace green::shim
