// pthread_cond_* under the shim, for greenlets and real threads alike: a condition
// variable that both share (jemalloc's background threads are real threads that wait for a
// greenlet's signal) must be one object to both. The state lives in the pthread_cond_t:
//   bytes 0–7  (__wseq)      a CondState*, made at the first wait
//   bytes 8–11 (__g1_start)  the clock chosen with pthread_condattr_setclock (0 =
//                            CLOCK_REALTIME, what the static initializer means)
// glibc's own fields are left as pthread_cond_init made them. A greenlet parks on the
// CondState's queue; a real thread sleeps on a futex word in the same queue.
//
// A process-shared one (pthread_condattr_setpshared; glibc marks it in __wrefs) cannot hold
// a pointer into one process: bytes 0–3 are then a sequence, the futex every waiter of
// every process sleeps on (greenlets through their hub's io_uring, Hub::futex_wait). A
// wait reads it before it releases the mutex, a signal or broadcast bumps it and wakes one
// or all: nothing is lost, and a wake-up may be spurious, as POSIX allows.
//
// Departures from POSIX: a real thread's wait is a cancellation point on entry and once
// woken, not while it sleeps; a condition variable that glibc used before the hooks were
// active (patch_all()) is not taken over; a process-shared one is shared only with
// processes under greenshim.
#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>

#include <atomic>
#include <cstring>
#include <mutex>

#include "mutex.hpp"
#include "park.hpp"
#include "thread.hpp"

using namespace green::shim;
namespace gd = green::detail;

