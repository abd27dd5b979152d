// pthread_rwlock_* under the shim, for greenlets and real threads alike (one object to
// both when they share it). The state (RwState) is made at first use and its address kept
// in the rwlock's __pad2 word, which glibc never reads on x86-64; the kind (reader or
// writer preference) is read from glibc's __flags, which the static initializers and
// pthread_rwlock_init set. A holder is named by its greenlet, or a real thread by its
// pthread_t (glibc's descriptor: never a greenlet's address).
#include <pthread.h>

#include <atomic>
#include <mutex>

#include "park.hpp"
#include "thread.hpp"

using namespace green::shim;
namespace gd = green::detail;

namespace {

struct RwState {
  gd::SpinLock lock;                 // greenlets and real threads alike, a few instructions
  int readers = 0;
  const void* writer = nullptr;      // who holds it for writing
  int writers_waiting = 0;
  gd::WaitQueue read_q;
  gd::WaitQueue write_q;
};

using Slot = decltype(pthread_rwlock_t{}.__data.__pad2);
std::atomic_ref<Slot> slot_word(pthread_rwlock_t* l) { return std::atomic_ref<Slot>(l->__data.__pad2); }
RwState* slot(pthread_rwlock_t* l) { return reinterpret_cast<RwState*>(slot_word(l).load(std::memory_order_acquire)); }
void set_slot(pthread_rwlock_t* l, RwState* s) {
  slot_word(l).store(reinterpret_cast<Slot>(s), std::memory_order_release);
}

// The first user makes it; two at once (a greenlet and a real thread) agree on one.
RwState& state(pthread_rwlock_t* l) {
  if (RwState* s = slot(l)) return *s;
  auto* fresh = new RwState;
  Slot expected = 0;
  if (slot_word(l).compare_exchange_strong(expected, reinterpret_cast<Slot>(fresh), std::memory_order_acq_rel)) {
    return *fresh;
  }
  delete fresh;
  return *reinterpret_cast<RwState*>(expected);
}

bool prefers_writers(pthread_rwlock_t* l) {
  return l->__data.__flags == PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP;
}

const void* self() {
  if (green_context() != nullptr) return gd::current_greenlet();
  return reinterpret_cast<const void*>(REAL(pthread_self)());
}

// Locks wait uninterruptibly (POSIX: no EINTR, no cancellation point), but for an
// asynchronous cancellation (lock_wait_policy); a real thread may be the one to unlock, so
// the loop must not call the wait hopeless.
gd::ParkPolicy wait_policy() { return green_context() != nullptr ? lock_wait_policy(true) : gd::ParkPolicy{false, gd::Eintr::never, true}; }

int rdlock(pthread_rwlock_t* l, gd::Deadline deadline, bool try_only) {
  RwState& s = state(l);
  const void* me = self();
  std::unique_lock<gd::SpinLock> hold(s.lock);
  if (s.writer == me) return EDEADLK;
  for (;;) {
    if (s.writer == nullptr && !(prefers_writers(l) && s.writers_waiting > 0)) {
      ++s.readers;
      return 0;
    }
    if (try_only) return EBUSY;
    const gd::Wake w = wait_locked(s.read_q, deadline, s.lock, wait_policy());
    if (w == gd::Wake::timed_out) return ETIMEDOUT;
    if (w == gd::Wake::interrupted) act_on_async_cancel(gd::Hub::current().running());
  }
}

int wrlock(pthread_rwlock_t* l, gd::Deadline deadline, bool try_only) {
  RwState& s = state(l);
  const void* me = self();
  std::unique_lock<gd::SpinLock> hold(s.lock);
  if (s.writer == me) return EDEADLK;
  for (;;) {
    if (s.writer == nullptr && s.readers == 0) {
      s.writer = me;
      return 0;
    }
    if (try_only) return EBUSY;
    ++s.writers_waiting;
    const gd::Wake w = wait_locked(s.write_q, deadline, s.lock, wait_policy());
    --s.writers_waiting;
    if (w == gd::Wake::interrupted) {
      if (s.writer == nullptr) s.read_q.notify_all();  // as for a timeout
      act_on_async_cancel(gd::Hub::current().running());
    }
    if (w == gd::Wake::timed_out) {
      // Readers held back for us may go now.
      if (s.writer == nullptr) s.read_q.notify_all();
      return ETIMEDOUT;
    }
  }
}

int unlock(pthread_rwlock_t* l) {
  RwState& s = state(l);
  const void* me = self();
  std::lock_guard<gd::SpinLock> hold(s.lock);
  if (s.writer == me) {
    s.writer = nullptr;
  } else if (s.readers > 0) {
    if (--s.readers > 0) return 0;
  } else {
    return EPERM;
  }
  // Woken waiters re-check: a writer first when writers are preferred, else everyone.
  if (prefers_writers(l) && s.write_q.notify_one()) return 0;
  s.read_q.notify_all();
  s.write_q.notify_one();
  return 0;
}

template <class Lock>
int timed(pthread_rwlock_t* l, clockid_t clock, const timespec* abstime, Lock lock) {
  if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC) return EINVAL;
  const int r = lock(l, gd::kNoDeadline, true);
  if (r != EBUSY) return r;
  if (!valid_timespec(*abstime)) return EINVAL;
  return lock(l, abs_deadline(clock, abstime), false);
}

}  // namespace

