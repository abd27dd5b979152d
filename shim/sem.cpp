// Unnamed semaphores (sem_*) for greenlets. The count stays where glibc keeps it (the low
// 32 bits of the sem_t's first word; the high 32 count glibc's sleeping real threads), so
// a real thread using glibc's sem_wait/sem_post on the same semaphore interoperates.
// Greenlets wait in a per-hub table keyed by the semaphore's address.
//
// Departures from POSIX: a greenlet waiting on a semaphore that only a real thread will
// post notices the post within kRealPosterPollNs, not at once. sem_post from a signal
// handler that interrupts a greenlet on the same semaphore's hub is not supported.
#include <linux/futex.h>
#include <semaphore.h>
#include <sys/syscall.h>

#include <atomic>
#include <unordered_map>

#include "park.hpp"
#include "thread.hpp"

using namespace green::shim;
namespace gd = green::detail;

namespace {

constexpr std::uint64_t kValueMask = 0xffffffffu;
constexpr int kNwaitersShift = 32;
constexpr std::int64_t kRealPosterPollNs = 2000000;

std::atomic<std::uint64_t>& word(sem_t* s) { return *reinterpret_cast<std::atomic<std::uint64_t>*>(s); }

using Waiters = std::unordered_map<sem_t*, gd::WaitQueue>;

Waiters& hub_waiters() { return gd::Hub::current().local<Waiters>(); }
gd::WaitQueue& waiters_of(sem_t* s) { return hub_waiters()[s]; }

bool try_take(sem_t* s) {
  std::uint64_t d = word(s).load(std::memory_order_relaxed);
  while ((d & kValueMask) != 0) {
    if (word(s).compare_exchange_weak(d, d - 1, std::memory_order_acquire)) return true;
  }
  return false;
}

int fail(int e) {
  errno = e;
  return -1;
}

int sem_wait_green(sem_t* s, gd::Deadline deadline) {
  for (;;) {
    if (try_take(s)) return 0;
    if (deadline != gd::kNoDeadline && gd::now_ns() >= deadline) return fail(ETIMEDOUT);
    gd::Deadline until = deadline;
    // Only glibc's sem_post from a real thread can post without telling us.
    if (real_threads_started()) {
      const gd::Deadline poll = gd::now_ns() + kRealPosterPollNs;
      if (poll < until) until = poll;
    }
    gd::WaitQueue& q = waiters_of(s);
    // POSIX: sem_wait reports EINTR after any handler, SA_RESTART or not.
    const gd::Wake w = gd::wait_on_nothrow(q, until, {true, gd::Eintr::always});
    if (q.empty()) hub_waiters().erase(s);  // only a waiter erases: nobody else holds `q`
    if (w == gd::Wake::timed_out && until != deadline) continue;  // poll for a real poster
    // A pending cancel is thrown: sem_wait is a cancellation point.
    if (const int e = wake_errno(w, ETIMEDOUT)) return fail(e);
  }
}

}  // namespace

GREEN_HOOK(int, sem_wait, (sem_t* s)) {
  GREEN_COOPERATE(sem_wait, s);
  return sem_wait_green(s, gd::kNoDeadline);
}

GREEN_HOOK(int, sem_trywait, (sem_t* s)) {
  GREEN_COOPERATE(sem_trywait, s);
  return try_take(s) ? 0 : fail(EAGAIN);
}

GREEN_HOOK(int, sem_clockwait, (sem_t* s, clockid_t clock, const struct timespec* abstime)) {
  GREEN_COOPERATE(sem_clockwait, s, clock, abstime);
  if (try_take(s)) return 0;
  if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC) return fail(EINVAL);
  if (!valid_timespec(*abstime)) return fail(EINVAL);
  return sem_wait_green(s, abs_deadline(clock, abstime));
}

GREEN_HOOK(int, sem_timedwait, (sem_t* s, const struct timespec* abstime)) {
  return sem_clockwait(s, CLOCK_REALTIME, abstime);
}

GREEN_HOOK(int, sem_post, (sem_t* s)) {
  GREEN_COOPERATE(sem_post, s);
  std::uint64_t d = word(s).load(std::memory_order_relaxed);
  do {
    if ((d & kValueMask) == SEM_VALUE_MAX) return fail(EOVERFLOW);
  } while (!word(s).compare_exchange_weak(d, d + 1, std::memory_order_release));
  if ((d >> kNwaitersShift) != 0) {
    REAL(syscall)(SYS_futex, s, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);  // a real thread sleeps in glibc
  }
  // Async-signal-safe (POSIX): nothing is allocated here.
  if (Waiters* waiters = hub->find_local<Waiters>()) {
    auto it = waiters->find(s);
    if (it != waiters->end()) it->second.notify_one();
  }
  return 0;
}
