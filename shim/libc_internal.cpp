// glibc's internal functions that have no exported name to interpose, reached through their
// rerouted entries (libc_entry.cpp).
//
// __lll_lock_wait_private is where a contended glibc-internal lock sleeps: a FILE lock
// held by another thread (flockfile, or a printf that blocks writing to a full pipe),
// the locale, environment and resolver locks. The holder's unlock is glibc's own
// (__lll_lock_wake_private: a FUTEX_WAKE to the kernel), so a greenlet thread sleeps on
// the kernel's futex through its hub, and other greenlets go on running meanwhile.
//
// __close_nocancel is how fclose() and the resolver close their descriptors: the fd table
// must forget them as it does for close().
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fd_table.hpp"
#include "hook.hpp"
#include "libc_entry.hpp"

namespace gd = green::detail;
using namespace green::shim;

namespace {

// What glibc's lll_lock word holds: 0 free, 1 taken, 2 taken with possible sleepers.
void sleep_while_taken(int* futex) {
  gd::Hub* hub = green_context();
  if (hub == nullptr) {
    REAL(syscall)(SYS_futex, futex, FUTEX_WAIT | FUTEX_PRIVATE_FLAG, 2, nullptr, nullptr, 0);
    return;
  }
  // Not a cancellation point, and no handler ends it (glibc's loop would sleep again).
  const gd::Wake w =
      hub->futex_wait(reinterpret_cast<std::uint32_t*>(futex), 2, false, gd::kNoDeadline, gd::kUninterruptible);
  if (w == gd::Wake::none) hub->park(gd::now_ns() + 100000, gd::kUninterruptible);  // no io_uring futex: poll
}

}  // namespace

extern "C" void green_lll_lock_wait_private(int* futex) {
  if (__atomic_load_n(futex, __ATOMIC_RELAXED) == 2) sleep_while_taken(futex);
  while (__atomic_exchange_n(futex, 2, __ATOMIC_ACQUIRE) != 0) sleep_while_taken(futex);
}

extern "C" int green_close_nocancel(int fd) {
  // posix_spawn's child (hooks off) closes in the parent's memory: the parent's table
  // must not forget the parent's descriptors.
  if (gd::tls_no_hooks == 0) fd_closing(hooks_active ? gd::Hub::current_if_exists() : nullptr, fd);
  return real_close_nocancel(fd);
}
