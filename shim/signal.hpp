// What the shim knows about signal handlers that ran: sigaction() wraps every handler
// the program installs so that, after it runs, a blocked call can report EINTR as libc's
// would (signal(7), "Interruption of system calls and library functions by signal
// handlers").
#pragma once

#include <cstdint>

#include "hook.hpp"

namespace green::shim {

// Bumped after each run of a program's handler; waits for "any signal" (pause,
// sigsuspend) watch it.
std::uint64_t signal_epoch() noexcept;

}  // namespace green::shim
