// pthread_cond_* for greenlets. The state lives in the caller's pthread_cond_t:
//   bytes 0–7  (__wseq)      a CondState*, allocated at the first wait
//   bytes 8–11 (__g1_start)  the clock chosen with pthread_condattr_setclock (0 =
//                            CLOCK_REALTIME, what the static initializer means)
// glibc's own fields are left as pthread_cond_init made them.
//
// Departure from POSIX: a condition variable is either used by greenlets or by real
// threads; one shared by both (GREEN_REAL_THREADS) is not supported.
#include <pthread.h>

#include <cstring>

#include "mutex.hpp"
#include "park.hpp"
#include "thread.hpp"

using namespace green::shim;
namespace gd = green::detail;

namespace {

struct CondState {
  gd::WaitQueue waiters;
};

CondState* state(pthread_cond_t* c) { return reinterpret_cast<CondState*>(c->__data.__wseq.__value64); }
void set_state(pthread_cond_t* c, CondState* s) { c->__data.__wseq.__value64 = reinterpret_cast<std::uintptr_t>(s); }
clockid_t cond_clock(pthread_cond_t* c) { return static_cast<clockid_t>(c->__data.__g1_start.__value64); }
void set_cond_clock(pthread_cond_t* c, clockid_t k) { c->__data.__g1_start.__value64 = static_cast<unsigned>(k); }

int cond_wait(pthread_cond_t* c, pthread_mutex_t* m, gd::Deadline deadline) {
  if (!green_mutex(m)) return EINVAL;
  if (state(c) == nullptr) set_state(c, new CondState);
  CondState* st = state(c);
  // The mutex is released once this greenlet waits on the queue, as one step for the other
  // greenlets (nothing runs in between), so no signal can be lost.
  struct Unlock {
    pthread_mutex_t* m;
    int error = 0;
  } unlock{m};
  const gd::AfterEnqueue then{[](void* arg) noexcept {
                                auto* u = static_cast<Unlock*>(arg);
                                u->error = mutex_unlock(u->m);
                                return u->error;
                              },
                              &unlock};
  const gd::Wake r = gd::wait_on_nothrow(st->waiters, deadline, {}, &then);
  if (unlock.error != 0) return unlock.error;  // not the owner: nothing was released
  mutex_lock(m, gd::kNoDeadline, false);
  // pthread_cond_wait is a cancellation point; POSIX wants the mutex re-taken first.
  if (r == gd::Wake::interrupted) gd::raise_for(r);
  return r == gd::Wake::timed_out ? ETIMEDOUT : 0;
}

}  // namespace

GREEN_HOOK(int, pthread_cond_init, (pthread_cond_t* c, const pthread_condattr_t* attr)) {
  GREEN_BOOKKEEPING();
  const int r = REAL(pthread_cond_init)(c, attr);
  if (r != 0 || !hooks_active) return r;
  clockid_t clock = CLOCK_REALTIME;
  if (attr != nullptr) pthread_condattr_getclock(attr, &clock);
  set_state(c, nullptr);
  set_cond_clock(c, clock);
  return 0;
}

GREEN_HOOK(int, pthread_cond_destroy, (pthread_cond_t* c)) {
  GREEN_BOOKKEEPING();
  if (CondState* st = state(c)) {
    if (!st->waiters.empty()) return EBUSY;
    delete st;
    set_state(c, nullptr);
  }
  return REAL(pthread_cond_destroy)(c);
}

GREEN_HOOK(int, pthread_cond_wait, (pthread_cond_t* c, pthread_mutex_t* m)) {
  GREEN_COOPERATE(pthread_cond_wait, c, m);
  return cond_wait(c, m, gd::kNoDeadline);
}

GREEN_HOOK(int, pthread_cond_clockwait, (pthread_cond_t* c, pthread_mutex_t* m, clockid_t clock,
                                         const struct timespec* abstime)) {
  GREEN_COOPERATE(pthread_cond_clockwait, c, m, clock, abstime);
  if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC) return EINVAL;
  if (!valid_timespec(*abstime)) return EINVAL;
  return cond_wait(c, m, abs_deadline(clock, abstime));
}

GREEN_HOOK(int, pthread_cond_timedwait, (pthread_cond_t* c, pthread_mutex_t* m, const struct timespec* abstime)) {
  GREEN_COOPERATE(pthread_cond_timedwait, c, m, abstime);
  if (!valid_timespec(*abstime)) return EINVAL;
  return cond_wait(c, m, abs_deadline(cond_clock(c), abstime));
}

GREEN_HOOK(int, pthread_cond_signal, (pthread_cond_t* c)) {
  GREEN_COOPERATE(pthread_cond_signal, c);
  if (CondState* st = state(c)) st->waiters.notify_one();
  return 0;
}

GREEN_HOOK(int, pthread_cond_broadcast, (pthread_cond_t* c)) {
  GREEN_COOPERATE(pthread_cond_broadcast, c);
  if (CondState* st = state(c)) st->waiters.notify_all();
  return 0;
}