namespace {

struct CondState {
  gd::SpinLock lock;  // greenlets and real threads alike, for a few instructions
  gd::WaitQueue waiters;
};

using StateWord = decltype(pthread_cond_t{}.__data.__wseq.__value64);
std::atomic_ref<StateWord> state_word(pthread_cond_t* c) { return std::atomic_ref<StateWord>(c->__data.__wseq.__value64); }
CondState* state(pthread_cond_t* c) {
  return reinterpret_cast<CondState*>(state_word(c).load(std::memory_order_acquire));
}
void set_state(pthread_cond_t* c, CondState* s) {
  state_word(c).store(reinterpret_cast<std::uintptr_t>(s), std::memory_order_release);
}
// The first waiter makes it; two at once (a greenlet and a real thread) agree on one.
CondState* made_state(pthread_cond_t* c) {
  if (CondState* st = state(c)) return st;
  auto* fresh = new CondState;
  StateWord expected = 0;
  if (state_word(c).compare_exchange_strong(expected, reinterpret_cast<std::uintptr_t>(fresh),
                                            std::memory_order_acq_rel)) {
    return fresh;
  }
  delete fresh;
  return reinterpret_cast<CondState*>(expected);
}
clockid_t cond_clock(pthread_cond_t* c) { return static_cast<clockid_t>(c->__data.__g1_start.__value64); }
void set_cond_clock(pthread_cond_t* c, clockid_t k) { c->__data.__g1_start.__value64 = static_cast<unsigned>(k); }

// --- process-shared: a futex sequence ------------------------------------------------

bool process_shared(const pthread_cond_t* c) { return (c->__data.__wrefs & 1) != 0; }  // __PTHREAD_COND_SHARED_MASK
std::uint32_t* seq_word(pthread_cond_t* c) { return reinterpret_cast<std::uint32_t*>(&c->__data.__wseq); }

int unlock_any(pthread_mutex_t* m, bool green) { return green ? mutex_unlock(m) : REAL(pthread_mutex_unlock)(m); }
void lock_any(pthread_mutex_t* m, bool green) {
  if (green) {
    mutex_lock(m, gd::kNoDeadline, false);
  } else {
    REAL(pthread_mutex_lock)(m);
  }
}

// One wait for the sequence to move on from `seq`: Wake::notified (it did, or it may
// have), timed_out, or interrupted.
gd::Wake shared_sleep(gd::Hub* hub, std::uint32_t* word, std::uint32_t seq, gd::Deadline deadline) {
  if (hub != nullptr) {
    const gd::ParkPolicy policy{true, gd::Eintr::never, true};
    gd::Wake w = hub->futex_wait(word, seq, true, deadline, policy);
    if (w != gd::Wake::none) return w;
    // No io_uring futex waits (Linux < 6.7): look again every millisecond.
    gd::Deadline next = gd::now_ns() + 1000000;
    if (next > deadline) next = deadline;
    w = hub->park(next, policy);
    if (w == gd::Wake::timed_out && next != deadline) return gd::Wake::notified;
    return w;
  }
  timespec left{};
  const timespec* timeout = nullptr;
  if (deadline != gd::kNoDeadline) {
    const std::int64_t ns = deadline - gd::now_ns();
    if (ns <= 0) return gd::Wake::timed_out;
    left = ns_timespec(ns);
    timeout = &left;
  }
  const long r = REAL(syscall)(SYS_futex, word, FUTEX_WAIT, seq, timeout, nullptr, 0);
  return r != 0 && errno == ETIMEDOUT ? gd::Wake::timed_out : gd::Wake::notified;
}

int cond_wait_shared(pthread_cond_t* c, pthread_mutex_t* m, gd::Deadline deadline) {
  gd::Hub* hub = green_context();
  const bool green = hub != nullptr;
  if (green && !green_mutex(m)) return EINVAL;
  if (!green) REAL(pthread_testcancel)();
  std::atomic_ref<std::uint32_t> word(*seq_word(c));
  const std::uint32_t seq = word.load(std::memory_order_acquire);
  if (const int e = unlock_any(m, green)) return e;
  gd::Wake w = gd::Wake::notified;
  while (word.load(std::memory_order_acquire) == seq) {
    w = shared_sleep(hub, seq_word(c), seq, deadline);
    if (w != gd::Wake::notified && w != gd::Wake::signaled) break;
    w = gd::Wake::notified;
  }
  lock_any(m, green);
  if (w == gd::Wake::interrupted) gd::raise_for(w);  // a cancellation: with the mutex held
  if (!green) REAL(pthread_testcancel)();
  return w == gd::Wake::timed_out ? ETIMEDOUT : 0;
}

void cond_notify_shared(pthread_cond_t* c, bool all) {
  std::atomic_ref<std::uint32_t>(*seq_word(c)).fetch_add(1, std::memory_order_acq_rel);
  REAL(syscall)(SYS_futex, seq_word(c), FUTEX_WAKE, all ? INT32_MAX : 1, nullptr, nullptr, 0);
}

// --- private: a queue ------------------------------------------------------------------

int cond_wait_green(pthread_cond_t* c, pthread_mutex_t* m, gd::Deadline deadline) {
  if (!green_mutex(m)) return EINVAL;
  CondState* st = made_state(c);
  // The mutex is released once this greenlet is queued, under the queue's lock, so no
  // signal from a greenlet or a real thread that then takes the mutex can be lost.
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
  std::unique_lock<gd::SpinLock> hold(st->lock);
  // Any thread may signal, one the shim never saw start too: a wait with nobody left to
  // signal it sleeps, as it would natively, rather than returning at once again and again.
  const gd::ParkPolicy policy{true, gd::Eintr::never, true};
  const gd::Wake r = gd::wait_on_locked(st->waiters, deadline, st->lock, policy, &then);
  hold.unlock();
  if (unlock.error != 0) return unlock.error;  // not the owner: nothing was released
  mutex_lock(m, gd::kNoDeadline, false);
  // pthread_cond_wait is a cancellation point; POSIX wants the mutex re-taken first.
  if (r == gd::Wake::interrupted) gd::raise_for(r);
  return r == gd::Wake::timed_out ? ETIMEDOUT : 0;
}

int cond_wait_os_thread(pthread_cond_t* c, pthread_mutex_t* m, gd::Deadline deadline) {
  REAL(pthread_testcancel)();
  CondState* st = made_state(c);
  struct Unlock {
    pthread_mutex_t* m;
    int error = 0;
  } unlock{m};
  const gd::AfterEnqueue then{[](void* arg) noexcept {
                                auto* u = static_cast<Unlock*>(arg);
                                u->error = REAL(pthread_mutex_unlock)(u->m);
                                return u->error;
                              },
                              &unlock};
  gd::Wake r;
  {
    std::lock_guard<gd::SpinLock> hold(st->lock);
    r = gd::wait_on_locked_os_thread(st->waiters, deadline, st->lock, &then);
  }
  if (unlock.error != 0) return unlock.error;
  REAL(pthread_mutex_lock)(m);
  REAL(pthread_testcancel)();
  return r == gd::Wake::timed_out ? ETIMEDOUT : 0;
}

int cond_wait(pthread_cond_t* c, pthread_mutex_t* m, gd::Deadline deadline) {
  if (process_shared(c)) return cond_wait_shared(c, m, deadline);
  if (green_context() != nullptr) return cond_wait_green(c, m, deadline);
  return cond_wait_os_thread(c, m, deadline);
}

void cond_notify(pthread_cond_t* c, bool all) {
  if (process_shared(c)) return cond_notify_shared(c, all);
  CondState* st = state(c);
  if (st == nullptr) return;  // nobody ever waited
  std::lock_guard<gd::SpinLock> hold(st->lock);
  if (all) {
    st->waiters.notify_all();
  } else {
    st->waiters.notify_one();
  }
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
  if (process_shared(c)) return REAL(pthread_cond_destroy)(c);
  if (CondState* st = state(c)) {
    {
      std::lock_guard<gd::SpinLock> hold(st->lock);
      if (!st->waiters.empty()) return EBUSY;
    }
    delete st;
    set_state(c, nullptr);
  }
  return REAL(pthread_cond_destroy)(c);
}

GREEN_HOOK(int, pthread_cond_wait, (pthread_cond_t* c, pthread_mutex_t* m)) {
  if (!sync_objects_ours()) return REAL(pthread_cond_wait)(c, m);
  return cond_wait(c, m, gd::kNoDeadline);
}

GREEN_HOOK(int, pthread_cond_clockwait, (pthread_cond_t* c, pthread_mutex_t* m, clockid_t clock,
                                         const struct timespec* abstime)) {
  if (!sync_objects_ours()) return REAL(pthread_cond_clockwait)(c, m, clock, abstime);
  if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC) return EINVAL;
  if (!valid_timespec(*abstime)) return EINVAL;
  return cond_wait(c, m, abs_deadline(clock, abstime));
}

GREEN_HOOK(int, pthread_cond_timedwait, (pthread_cond_t* c, pthread_mutex_t* m, const struct timespec* abstime)) {
  if (!sync_objects_ours()) return REAL(pthread_cond_timedwait)(c, m, abstime);
  if (!valid_timespec(*abstime)) return EINVAL;
  return cond_wait(c, m, abs_deadline(cond_clock(c), abstime));
}

GREEN_HOOK(int, pthread_cond_signal, (pthread_cond_t* c)) {
  if (!sync_objects_ours()) return REAL(pthread_cond_signal)(c);
  cond_notify(c, false);
  return 0;
}

GREEN_HOOK(int, pthread_cond_broadcast, (pthread_cond_t* c)) {
  if (!sync_objects_ours()) return REAL(pthread_cond_broadcast)(c);
  cond_notify(c, true);
  return 0;
}
