// Rerouting glibc's internal calls into the hooks (libc_entry.cpp).
#pragma once

#include <cstdint>

namespace green::shim {

// Once, after resolve_real() and before the hooks go live (GREEN_PATCH_LIBC=0: never):
// the functions glibc calls internally jump to their hooks, and REAL() of each is then its
// original code, moved.
void patch_libc_entries() noexcept;
// An address in glibc's own code (its getpid), never a program's PLT entry (which is what
// &::getpid is in a program built without PIE).
const void* libc_code() noexcept;
// The executable segment of the loaded object that holds `addr`, as [lo, hi); false if none.
bool code_segment(const void* addr, std::uintptr_t& lo, std::uintptr_t& hi) noexcept;
// Whether `pc` is in the stubs and moved entries: glibc's code for preemption's purposes.
bool in_libc_stubs(std::uintptr_t pc) noexcept;
// Whether every call glibc's resolver may wait in reaches the hooks (asked after the
// hooks went live): name lookups can then run in the calling thread.
bool resolver_cooperates() noexcept;
// glibc's __close_nocancel (moved), which fclose() and the resolver close through.
extern int (*real_close_nocancel)(int);

}  // namespace green::shim
