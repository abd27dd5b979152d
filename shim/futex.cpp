// syscall(SYS_futex, …) for greenlets. libstdc++ waits on std::atomic::wait, and so on
// std::counting_semaphore, std::latch and std::barrier, by calling the futex system call
// through syscall(); a greenlet doing that would put the whole OS thread to sleep.
//
// FUTEX_WAIT[_BITSET] from a greenlet parks it in a per-hub table keyed by address;
// FUTEX_WAKE[_BITSET] wakes greenlets there first, then real threads through the kernel.
// Bitsets are treated as "any": a futex waiter must tolerate spurious wake-ups anyway.
// Every other system call, and every futex operation from a real thread, goes to the
// kernel unchanged.
#include <linux/futex.h>
#include <sys/syscall.h>

#include <cstdarg>
#include <unordered_map>

#include "park.hpp"
#include "syscall_trap.hpp"
#include "thread.hpp"

using namespace green::shim;
namespace gd = green::detail;

namespace {

using Waiters = std::unordered_map<const void*, gd::WaitQueue>;

Waiters& hub_waiters() { return gd::Hub::current().local<Waiters>(); }
gd::WaitQueue& waiters_of(const void* addr) { return hub_waiters()[addr]; }

long fail(int e) {
  errno = e;
  return -1;
}

long futex_wait(const int* addr, int val, const timespec* ts, bool absolute, bool realtime) {
  if (__atomic_load_n(addr, __ATOMIC_SEQ_CST) != val) return fail(EAGAIN);
  gd::Deadline deadline = gd::kNoDeadline;
  if (ts != nullptr) {
    if (!valid_timespec(*ts)) return fail(EINVAL);
    if (absolute) {
      timespec now;
      clock_gettime(realtime ? CLOCK_REALTIME : CLOCK_MONOTONIC, &now);
      deadline = gd::now_ns() + (timespec_ns(*ts) - timespec_ns(now));
    } else {
      deadline = gd::now_ns() + timespec_ns(*ts);
    }
  }
  // A real thread's wake goes to the kernel, not to us: look again now and then.
  gd::Deadline until = deadline;
  if (real_threads_started()) {
    const gd::Deadline poll = gd::now_ns() + 2000000;
    if (poll < until) until = poll;
  }
  gd::WaitQueue& q = waiters_of(addr);
  const gd::Wake w = gd::wait_on_nothrow(q, until, gd::kUninterruptible);
  if (q.empty()) hub_waiters().erase(addr);
  if (w == gd::Wake::timed_out && until == deadline) return fail(ETIMEDOUT);
  return 0;  // woken, or a poll: the caller re-checks its word either way
}

long futex_wake(const int* addr, int n, long op, long a3, long a4, long a5) {
  int woken = 0;
  if (Waiters* waiters = gd::Hub::current().find_local<Waiters>()) {
    auto it = waiters->find(addr);
    if (it != waiters->end()) {
      while (woken < n && it->second.notify_one()) ++woken;
    }
  }
  if (woken >= n) return woken;
  const long r = REAL(syscall)(SYS_futex, addr, op, n - woken, a3, a4, a5);
  return r < 0 ? (woken > 0 ? woken : r) : woken + r;
}

}  // namespace

GREEN_HOOK(long, syscall, (long number, ...)) {
  va_list ap;
  va_start(ap, number);
  long a[6];
  for (long& x : a) x = va_arg(ap, long);
  va_end(ap);
  ensure_real();
  // The thread-ID calls, as their libc wrappers (thread_id.cpp).
  if (number == SYS_gettid) return gettid();
  if (number == SYS_tgkill) return tgkill(static_cast<pid_t>(a[0]), static_cast<pid_t>(a[1]), static_cast<int>(a[2]));
  if (number == SYS_tkill) return tgkill(getpid(), static_cast<pid_t>(a[0]), static_cast<int>(a[1]));
  if (number != SYS_futex && green_context() != nullptr && cooperative_syscall(number)) {
    // syscall(SYS_read, …) and the like wait through their hooks, as their wrappers do.
    const long r = cooperative_call(number, a);
    if (r < 0 && r > -4096) {
      errno = static_cast<int>(-r);
      return -1;
    }
    return r;
  }
  if (number != SYS_futex || green_context() == nullptr) {
    return REAL(syscall)(number, a[0], a[1], a[2], a[3], a[4], a[5]);
  }
  const auto* addr = reinterpret_cast<const int*>(a[0]);
  const int op = static_cast<int>(a[1]);
  const int cmd = op & FUTEX_CMD_MASK;
  switch (cmd) {
    case FUTEX_WAIT:
      return futex_wait(addr, static_cast<int>(a[2]), reinterpret_cast<const timespec*>(a[3]), false, false);
    case FUTEX_WAIT_BITSET:
      return futex_wait(addr, static_cast<int>(a[2]), reinterpret_cast<const timespec*>(a[3]), true,
                        (op & FUTEX_CLOCK_REALTIME) != 0);
    case FUTEX_WAKE:
    case FUTEX_WAKE_BITSET:
      return futex_wake(addr, static_cast<int>(a[2]), op, a[3], a[4], a[5]);
    default:
      return REAL(syscall)(number, a[0], a[1], a[2], a[3], a[4], a[5]);
  }
}
