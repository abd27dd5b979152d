// pthread_mutex_* for greenlets (layout and interplay with glibc: mutex.hpp).
//
// Departure from POSIX: a NORMAL mutex relocked by its owner deadlocks that greenlet, as
// in glibc, unless every greenlet is then blocked: the main greenlet gets EDEADLK
// instead of hanging the process.
#include "mutex.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <new>

#include "park.hpp"
#include "thread.hpp"

using namespace green::shim;
namespace gd = green::detail;

namespace {

constexpr int kKindMask = 3;          // PTHREAD_MUTEX_KIND_MASK_NP in glibc
constexpr int kPsharedBit = 128;      // PTHREAD_MUTEX_PSHARED_BIT in glibc
// Where the kernel cannot wait on a futex for the hub (Hub::futex_wait), how long a
// greenlet waits before re-trying a mutex that a real thread or another process holds.
constexpr std::int64_t kRealOwnerPollNs = 200000;

std::atomic_ref<int> lock_word(pthread_mutex_t* m) { return std::atomic_ref<int>(m->__data.__lock); }
gd::GreenletImpl* owner(pthread_mutex_t* m) { return reinterpret_cast<gd::GreenletImpl*>(m->__data.__list.__prev); }
void set_owner(pthread_mutex_t* m, gd::GreenletImpl* g) {
  m->__data.__list.__prev = reinterpret_cast<__pthread_internal_list*>(g);
}
gd::WaitQueue* queue(pthread_mutex_t* m) { return reinterpret_cast<gd::WaitQueue*>(m->__data.__list.__next); }
void set_queue(pthread_mutex_t* m, gd::WaitQueue* q) {
  m->__data.__list.__next = reinterpret_cast<__pthread_internal_list*>(q);
}

int os_tid() { return gd::Hub::current().os_tid(); }

void take(pthread_mutex_t* m, gd::GreenletImpl* me) {
  set_owner(m, me);
  m->__data.__owner = os_tid();
  m->__data.__count = 1;
}

// Whether the calling greenlet holds it. The greenlet field alone could be stale (a real
// thread or, process-shared, another process locked it since through glibc, which leaves
// the field be) or another process's: it counts only with the holder's kernel thread ID,
// which no other process or real thread shares with this hub.
bool held_by(pthread_mutex_t* m, gd::GreenletImpl* me) {
  return m->__data.__owner == os_tid() && owner(m) == me;
}

}  // namespace

