// pthread_rwlock_* for greenlets. The state (RwState) is allocated at first use and its
// address kept in the rwlock's __pad2 word, which glibc never reads on x86-64; the kind
// (reader or writer preference) is read from glibc's __flags, which the static
// initializers and pthread_rwlock_init set.
//
// Departure from POSIX: an rwlock is used by greenlets or by real threads, not both.
#include <pthread.h>

#include "park.hpp"
#include "thread.hpp"

using namespace green::shim;
namespace gd = green::detail;

namespace {

struct RwState {
  int readers = 0;                       // greenlets holding it for reading
  gd::GreenletImpl* writer = nullptr;    // the greenlet holding it for writing
  int writers_waiting = 0;
  gd::WaitQueue read_q;
  gd::WaitQueue write_q;
};

RwState* slot(pthread_rwlock_t* l) { return reinterpret_cast<RwState*>(l->__data.__pad2); }
void set_slot(pthread_rwlock_t* l, RwState* s) { l->__data.__pad2 = reinterpret_cast<unsigned long>(s); }

RwState& state(pthread_rwlock_t* l) {
  if (slot(l) == nullptr) set_slot(l, new RwState);
  return *slot(l);
}

bool prefers_writers(pthread_rwlock_t* l) {
  return l->__data.__flags == PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP;
}

int rdlock(pthread_rwlock_t* l, gd::Deadline deadline, bool try_only) {
  RwState& s = state(l);
  gd::GreenletImpl* me = gd::current_greenlet();
  if (s.writer == me) return EDEADLK;
  for (;;) {
    if (s.writer == nullptr && !(prefers_writers(l) && s.writers_waiting > 0)) {
      ++s.readers;
      return 0;
    }
    if (try_only) return EBUSY;
    const gd::Wake w = gd::wait_on_nothrow(s.read_q, deadline, gd::kUninterruptible);
    if (w == gd::Wake::timed_out) return ETIMEDOUT;
    if (w == gd::Wake::loop_exit) return EDEADLK;
  }
}

int wrlock(pthread_rwlock_t* l, gd::Deadline deadline, bool try_only) {
  RwState& s = state(l);
  gd::GreenletImpl* me = gd::current_greenlet();
  if (s.writer == me) return EDEADLK;
  for (;;) {
    if (s.writer == nullptr && s.readers == 0) {
      s.writer = me;
      return 0;
    }
    if (try_only) return EBUSY;
    ++s.writers_waiting;
    const gd::Wake w = gd::wait_on_nothrow(s.write_q, deadline, gd::kUninterruptible);
    --s.writers_waiting;
    if (w == gd::Wake::timed_out) {
      // Readers held back for us may go now.
      if (s.writer == nullptr) s.read_q.notify_all();
      return ETIMEDOUT;
    }
    if (w == gd::Wake::loop_exit) return EDEADLK;
  }
}

int unlock(pthread_rwlock_t* l) {
  RwState& s = state(l);
  gd::GreenletImpl* me = gd::current_greenlet();
  if (s.writer == me) {
    s.writer = nullptr;
  } else if (s.readers > 0) {
    if (--s.readers > 0) return 0;
  } else {
    return EPERM;
  }
  // Woken greenlets re-check: a writer first when writers are preferred, else everyone.
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
    if (s->readers > 0 || s->writer != nullptr) return EBUSY;
    delete s;
    set_slot(l, nullptr);
  }
  return REAL(pthread_rwlock_destroy)(l);
}

GREEN_HOOK(int, pthread_rwlock_rdlock, (pthread_rwlock_t* l)) {
  GREEN_COOPERATE(pthread_rwlock_rdlock, l);
  return rdlock(l, gd::kNoDeadline, false);
}

GREEN_HOOK(int, pthread_rwlock_tryrdlock, (pthread_rwlock_t* l)) {
  GREEN_COOPERATE(pthread_rwlock_tryrdlock, l);
  return rdlock(l, gd::kNoDeadline, true);
}

GREEN_HOOK(int, pthread_rwlock_clockrdlock, (pthread_rwlock_t* l, clockid_t clock, const struct timespec* t)) {
  GREEN_COOPERATE(pthread_rwlock_clockrdlock, l, clock, t);
  return timed(l, clock, t, rdlock);
}

GREEN_HOOK(int, pthread_rwlock_timedrdlock, (pthread_rwlock_t* l, const struct timespec* t)) {
  return pthread_rwlock_clockrdlock(l, CLOCK_REALTIME, t);
}

GREEN_HOOK(int, pthread_rwlock_wrlock, (pthread_rwlock_t* l)) {
  GREEN_COOPERATE(pthread_rwlock_wrlock, l);
  return wrlock(l, gd::kNoDeadline, false);
}

GREEN_HOOK(int, pthread_rwlock_trywrlock, (pthread_rwlock_t* l)) {
  GREEN_COOPERATE(pthread_rwlock_trywrlock, l);
  return wrlock(l, gd::kNoDeadline, true);
}

GREEN_HOOK(int, pthread_rwlock_clockwrlock, (pthread_rwlock_t* l, clockid_t clock, const struct timespec* t)) {
  GREEN_COOPERATE(pthread_rwlock_clockwrlock, l, clock, t);
  return timed(l, clock, t, wrlock);
}

GREEN_HOOK(int, pthread_rwlock_timedwrlock, (pthread_rwlock_t* l, const struct timespec* t)) {
  return pthread_rwlock_clockwrlock(l, CLOCK_REALTIME, t);
}

GREEN_HOOK(int, pthread_rwlock_unlock, (pthread_rwlock_t* l)) {
  GREEN_COOPERATE(pthread_rwlock_unlock, l);
  return unlock(l);
}
