// pthread_barrier_* for greenlets. pthread_barrier_init allocates the state (there is no
// static initializer) and marks the barrier as ours: a magic word at offset 0, then the
// state's address. A barrier that glibc initialised (before patch_all, or by a library the
// hooks did not see) is taken over at its first wait by a greenlet, while nobody waits in
// it: glibc's layout (nptl/pthread_barrier_init.c: in, current_round, count, shared, out)
// gives its count.
//
// Departures from POSIX: a barrier is used by greenlets or by real threads, not both; a
// process-shared barrier works among the greenlets of one process only.
#include <pthread.h>

#include <cstring>
#include <new>

#include "thread.hpp"

using namespace green::shim;
namespace gd = green::detail;

namespace {

constexpr unsigned kMagic = 0x67626172;  // "gbar": a barrier greenshim initialized

struct BarrierState {
  unsigned count;
  unsigned arrived = 0;
  unsigned long generation = 0;
  unsigned leaving = 0;  // released waiters that have not yet returned (destroy waits)
  gd::WaitQueue waiters;
};

struct OurBarrier {
  unsigned magic;
  BarrierState* state;
};
static_assert(sizeof(OurBarrier) <= sizeof(pthread_barrier_t));

// glibc's own barrier (glibc 2.25 and later).
struct GlibcBarrier {
  unsigned in;
  unsigned current_round;
  unsigned count;
  int shared;
  unsigned out;
};
static_assert(sizeof(GlibcBarrier) <= sizeof(pthread_barrier_t));

OurBarrier* view(pthread_barrier_t* b) { return reinterpret_cast<OurBarrier*>(b); }

BarrierState* ours(pthread_barrier_t* b) {
  OurBarrier* o = view(b);
  return o->magic == kMagic ? o->state : nullptr;
}

int make_ours(pthread_barrier_t* b, unsigned count) {
  auto* s = new (std::nothrow) BarrierState;
  if (s == nullptr) return ENOMEM;
  s->count = count;
  std::memset(b, 0, sizeof *b);
  view(b)->magic = kMagic;
  view(b)->state = s;
  return 0;
}

// Takes over a barrier glibc initialised, if nobody is inside it; else nullptr.
BarrierState* adopt(pthread_barrier_t* b) {
  GlibcBarrier g;
  std::memcpy(&g, b, sizeof g);
  if (g.count == 0 || g.in != g.out) return nullptr;
  return make_ours(b, g.count) == 0 ? ours(b) : nullptr;
}

}  // namespace

GREEN_HOOK(int, pthread_barrier_init, (pthread_barrier_t* b, const pthread_barrierattr_t* attr, unsigned count)) {
  GREEN_BOOKKEEPING();
  if (!hooks_active) return REAL(pthread_barrier_init)(b, attr, count);
  if (count == 0) return EINVAL;
  return make_ours(b, count);
}

GREEN_HOOK(int, pthread_barrier_wait, (pthread_barrier_t* b)) {
  if (green_context() == nullptr) {
    if (ours(b) != nullptr) return EINVAL;  // a real thread on a greenlets' barrier
    return REAL(pthread_barrier_wait)(b);
  }
  BarrierState* s = ours(b);
  if (s == nullptr) s = adopt(b);
  if (s == nullptr) return REAL(pthread_barrier_wait)(b);
  if (++s->arrived == s->count) {
    s->arrived = 0;
    ++s->generation;
    s->leaving += s->count - 1;
    s->waiters.notify_all();
    return PTHREAD_BARRIER_SERIAL_THREAD;
  }
  const unsigned long gen = s->generation;
  while (s->generation == gen) {
    // Not a cancellation point: pending cancels wait for the next one.
    if (gd::wait_on_nothrow(s->waiters, gd::kNoDeadline, gd::kUninterruptible) == gd::Wake::loop_exit) {
      --s->arrived;
      return EDEADLK;
    }
  }
  --s->leaving;  // the last touch: the serial thread may destroy the barrier now
  return 0;
}

GREEN_HOOK(int, pthread_barrier_destroy, (pthread_barrier_t* b)) {
  GREEN_BOOKKEEPING();
  BarrierState* s = ours(b);
  if (s == nullptr) return REAL(pthread_barrier_destroy)(b);
  if (s->arrived != 0) return EBUSY;
  // As glibc's, destroy right after the serial thread's return is allowed: the others it
  // released may not have left yet, and they run as soon as we let them.
  while (s->leaving > 0) {
    gd::Hub* hub = green_context();
    if (hub == nullptr) return EBUSY;
    hub->yield();
  }
  delete s;
  std::memset(b, 0, sizeof *b);
  return 0;
}