namespace green::shim {

bool green_mutex(const pthread_mutex_t*) noexcept { return true; }

int mutex_lock(pthread_mutex_t* m, gd::Deadline deadline, bool try_only) {
  gd::Hub& hub = gd::Hub::current();
  gd::GreenletImpl* me = hub.running();
  const int type = m->__data.__kind & kKindMask;
  const bool pshared = (m->__data.__kind & kPsharedBit) != 0;
  if (held_by(m, me)) {
    if (type == PTHREAD_MUTEX_RECURSIVE) {
      if (m->__data.__count == ~0u) return EAGAIN;
      ++m->__data.__count;
      return 0;
    }
    if (try_only) return EBUSY;  // glibc: EBUSY for an errorcheck trylock by the owner too
    if (type == PTHREAD_MUTEX_ERRORCHECK) return EDEADLK;
  }
  // Once it slept on the kernel's futex, it takes the lock as 2 (locked, maybe sleepers),
  // as glibc's waiters do: others may still sleep there, and only a 2 makes the unlock
  // wake one.
  bool slept = false;
  for (;;) {
    int expected = 0;
    if (slept ? lock_word(m).exchange(2, std::memory_order_acquire) == 0
              : lock_word(m).compare_exchange_strong(expected, 1, std::memory_order_acquire)) {
      take(m, me);
      return 0;
    }
    if (try_only) return EBUSY;
    if (deadline != gd::kNoDeadline && gd::now_ns() >= deadline) return ETIMEDOUT;
    gd::Wake w;
    if (!pshared && owner(m) != nullptr && m->__data.__owner == os_tid()) {
      // Held by a greenlet: its unlock wakes one waiter, which tries again (no hand-off:
      // a handed-over mutex would stay locked until its new owner runs, and std::lock's
      // try-and-back-off over several mutexes could then livelock).
      if (queue(m) == nullptr) set_queue(m, new gd::WaitQueue);
      w = gd::wait_on_nothrow(*queue(m), deadline, lock_wait_policy(false));
      if (w == gd::Wake::notified) continue;
    } else {
      // A real thread or another process holds it: tell its unlock there may be sleepers
      // (as glibc does), then sleep on the kernel's futex as glibc's waiters do.
      if (lock_word(m).exchange(2, std::memory_order_acquire) == 0) {
        take(m, me);  // freed meanwhile: ours now, marked as possibly contended
        return 0;
      }
      auto* word = reinterpret_cast<std::uint32_t*>(&m->__data.__lock);
      slept = true;
      w = hub.futex_wait(word, 2, pshared, deadline, lock_wait_policy(true));
      if (w == gd::Wake::none) {
        const gd::Deadline poll = gd::now_ns() + kRealOwnerPollNs;
        w = hub.park(deadline < poll ? deadline : poll, lock_wait_policy(false));
      }
      if (w == gd::Wake::timed_out || w == gd::Wake::notified) continue;  // the deadline: above
    }
    if (w == gd::Wake::loop_exit) return EDEADLK;
    if (w == gd::Wake::interrupted) act_on_async_cancel(me);
  }
}

int mutex_unlock(pthread_mutex_t* m) {
  gd::GreenletImpl* me = gd::Hub::current().running();
  const int type = m->__data.__kind & kKindMask;
  const bool pshared = (m->__data.__kind & kPsharedBit) != 0;
  if (!held_by(m, me)) {
    if (type == PTHREAD_MUTEX_RECURSIVE || type == PTHREAD_MUTEX_ERRORCHECK) return EPERM;
    if (lock_word(m).load(std::memory_order_relaxed) == 0) return 0;  // glibc does not check
  }
  if (type == PTHREAD_MUTEX_RECURSIVE && --m->__data.__count != 0) return 0;
  set_owner(m, nullptr);
  m->__data.__owner = 0;
  m->__data.__count = 0;
  if (lock_word(m).exchange(0, std::memory_order_release) == 2) {
    // Real threads (or, process-shared, other processes) sleep in the kernel on it.
    REAL(syscall)(SYS_futex, &m->__data.__lock, pshared ? FUTEX_WAKE : FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  }
  if (!pshared) {
    if (gd::WaitQueue* q = queue(m)) q->notify_one();
  }
  return 0;
}

}  // namespace green::shim

GREEN_HOOK(int, pthread_mutex_lock, (pthread_mutex_t* m)) {
  if (green_context() == nullptr || !green_mutex(m)) return REAL(pthread_mutex_lock)(m);
  return mutex_lock(m, gd::kNoDeadline, false);
}

GREEN_HOOK(int, pthread_mutex_trylock, (pthread_mutex_t* m)) {
  if (green_context() == nullptr || !green_mutex(m)) return REAL(pthread_mutex_trylock)(m);
  return mutex_lock(m, gd::kNoDeadline, true);
}

GREEN_HOOK(int, pthread_mutex_clocklock, (pthread_mutex_t* m, clockid_t clock, const struct timespec* abstime)) {
  if (green_context() == nullptr || !green_mutex(m)) return REAL(pthread_mutex_clocklock)(m, clock, abstime);
  if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC) return EINVAL;
  const int r = mutex_lock(m, gd::kNoDeadline, true);
  if (r != EBUSY) return r;
  if (!valid_timespec(*abstime)) return EINVAL;
  return mutex_lock(m, abs_deadline(clock, abstime), false);
}

GREEN_HOOK(int, pthread_mutex_timedlock, (pthread_mutex_t* m, const struct timespec* abstime)) {
  return pthread_mutex_clocklock(m, CLOCK_REALTIME, abstime);
}

GREEN_HOOK(int, pthread_mutex_unlock, (pthread_mutex_t* m)) {
  if (green_context() == nullptr || !green_mutex(m)) return REAL(pthread_mutex_unlock)(m);
  return mutex_unlock(m);
}

GREEN_HOOK(int, pthread_mutex_destroy, (pthread_mutex_t* m)) {
  GREEN_BOOKKEEPING();
  if ((m->__data.__kind & kPsharedBit) == 0) {
    if (lock_word(m).load() != 0) return EBUSY;
    delete queue(m);
    set_queue(m, nullptr);
    set_owner(m, nullptr);
  }
  return REAL(pthread_mutex_destroy)(m);
}
