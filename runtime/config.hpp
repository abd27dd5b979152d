// Settings read once from GREEN_* environment variables (docs/configuration.md lists them).
#pragma once

#include <cstddef>
#include <string>

#include "green/detail/core.hpp"

namespace green::detail {

struct Config {
  bool disable;                 // GREEN_DISABLE=1: a preloaded library stays inert
  bool green_threads;           // GREEN_THREADS: green (true) or real
  std::string real_threads;     // GREEN_REAL_THREADS: shared objects whose threads stay real
  std::size_t stack_size;       // GREEN_STACK_SIZE: usable bytes per greenlet stack
  std::size_t stack_pool;       // GREEN_STACK_POOL: stacks kept for reuse per hub
  long poll_interval_ns;        // GREEN_POLL_US: longest run of ready greenlets between polls
  unsigned offload_threads;     // GREEN_OFFLOAD_THREADS: real helper threads at most
  bool report_errors;           // GREEN_QUIET=1 silences the one-line failure reports
  bool fsbase_syscall;          // GREEN_FSBASE=syscall: thread pointers set by arch_prctl only
  long preempt_ns;              // GREEN_PREEMPT_MS: how long a greenlet thread may run (0: no preemption)
  bool patch_libc;              // GREEN_PATCH_LIBC: glibc's internal calls rerouted into the hooks
  bool trap_syscalls;           // GREEN_TRAP_SYSCALLS: system calls from outside glibc trap (Syscall User Dispatch)
  bool verbose;                 // GREEN_VERBOSE=1: say on stderr what greenshim could not set up
};

// The settings, read on first use. Each malformed or out-of-range value is reported in one
// line on stderr and replaced by its default.
GREEN_EXPORT const Config& config() noexcept;

// Parses "262144", "256k", "1M"; returns `fallback` for unset or malformed values.
GREEN_EXPORT std::size_t parse_size(const char* text, std::size_t fallback) noexcept;

}  // namespace green::detail
