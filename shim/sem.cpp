// Semaphores (sem_*) for greenlets. The count stays where glibc keeps it (the low 32 bits
// of the sem_t's first word; the high 32 count the sleepers), so a real thread or another
// process using glibc's sem_wait/sem_post on the same semaphore interoperates.
//
// Where only the hub's greenlets can post (a private semaphore, no real thread started), a
// greenlet waits in a per-hub table keyed by the semaphore's address. Where someone else
// can (a process-shared or named semaphore, or real threads), it counts itself a sleeper
// as glibc's sem_wait does and waits on the kernel's futex through the hub's io_uring
// (Hub::futex_wait), so that any sem_post wakes it; where the kernel lacks that, it
// re-checks every kOutsidePosterPollNs.
//
// A wait that nobody in the process can end still sleeps, as natively: a signal, an alarm
// or another process may end it (EINTR without SA_RESTART, or the post).
//
// Departure from POSIX: sem_post from a signal handler that interrupts a greenlet on the
// same semaphore's hub is not supported.
#include <linux/futex.h>
#include <semaphore.h>
#include <sys/syscall.h>

#include <algorithm>
#include <atomic>
#include <unordered_map>

#include "park.hpp"
#include "thread.hpp"

using namespace green::shim;
namespace gd = green::detail;

namespace {

constexpr std::uint64_t kValueMask = 0xffffffffu;
constexpr int kNwaitersShift = 32;
constexpr std::int64_t kOutsidePosterPollNs = 2000000;

// glibc's struct new_sem: the 64-bit word, then whether it is process-shared in glibc's
// inverted futex terms (LLL_SHARED is FUTEX_PRIVATE_FLAG, LLL_PRIVATE 0; its futex calls
// pass op | (private ^ FUTEX_PRIVATE_FLAG)).
struct GlibcSem {
  std::uint64_t data;
  int private_flag;
  int pad;
};
static_assert(sizeof(GlibcSem) <= sizeof(sem_t));
GlibcSem* glibc_sem(sem_t* s) { return reinterpret_cast<GlibcSem*>(s); }
std::atomic<std::uint64_t>& word(sem_t* s) { return *reinterpret_cast<std::atomic<std::uint64_t>*>(s); }
// The futex glibc sleeps on: the count's half of the word (x86-64 is little-endian).
std::uint32_t* count_futex(sem_t* s) { return reinterpret_cast<std::uint32_t*>(&glibc_sem(s)->data); }
bool process_shared(sem_t* s) { return glibc_sem(s)->private_flag != 0; }

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

// Linux restarts sem_wait after a handler with SA_RESTART (signal(7)), else it fails with
// EINTR. Nothing the process knows of may be able to post, so the loop must not call the
// wait hopeless.
constexpr gd::ParkPolicy kSemPolicy{true, gd::Eintr::unless_restart, true};

// One wait as a counted sleeper on the kernel's futex; Wake::none if the kernel cannot.
gd::Wake wait_as_sleeper(gd::Hub* hub, sem_t* s, gd::Deadline deadline) {
  word(s).fetch_add(std::uint64_t{1} << kNwaitersShift, std::memory_order_relaxed);
  const gd::Wake w = hub->futex_wait(count_futex(s), 0, process_shared(s), deadline, kSemPolicy);
  word(s).fetch_sub(std::uint64_t{1} << kNwaitersShift, std::memory_order_relaxed);
  return w;
}

int sem_wait_green(gd::Hub* hub, sem_t* s, gd::Deadline deadline) {
  for (;;) {
    if (try_take(s)) return 0;
    if (deadline != gd::kNoDeadline && gd::now_ns() >= deadline) return fail(ETIMEDOUT);
    gd::Wake w = gd::Wake::none;
    gd::Deadline until = deadline;
    const bool outside = process_shared(s) || real_threads_started();
    if (outside) w = wait_as_sleeper(hub, s, deadline);
    if (w == gd::Wake::none) {
      if (outside) until = std::min(deadline, gd::now_ns() + kOutsidePosterPollNs);
      gd::WaitQueue& q = waiters_of(s);
      w = gd::wait_on_nothrow(q, until, kSemPolicy);
      if (q.empty()) hub_waiters().erase(s);  // only a waiter erases: nobody else holds `q`
    }
    if (w == gd::Wake::timed_out && until != deadline) continue;  // poll for an outside poster
    // A pending cancel is thrown: sem_wait is a cancellation point.
    if (const int e = wake_errno(w, ETIMEDOUT)) return fail(e);
  }
}

}  // namespace

GREEN_HOOK(int, sem_wait, (sem_t* s)) {
  GREEN_COOPERATE(sem_wait, s);
  return sem_wait_green(hub, s, gd::kNoDeadline);
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
  return sem_wait_green(hub, s, abs_deadline(clock, abstime));
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
    // A sleeper on the kernel's futex: a real thread, another process, or a greenlet that
    // waits as one.
    REAL(syscall)(SYS_futex, count_futex(s), FUTEX_WAKE | (process_shared(s) ? 0 : FUTEX_PRIVATE_FLAG), 1, nullptr,
                  nullptr, 0);
  }
  // Async-signal-safe (POSIX): nothing is allocated here.
  if (Waiters* waiters = hub->find_local<Waiters>()) {
    auto it = waiters->find(s);
    if (it != waiters->end()) it->second.notify_one();
  }
  return 0;
}
