// pthread_barrier_* for greenlets. The state is allocated by pthread_barrier_init (there
// is no static initializer) and its address kept in the barrier's first word.
//
// Departure from POSIX: a barrier is used by greenlets or by real threads, not both.
#include <pthread.h>

#include "thread.hpp"

using namespace green::shim;
namespace gd = green::detail;

namespace {

constexpr unsigned kMagic = 0x67626172;  // "gbar": a barrier greenshim initialized

struct BarrierState {
  unsigned magic = kMagic;
  unsigned count;
  unsigned arrived = 0;
  unsigned long generation = 0;
  gd::WaitQueue waiters;
};

BarrierState*& slot(pthread_barrier_t* b) { return *reinterpret_cast<BarrierState**>(b); }
BarrierState* ours(pthread_barrier_t* b) {
  BarrierState* s = slot(b);
  return s != nullptr && s->magic == kMagic ? s : nullptr;
}

}  // namespace

GREEN_HOOK(int, pthread_barrier_init, (pthread_barrier_t* b, const pthread_barrierattr_t* attr, unsigned count)) {
  ensure_real();
  if (!hooks_active) return REAL(pthread_barrier_init)(b, attr, count);
  if (count == 0) return EINVAL;
  auto* s = new (std::nothrow) BarrierState;
  if (s == nullptr) return ENOMEM;
  s->count = count;
  slot(b) = s;
  return 0;
}

GREEN_HOOK(int, pthread_barrier_wait, (pthread_barrier_t* b)) {
  BarrierState* s = ours(b);
  if (s == nullptr || green_context() == nullptr) return REAL(pthread_barrier_wait)(b);
  if (++s->arrived == s->count) {
    s->arrived = 0;
    ++s->generation;
    s->waiters.notify_all();
    return PTHREAD_BARRIER_SERIAL_THREAD;
  }
  const unsigned long gen = s->generation;
  while (s->generation == gen) {
    // Not a cancellation point: pending cancels wait for the next one.
    if (gd::wait_on_nothrow(s->waiters, gd::kNoDeadline, false) == gd::Wake::loop_exit) return EDEADLK;
  }
  return 0;
}

GREEN_HOOK(int, pthread_barrier_destroy, (pthread_barrier_t* b)) {
  ensure_real();
  BarrierState* s = ours(b);
  if (s == nullptr) return REAL(pthread_barrier_destroy)(b);
  if (s->arrived != 0) return EBUSY;
  s->magic = 0;
  delete s;
  slot(b) = nullptr;
  return 0;
}