GREEN_HOOK(int, pthread_rwlock_init, (pthread_rwlock_t* l, const pthread_rwlockattr_t* attr)) {
  GREEN_BOOKKEEPING();
  const int r = REAL(pthread_rwlock_init)(l, attr);
  if (r == 0) set_slot(l, nullptr);
  return r;
}

GREEN_HOOK(int, pthread_rwlock_destroy, (pthread_rwlock_t* l)) {
  GREEN_BOOKKEEPING();
  if (RwState* s = slot(l)) {
    {
      std::lock_guard<gd::SpinLock> hold(s->lock);
      if (s->readers > 0 || s->writer != nullptr) return EBUSY;
    }
    delete s;
    set_slot(l, nullptr);
  }
  return REAL(pthread_rwlock_destroy)(l);
}

GREEN_HOOK(int, pthread_rwlock_rdlock, (pthread_rwlock_t* l)) {
  if (!sync_objects_ours()) return REAL(pthread_rwlock_rdlock)(l);
  return rdlock(l, gd::kNoDeadline, false);
}

GREEN_HOOK(int, pthread_rwlock_tryrdlock, (pthread_rwlock_t* l)) {
  if (!sync_objects_ours()) return REAL(pthread_rwlock_tryrdlock)(l);
  return rdlock(l, gd::kNoDeadline, true);
}

GREEN_HOOK(int, pthread_rwlock_clockrdlock, (pthread_rwlock_t* l, clockid_t clock, const struct timespec* t)) {
  if (!sync_objects_ours()) return REAL(pthread_rwlock_clockrdlock)(l, clock, t);
  return timed(l, clock, t, rdlock);
}

GREEN_HOOK(int, pthread_rwlock_timedrdlock, (pthread_rwlock_t* l, const struct timespec* t)) {
  return pthread_rwlock_clockrdlock(l, CLOCK_REALTIME, t);
}

GREEN_HOOK(int, pthread_rwlock_wrlock, (pthread_rwlock_t* l)) {
  if (!sync_objects_ours()) return REAL(pthread_rwlock_wrlock)(l);
  return wrlock(l, gd::kNoDeadline, false);
}

GREEN_HOOK(int, pthread_rwlock_trywrlock, (pthread_rwlock_t* l)) {
  if (!sync_objects_ours()) return REAL(pthread_rwlock_trywrlock)(l);
  return wrlock(l, gd::kNoDeadline, true);
}

GREEN_HOOK(int, pthread_rwlock_clockwrlock, (pthread_rwlock_t* l, clockid_t clock, const struct timespec* t)) {
  if (!sync_objects_ours()) return REAL(pthread_rwlock_clockwrlock)(l, clock, t);
  return timed(l, clock, t, wrlock);
}

GREEN_HOOK(int, pthread_rwlock_timedwrlock, (pthread_rwlock_t* l, const struct timespec* t)) {
  return pthread_rwlock_clockwrlock(l, CLOCK_REALTIME, t);
}

GREEN_HOOK(int, pthread_rwlock_unlock, (pthread_rwlock_t* l)) {
  if (!sync_objects_ours()) return REAL(pthread_rwlock_unlock)(l);
  return unlock(l);
}
